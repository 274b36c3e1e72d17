-- Two changes: repositories created by their first manifest (pending_blobs), and PostgreSQL
-- notifications of project changes (berth_projects, at the end).
--
-- A repository exists once a manifest is pushed into it, as in Harbor: uploading or mounting a
-- blob into a name creates no repository row (none in the catalog, the project's repo_count or
-- its repository list, and none to keep the project from being deleted).
--
-- Blobs uploaded or mounted into a name that has no repository yet are linked here, by name,
-- until the first manifest push creates the repository and moves them into repository_blobs in
-- its transaction (a refused push moves nothing). Reading a blob of a repository, mounting from
-- it and pushing a manifest that references it see both tables. Garbage collection treats these
-- links as it treats repository_blobs: they keep nothing alive (a blob no manifest references
-- is kept for the grace period after its last upload), and go with the blob.
CREATE TABLE pending_blobs (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    repository TEXT{{C}} NOT NULL,
    digest     TEXT NOT NULL REFERENCES blobs (digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX pending_blobs_digest ON pending_blobs (digest);
CREATE INDEX pending_blobs_project ON pending_blobs (project_id);

-- Repositories that uploads and mounts created before, and that no manifest push ever touched:
-- a push moves updated_at past created_at, an upload never did; a pull counts. Their links move
-- here and their rows go.
INSERT INTO pending_blobs (project_id, repository, digest, created_at)
    SELECT r.project_id, r.name, rb.digest, rb.created_at
    FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id
    WHERE r.updated_at = r.created_at AND r.pull_count = 0 AND r.description = ''
        AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id);
DELETE FROM repositories
    WHERE updated_at = created_at AND pull_count = 0 AND description = ''
        AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id);

{{PG}}
-- Replicas remember blob links (migration 0013): removing a pending link is a removal, unless
-- it moved into repository_blobs in the same transaction (a repository's first push), which
-- makes no remembered answer wrong. A row trigger, so that a statement removing nothing
-- notifies nobody.
CREATE FUNCTION berth_pending_blob_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                   WHERE r.name = OLD.repository AND rb.digest = OLD.digest) THEN
        PERFORM pg_notify('berth_removal', '');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER pending_blobs_removed AFTER DELETE OR UPDATE OF repository, digest ON pending_blobs
    FOR EACH ROW EXECUTE FUNCTION berth_pending_blob_removed();
CREATE TRIGGER pending_blobs_truncated AFTER TRUNCATE ON pending_blobs
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_removal');
{{/PG}}

-- PostgreSQL: replicas remember projects — their rows (visibility), metadata (the
-- vulnerability policy of pulls, scan on push) and CVE allowlists, the system's included — and
-- forget them when berth_projects is notified (meta.Changes.Projects), so a policy changed
-- through one replica applies on every other at once. Projects change rarely: statement
-- triggers, whatever the statement changed. A project created notifies nobody (nothing
-- remembers a project that does not exist), but its metadata and allowlist rows do.
{{PG}}
CREATE TRIGGER projects_changed AFTER UPDATE OR DELETE OR TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_projects');
CREATE TRIGGER project_metadata_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON project_metadata
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_projects');
CREATE TRIGGER cve_allowlists_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cve_allowlists
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify('berth_projects');
{{/PG}}
