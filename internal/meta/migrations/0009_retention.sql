-- Tag retention policies (Harbor's /retentions): at most one per project, gone with it.

-- policy is the policy's JSON as internal/retention reads it (algorithm, rules, trigger); its
-- id and project are the columns. Runs are executions of kind 'retention' whose ref_id is the
-- policy's id, with one task per repository (0007_jobs.sql).
CREATE TABLE retention_policies (
    id         {{ID}},
    project_id BIGINT NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    policy     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
