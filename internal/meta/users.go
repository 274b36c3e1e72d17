package meta

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

type User struct {
	ID           int64
	Username     string
	Email        string
	Realname     string
	Comment      string
	PasswordHash string
	SysAdmin     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// DefaultAdminID is the administrator created on first start. As in Harbor it cannot be
// deleted and is left out of user listings and searches.
const DefaultAdminID = 1

const userColumns = "id, username, email, realname, comment, password_hash, sysadmin, created_at, updated_at"

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var c, up int64
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Realname, &u.Comment, &u.PasswordHash, &u.SysAdmin, &c, &up)
	u.CreatedAt, u.UpdatedAt = fromMicros(c), fromMicros(up)
	return u, notFound(err)
}

// CreateUser inserts u and returns its id; ErrConflict if the username or the e-mail address
// is taken.
func (q q) CreateUser(ctx context.Context, u User) (int64, error) {
	t := now()
	var id int64
	err := q.writeRow(ctx, `INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
		u.Username, u.Email, u.Realname, u.Comment, u.PasswordHash, u.SysAdmin, t).Scan(&id)
	if err != nil {
		if q.d.isUniqueViolation(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("create user %s: %w", u.Username, err)
	}
	return id, nil
}

// UserByName returns a live (not deleted) user.
func (q q) UserByName(ctx context.Context, name string) (User, error) {
	return scanUser(q.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE username = $1 AND NOT deleted", name))
}

// UserByID returns a live (not deleted) user.
func (q q) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(q.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1 AND NOT deleted", id))
}

// UserByEmail returns the live user with this e-mail address (the portal lets people sign in
// with either).
func (q q) UserByEmail(ctx context.Context, email string) (User, error) {
	if email == "" {
		return User{}, ErrNotFound
	}
	return scanUser(q.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE email = $1 AND NOT deleted", email))
}

// SetPassword replaces a user's password hash; ErrNotFound if there is no such user.
func (q q) SetPassword(ctx context.Context, username, hash string) error {
	res, err := q.exec(ctx, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3 AND NOT deleted", hash, now(), username)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// userListColumns are the keys of Harbor's q= and sort= for user listings.
var userListColumns = map[string]Column{
	"user_id":       {Expr: "id", Type: ColInt},
	"username":      {Expr: "username", Type: ColText},
	"email":         {Expr: "email", Type: ColText},
	"realname":      {Expr: "realname", Type: ColText},
	"comment":       {Expr: "comment", Type: ColText},
	"sysadmin_flag": {Expr: "sysadmin", Type: ColBool},
	"creation_time": {Expr: "created_at", Type: ColTime},
	"update_time":   {Expr: "updated_at", Type: ColTime},
}

// ListUsers returns one page of live users other than the default administrator (Harbor leaves
// it out of listings), filtered and sorted by lq, and the total count.
func (q q) ListUsers(ctx context.Context, lq ListQuery) ([]User, int64, error) {
	w := NewWhere(1)
	w.Add("NOT deleted")
	w.Add("id <> ?", int64(DefaultAdminID))
	if err := w.Apply(lq, userListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, userListColumns, "username", "id")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM users"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+userColumns+" FROM users"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	us := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		us = append(us, u)
	}
	return us, total, rows.Err()
}

// UpdateUserProfile replaces the profile fields Harbor lets users edit. ErrNotFound if there
// is no such user, ErrConflict if the e-mail address belongs to someone else.
func (q q) UpdateUserProfile(ctx context.Context, id int64, email, realname, comment string) error {
	res, err := q.exec(ctx, "UPDATE users SET email = $1, realname = $2, comment = $3, updated_at = $4 WHERE id = $5 AND NOT deleted",
		email, realname, comment, now(), id)
	if err != nil {
		if q.d.isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("update profile of user %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetSysAdmin grants or revokes system administration; ErrNotFound if there is no such user.
func (q q) SetSysAdmin(ctx context.Context, id int64, admin bool) error {
	res, err := q.exec(ctx, "UPDATE users SET sysadmin = $1, updated_at = $2 WHERE id = $3 AND NOT deleted", admin, now(), id)
	if err != nil {
		return fmt.Errorf("set sysadmin flag of user %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ChangePassword replaces a user's password hash and ends the user's sessions except keep
// (the id hash of the session that made the change, "" for none), atomically: whoever learnt
// the old password loses the sessions it opened. ErrNotFound if there is no such user.
func (db *DB) ChangePassword(ctx context.Context, id int64, hash, keep string) error {
	return db.Tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND NOT deleted", hash, now(), id)
		if err != nil {
			return fmt.Errorf("set password of user %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := tx.exec(ctx, "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2", id, keep); err != nil {
			return fmt.Errorf("end sessions of user %d: %w", id, err)
		}
		return nil
	})
}

// DeleteUser deletes a user the way Harbor does, in the transaction: the row is kept but marked
// deleted and renamed "<name>#<id>" (e-mail likewise), so the name and address can be used
// again while projects it owns keep an owner; its password, administrator flag, project
// memberships and sessions go. It returns the user as it was. ErrNotFound if there is no such
// live user.
func (tx *Tx) DeleteUser(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(tx.queryRowW(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1 AND NOT deleted", id))
	if err != nil {
		return u, err
	}
	suffix := "#" + strconv.FormatInt(id, 10)
	email := u.Email
	if email != "" {
		email = truncate(email, suffix, 255)
	}
	_, err = tx.exec(ctx, `UPDATE users SET deleted = TRUE, username = $1, email = $2, password_hash = '', sysadmin = FALSE, updated_at = $3
		WHERE id = $4`, truncate(u.Username, suffix, 255), email, now(), id)
	if err != nil {
		return u, fmt.Errorf("delete user %d: %w", id, err)
	}
	if _, err := tx.exec(ctx, "DELETE FROM project_members WHERE entity_type = 'u' AND entity_id = $1", id); err != nil {
		return u, fmt.Errorf("delete user %d: memberships: %w", id, err)
	}
	if _, err := tx.exec(ctx, "DELETE FROM sessions WHERE user_id = $1", id); err != nil {
		return u, fmt.Errorf("delete user %d: sessions: %w", id, err)
	}
	return u, nil
}

// truncate appends suffix to s, shortening s so that the result has at most n bytes (Harbor's
// lib.Truncate), without cutting a UTF-8 sequence in half.
func truncate(s, suffix string, n int) string {
	if len(s)+len(suffix) <= n {
		return s + suffix
	}
	cut := n - len(suffix)
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + suffix
}
