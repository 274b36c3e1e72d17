package meta

import (
	"context"
	"fmt"
	"time"
)

type Project struct {
	ID        int64
	Name      string
	OwnerID   int64
	OwnerName string
	Public    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	RepoCount int64
	Metadata  map[string]string // Harbor's project metadata except "public"
}

// Project member roles, numbered as Harbor numbers them.
const (
	RoleProjectAdmin = 1
	RoleDeveloper    = 2
	RoleGuest        = 3
	RoleMaintainer   = 4
	RoleLimitedGuest = 5
)

const projectColumns = `p.id, p.name, p.owner_id, u.username, p.public, p.created_at, p.updated_at,
	(SELECT COUNT(*) FROM repositories r WHERE r.project_id = p.id)`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var p Project
	var c, up int64
	err := row.Scan(&p.ID, &p.Name, &p.OwnerID, &p.OwnerName, &p.Public, &c, &up, &p.RepoCount)
	p.CreatedAt, p.UpdatedAt = fromMicros(c), fromMicros(up)
	return p, notFound(err)
}

// CreateProject inserts the project, its metadata, and the owner as project admin, atomically.
// ErrConflict if the name is taken.
func (db *DB) CreateProject(ctx context.Context, p Project) (int64, error) {
	var id int64
	err := db.Tx(ctx, func(tx *Tx) error {
		t := now()
		err := tx.queryRowW(ctx, `INSERT INTO projects (name, owner_id, public, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4) RETURNING id`, p.Name, p.OwnerID, p.Public, t).Scan(&id)
		if err != nil {
			if tx.d.isUniqueViolation(err) {
				return ErrConflict
			}
			return fmt.Errorf("create project %s: %w", p.Name, err)
		}
		for k, v := range p.Metadata {
			if _, err := tx.exec(ctx, "INSERT INTO project_metadata (project_id, name, value) VALUES ($1, $2, $3)", id, k, v); err != nil {
				return fmt.Errorf("create project %s: metadata %s: %w", p.Name, k, err)
			}
		}
		_, err = tx.exec(ctx, `INSERT INTO project_members (project_id, entity_type, entity_id, role_id, created_at, updated_at)
			VALUES ($1, 'u', $2, $3, $4, $4)`, id, p.OwnerID, RoleProjectAdmin, t)
		if err != nil {
			return fmt.Errorf("create project %s: owner membership: %w", p.Name, err)
		}
		return nil
	})
	return id, err
}

// ProjectByName returns the project without its metadata (the hot path needs only the row).
func (q q) ProjectByName(ctx context.Context, name string) (Project, error) {
	return scanProject(q.queryRow(ctx, "SELECT "+projectColumns+" FROM projects p JOIN users u ON u.id = p.owner_id WHERE p.name = $1", name))
}

func (q q) ProjectByID(ctx context.Context, id int64) (Project, error) {
	return scanProject(q.queryRow(ctx, "SELECT "+projectColumns+" FROM projects p JOIN users u ON u.id = p.owner_id WHERE p.id = $1", id))
}

// ProjectMetadata returns all metadata of a project.
func (q q) ProjectMetadata(ctx context.Context, projectID int64) (map[string]string, error) {
	rows, err := q.query(ctx, "SELECT name, value FROM project_metadata WHERE project_id = $1", projectID)
	if err != nil {
		return nil, fmt.Errorf("project metadata: %w", err)
	}
	defer rows.Close()
	md := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		md[k] = v
	}
	return md, rows.Err()
}

// ProjectFilter selects projects for listings.
type ProjectFilter struct {
	Name string // exact name, "" for any
	// Visibility: when AllVisible is false, only public projects and those where UserID is a
	// member are returned (UserID 0 = anonymous: public only).
	AllVisible bool
	UserID     int64
	Offset     int
	Limit      int
}

func (f ProjectFilter) where() (string, []any) {
	where := "WHERE 1=1"
	var args []any
	if f.Name != "" {
		args = append(args, f.Name)
		where += fmt.Sprintf(" AND p.name = $%d", len(args))
	}
	if !f.AllVisible {
		args = append(args, f.UserID)
		where += fmt.Sprintf(" AND (p.public OR p.id IN (SELECT project_id FROM project_members WHERE entity_type = 'u' AND entity_id = $%d))", len(args))
	}
	return where, args
}

// ListProjects returns one page of projects ordered by name, and the total count.
func (q q) ListProjects(ctx context.Context, f ProjectFilter) ([]Project, int64, error) {
	where, args := f.where()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM projects p "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count projects: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 10
	}
	args = append(args, limit, f.Offset)
	rows, err := q.query(ctx, "SELECT "+projectColumns+" FROM projects p JOIN users u ON u.id = p.owner_id "+where+
		fmt.Sprintf(" ORDER BY p.name LIMIT $%d OFFSET $%d", len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var ps []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, 0, err
		}
		ps = append(ps, p)
	}
	return ps, total, rows.Err()
}

// DeleteProject removes an empty project; ErrNotEmpty if it still has repositories.
func (db *DB) DeleteProject(ctx context.Context, id int64) error {
	return db.Tx(ctx, func(tx *Tx) error {
		var n int64
		if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM repositories WHERE project_id = $1", id).Scan(&n); err != nil {
			return fmt.Errorf("delete project: %w", err)
		}
		if n > 0 {
			return ErrNotEmpty
		}
		res, err := tx.exec(ctx, "DELETE FROM projects WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("delete project: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// MemberRole returns the role of a user in a project, or 0 when the user is not a member.
func (q q) MemberRole(ctx context.Context, projectID, userID int64) (int, error) {
	var role int
	err := q.queryRow(ctx, "SELECT role_id FROM project_members WHERE project_id = $1 AND entity_type = 'u' AND entity_id = $2", projectID, userID).Scan(&role)
	if err = notFound(err); err == ErrNotFound {
		return 0, nil
	}
	return role, err
}
