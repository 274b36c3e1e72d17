package meta

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Group is a user group (Harbor's user_group): a set of users, kept by an identity provider,
// that can be made a project member as a whole.
type Group struct {
	ID        int64
	Name      string
	Type      int
	LDAPDN    string // LDAP groups are identified by their DN
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Group types, numbered as Harbor numbers them.
const (
	GroupLDAP = 1
	GroupHTTP = 2
	GroupOIDC = 3
)

const groupColumns = "id, group_name, group_type, ldap_group_dn, created_at, updated_at"

func scanGroup(row interface{ Scan(...any) error }) (Group, error) {
	var g Group
	var c, u int64
	err := row.Scan(&g.ID, &g.Name, &g.Type, &g.LDAPDN, &c, &u)
	g.CreatedAt, g.UpdatedAt = fromMicros(c), fromMicros(u)
	return g, notFound(err)
}

// CreateGroup inserts a group and returns its id; ErrConflict if an LDAP group with the same DN
// or a group of the same type and name exists.
func (q q) CreateGroup(ctx context.Context, g Group) (int64, error) {
	t := now()
	var id int64
	err := q.writeRow(ctx, `INSERT INTO user_groups (group_name, group_type, ldap_group_dn, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING id`, g.Name, g.Type, g.LDAPDN, t).Scan(&id)
	if err != nil {
		if q.d.isUniqueViolation(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("create group %s: %w", g.Name, err)
	}
	return id, nil
}

func (q q) GroupByID(ctx context.Context, id int64) (Group, error) {
	return scanGroup(q.queryRow(ctx, "SELECT "+groupColumns+" FROM user_groups WHERE id = $1", id))
}

// GroupByName returns the group of that name; of that type unless typ is 0, in which case the
// oldest group with the name wins.
func (q q) GroupByName(ctx context.Context, name string, typ int) (Group, error) {
	if typ == 0 {
		return scanGroup(q.queryRow(ctx, "SELECT "+groupColumns+" FROM user_groups WHERE group_name = $1 ORDER BY id LIMIT 1", name))
	}
	return scanGroup(q.queryRow(ctx, "SELECT "+groupColumns+" FROM user_groups WHERE group_name = $1 AND group_type = $2 ORDER BY id LIMIT 1", name, typ))
}

// GroupByLDAPDN returns the LDAP group with that DN.
func (q q) GroupByLDAPDN(ctx context.Context, dn string) (Group, error) {
	return scanGroup(q.queryRow(ctx, "SELECT "+groupColumns+" FROM user_groups WHERE group_type = $1 AND ldap_group_dn = $2", GroupLDAP, dn))
}

// GroupFilter selects groups for listings.
type GroupFilter struct {
	Name   string // substring of the name, case-insensitive; "" for any
	LDAPDN string // exact DN; "" for any
	Offset int
	Limit  int
	// Sort orders the listing by keys of groupListColumns; by name without.
	Sort []SortKey
}

// groupListColumns are the keys group listings sort by.
var groupListColumns = map[string]Column{
	"name":          {Expr: "group_name", Type: ColText},
	"type":          {Expr: "group_type", Type: ColInt},
	"creation_time": {Expr: "created_at", Type: ColTime},
}

// ListGroups returns one page of groups, ordered by name unless f.Sort says otherwise, and the
// total count.
func (q q) ListGroups(ctx context.Context, f GroupFilter) ([]Group, int64, error) {
	w := NewWhere(1)
	if f.Name != "" {
		w.Add(`LOWER(group_name) LIKE ? ESCAPE '\'`, "%"+likeEscape(strings.ToLower(f.Name))+"%")
	}
	if f.LDAPDN != "" {
		w.Add("ldap_group_dn = ?", f.LDAPDN)
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM user_groups"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count groups: %w", err)
	}
	order, err := OrderBy(f.Sort, groupListColumns, "group_name", "id")
	if err != nil {
		return nil, 0, err
	}
	page := w.Page(ListQuery{Offset: f.Offset, Limit: f.Limit})
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+groupColumns+" FROM user_groups"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	gs := []Group{}
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, 0, err
		}
		gs = append(gs, g)
	}
	return gs, total, rows.Err()
}

// RenameGroup changes a group's name; ErrNotFound if there is no such group, ErrConflict if
// another group of its type has the name.
func (q q) RenameGroup(ctx context.Context, id int64, name string) error {
	res, err := q.exec(ctx, "UPDATE user_groups SET group_name = $1, updated_at = $2 WHERE id = $3", name, now(), id)
	if err != nil {
		if q.d.isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("rename group %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteGroup removes a group together with its project memberships and its user list,
// atomically; ErrNotFound if there is no such group.
func (db *DB) DeleteGroup(ctx context.Context, id int64) error {
	return db.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM project_members WHERE entity_type = 'g' AND entity_id = $1", id); err != nil {
			return fmt.Errorf("delete group %d: memberships: %w", id, err)
		}
		res, err := tx.exec(ctx, "DELETE FROM user_groups WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("delete group %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// AddUserToGroup puts a user in a group (no-op if already there); ErrNotFound if either does
// not exist.
func (q q) AddUserToGroup(ctx context.Context, groupID, userID int64) error {
	res, err := q.exec(ctx, `INSERT INTO user_group_members (group_id, user_id)
		SELECT g.id, u.id FROM user_groups g, users u WHERE g.id = $1 AND u.id = $2 AND NOT u.deleted
		ON CONFLICT (group_id, user_id) DO NOTHING`, groupID, userID)
	if err != nil {
		return fmt.Errorf("add user %d to group %d: %w", userID, groupID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Nothing inserted: either already a member, or one of the two is missing.
		var ok int
		if err := q.queryRowW(ctx, "SELECT COUNT(*) FROM user_group_members WHERE group_id = $1 AND user_id = $2", groupID, userID).Scan(&ok); err != nil {
			return fmt.Errorf("add user %d to group %d: %w", userID, groupID, err)
		}
		if ok == 0 {
			return ErrNotFound
		}
	}
	return nil
}

// RemoveUserFromGroup takes a user out of a group; removing a non-member is not an error.
func (q q) RemoveUserFromGroup(ctx context.Context, groupID, userID int64) error {
	if _, err := q.exec(ctx, "DELETE FROM user_group_members WHERE group_id = $1 AND user_id = $2", groupID, userID); err != nil {
		return fmt.Errorf("remove user %d from group %d: %w", userID, groupID, err)
	}
	return nil
}

// SetUserGroups replaces the groups of a user with exactly groupIDs, atomically: what an
// identity provider does at login with the groups it reports.
func (db *DB) SetUserGroups(ctx context.Context, userID int64, groupIDs []int64) error {
	return db.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM user_group_members WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("set groups of user %d: %w", userID, err)
		}
		for _, g := range groupIDs {
			if err := tx.AddUserToGroup(ctx, g, userID); err != nil {
				return err
			}
		}
		return nil
	})
}

// UserGroups returns the groups a user belongs to, ordered by name.
func (q q) UserGroups(ctx context.Context, userID int64) ([]Group, error) {
	rows, err := q.query(ctx, "SELECT "+groupColumns+" FROM user_groups WHERE id IN (SELECT group_id FROM user_group_members WHERE user_id = $1) ORDER BY group_name, id", userID)
	if err != nil {
		return nil, fmt.Errorf("groups of user %d: %w", userID, err)
	}
	defer rows.Close()
	gs := []Group{}
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		gs = append(gs, g)
	}
	return gs, rows.Err()
}
