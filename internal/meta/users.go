package meta

import (
	"context"
	"fmt"
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

const userColumns = "id, username, email, realname, comment, password_hash, sysadmin, created_at, updated_at"

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var c, up int64
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Realname, &u.Comment, &u.PasswordHash, &u.SysAdmin, &c, &up)
	u.CreatedAt, u.UpdatedAt = fromMicros(c), fromMicros(up)
	return u, notFound(err)
}

// CreateUser inserts u and returns its id; ErrConflict if the username is taken.
func (q q) CreateUser(ctx context.Context, u User) (int64, error) {
	t := now()
	var id int64
	err := q.queryRowW(ctx, `INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at)
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

func (q q) UserByName(ctx context.Context, name string) (User, error) {
	return scanUser(q.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE username = $1", name))
}

func (q q) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(q.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
}

// SetPassword replaces a user's password hash; ErrNotFound if there is no such user.
func (q q) SetPassword(ctx context.Context, username, hash string) error {
	res, err := q.exec(ctx, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3", hash, now(), username)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
