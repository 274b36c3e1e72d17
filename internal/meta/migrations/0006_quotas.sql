-- Storage quotas, project storage accounting and CVE allowlists.

-- One storage quota per project. hard is the limit in bytes (-1 = unlimited); used is what the
-- project stores, kept equal to the sum of project_blobs.size for the project by the same
-- transactions that change project_blobs.
CREATE TABLE quotas (
    id         {{ID}},
    project_id BIGINT NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    hard       BIGINT NOT NULL,
    used       BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What a project stores, each digest once however many repositories and manifests use it: the
-- blobs its manifests reference and the manifests themselves. refs counts the references (a
-- manifest row with that digest, a manifest_blobs row naming it) in the project; a row goes when
-- its last reference does.
CREATE TABLE project_blobs (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    digest     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    refs       BIGINT NOT NULL,
    PRIMARY KEY (project_id, digest)
);

-- CVE allowlists: project_id 0 is the system allowlist. expires_at is in epoch seconds (NULL:
-- never expires); items is a JSON array of CVE ids.
CREATE TABLE cve_allowlists (
    id         {{ID}},
    project_id BIGINT NOT NULL UNIQUE,
    expires_at BIGINT,
    items      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Projects that exist already: unlimited quotas, empty allowlists, and their current usage.
INSERT INTO quotas (project_id, hard, used, created_at, updated_at)
    SELECT id, -1, 0, created_at, created_at FROM projects;

INSERT INTO cve_allowlists (project_id, expires_at, items, created_at, updated_at)
    SELECT id, NULL, '[]', created_at, created_at FROM projects;

INSERT INTO project_blobs (project_id, digest, size, refs)
    SELECT project_id, digest, MAX(size), COUNT(*) FROM (
        SELECT r.project_id AS project_id, mb.digest AS digest, b.size AS size
            FROM manifest_blobs mb
            JOIN manifests m ON m.id = mb.manifest_id
            JOIN repositories r ON r.id = m.repository_id
            JOIN blobs b ON b.digest = mb.digest
        UNION ALL
        SELECT r.project_id, m.digest, m.size
            FROM manifests m
            JOIN repositories r ON r.id = m.repository_id
    ) refs
    GROUP BY project_id, digest;

UPDATE quotas SET used = (SELECT COALESCE(SUM(pb.size), 0) FROM project_blobs pb WHERE pb.project_id = quotas.project_id);
