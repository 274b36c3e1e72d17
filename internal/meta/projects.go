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

// ProjectSettings are what a project starts with besides its row and metadata.
type ProjectSettings struct {
	StorageLimit int64    // the quota's hard limit in bytes, -1 (Unlimited) for none
	Allowlist    []string // CVE ids of the project's allowlist
	AllowlistExp *int64   // the allowlist's expiry in epoch seconds, nil for never
}

// CreateProject inserts the project with an unlimited quota and an empty CVE allowlist (see
// Tx.CreateProject).
func (db *DB) CreateProject(ctx context.Context, p Project) (int64, error) {
	var id int64
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.CreateProject(ctx, p, ProjectSettings{StorageLimit: Unlimited})
		return err
	})
	return id, err
}

// CreateProject inserts the project, its metadata, its quota, its CVE allowlist and the owner
// as project admin. ErrConflict if the name is taken.
func (tx *Tx) CreateProject(ctx context.Context, p Project, s ProjectSettings) (int64, error) {
	tx.projectsChanged = true
	var id int64
	t := now()
	err := tx.queryRowW(ctx, `INSERT INTO projects (name, owner_id, public, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING id`, p.Name, p.OwnerID, p.Public, t).Scan(&id)
	if err != nil {
		if tx.d.isUniqueViolation(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("create project %s: %w", p.Name, err)
	}
	for k, v := range p.Metadata {
		if _, err := tx.exec(ctx, "INSERT INTO project_metadata (project_id, name, value) VALUES ($1, $2, $3)", id, k, v); err != nil {
			return 0, fmt.Errorf("create project %s: metadata %s: %w", p.Name, k, err)
		}
	}
	_, err = tx.exec(ctx, `INSERT INTO project_members (project_id, entity_type, entity_id, role_id, created_at, updated_at)
		VALUES ($1, 'u', $2, $3, $4, $4)`, id, p.OwnerID, RoleProjectAdmin, t)
	if err != nil {
		return 0, fmt.Errorf("create project %s: owner membership: %w", p.Name, err)
	}
	if _, err := tx.exec(ctx, "INSERT INTO quotas (project_id, hard, used, created_at, updated_at) VALUES ($1, $2, 0, $3, $3)",
		id, s.StorageLimit, t); err != nil {
		return 0, fmt.Errorf("create project %s: quota: %w", p.Name, err)
	}
	if err := tx.SetCVEAllowlist(ctx, CVEAllowlist{ProjectID: id, Items: s.Allowlist, ExpiresAt: s.AllowlistExp}); err != nil {
		return 0, fmt.Errorf("create project %s: %w", p.Name, err)
	}
	return id, nil
}

// ProjectByName returns the project without its metadata (the hot path needs only the row).
func (q q) ProjectByName(ctx context.Context, name string) (Project, error) {
	return scanProject(q.queryRow(ctx, "SELECT "+projectColumns+" FROM projects p JOIN users u ON u.id = p.owner_id WHERE p.name = $1", name))
}

// LookupProject is the registry's hot-path lookup: the project row alone, without the owner
// name and repository count that listings show (counting repositories on every /v2/ request
// made request cost grow with the size of the project). The registry remembers the answer for
// a moment.
func (q q) LookupProject(ctx context.Context, name string) (Project, error) {
	var p Project
	var c, up int64
	err := q.queryRow(ctx, "SELECT id, name, owner_id, public, created_at, updated_at FROM projects WHERE name = $1", name).
		Scan(&p.ID, &p.Name, &p.OwnerID, &p.Public, &c, &up)
	if err != nil {
		return p, notFound(err)
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(c), fromMicros(up)
	return p, nil
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

// DeleteProject removes an empty project (see Tx.DeleteProject).
func (db *DB) DeleteProject(ctx context.Context, id int64) error {
	return db.Tx(ctx, func(tx *Tx) error { return tx.DeleteProject(ctx, id) })
}

// DeleteProject removes an empty project; ErrNotEmpty if it still has repositories,
// ErrNotFound if there is no such project.
func (tx *Tx) DeleteProject(ctx context.Context, id int64) error {
	tx.projectsChanged = true
	var n int64
	if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM repositories WHERE project_id = $1", id).Scan(&n); err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	if n > 0 {
		return ErrNotEmpty
	}
	// Metadata, members, quota and storage accounting go with the row (ON DELETE CASCADE);
	// the allowlist table also holds the system's list (project 0), so it has no foreign key.
	res, err := tx.exec(ctx, "DELETE FROM projects WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.exec(ctx, "DELETE FROM cve_allowlists WHERE project_id = $1", id); err != nil {
		return fmt.Errorf("delete project: allowlist: %w", err)
	}
	return nil
}

// MemberRole returns the role of a user in a project, or 0 when the user is not a member. A
// user who is a member both directly and through groups holds the most powerful of those roles
// (see roleRankSQL in members.go).
func (q q) MemberRole(ctx context.Context, projectID, userID int64) (int, error) {
	var role int
	err := q.queryRow(ctx, "SELECT role_id FROM project_members WHERE project_id = $1 AND "+userEntitySQL("$2")+
		" ORDER BY "+roleRankSQL+" LIMIT 1", projectID, userID).Scan(&role)
	if err = notFound(err); err == ErrNotFound {
		return 0, nil
	}
	return role, err
}

// projectsWhereMember is the subquery "the projects where user param is a member", directly or
// through one of the user's groups; roleCond, if not empty, further restricts the membership
// ("pm.role_id IN (...)").
func projectsWhereMember(param, roleCond string) string {
	cond := `(SELECT pm.project_id FROM project_members pm WHERE ((pm.entity_type = 'u' AND pm.entity_id = ` + param + `)
		OR (pm.entity_type = 'g' AND pm.entity_id IN (SELECT group_id FROM user_group_members WHERE user_id = ` + param + `)))`
	if roleCond != "" {
		cond += " AND " + roleCond
	}
	return cond + ")"
}

// ProjectVisibility says which projects a caller sees in listings: all of them (system
// administrators), or the public ones plus those where the user is a member (UserID) or that
// the robot holds permissions in (RobotID). The zero value sees public projects only.
type ProjectVisibility struct {
	All     bool
	UserID  int64
	RobotID int64
}

func (v ProjectVisibility) apply(w *Where) {
	switch {
	case v.All:
	case v.UserID > 0:
		w.Add("(p.public OR p.id IN " + projectsWhereMember(w.Arg(v.UserID), "") + ")")
	case v.RobotID > 0:
		// A project robot's permissions name its projects; one with a permission on every
		// project (namespace "*": kind project, no project id) sees them all.
		r := w.Arg(v.RobotID)
		w.Add(`(p.public OR p.id IN (SELECT project_id FROM robot_permissions WHERE robot_id = ` + r + ` AND project_id IS NOT NULL)
			OR EXISTS (SELECT 1 FROM robot_permissions WHERE robot_id = ` + r + ` AND kind = 'project' AND project_id IS NULL))`)
	default:
		w.Add("p.public")
	}
}

// projectListColumns are the keys of Harbor's q= and sort= for project listings.
var projectListColumns = map[string]Column{
	"name":          {"p.name", ColText},
	"project_id":    {"p.id", ColInt},
	"public":        {"p.public", ColBool},
	"owner":         {"u.username", ColText},
	"creation_time": {"p.created_at", ColTime},
	"update_time":   {"p.updated_at", ColTime},
}

// ListProjectsPage returns one page of the projects visible under vis, filtered and sorted by
// lq (by name unless told otherwise), and the total count.
func (q q) ListProjectsPage(ctx context.Context, lq ListQuery, vis ProjectVisibility) ([]Project, int64, error) {
	w := NewWhere(1)
	vis.apply(w)
	if err := w.Apply(lq, projectListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, projectListColumns, "p.name", "p.id")
	if err != nil {
		return nil, 0, err
	}
	const from = " FROM projects p JOIN users u ON u.id = p.owner_id"
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*)"+from+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count projects: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+projectColumns+from+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	ps := []Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, 0, err
		}
		ps = append(ps, p)
	}
	return ps, total, rows.Err()
}

