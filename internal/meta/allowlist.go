package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// SystemAllowlistProject is the project id of the system CVE allowlist.
const SystemAllowlistProject = 0

// CVEAllowlist lists CVEs a vulnerability gate ignores: the system's (ProjectID 0) or a
// project's.
type CVEAllowlist struct {
	ID        int64 // 0 when nothing was ever stored
	ProjectID int64
	ExpiresAt *int64 // epoch seconds; nil: never expires
	Items     []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const allowlistColumns = "id, project_id, expires_at, items, created_at, updated_at"

func scanAllowlist(row interface{ Scan(...any) error }) (CVEAllowlist, error) {
	var l CVEAllowlist
	var exp sql.NullInt64
	var items string
	var c, u int64
	if err := row.Scan(&l.ID, &l.ProjectID, &exp, &items, &c, &u); err != nil {
		return l, notFound(err)
	}
	if exp.Valid {
		v := exp.Int64
		l.ExpiresAt = &v
	}
	if err := json.Unmarshal([]byte(items), &l.Items); err != nil {
		return l, fmt.Errorf("stored CVE allowlist %d: %w", l.ID, err)
	}
	if l.Items == nil {
		l.Items = []string{}
	}
	l.CreatedAt, l.UpdatedAt = fromMicros(c), fromMicros(u)
	return l, nil
}

// CVEAllowlist returns the allowlist of a project (SystemAllowlistProject for the system's). One
// never stored is empty, with ID 0.
func (q q) CVEAllowlist(ctx context.Context, projectID int64) (CVEAllowlist, error) {
	l, err := scanAllowlist(q.queryRow(ctx, "SELECT "+allowlistColumns+" FROM cve_allowlists WHERE project_id = $1", projectID))
	if err == ErrNotFound {
		return CVEAllowlist{ProjectID: projectID, Items: []string{}}, nil
	}
	return l, err
}

// CVEAllowlists returns the allowlists of several projects (empty ones for those without).
func (q q) CVEAllowlists(ctx context.Context, projectIDs []int64) (map[int64]CVEAllowlist, error) {
	out := make(map[int64]CVEAllowlist, len(projectIDs))
	for _, id := range projectIDs {
		out[id] = CVEAllowlist{ProjectID: id, Items: []string{}}
	}
	if len(projectIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(projectIDs))
	for i, id := range projectIDs {
		args[i] = id
	}
	rows, err := q.query(ctx, "SELECT "+allowlistColumns+" FROM cve_allowlists WHERE project_id IN ("+placeholders(1, len(args))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("CVE allowlists: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanAllowlist(rows)
		if err != nil {
			return nil, err
		}
		out[l.ProjectID] = l
	}
	return out, rows.Err()
}

// SetCVEAllowlist stores (creates or replaces) the allowlist of l.ProjectID (the system's,
// outside a project's transaction) and announces it as a change of projects before it returns:
// the pull gate of every project that reuses the system's list applies it at once.
func (db *DB) SetCVEAllowlist(ctx context.Context, l CVEAllowlist) error {
	defer db.changed(Changes{Projects: true})
	return db.q.SetCVEAllowlist(ctx, l)
}

// SetCVEAllowlist stores (creates or replaces) the allowlist of l.ProjectID. The caller has
// validated the items (non-empty, unique).
func (q q) SetCVEAllowlist(ctx context.Context, l CVEAllowlist) error {
	items := l.Items
	if items == nil {
		items = []string{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return err
	}
	var exp any
	if l.ExpiresAt != nil {
		exp = *l.ExpiresAt
	}
	t := now()
	_, err = q.exec(ctx, `INSERT INTO cve_allowlists (project_id, expires_at, items, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (project_id) DO UPDATE SET expires_at = excluded.expires_at, items = excluded.items, updated_at = excluded.updated_at`,
		l.ProjectID, exp, string(b), t)
	if err != nil {
		return fmt.Errorf("store CVE allowlist of project %d: %w", l.ProjectID, err)
	}
	return nil
}
