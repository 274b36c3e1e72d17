package meta

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Member is one row of a project's member list: a user ('u') or a user group ('g') with a role.
type Member struct {
	ID         int64
	ProjectID  int64
	EntityType string // "u" or "g"
	EntityID   int64  // users.id or user_groups.id
	EntityName string // user name or group name
	RoleID     int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Member entity types, as Harbor names them.
const (
	MemberUser  = "u"
	MemberGroup = "g"
)

// RoleNames are Harbor's role names by id (its role table's "name" column).
var RoleNames = map[int]string{
	RoleProjectAdmin: "projectAdmin",
	RoleDeveloper:    "developer",
	RoleGuest:        "guest",
	RoleMaintainer:   "maintainer",
	RoleLimitedGuest: "limitedGuest",
}

// roleRankSQL orders role ids from the most to the least powerful: each role's permissions
// include those of every role after it, so the first one a user holds is the union of them all.
const roleRankSQL = "CASE role_id WHEN 1 THEN 1 WHEN 4 THEN 2 WHEN 2 THEN 3 WHEN 3 THEN 4 ELSE 5 END"

// userEntitySQL matches the project_members rows of the user bound to placeholder ph: the
// user's own and those of the user's groups.
func userEntitySQL(ph string) string {
	return "((entity_type = 'u' AND entity_id = " + ph +
		") OR (entity_type = 'g' AND entity_id IN (SELECT group_id FROM user_group_members WHERE user_id = " + ph + ")))"
}

// memberSelect yields project members with their entity names; callers add WHERE on m.
const memberSelect = `SELECT m.id, m.project_id, m.entity_type, m.entity_id, m.role_id, m.created_at, m.updated_at,
	COALESCE(CASE WHEN m.entity_type = 'u' THEN (SELECT username FROM users WHERE id = m.entity_id)
		ELSE (SELECT group_name FROM user_groups WHERE id = m.entity_id) END, '') AS entity_name
	FROM project_members m`

func scanMember(row interface{ Scan(...any) error }) (Member, error) {
	var m Member
	var c, u int64
	err := row.Scan(&m.ID, &m.ProjectID, &m.EntityType, &m.EntityID, &m.RoleID, &c, &u, &m.EntityName)
	m.CreatedAt, m.UpdatedAt = fromMicros(c), fromMicros(u)
	return m, notFound(err)
}

// ListMembers returns one page of a project's members ordered by name, optionally only those
// whose name contains entityName (case-insensitively), and the total count.
func (q q) ListMembers(ctx context.Context, projectID int64, entityName string, offset, limit int) ([]Member, int64, error) {
	w := NewWhere(1)
	w.Add("x.project_id = ?", projectID)
	if entityName != "" {
		w.Add(`LOWER(x.entity_name) LIKE ? ESCAPE '\'`, "%"+likeEscape(strings.ToLower(entityName))+"%")
	}
	where, args := w.SQL()
	from := " FROM (" + memberSelect + ") x" + where
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*)"+from, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count members: %w", err)
	}
	page := w.Page(ListQuery{Offset: offset, Limit: limit})
	_, args = w.SQL()
	rows, err := q.query(ctx, `SELECT x.id, x.project_id, x.entity_type, x.entity_id, x.role_id, x.created_at, x.updated_at, x.entity_name`+
		from+" ORDER BY x.entity_name, x.id"+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	ms := []Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, 0, err
		}
		ms = append(ms, m)
	}
	return ms, total, rows.Err()
}

// MemberByID returns a member of the project; ErrNotFound if the id is not one of its members.
func (q q) MemberByID(ctx context.Context, projectID, memberID int64) (Member, error) {
	return scanMember(q.queryRow(ctx, memberSelect+" WHERE m.id = $1 AND m.project_id = $2", memberID, projectID))
}

// AddMember makes a user or group a member of the project, checking that the entity exists.
// ErrNotFound if it does not, ErrConflict if it is already a member.
func (tx *Tx) AddMember(ctx context.Context, projectID int64, entityType string, entityID int64, role int) (int64, error) {
	var check string
	switch entityType {
	case MemberUser:
		check = "SELECT COUNT(*) FROM users WHERE id = $1 AND NOT deleted"
	case MemberGroup:
		check = "SELECT COUNT(*) FROM user_groups WHERE id = $1"
	default:
		return 0, fmt.Errorf("add member: unknown entity type %q", entityType)
	}
	var exists int
	if err := tx.queryRowW(ctx, check, entityID).Scan(&exists); err != nil {
		return 0, fmt.Errorf("add member: %w", err)
	}
	if exists == 0 {
		return 0, ErrNotFound
	}
	var id int64
	err := tx.queryRowW(ctx, `INSERT INTO project_members (project_id, entity_type, entity_id, role_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5) RETURNING id`, projectID, entityType, entityID, role, now()).Scan(&id)
	if err != nil {
		if tx.d.isUniqueViolation(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("add member: %w", err)
	}
	return id, nil
}

// SetMemberRole changes a member's role; ErrNotFound if the id is not a member of the project.
func (q q) SetMemberRole(ctx context.Context, projectID, memberID int64, role int) error {
	res, err := q.exec(ctx, "UPDATE project_members SET role_id = $1, updated_at = $2 WHERE id = $3 AND project_id = $4",
		role, now(), memberID, projectID)
	if err != nil {
		return fmt.Errorf("set member role: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteMember removes a member from the project and returns what it was; ErrNotFound if the
// id is not a member of the project.
func (tx *Tx) DeleteMember(ctx context.Context, projectID, memberID int64) (Member, error) {
	m, err := tx.MemberByID(ctx, projectID, memberID)
	if err != nil {
		return m, err
	}
	if _, err := tx.exec(ctx, "DELETE FROM project_members WHERE id = $1", memberID); err != nil {
		return m, fmt.Errorf("delete member: %w", err)
	}
	return m, nil
}

// IsProjectAdminAnywhere reports whether the user is project admin of at least one project,
// directly or through a group (Harbor opens /permissions to such users).
func (q q) IsProjectAdminAnywhere(ctx context.Context, userID int64) (bool, error) {
	var n int
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM projects WHERE id IN "+projectsWhereMember("$1", "pm.role_id = $2"),
		userID, RoleProjectAdmin).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("project admin roles of user %d: %w", userID, err)
	}
	return n > 0, nil
}