// ProjectsMetadata returns the metadata of several projects at once (listings).
func (q q) ProjectsMetadata(ctx context.Context, ids []int64) (map[int64]map[string]string, error) {
	out := make(map[int64]map[string]string, len(ids))
	for _, id := range ids {
		out[id] = map[string]string{}
	}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.query(ctx, "SELECT project_id, name, value FROM project_metadata WHERE project_id IN ("+placeholders(1, len(ids))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("projects metadata: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return nil, err
		}
		out[id][k] = v
	}
	return out, rows.Err()
}

// ProjectUpdate is a change to a project; nil and empty fields stay as they are.
type ProjectUpdate struct {
	Public       *bool
	Metadata     map[string]string // set, created where missing; never "public" (use Public)
	Allowlist    *CVEAllowlist     // replaces the project's allowlist
	StorageLimit *int64            // the quota's new hard limit
}

// UpdateProject applies the change; ErrNotFound if there is no such project.
func (tx *Tx) UpdateProject(ctx context.Context, id int64, u ProjectUpdate) error {
	tx.projectsChanged = true
	t := now()
	res, err := tx.exec(ctx, "UPDATE projects SET updated_at = $2 WHERE id = $1", id, t)
	if err != nil {
		return fmt.Errorf("update project %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if u.Public != nil {
		if _, err := tx.exec(ctx, "UPDATE projects SET public = $2 WHERE id = $1", id, *u.Public); err != nil {
			return fmt.Errorf("update project %d: %w", id, err)
		}
	}
	for k, v := range u.Metadata {
		if _, err := tx.exec(ctx, `INSERT INTO project_metadata (project_id, name, value) VALUES ($1, $2, $3)
			ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value`, id, k, v); err != nil {
			return fmt.Errorf("update project %d: metadata %s: %w", id, k, err)
		}
	}
	if u.Allowlist != nil {
		l := *u.Allowlist
		l.ProjectID = id
		if err := tx.SetCVEAllowlist(ctx, l); err != nil {
			return err
		}
	}
	if u.StorageLimit != nil {
		tx.quotasChanged = true
		if _, err := tx.exec(ctx, `INSERT INTO quotas (project_id, hard, used, created_at, updated_at) VALUES ($1, $2, 0, $3, $3)
			ON CONFLICT (project_id) DO UPDATE SET hard = excluded.hard, updated_at = excluded.updated_at`, id, *u.StorageLimit, t); err != nil {
			return fmt.Errorf("update project %d: quota: %w", id, err)
		}
	}
	return nil
}

// AddProjectMetadata adds metadata; ErrConflict if any of the names is set already ("public"
// always is: it is a column of the project), ErrNotFound if there is no such project.
func (tx *Tx) AddProjectMetadata(ctx context.Context, id int64, md map[string]string) error {
	tx.projectsChanged = true
	if _, ok := md["public"]; ok {
		return ErrConflict
	}
	res, err := tx.exec(ctx, "UPDATE projects SET updated_at = $2 WHERE id = $1", id, now())
	if err != nil {
		return fmt.Errorf("add metadata to project %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	for k, v := range md {
		if _, err := tx.exec(ctx, "INSERT INTO project_metadata (project_id, name, value) VALUES ($1, $2, $3)", id, k, v); err != nil {
			if tx.d.isUniqueViolation(err) {
				return ErrConflict
			}
			return fmt.Errorf("add metadata %s to project %d: %w", k, id, err)
		}
	}
	return nil
}

// DeleteProjectMetadata removes one metadata entry; ErrNotFound if it is not set. Removing
// "public" makes the project private, which is what a missing "public" means in Harbor.
func (tx *Tx) DeleteProjectMetadata(ctx context.Context, id int64, name string) error {
	tx.projectsChanged = true
	var res interface{ RowsAffected() (int64, error) }
	var err error
	if name == "public" {
		res, err = tx.exec(ctx, "UPDATE projects SET public = FALSE, updated_at = $2 WHERE id = $1", id, now())
	} else {
		res, err = tx.exec(ctx, "DELETE FROM project_metadata WHERE project_id = $1 AND name = $2", id, name)
	}
	if err != nil {
		return fmt.Errorf("delete metadata %s of project %d: %w", name, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// MemberRoleCounts returns how many members (users and groups) hold each role in the project.
func (q q) MemberRoleCounts(ctx context.Context, projectID int64) (map[int]int64, error) {
	rows, err := q.query(ctx, "SELECT role_id, COUNT(*) FROM project_members WHERE project_id = $1 GROUP BY role_id", projectID)
	if err != nil {
		return nil, fmt.Errorf("count members of project %d: %w", projectID, err)
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var role int
		var n int64
		if err := rows.Scan(&role, &n); err != nil {
			return nil, err
		}
		out[role] = n
	}
	return out, rows.Err()
}

// DefaultProjectOwner returns the user that owns projects created by robots: the first live
// system administrator, as in Harbor.
func (q q) DefaultProjectOwner(ctx context.Context) (int64, error) {
	var id int64
	err := q.queryRow(ctx, "SELECT id FROM users WHERE sysadmin AND NOT deleted ORDER BY id LIMIT 1").Scan(&id)
	return id, notFound(err)
}
