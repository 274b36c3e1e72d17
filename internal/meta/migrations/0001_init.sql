-- Registry core: users, projects, repositories, content (blobs, manifests, tags), uploads, settings.
-- Times are microseconds since the Unix epoch (BIGINT) so both databases store and compare them alike.
-- {{ID}}, {{BYTES}} and {{C}} (byte-order collation for names listed in order) are expanded per dialect.

CREATE TABLE users (
    id            {{ID}},
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL DEFAULT '',
    realname      TEXT NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    sysadmin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE projects (
    id         {{ID}},
    name       TEXT{{C}} NOT NULL UNIQUE,
    owner_id   BIGINT NOT NULL REFERENCES users (id),
    public     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Harbor's project metadata (auto_scan, prevent_vul, severity, ...) as string values.
-- "public" is not stored here: it is the projects.public column, which authorization reads.
CREATE TABLE project_metadata (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- Members: entity_type 'u' (user) or 'g' (group); role_id as Harbor: 1 project admin,
-- 2 developer, 3 guest, 4 maintainer, 5 limited guest.
CREATE TABLE project_members (
    id          {{ID}},
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    entity_type TEXT NOT NULL,
    entity_id   BIGINT NOT NULL,
    role_id     INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, entity_type, entity_id)
);
CREATE INDEX project_members_entity ON project_members (entity_type, entity_id);

CREATE TABLE repositories (
    id          {{ID}},
    project_id  BIGINT NOT NULL REFERENCES projects (id),
    name        TEXT{{C}} NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    pull_count  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX repositories_project ON repositories (project_id, name);

-- Content-addressed blobs, stored once whatever repositories use them.
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The link that makes a blob readable in a repository.
CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT NOT NULL REFERENCES blobs (digest),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
-- "Is this blob linked anywhere?"
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    id             {{ID}},
    repository_id  BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT NOT NULL DEFAULT '',
    config_digest  TEXT,
    subject_digest TEXT,
    size           BIGINT NOT NULL,
    payload        {{BYTES}} NOT NULL,
    annotations    TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    pulled_at      BIGINT,
    UNIQUE (repository_id, digest)
);
-- "Referrers of a digest in a repository."
CREATE INDEX manifests_subject ON manifests (repository_id, subject_digest) WHERE subject_digest IS NOT NULL;
CREATE INDEX manifests_digest ON manifests (digest);

-- Manifest -> blobs it needs (config and layers).
CREATE TABLE manifest_blobs (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    digest      TEXT NOT NULL REFERENCES blobs (digest),
    PRIMARY KEY (manifest_id, digest)
);
-- "Is this blob referenced by any manifest?"
CREATE INDEX manifest_blobs_digest ON manifest_blobs (digest);

-- Index -> child manifests (same repository).
CREATE TABLE manifest_children (
    parent_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_id  BIGINT NOT NULL REFERENCES manifests (id),
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX manifest_children_child ON manifest_children (child_id);

CREATE TABLE tags (
    id            {{ID}},
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name          TEXT{{C}} NOT NULL,
    manifest_id   BIGINT NOT NULL REFERENCES manifests (id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    pulled_at     BIGINT,
    UNIQUE (repository_id, name)
);
CREATE INDEX tags_manifest ON tags (manifest_id);

-- Upload sessions. The data lives in the blob store under the same id; hash_state is the
-- marshalled hash after `size` bytes, so any process can continue the upload.
CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    size       BIGINT NOT NULL DEFAULT 0,
    hash_alg   TEXT NOT NULL,
    hash_state {{BYTES}},
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_updated ON uploads (updated_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
