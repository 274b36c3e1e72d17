package meta

import (
	"context"
	"fmt"
	"time"
)

// Robot is a robot account. Name is stored without the login prefix: "project+name" for project
// robots, "name" for system robots.
type Robot struct {
	ID          int64
	Name        string
	Description string
	ProjectID   int64  // 0 for system robots
	ProjectName string // read only: the project of a project robot
	SecretHash  string
	Duration    int64 // days, -1 for never
	ExpiresAt   int64 // Unix seconds, -1 for never
	Disabled    bool
	CreatorType string // "local" (a user) or "robot"
	CreatorRef  int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Permissions []RobotPermission
}

// Robot permission kinds: project-level grants and system-level grants.
const (
	RobotKindProject = "project"
	RobotKindSystem  = "system"
)

// RobotPermission is what a robot may do in one namespace: a project (ProjectID), every project
// (kind project, ProjectID 0, namespace "*") or the system (kind system, namespace "/").
type RobotPermission struct {
	Kind      string
	ProjectID int64
	Namespace string // read only: the project name, "*" or "/"
	Access    []RobotAccess
}

// RobotAccess is one resource and action, allowed or denied.
type RobotAccess struct {
	Resource string
	Action   string
	Effect   string // "allow" or "deny"
}

// RobotGrant is one flattened permission of a live robot, as authorization reads it.
type RobotGrant struct {
	Kind      string
	ProjectID int64 // 0: every project (kind project) or the system
	Resource  string
	Action    string
	Effect    string
}

const robotColumns = `r.id, r.name, r.description, COALESCE(r.project_id, 0), COALESCE(p.name, ''), r.secret_hash, r.duration,
	r.expires_at, r.disabled, r.creator_type, r.creator_ref, r.created_at, r.updated_at`

const robotFrom = " FROM robots r LEFT JOIN projects p ON p.id = r.project_id"

func scanRobot(row interface{ Scan(...any) error }) (Robot, error) {
	var r Robot
	var c, u int64
	err := row.Scan(&r.ID, &r.Name, &r.Description, &r.ProjectID, &r.ProjectName, &r.SecretHash, &r.Duration,
		&r.ExpiresAt, &r.Disabled, &r.CreatorType, &r.CreatorRef, &c, &u)
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	return r, notFound(err)
}

// Expired reports whether the robot's lifetime is over at t.
func (r Robot) Expired(t time.Time) bool { return r.ExpiresAt != -1 && r.ExpiresAt <= t.Unix() }

