package meta

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID int64
	// EventID is the event the entry was written from (0: none) and EventSeq which of its
	// entries it is; each is written once.
	EventID      int64
	EventSeq     int
	ProjectID    int64 // 0 for system-level entries
	Username     string
	Resource     string // e.g. "library/nginx:latest", a project or user name
	ResourceType string // "artifact", "tag", "repository", "project", "member", "robot", "user", ...
	Operation    string // "create", "delete", "pull", "update", ...
	OpTime       time.Time
}

// InsertAudit stores entries in one statement; an entry whose event already has one is left
// out.
func (q q) InsertAudit(ctx context.Context, entries ...AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO audit_log (project_id, username, resource, resource_type, operation, op_time, event_id, event_seq) VALUES ")
	args := make([]any, 0, 8*len(entries))
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + placeholders(len(args)+1, 8) + ")")
		var event any
		if e.EventID != 0 {
			event = e.EventID
		}
		args = append(args, e.ProjectID, e.Username, e.Resource, e.ResourceType, e.Operation, e.OpTime.UnixMicro(), event, e.EventSeq)
	}
	b.WriteString(" ON CONFLICT (event_id, event_seq) DO NOTHING")
	if _, err := q.keepingAnswers().exec(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}

// AuditScope says which entries a caller may read: all of them, those of one project, or those
// of the projects where a user holds one of the given roles. The zero value reads nothing.
type AuditScope struct {
	All       bool
	ProjectID int64
	UserID    int64
	Roles     []int
}

func (s AuditScope) apply(w *Where) {
	switch {
	case s.All:
	case s.ProjectID > 0:
		w.Add("a.project_id = ?", s.ProjectID)
	case s.UserID > 0 && len(s.Roles) > 0:
		roles := make([]string, len(s.Roles))
		for i, r := range s.Roles {
			roles[i] = w.Arg(int64(r))
		}
		w.Add("a.project_id IN " + projectsWhereMember(w.Arg(s.UserID), "pm.role_id IN ("+strings.Join(roles, ",")+")"))
	default:
		w.Add("1 = 0")
	}
}

// auditListColumns are the keys of Harbor's q= and sort= for audit logs.
var auditListColumns = map[string]Column{
	"id":            {"a.id", ColInt},
	"username":      {"a.username", ColText},
	"resource":      {"a.resource", ColText},
	"resource_type": {"a.resource_type", ColText},
	"operation":     {"a.operation", ColText},
	"op_time":       {"a.op_time", ColTime},
}

// ListAudit returns one page of the entries in scope, filtered and sorted by lq (newest first
// unless told otherwise), and the total count.
func (q q) ListAudit(ctx context.Context, lq ListQuery, scope AuditScope) ([]AuditEntry, int64, error) {
	w := NewWhere(1)
	scope.apply(w)
	if err := w.Apply(lq, auditListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, auditListColumns, "a.op_time DESC", "a.id DESC")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM audit_log a"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit log: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT a.id, a.project_id, a.username, a.resource, a.resource_type, a.operation, a.op_time FROM audit_log a"+
		where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &e.ProjectID, &e.Username, &e.Resource, &e.ResourceType, &e.Operation, &t); err != nil {
			return nil, 0, err
		}
		e.OpTime = fromMicros(t)
		out = append(out, e)
	}
	return out, total, rows.Err()
}
