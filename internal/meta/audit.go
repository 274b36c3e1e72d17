package meta

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
	// OpDesc describes the operation in words for Harbor's extended audit log; ListAuditExt
	// describes entries stored without one from their other columns.
	OpDesc string
}

// InsertAudit stores entries in one statement; an entry whose event already has one is left
// out.
func (q q) InsertAudit(ctx context.Context, entries ...AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO audit_log (project_id, username, resource, resource_type, operation, op_time, event_id, event_seq, op_desc) VALUES ")
	args := make([]any, 0, 9*len(entries))
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + placeholders(len(args)+1, 9) + ")")
		var event any
		if e.EventID != 0 {
			event = e.EventID
		}
		args = append(args, e.ProjectID, e.Username, e.Resource, e.ResourceType, e.Operation, e.OpTime.UnixMicro(), event, e.EventSeq, e.OpDesc)
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
	return q.listAudit(ctx, lq, scope, auditListColumns, "a.resource_type", "a.op_desc")
}

// AuditExtView is how Harbor's extended audit log (/auditlog-exts) names what the entries
// store: ResourceTypes renames stored resource types (stored → shown). Filters and sorting
// apply to the names shown.
type AuditExtView struct {
	ResourceTypes map[string]string
}

// ListAuditExt is ListAudit for the extended audit log: resource types as the view names
// them, and every entry with its description (one from its other columns, "<operation>
// <resource type>: <resource>", for entries stored without one). Its q= and sort= keys are
// those of ListAudit and operation_description and project_id.
func (q q) ListAuditExt(ctx context.Context, lq ListQuery, scope AuditScope, view AuditExtView) ([]AuditEntry, int64, error) {
	rt := "a.resource_type"
	if len(view.ResourceTypes) > 0 {
		var b strings.Builder
		b.WriteString("CASE a.resource_type")
		for _, from := range slices.Sorted(maps.Keys(view.ResourceTypes)) {
			fmt.Fprintf(&b, " WHEN %s THEN %s", sqlString(from), sqlString(view.ResourceTypes[from]))
		}
		b.WriteString(" ELSE a.resource_type END")
		rt = b.String()
	}
	desc := "CASE WHEN a.op_desc <> '' THEN a.op_desc ELSE a.operation || ' ' || " + rt + " || ': ' || a.resource END"
	cols := maps.Clone(auditListColumns)
	cols["resource_type"] = Column{rt, ColText}
	cols["operation_description"] = Column{desc, ColText}
	cols["project_id"] = Column{"a.project_id", ColInt}
	return q.listAudit(ctx, lq, scope, cols, rt, desc)
}

// sqlString is s as an SQL string literal, for the constants of a query built in code.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (q q) listAudit(ctx context.Context, lq ListQuery, scope AuditScope, cols map[string]Column, resourceType, desc string) ([]AuditEntry, int64, error) {
	w := NewWhere(1)
	scope.apply(w)
	if err := w.Apply(lq, cols); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, cols, "a.op_time DESC", "a.id DESC")
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
	rows, err := q.query(ctx, "SELECT a.id, a.project_id, a.username, a.resource, "+resourceType+", a.operation, a.op_time, "+desc+
		" FROM audit_log a"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &e.ProjectID, &e.Username, &e.Resource, &e.ResourceType, &e.Operation, &t, &e.OpDesc); err != nil {
			return nil, 0, err
		}
		e.OpTime = fromMicros(t)
		out = append(out, e)
	}
	return out, total, rows.Err()
}
