package api

// Portal sessions at /c/login and /c/log_out, and the session cookie on API requests (the rules
// are internal/auth/session's): POST /c/login (form fields principal and password) sets the
// HTTP-only cookie "sid"; GET /c/log_out ends the session. API requests that carry the cookie
// and no Authorization header act as its user; every answer to them carries
// X-Harbor-CSRF-Token, and their unsafe methods (POST, PUT, PATCH, DELETE) must send that token
// back in the same header.

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/session"
	"github.com/berthreg/berth/internal/input"
)

const (
	sessionCookie = "sid"
	csrfHeader    = "X-Harbor-CSRF-Token"
	maxLoginForm  = 64 << 10
)

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

// SessionHandler serves /c/login and /c/log_out, which Harbor keeps outside /api.
func (h *Handler) SessionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch p := input.URL(r.URL); {
		case p != nil:
			err = badRequest(p.Error())
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

// login opens a session for the form's principal and password.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &Error{http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE", fmt.Sprintf("the login form is larger than %d bytes", maxLoginForm)}
		}
		return badRequest("invalid login form: " + err.Error())
	}
	if p := input.Values(r.PostForm); p != nil {
		return badRequest("invalid login form: " + p.Error())
	}
	// Only the body counts: a password in the query string would end up in access logs.
	id, err := h.Sessions.Login(r.Context(), r.PostForm.Get("principal"), r.PostForm.Get("password"))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		HttpOnly: true, Secure: h.Origin.SecureCookie(r), SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set(csrfHeader, session.CSRFToken(id))
	w.WriteHeader(http.StatusOK)
	return nil
}

// logout ends the session, if any, and clears the cookie; it always succeeds, as Harbor's does.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if err := h.Sessions.Logout(r.Context(), sessionID(r)); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.Origin.SecureCookie(r), SameSite: http.SameSiteLaxMode,
	})
	w.WriteHeader(http.StatusOK)
	return nil
}

// sessionPrincipal identifies a request by its session cookie: anonymous without a live
// session, otherwise the session's user once an unsafe method has shown the CSRF token.
func (h *Handler) sessionPrincipal(w http.ResponseWriter, r *http.Request) (auth.Principal, error) {
	p, token, err := h.Sessions.Resume(r.Context(), sessionID(r), r.Header.Get(csrfHeader), !safeMethod(r.Method))
	if token != "" {
		w.Header().Set(csrfHeader, token)
	}
	return p, err
}
