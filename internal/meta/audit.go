package meta

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID           int64
	ProjectID    int64 // 0 for system-level entries
	Username     string
	Resource     string // e.g. "library/nginx:latest", a project or user name
	ResourceType string // "artifact", "tag", "repository", "project", "member", "robot", "user", ...
	Operation    string // "create", "delete", "pull", "update", ...
	OpTime       time.Time
}

// InsertAudit stores entries in one statement.
func (q q) InsertAudit(ctx context.Context, entries ...AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO audit_log (project_id, username, resource, resource_type, operation, op_time) VALUES ")
	args := make([]any, 0, 6*len(entries))
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + placeholders(len(args)+1, 6) + ")")
		args = append(args, e.ProjectID, e.Username, e.Resource, e.ResourceType, e.Operation, e.OpTime.UnixMicro())
	}
	if _, err := q.exec(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}
