-- PostgreSQL: replicas remember what pulls resolve (meta.DB.WriteGeneration, RemovalGeneration)
-- and must hear of every committed change that can make a remembered answer wrong. Only
-- answers that something exists are remembered, so adding rows cannot: a new tag, manifest,
-- repository or blob link notifies nobody. What can:
--   berth_content: a tag moved, renamed or deleted; a manifest or repository changed or deleted;
--   berth_removal: a repository, manifest, blob link or blob changed or deleted.
-- Triggers rather than statements sent by Berth: they cost no round trip, and writes from any
-- process (berth gc, fsck, an operator's psql) are covered too. PostgreSQL folds the
-- notifications of one transaction into one per channel and delivers them at commit. Recording
-- pull times (pulled_at, pull_count) notifies nobody either.
-- SQLite needs none of this: its only serving writer is the process that would listen.
{{PG}}
-- Notifies the channel named by the trigger's argument.
CREATE FUNCTION berth_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;

-- A push upserts its tags (INSERT … ON CONFLICT DO UPDATE fires the UPDATE statement triggers
-- whether or not a row conflicted): a row trigger notifies only when a tag really moves.
CREATE TRIGGER tags_moved AFTER UPDATE ON tags FOR EACH ROW
    WHEN (OLD.manifest_id IS DISTINCT FROM NEW.manifest_id OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.repository_id IS DISTINCT FROM NEW.repository_id)
    EXECUTE FUNCTION berth_notify('berth_content');
CREATE TRIGGER tags_deleted AFTER DELETE OR TRUNCATE ON tags
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_content');

CREATE TRIGGER repositories_changed AFTER DELETE OR TRUNCATE OR UPDATE OF id, project_id, name ON repositories
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_content');
CREATE TRIGGER repositories_removed AFTER DELETE OR TRUNCATE OR UPDATE OF id, project_id, name ON repositories
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_removal');
CREATE TRIGGER manifests_changed AFTER DELETE OR TRUNCATE OR UPDATE OF id, repository_id, digest, media_type, payload, size ON manifests
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_content');
CREATE TRIGGER manifests_removed AFTER DELETE OR TRUNCATE OR UPDATE OF id, repository_id, digest, media_type, payload, size ON manifests
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_removal');
CREATE TRIGGER repository_blobs_removed AFTER DELETE OR TRUNCATE OR UPDATE OF repository_id, digest ON repository_blobs
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_removal');
CREATE TRIGGER blobs_removed AFTER DELETE OR TRUNCATE OR UPDATE OF digest, size ON blobs
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_removal');
{{/PG}}
