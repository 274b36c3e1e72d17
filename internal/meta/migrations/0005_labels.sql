-- Labels and the artifact views of the REST API.

-- Harbor's labels: scope 'g' (global, project_id NULL) or 'p' (project_id set). A name is unique
-- within its scope: once among global labels, once per project among project labels. A
-- project's labels go with the project.
CREATE TABLE labels (
    id          {{ID}},
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    color       TEXT NOT NULL DEFAULT '',
    scope       TEXT NOT NULL,
    project_id  BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX labels_global_name ON labels (name) WHERE project_id IS NULL;
CREATE UNIQUE INDEX labels_project_name ON labels (project_id, name) WHERE project_id IS NOT NULL;

-- Labels attached to artifacts (manifests); both sides' deletion removes the attachment.
CREATE TABLE artifact_labels (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    label_id    BIGINT NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (manifest_id, label_id)
);
CREATE INDEX artifact_labels_label ON artifact_labels (label_id);

-- The media type Harbor lists an artifact under (the config's media type; for an index, the
-- index's own), which the API filters by. It is derived from the payload, which stays the truth:
-- NULL means "not derived yet", and the API derives it before a listing filters on it, so
-- manifests stored by any path (and before this migration) are covered.
ALTER TABLE manifests ADD COLUMN art_media_type TEXT;
