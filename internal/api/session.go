package api

// Portal sessions, as Harbor's portal and the CLIs that log in like it use them:
//
//   - POST /c/login (form fields principal and password) sets the HTTP-only cookie "sid", a
//     random 32-byte id. The database keeps only its SHA-256 with the user and an expiry that
//     slides forward with use (session_timeout, 60 minutes by default), so every replica knows
//     every session and a copy of the database opens none.
//   - GET /c/log_out ends the session.
//   - API requests that carry the cookie and no Authorization header act as its user. Every
//     answer to them carries X-Harbor-CSRF-Token, and their unsafe methods (POST, PUT, PATCH,
//     DELETE) must send that token back in the same header, or get 403: a page on another site
//     can make the browser send the cookie but can neither read the token nor set the header.
//
// The CSRF token is an HMAC of a fixed label keyed with the session id, so it is bound to the
// session, the same on every replica, and needs no storage.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

const (
	sessionCookie = "sid"
	csrfHeader    = "X-Harbor-CSRF-Token"
	// sessionTouchEvery limits the writes that slide a session's expiry to one a minute.
	sessionTouchEvery = time.Minute
	maxLoginForm      = 64 << 10
)

func csrfInvalid() *Error { return &Error{http.StatusForbidden, "FORBIDDEN", "CSRF token invalid"} }

// sessionHash is what the database stores for a session id.
func sessionHash(id string) string {
	s := sha256.Sum256([]byte(id))
	return hex.EncodeToString(s[:])
}

// csrfToken is the session's CSRF token.
func csrfToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("berth csrf token v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// safeMethod reports whether a method cannot change anything, so needs no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// sessionID returns the session id the request's cookie carries, "" for none.
func sessionID(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// sessionPrincipal identifies a request by its session cookie: anonymous without one or with an
// unknown or expired one; otherwise the session's user, after the CSRF check for unsafe methods.
func (h *Handler) sessionPrincipal(w http.ResponseWriter, r *http.Request) (auth.Principal, error) {
	id := sessionID(r)
	// Session ids are 43 characters of base64url; anything else cannot be one of ours, and
	// needs no database round trip.
	if len(id) != 43 {
		return auth.Principal{}, nil
	}
	s, err := h.DB.SessionByHash(r.Context(), sessionHash(id))
	if errors.Is(err, meta.ErrNotFound) {
		return auth.Principal{}, nil
	}
	if err != nil {
		return auth.Principal{}, err
	}
	token := csrfToken(id)
	w.Header().Set(csrfHeader, token)
	if !safeMethod(r.Method) && subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(token)) != 1 {
		return auth.Principal{}, csrfInvalid()
	}
	if time.Since(s.SeenAt) >= sessionTouchEvery {
		if err := h.touchSession(r, s.IDHash); err != nil {
			return auth.Principal{}, err
		}
	}
	return auth.Principal{Kind: auth.User, ID: s.User.ID, Name: s.User.Username, SysAdmin: s.User.SysAdmin}, nil
}

func (h *Handler) sessionTTL(r *http.Request) (time.Duration, error) {
	cfg, err := h.DB.SystemConfig(r.Context())
	if err != nil {
		return 0, err
	}
	return time.Duration(cfg.SessionTimeout) * time.Minute, nil
}

func (h *Handler) touchSession(r *http.Request, idHash string) error {
	ttl, err := h.sessionTTL(r)
	if err != nil {
		return err
	}
	return h.DB.TouchSession(r.Context(), idHash, ttl)
}

// secureCookie reports whether the session cookie must only travel over TLS: when this
// request came over TLS, directly or through a proxy that says so, or the registry's
// external URL is https.
func (h *Handler) secureCookie(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") ||
		strings.HasPrefix(strings.ToLower(h.ExternalURL), "https://")
}

// SessionHandler serves /c/login and /c/log_out, which Harbor keeps outside /api.
func (h *Handler) SessionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch {
		case r.URL.Path == "/c/login" && r.Method == http.MethodPost:
			err = h.login(w, r)
		case r.URL.Path == "/c/log_out" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			err = h.logout(w, r)
		case r.URL.Path == "/c/login":
			w.Header().Set("Allow", http.MethodPost)
			err = methodNotAllowed()
		case r.URL.Path == "/c/log_out":
			w.Header().Set("Allow", "GET, HEAD")
			err = methodNotAllowed()
		default:
			err = notFound("no such page: " + r.Method + " " + r.URL.Path)
		}
		if err != nil {
			h.fail(w, r, err)
		}
	})
}

// login checks the form's principal (user name or e-mail address, as Harbor's portal allows)
// and password, then opens a session. Failures are 401 whatever the reason, so the answer
// does not tell which names exist.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		return badRequest("invalid login form: " + err.Error())
	}
	// Only the body counts: a password in the query string would end up in access logs.
	principal, password := r.PostForm.Get("principal"), r.PostForm.Get("password")
	if principal == "" || password == "" {
		return unauthorized()
	}
	name := principal
	if _, err := h.DB.UserByName(r.Context(), principal); errors.Is(err, meta.ErrNotFound) {
		if u, err := h.DB.UserByEmail(r.Context(), principal); err == nil {
			name = u.Username
		} else if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
	} else if err != nil {
		return err
	}
	p, err := h.Auth.Basic(r.Context(), name, password)
	if errors.Is(err, auth.ErrBadCredentials) || (err == nil && p.Kind != auth.User) {
		// Robots and other non-user accounts use Basic credentials, never portal sessions.
		return unauthorized()
	}
	if err != nil {
		return err
	}
	ttl, err := h.sessionTTL(r)
	if err != nil {
		return err
	}
	raw := make([]byte, 32)
	// crypto/rand.Read never fails since Go 1.24; it aborts the process instead.
	_, _ = rand.Read(raw)
	id := base64.RawURLEncoding.EncodeToString(raw)
	if err := h.DB.CreateSession(r.Context(), sessionHash(id), p.ID, ttl); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		HttpOnly: true, Secure: h.secureCookie(r), SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set(csrfHeader, csrfToken(id))
	w.WriteHeader(http.StatusOK)
	return nil
}

// logout ends the session, if any, and clears the cookie; it always succeeds, as Harbor's does.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if id := sessionID(r); id != "" {
		if err := h.DB.DeleteSession(r.Context(), sessionHash(id)); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookie(r), SameSite: http.SameSiteLaxMode,
	})
	w.WriteHeader(http.StatusOK)
	return nil
}

// currentSessionHash is the id hash of the session the request carries, "" for none.
func currentSessionHash(r *http.Request) string {
	if id := sessionID(r); id != "" {
		return sessionHash(id)
	}
	return ""
}