// CreateRobot inserts a robot and its permissions in the transaction and returns its id;
// ErrConflict if the name is taken, ErrNotFound if a project it names no longer exists.
func (tx *Tx) CreateRobot(ctx context.Context, r Robot) (int64, error) {
	if r.ProjectID != 0 {
		if err := tx.requireProject(ctx, r.ProjectID); err != nil {
			return 0, err
		}
	}
	var project any
	if r.ProjectID != 0 {
		project = r.ProjectID
	}
	var id int64
	err := tx.queryRowW(ctx, `INSERT INTO robots (name, description, project_id, secret_hash, duration, expires_at, disabled,
		creator_type, creator_ref, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id`,
		r.Name, r.Description, project, r.SecretHash, r.Duration, r.ExpiresAt, r.Disabled, r.CreatorType, r.CreatorRef, now()).Scan(&id)
	if err != nil {
		if tx.d.isUniqueViolation(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("create robot %s: %w", r.Name, err)
	}
	return id, tx.insertRobotPermissions(ctx, id, r.Permissions)
}

// requireProject is ErrNotFound unless the project exists: checked inside the transaction that
// refers to it, so a project deleted meanwhile is reported rather than a constraint error.
func (q q) requireProject(ctx context.Context, id int64) error {
	var n int
	if err := q.queryRowW(ctx, "SELECT COUNT(*) FROM projects WHERE id = $1", id).Scan(&n); err != nil {
		return fmt.Errorf("look up project %d: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (q q) insertRobotPermissions(ctx context.Context, robotID int64, perms []RobotPermission) error {
	for _, p := range perms {
		var project any
		if p.ProjectID != 0 {
			if err := q.requireProject(ctx, p.ProjectID); err != nil {
				return err
			}
			project = p.ProjectID
		}
		for _, a := range p.Access {
			effect := a.Effect
			if effect == "" {
				effect = "allow"
			}
			_, err := q.exec(ctx, `INSERT INTO robot_permissions (robot_id, kind, project_id, resource, action, effect)
				VALUES ($1, $2, $3, $4, $5, $6)`, robotID, p.Kind, project, a.Resource, a.Action, effect)
			if err != nil {
				return fmt.Errorf("robot %d: permission %s %s:%s: %w", robotID, p.Kind, a.Resource, a.Action, err)
			}
		}
	}
	return nil
}

// RobotByID returns a robot with its permissions.
func (q q) RobotByID(ctx context.Context, id int64) (Robot, error) {
	r, err := scanRobot(q.queryRow(ctx, "SELECT "+robotColumns+robotFrom+" WHERE r.id = $1", id))
	if err != nil {
		return r, err
	}
	rs := []Robot{r}
	if err := q.loadRobotPermissions(ctx, rs); err != nil {
		return r, err
	}
	return rs[0], nil
}

// RobotByName returns a robot by its stored name (without the login prefix), without its
// permissions: what logging in needs.
func (q q) RobotByName(ctx context.Context, name string) (Robot, error) {
	return scanRobot(q.queryRow(ctx, "SELECT "+robotColumns+robotFrom+" WHERE r.name = $1", name))
}

// loadRobotPermissions fills in the permissions of the robots with one query, grouping the
// rows by kind and project in the order they were granted.
func (q q) loadRobotPermissions(ctx context.Context, rs []Robot) error {
	if len(rs) == 0 {
		return nil
	}
	ids := make([]any, len(rs))
	index := make(map[int64]int, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
		index[r.ID] = i
		rs[i].Permissions = []RobotPermission{}
	}
	rows, err := q.query(ctx, `SELECT rp.robot_id, rp.kind, COALESCE(rp.project_id, 0), COALESCE(p.name, ''), rp.resource, rp.action, rp.effect
		FROM robot_permissions rp LEFT JOIN projects p ON p.id = rp.project_id
		WHERE rp.robot_id IN (`+placeholders(1, len(ids))+`) ORDER BY rp.robot_id, rp.id`, ids...)
	if err != nil {
		return fmt.Errorf("robot permissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var robotID, projectID int64
		var kind, project string
		var a RobotAccess
		if err := rows.Scan(&robotID, &kind, &projectID, &project, &a.Resource, &a.Action, &a.Effect); err != nil {
			return err
		}
		r := &rs[index[robotID]]
		ns := project
		switch {
		case kind == RobotKindSystem:
			ns = "/"
		case projectID == 0:
			ns = "*"
		}
		found := false
		for i := range r.Permissions {
			if p := &r.Permissions[i]; p.Kind == kind && p.ProjectID == projectID {
				p.Access = append(p.Access, a)
				found = true
				break
			}
		}
		if !found {
			r.Permissions = append(r.Permissions, RobotPermission{Kind: kind, ProjectID: projectID, Namespace: ns, Access: []RobotAccess{a}})
		}
	}
	return rows.Err()
}

// RobotFilter selects robots for listings.
type RobotFilter struct {
	Level     string // "system", "project" or "" for both
	ProjectID int64  // with Level "project": that project's robots
}

// robotListColumns are the keys of Harbor's q= and sort= for robot listings.
var robotListColumns = map[string]Column{
	"id":            {Expr: "r.id", Type: ColInt},
	"name":          {Expr: "r.name", Type: ColText},
	"description":   {Expr: "r.description", Type: ColText},
	"disable":       {Expr: "r.disabled", Type: ColBool},
	"duration":      {Expr: "r.duration", Type: ColInt},
	"expires_at":    {Expr: "r.expires_at", Type: ColInt},
	"creation_time": {Expr: "r.created_at", Type: ColTime},
	"update_time":   {Expr: "r.updated_at", Type: ColTime},
}

// ListRobots returns one page of robots with their permissions, and the total count.
func (q q) ListRobots(ctx context.Context, f RobotFilter, lq ListQuery) ([]Robot, int64, error) {
	w := NewWhere(1)
	switch f.Level {
	case RobotKindSystem:
		w.Add("r.project_id IS NULL")
	case RobotKindProject:
		w.Add("r.project_id = ?", f.ProjectID)
	}
	if err := w.Apply(lq, robotListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, robotListColumns, "", "r.id")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM robots r"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count robots: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+robotColumns+robotFrom+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list robots: %w", err)
	}
	rs := []Robot{}
	for rows.Next() {
		r, err := scanRobot(rows)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if err := q.loadRobotPermissions(ctx, rs); err != nil {
		return nil, 0, err
	}
	return rs, total, nil
}

// UpdateRobot replaces a robot's description, disabled flag, duration, expiry and permissions
// in the transaction; ErrNotFound if the robot (or a project a permission names) is gone.
func (tx *Tx) UpdateRobot(ctx context.Context, r Robot) error {
	res, err := tx.exec(ctx, `UPDATE robots SET description = $1, disabled = $2, duration = $3, expires_at = $4, updated_at = $5
		WHERE id = $6`, r.Description, r.Disabled, r.Duration, r.ExpiresAt, now(), r.ID)
	if err != nil {
		return fmt.Errorf("update robot %d: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.exec(ctx, "DELETE FROM robot_permissions WHERE robot_id = $1", r.ID); err != nil {
		return fmt.Errorf("update robot %d: %w", r.ID, err)
	}
	return tx.insertRobotPermissions(ctx, r.ID, r.Permissions)
}

// SetRobotSecret replaces a robot's secret hash; ErrNotFound if there is no such robot.
func (q q) SetRobotSecret(ctx context.Context, id int64, hash string) error {
	res, err := q.exec(ctx, "UPDATE robots SET secret_hash = $1, updated_at = $2 WHERE id = $3", hash, now(), id)
	if err != nil {
		return fmt.Errorf("set secret of robot %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteRobot removes a robot and its permissions; ErrNotFound if there is no such robot.
func (q q) DeleteRobot(ctx context.Context, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM robots WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete robot %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RobotGrants returns the permissions of a robot that may act now: none for a disabled,
// expired or deleted robot, so a token or cached login outliving such a change grants nothing.
func (q q) RobotGrants(ctx context.Context, robotID int64) ([]RobotGrant, error) {
	rows, err := q.query(ctx, `SELECT rp.kind, COALESCE(rp.project_id, 0), rp.resource, rp.action, rp.effect
		FROM robot_permissions rp JOIN robots r ON r.id = rp.robot_id
		WHERE rp.robot_id = $1 AND NOT r.disabled AND (r.expires_at = -1 OR r.expires_at > $2)`,
		robotID, time.Now().Unix())
	if err != nil {
		return nil, fmt.Errorf("grants of robot %d: %w", robotID, err)
	}
	defer rows.Close()
	var gs []RobotGrant
	for rows.Next() {
		var g RobotGrant
		if err := rows.Scan(&g.Kind, &g.ProjectID, &g.Resource, &g.Action, &g.Effect); err != nil {
			return nil, err
		}
		gs = append(gs, g)
	}
	return gs, rows.Err()
}
