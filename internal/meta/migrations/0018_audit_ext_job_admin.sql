-- Harbor's extended audit log (/auditlog-exts) describes each entry in words ("push artifact:
-- library/app@sha256:…", "create user member alice in project library"), with details the
-- other columns do not keep (the digest of a push by tag, whether a member is a user or a
-- group, the project's name). Written with the entry; '' for entries written before (the
-- listing then describes them from the other columns).
ALTER TABLE audit_log ADD COLUMN op_desc TEXT NOT NULL DEFAULT '';

-- Kinds of background job an administrator paused (/jobservice/queues/{job_type}): no
-- process takes a queued job of a paused kind until it is resumed. A row per paused kind, so
-- a pause holds across restarts and for every replica.
CREATE TABLE job_pauses (
    kind      TEXT PRIMARY KEY,
    paused_at BIGINT NOT NULL
);

-- The processes working jobs (/jobservice/pools): each serving process keeps its row alive
-- while it works jobs and removes it when it stops; a row whose heartbeat is old belongs to a
-- process that died. id is the name the process works jobs under in the job queue.
CREATE TABLE job_pools (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    concurrency  BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
