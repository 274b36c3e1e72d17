// Package api serves Harbor's REST API v2.0 under /api/v2.0 (the contract is Harbor's swagger
// spec): the same paths, JSON field names, status codes and error bodies, so Harbor's clients
// and scripts work against Berth.
package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

const base = "/api/v2.0"

// Handler serves /api/v2.0.
type Handler struct {
	DB    *meta.DB
	Authz *rbac.Authorizer
	Auth  *auth.Authenticator
	Log   *slog.Logger
}

// Error is an API error: Harbor's code and status.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(msg string) *Error { return &Error{http.StatusBadRequest, "BAD_REQUEST", msg} }
func notFound(msg string) *Error   { return &Error{http.StatusNotFound, "NOT_FOUND", msg} }
func forbidden() *Error            { return &Error{http.StatusForbidden, "FORBIDDEN", "forbidden"} }
func unauthorized() *Error         { return &Error{http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized"} }
func conflict(msg string) *Error   { return &Error{http.StatusConflict, "CONFLICT", msg} }
func precondition(msg string) *Error {
	return &Error{http.StatusPreconditionFailed, "PRECONDITION", msg}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := h.identify(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, base)
	if !ok {
		h.fail(w, r, notFound("no such API: "+r.URL.Path))
		return
	}
	c := &call{w: w, r: r, p: p}
	switch {
	case path == "/ping" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("Pong"))
	case path == "/projects":
		switch r.Method {
		case http.MethodGet:
			err = h.listProjects(c)
		case http.MethodHead:
			err = h.headProject(c)
		case http.MethodPost:
			err = h.createProject(c)
		default:
			err = methodNotAllowed()
		}
	case strings.HasPrefix(path, "/projects/") && !strings.Contains(strings.TrimPrefix(path, "/projects/"), "/"):
		ref := strings.TrimPrefix(path, "/projects/")
		switch r.Method {
		case http.MethodGet:
			err = h.getProject(c, ref)
		case http.MethodDelete:
			err = h.deleteProject(c, ref)
		default:
			err = methodNotAllowed()
		}
	default:
		err = notFound("no such API: " + r.URL.Path)
	}
	if err != nil {
		h.fail(w, r, err)
	}
}

func methodNotAllowed() *Error {
	return &Error{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed"}
}

// call is one request with its caller.
type call struct {
	w http.ResponseWriter
	r *http.Request
	p auth.Principal
}

func (h *Handler) identify(r *http.Request) (auth.Principal, error) {
	name, password, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return auth.Principal{}, unauthorized()
		}
		return auth.Principal{}, nil
	}
	p, err := h.Auth.Basic(r.Context(), name, password)
	if errors.Is(err, auth.ErrBadCredentials) {
		return auth.Principal{}, unauthorized()
	}
	return p, err
}

// fail writes Harbor's error body; anything that is not an *Error is logged and hidden.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		h.Log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{http.StatusInternalServerError, "UNKNOWN", "internal server error"}
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="harbor"`)
	}
	writeJSON(w, e.Status, map[string]any{"errors": []map[string]string{{"code": e.Code, "message": e.Message}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

// decode reads a JSON request body strictly: unknown fields and trailing data are errors.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid request body: " + err.Error())
	}
	if dec.More() {
		return badRequest("invalid request body: data after the JSON document")
	}
	return nil
}
