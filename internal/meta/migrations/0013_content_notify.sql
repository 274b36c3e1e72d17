-- PostgreSQL: every committed change to what a pull resolves (repositories, tags, manifests)
-- notifies the channel berth_content, and every removal of a repository, manifest, blob or blob
-- link notifies berth_removal, so each replica can tell when what it remembers of those rows is
-- out of date (meta.DB.WriteGeneration, RemovalGeneration). A trigger rather than a statement sent by
-- Berth: it costs no round trip, and writes from any process (berth gc, fsck, an operator's
-- psql) are covered too. PostgreSQL folds the notifications of one transaction into one and
-- delivers it at commit. Recording pull times (pulled_at, pull_count) does not notify.
-- SQLite needs none of this: its only serving writer is the process that would listen.
{{PG}}
CREATE FUNCTION berth_content_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_content', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION berth_content_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_removal', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER repositories_notify AFTER INSERT OR DELETE OR UPDATE OF id, project_id, name ON repositories
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_changed();
CREATE TRIGGER repositories_truncate_notify AFTER TRUNCATE ON repositories
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_changed();
CREATE TRIGGER tags_notify AFTER INSERT OR DELETE OR UPDATE OF id, repository_id, name, manifest_id ON tags
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_changed();
CREATE TRIGGER tags_truncate_notify AFTER TRUNCATE ON tags
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_changed();
CREATE TRIGGER manifests_notify AFTER INSERT OR DELETE OR UPDATE OF id, repository_id, digest, media_type, payload, size ON manifests
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_changed();
CREATE TRIGGER manifests_truncate_notify AFTER TRUNCATE ON manifests
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_changed();

CREATE TRIGGER repositories_removal AFTER DELETE OR TRUNCATE OR UPDATE OF id, name ON repositories
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_removed();
CREATE TRIGGER manifests_removal AFTER DELETE OR TRUNCATE OR UPDATE OF id, repository_id, digest, media_type, payload, size ON manifests
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_removed();
CREATE TRIGGER repository_blobs_removal AFTER DELETE OR TRUNCATE OR UPDATE OF repository_id, digest ON repository_blobs
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_removed();
CREATE TRIGGER blobs_removal AFTER DELETE OR TRUNCATE OR UPDATE OF digest, size ON blobs
    FOR EACH STATEMENT EXECUTE FUNCTION berth_content_removed();
{{/PG}}
