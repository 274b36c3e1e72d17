package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/account"
	"github.com/berthreg/berth/internal/auth/session"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/settings"
)

const password = "Passw0rd-alice"

func newService(t *testing.T, db *meta.DB) *session.Service {
	t.Helper()
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.CreateUser(ctx, meta.User{Username: "alice", Email: "alice@example.com", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	err = db.Tx(ctx, func(tx *meta.Tx) error {
		_, err := tx.CreateRobot(ctx, meta.Robot{Name: "bot", SecretHash: hash, ExpiresAt: -1, CreatorType: "local", CreatorRef: 1})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lookup := &account.Lookup{Store: db, Config: &settings.Service{Store: db}}
	return &session.Service{Store: db, Auth: auth.NewAuthenticator(lookup.Account)}
}

// TestRobotsCannotOpenSessions: a robot's credentials are good for Basic, never for a session.
func TestRobotsCannotOpenSessions(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s := newService(t, db)
		ctx := context.Background()
		if p, err := s.Auth.Basic(ctx, "robot$bot", password); err != nil || p.Kind != auth.Robot {
			t.Fatalf("the robot's Basic credentials: %+v, %v", p, err)
		}
		if _, err := s.Login(ctx, "robot$bot", password); !errors.Is(err, fault.ErrUnauthorized) {
			t.Fatalf("robot login: %v, want %v", err, fault.ErrUnauthorized)
		}
	})
}

// TestSessionUse: the expiry slides forward with use, but not for a change refused for want of
// the session's CSRF token.
func TestSessionUse(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s := newService(t, db)
		ctx := context.Background()
		id, err := s.Login(ctx, "alice@example.com", password)
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.Login(ctx, "alice", password)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name     string
			csrf     string
			change   bool
			refusal  fault.Kind
			extended bool
		}{
			{"a read without the token", "", false, 0, true},
			{"a change without the token", "", true, fault.Forbidden, false},
			{"a change with another session's token", session.CSRFToken(other), true, fault.Forbidden, false},
			{"a change with the token", session.CSRFToken(id), true, 0, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				// Last seen two minutes ago, expiring in thirty seconds.
				soon := time.Now().Add(30 * time.Second)
				err := db.QueryRowForTest(ctx, "UPDATE sessions SET seen_at = $1, expires_at = $2 WHERE id_hash = $3 RETURNING 1",
					time.Now().Add(-2*time.Minute).UnixMicro(), soon.UnixMicro(), session.Hash(id)).Scan(new(int))
				if err != nil {
					t.Fatal(err)
				}
				p, token, err := s.Resume(ctx, id, c.csrf, c.change)
				if fault.KindOf(err) != c.refusal || (c.refusal == 0 && err != nil) {
					t.Fatalf("resume: %v, want refusal kind %d", err, c.refusal)
				}
				if token != session.CSRFToken(id) {
					t.Errorf("token %q, want the session's", token)
				}
				if c.refusal == 0 && (p.Kind != auth.User || p.Name != "alice") {
					t.Errorf("principal %+v, want alice", p)
				}
				var expires int64
				if err := db.QueryRowForTest(ctx, "SELECT expires_at FROM sessions WHERE id_hash = $1", session.Hash(id)).Scan(&expires); err != nil {
					t.Fatal(err)
				}
				if extended := expires > soon.Add(time.Minute).UnixMicro(); extended != c.extended {
					t.Errorf("expiry extended: %v, want %v", extended, c.extended)
				}
			})
		}
	})
}

// TestSessionMaxAge: a session in use still ends MaxAge after its login.
func TestSessionMaxAge(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s := newService(t, db)
		s.MaxAge = time.Hour
		ctx := context.Background()
		id, err := s.Login(ctx, "alice", password)
		if err != nil {
			t.Fatal(err)
		}
		if p, _, err := s.Resume(ctx, id, "", false); err != nil || p.Name != "alice" {
			t.Fatalf("a fresh session: %+v, %v", p, err)
		}
		// Logged in two hours ago, seen a moment ago, idle expiry far ahead.
		err = db.QueryRowForTest(ctx, "UPDATE sessions SET created_at = $1, seen_at = $2, expires_at = $3 WHERE id_hash = $4 RETURNING 1",
			time.Now().Add(-2*time.Hour).UnixMicro(), time.Now().UnixMicro(), time.Now().Add(time.Hour).UnixMicro(), session.Hash(id)).Scan(new(int))
		if err != nil {
			t.Fatal(err)
		}
		p, token, err := s.Resume(ctx, id, "", false)
		if err != nil || !p.IsAnonymous() || token != "" {
			t.Fatalf("a session past its absolute expiry: %+v, token %q, %v; want anonymous", p, token, err)
		}
		if _, err := db.SessionByHash(ctx, session.Hash(id)); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("the expired session's row: %v, want it deleted", err)
		}
	})
}
