package meta

import (
	"context"
	"fmt"
	"time"
)

// Session is a signed-in portal session. IDHash is the hex SHA-256 of the cookie value: the
// store never holds a usable session id.
type Session struct {
	IDHash    string
	User      User
	CreatedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time
}

// CreateSession stores a session for a user, and on the way removes sessions that have expired
// (sessions have no other collector, and logins are rare enough to carry the cost).
func (db *DB) CreateSession(ctx context.Context, idHash string, userID int64, ttl time.Duration) error {
	return db.Tx(ctx, func(tx *Tx) error {
		t := now()
		if _, err := tx.exec(ctx, "DELETE FROM sessions WHERE expires_at < $1", t); err != nil {
			return fmt.Errorf("remove expired sessions: %w", err)
		}
		_, err := tx.exec(ctx, "INSERT INTO sessions (id_hash, user_id, created_at, seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
			idHash, userID, t, t+ttl.Microseconds())
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		return nil
	})
}

// SessionByHash returns an unexpired session of a live user with its user; ErrNotFound
// otherwise.
func (q q) SessionByHash(ctx context.Context, idHash string) (Session, error) {
	var s Session
	var c, seen, exp, uc, uu int64
	u := &s.User
	err := q.queryRow(ctx, `SELECT s.id_hash, s.created_at, s.seen_at, s.expires_at,
			u.id, u.username, u.email, u.realname, u.comment, u.password_hash, u.sysadmin, u.created_at, u.updated_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = $1 AND s.expires_at > $2 AND NOT u.deleted`, idHash, now()).
		Scan(&s.IDHash, &c, &seen, &exp, &u.ID, &u.Username, &u.Email, &u.Realname, &u.Comment, &u.PasswordHash, &u.SysAdmin, &uc, &uu)
	if err != nil {
		return s, notFound(err)
	}
	s.CreatedAt, s.SeenAt, s.ExpiresAt = fromMicros(c), fromMicros(seen), fromMicros(exp)
	u.CreatedAt, u.UpdatedAt = fromMicros(uc), fromMicros(uu)
	return s, nil
}

// TouchSession slides an unexpired session's expiry to ttl from now.
func (q q) TouchSession(ctx context.Context, idHash string, ttl time.Duration) error {
	t := now()
	_, err := q.exec(ctx, "UPDATE sessions SET seen_at = $1, expires_at = $2 WHERE id_hash = $3 AND expires_at > $1",
		t, t+ttl.Microseconds(), idHash)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session; ending one that does not exist is not an error.
func (q q) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := q.exec(ctx, "DELETE FROM sessions WHERE id_hash = $1", idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
