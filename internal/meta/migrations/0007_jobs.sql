-- Background work: executions of jobs (garbage collection, retention, ...) with their tasks
-- and logs as the API shows them, persistent schedules, and the review queues of online
-- garbage collection. The job queue itself (River) keeps its own tables.

-- One row per run of a kind of work. ref_id names the policy a run belongs to (retention
-- policy id), 0 for system-wide work. result is a JSON summary (e.g. blobs and bytes freed).
CREATE TABLE executions (
    id             {{ID}},
    kind           TEXT NOT NULL,
    ref_id         BIGINT NOT NULL DEFAULT 0,
    trigger_kind   TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_text    TEXT NOT NULL DEFAULT '',
    dry_run        BOOLEAN NOT NULL DEFAULT FALSE,
    params         TEXT NOT NULL DEFAULT '{}',
    result         TEXT NOT NULL DEFAULT '{}',
    stop_requested BOOLEAN NOT NULL DEFAULT FALSE,
    log            TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    started_at     BIGINT,
    ended_at       BIGINT
);
CREATE INDEX executions_kind ON executions (kind, ref_id, id);

-- Parts of an execution (retention: one per repository).
CREATE TABLE tasks (
    id           {{ID}},
    execution_id BIGINT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    result       TEXT NOT NULL DEFAULT '{}',
    log          TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    started_at   BIGINT,
    ended_at     BIGINT
);
CREATE INDEX tasks_execution ON tasks (execution_id, id);

-- Cron schedules of recurring work ("gc", "retention:<policy id>", ...). The next run is a
-- queued job (job_id) that, when it starts, queues the one after it; a restart therefore
-- loses nothing, and a time passed while the server was down runs when it is back.
CREATE TABLE schedules (
    name       TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    cron       TEXT NOT NULL,
    params     TEXT NOT NULL DEFAULT '{}',
    next_at    BIGINT,
    job_id     BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Online garbage collection. Every event that may leave a blob or manifest unreferenced puts
-- it on a review queue with a due time (now + the grace period); a collector takes due items,
-- re-checks under lock that nothing references them, and deletes them.
CREATE TABLE gc_blob_review (
    digest TEXT PRIMARY KEY,
    due_at BIGINT NOT NULL
);
CREATE INDEX gc_blob_review_due ON gc_blob_review (due_at);

-- reason: 'untagged' (a tag was deleted or moved, or it was pushed without one: collected
-- only when untagged artifacts are), 'orphan' (its index or subject went: always collected).
CREATE TABLE gc_manifest_review (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    due_at        BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX gc_manifest_review_due ON gc_manifest_review (due_at);

-- Blobs whose rows a collector has deleted and whose stored objects it is deleting. An upload
-- that recreates such a blob meanwhile is refused (and retried by the client), so an object is
-- never removed from under a row that names it; an interrupted collector finishes these first.
CREATE TABLE gc_blob_deleting (
    digest     TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Content that exists already is reviewed a day after it was created.
INSERT INTO gc_blob_review (digest, due_at) SELECT digest, created_at + 86400000000 FROM blobs;
INSERT INTO gc_manifest_review (repository_id, digest, reason, due_at)
    SELECT m.repository_id, m.digest, 'untagged', m.created_at + 86400000000 FROM manifests m
    WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id);
