-- Audit log: who did what to which resource, when. project_id is 0 for system-level entries.
CREATE TABLE audit_log (
    id            {{ID}},
    project_id    BIGINT NOT NULL DEFAULT 0,
    username      TEXT NOT NULL,
    resource      TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    operation     TEXT NOT NULL,
    op_time       BIGINT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (op_time);
CREATE INDEX audit_log_project ON audit_log (project_id, op_time);
