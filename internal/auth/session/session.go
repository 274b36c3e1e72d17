// Package session holds the portal's signed-in sessions, as Harbor's portal and the CLIs that
// log in like it use them:
//
//   - Login checks a user name (or e-mail address) and password and opens a session: a random
//     32-byte id that the client keeps (the REST API puts it in the HTTP-only cookie "sid"). The
//     store keeps only its SHA-256 with the user and an expiry that slides forward with use
//     (session_timeout, 60 minutes by default), so every replica knows every session and a copy
//     of the database opens none. However busy, a session ends MaxAge after its login (the
//     configuration's session_max_age), so a stolen cookie cannot be kept alive for ever.
//   - Resume finds the user of a session for a request that presents its id. A request that
//     changes something must also present the session's CSRF token (the REST API's
//     X-Harbor-CSRF-Token header): a page on another site can make a browser send the cookie,
//     but can neither read the token nor send it back.
//   - Logout ends a session.
//
// The CSRF token is an HMAC of a fixed label keyed with the session id, so it is bound to the
// session, the same on every replica, and needs no storage.
package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
)

// Store is what sessions read and write.
type Store interface {
	SystemConfig(ctx context.Context) (meta.SystemConfig, error)
	UserByName(ctx context.Context, name string) (meta.User, error)
	UserByEmail(ctx context.Context, email string) (meta.User, error)
	CreateSession(ctx context.Context, idHash string, userID int64, ttl time.Duration) error
	SessionByHash(ctx context.Context, idHash string) (meta.Session, error)
	TouchSession(ctx context.Context, idHash string, ttl time.Duration) error
	DeleteSession(ctx context.Context, idHash string) error
}

// Service opens, resumes and ends sessions.
type Service struct {
	Store Store
	// Auth checks passwords: it bounds the concurrent argon2 work of logins.
	Auth *auth.Authenticator
	// MaxAge is the absolute expiry: a session ends this long after its login whatever its
	// use; 0 leaves only the idle expiry.
	MaxAge time.Duration
}

// touchEvery limits the writes that slide a session's expiry to one a minute.
const touchEvery = time.Minute

// idLen is the length of a session id: 32 random bytes in unpadded base64url.
const idLen = 43

// Hash is what the store keeps for a session id.
func Hash(id string) string {
	s := sha256.Sum256([]byte(id))
	return hex.EncodeToString(s[:])
}

// CSRFToken is the session's CSRF token.
func CSRFToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("berth csrf token v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Login checks principal (a user name or an e-mail address, as Harbor's portal allows) and
// password, and opens a session for the user; it returns the new session's id. Every failure
// is fault.ErrUnauthorized whatever its reason, so the answer does not tell which names exist;
// robots and other non-user accounts use their credentials directly, never sessions.
func (s *Service) Login(ctx context.Context, principal, password string) (string, error) {
	if principal == "" || password == "" {
		return "", fault.ErrUnauthorized
	}
	name := principal
	if _, err := s.Store.UserByName(ctx, principal); errors.Is(err, meta.ErrNotFound) {
		if u, err := s.Store.UserByEmail(ctx, principal); err == nil {
			name = u.Username
		} else if !errors.Is(err, meta.ErrNotFound) {
			return "", fmt.Errorf("login: look up e-mail address: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("login: look up user: %w", err)
	}
	p, err := s.Auth.Basic(ctx, name, password)
	if errors.Is(err, auth.ErrBadCredentials) || (err == nil && p.Kind != auth.User) {
		return "", fault.ErrUnauthorized
	}
	if err != nil {
		return "", err
	}
	ttl, err := s.ttl(ctx)
	if err != nil {
		return "", err
	}
	raw := make([]byte, 32)
	// crypto/rand.Read never fails since Go 1.24; it aborts the process instead.
	_, _ = rand.Read(raw)
	id := base64.RawURLEncoding.EncodeToString(raw)
	if err := s.Store.CreateSession(ctx, Hash(id), p.ID, ttl); err != nil {
		return "", err
	}
	return id, nil
}

// Resume identifies the caller of a request that presents session id id: the anonymous
// principal and no token when id is no live session (unknown, expired, or its user deleted);
// otherwise the session's user and its CSRF token, which the client is to be given again. A
// request that changes something (change) must present that token (csrf), or it is refused
// with the token still returned. Use slides the session's expiry forward.
func (s *Service) Resume(ctx context.Context, id, csrf string, change bool) (auth.Principal, string, error) {
	// Anything but an id of ours' length cannot be a session, and needs no database round trip.
	if len(id) != idLen {
		return auth.Principal{}, "", nil
	}
	ses, err := s.Store.SessionByHash(ctx, Hash(id))
	if errors.Is(err, meta.ErrNotFound) {
		return auth.Principal{}, "", nil
	}
	if err != nil {
		return auth.Principal{}, "", err
	}
	if s.MaxAge > 0 && time.Since(ses.CreatedAt) >= s.MaxAge {
		// Over its absolute expiry: the session is over, and its row goes at once.
		if err := s.Store.DeleteSession(ctx, ses.IDHash); err != nil {
			return auth.Principal{}, "", err
		}
		return auth.Principal{}, "", nil
	}
	token := CSRFToken(id)
	if change && subtle.ConstantTimeCompare([]byte(csrf), []byte(token)) != 1 {
		return auth.Principal{}, token, fault.Forbiddenf("CSRF token invalid")
	}
	if time.Since(ses.SeenAt) >= touchEvery {
		ttl, err := s.ttl(ctx)
		if err != nil {
			return auth.Principal{}, token, err
		}
		if err := s.Store.TouchSession(ctx, ses.IDHash, ttl); err != nil {
			return auth.Principal{}, token, err
		}
	}
	u := ses.User
	return auth.Principal{Kind: auth.User, ID: u.ID, Name: u.Username, SysAdmin: u.SysAdmin}, token, nil
}

// Logout ends the session with this id, if there is one.
func (s *Service) Logout(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return s.Store.DeleteSession(ctx, Hash(id))
}

// ttl is the configured session_timeout.
func (s *Service) ttl(ctx context.Context) (time.Duration, error) {
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return 0, err
	}
	return time.Duration(cfg.SessionTimeout) * time.Minute, nil
}
