package meta

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Label scopes, as Harbor names them.
const (
	LabelScopeGlobal  = "g"
	LabelScopeProject = "p"
)

// Label is a global label (Scope "g", ProjectID 0) or a label of one project (Scope "p").
type Label struct {
	ID          int64
	Name        string
	Description string
	Color       string
	Scope       string
	ProjectID   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const labelColumns = "l.id, l.name, l.description, l.color, l.scope, l.project_id, l.created_at, l.updated_at"

func scanLabel(row rowScanner) (Label, error) {
	var l Label
	var pid sql.NullInt64
	var c, u int64
	err := row.Scan(&l.ID, &l.Name, &l.Description, &l.Color, &l.Scope, &pid, &c, &u)
	l.ProjectID = pid.Int64
	l.CreatedAt, l.UpdatedAt = fromMicros(c), fromMicros(u)
	return l, notFound(err)
}

func labelProject(l Label) any {
	if l.Scope == LabelScopeGlobal {
		return nil
	}
	return l.ProjectID
}

// CreateLabel stores a label and returns its id; ErrConflict if its scope already has the name.
func (q q) CreateLabel(ctx context.Context, l Label) (int64, error) {
	t := now()
	var id int64
	err := q.writeRow(ctx, `INSERT INTO labels (name, description, color, scope, project_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`, l.Name, l.Description, l.Color, l.Scope, labelProject(l), t).Scan(&id)
	if err != nil {
		if q.d.isUniqueViolation(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("create label %s: %w", l.Name, err)
	}
	return id, nil
}

func (q q) LabelByID(ctx context.Context, id int64) (Label, error) {
	return scanLabel(q.queryRow(ctx, "SELECT "+labelColumns+" FROM labels l WHERE l.id = $1", id))
}

// UpdateLabel changes a label's name, description and color (scope and project stay);
// ErrConflict if the new name is taken in the scope, ErrNotFound if the label is gone.
func (q q) UpdateLabel(ctx context.Context, l Label) error {
	res, err := q.exec(ctx, "UPDATE labels SET name = $2, description = $3, color = $4, updated_at = $5 WHERE id = $1",
		l.ID, l.Name, l.Description, l.Color, now())
	if err != nil {
		if q.d.isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("update label %d: %w", l.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteLabel removes a label and detaches it from every artifact.
func (q q) DeleteLabel(ctx context.Context, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM labels WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete label %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// LabelQuery selects labels: one scope, for project labels one project, a fuzzy name.
type LabelQuery struct {
	Scope     string
	ProjectID int64
	Name      string
	List      ListQuery
}

var labelListColumns = map[string]Column{
	"id":            {"l.id", ColInt},
	"name":          {"l.name", ColText},
	"description":   {"l.description", ColText},
	"color":         {"l.color", ColText},
	"creation_time": {"l.created_at", ColTime},
	"update_time":   {"l.updated_at", ColTime},
}

// ListLabels returns one page of labels in creation order and the total count.
func (q q) ListLabels(ctx context.Context, lq LabelQuery) ([]Label, int64, error) {
	w := NewWhere(1)
	w.Add("l.scope = ?", lq.Scope)
	if lq.Scope == LabelScopeProject {
		w.Add("l.project_id = ?", lq.ProjectID)
	}
	if lq.Name != "" {
		w.Add("LOWER(l.name) LIKE ? ESCAPE '\\'", "%"+likeEscape(strings.ToLower(lq.Name))+"%")
	}
	if err := w.Apply(lq.List, labelListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.List.Sort, labelListColumns, "", "l.id ASC")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM labels l"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count labels: %w", err)
	}
	page := w.Page(lq.List)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+labelColumns+" FROM labels l"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list labels: %w", err)
	}
	defer rows.Close()
	out := []Label{}
	for rows.Next() {
		l, err := scanLabel(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, l)
	}
	return out, total, rows.Err()
}

// AttachLabel adds a label to an artifact: ErrConflict if it is already there, ErrNotFound if
// the label or the artifact is gone.
func (db *DB) AttachLabel(ctx context.Context, manifestID, labelID int64) error {
	return db.Tx(ctx, func(tx *Tx) error {
		var n int64
		err := tx.queryRowW(ctx, `SELECT (SELECT COUNT(*) FROM manifests WHERE id = $1) + (SELECT COUNT(*) FROM labels WHERE id = $2)`,
			manifestID, labelID).Scan(&n)
		if err != nil {
			return fmt.Errorf("attach label %d: %w", labelID, err)
		}
		if n != 2 {
			return ErrNotFound
		}
		_, err = tx.exec(ctx, "INSERT INTO artifact_labels (manifest_id, label_id, created_at) VALUES ($1, $2, $3)", manifestID, labelID, now())
		if err != nil {
			if tx.d.isUniqueViolation(err) {
				return ErrConflict
			}
			return fmt.Errorf("attach label %d: %w", labelID, err)
		}
		return nil
	})
}

// DetachLabel removes a label from an artifact; ErrNotFound if it was not attached.
func (q q) DetachLabel(ctx context.Context, manifestID, labelID int64) error {
	res, err := q.exec(ctx, "DELETE FROM artifact_labels WHERE manifest_id = $1 AND label_id = $2", manifestID, labelID)
	if err != nil {
		return fmt.Errorf("detach label %d: %w", labelID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// LabelsOfManifests returns the labels attached to the manifests, in attachment order, by
// manifest id.
func (q q) LabelsOfManifests(ctx context.Context, ids []int64) (map[int64][]Label, error) {
	out := map[int64][]Label{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.query(ctx, "SELECT al.manifest_id, "+labelColumns+` FROM artifact_labels al JOIN labels l ON l.id = al.label_id
		WHERE al.manifest_id IN (`+placeholders(1, len(ids))+") ORDER BY al.created_at, l.id", args...)
	if err != nil {
		return nil, fmt.Errorf("labels of manifests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var mid int64
		l, err := scanLabel(prefixed{rows, &mid})
		if err != nil {
			return nil, err
		}
		out[mid] = append(out[mid], l)
	}
	return out, rows.Err()
}

// prefixed scans a leading column before the ones a scan function knows.
type prefixed struct {
	row   rowScanner
	first any
}

func (p prefixed) Scan(dest ...any) error { return p.row.Scan(append([]any{p.first}, dest...)...) }
