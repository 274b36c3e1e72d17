// Package api serves Harbor's REST API v2.0 under /api/v2.0 (the contract is Harbor's swagger
// spec, shared/reference/harbor-swagger.yaml): the same paths, JSON field names, status codes
// and error bodies, so Harbor's clients and scripts work against Berth.
//
// Conventions live in one place each: routes in routes.go, authentication in identify,
// errors in fail, listing parameters in query.go and pagination.go, JSON in decode/writeJSON.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/audit"
	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/group"
	"github.com/berthreg/berth/internal/auth/robot"
	"github.com/berthreg/berth/internal/auth/session"
	"github.com/berthreg/berth/internal/auth/user"
	"github.com/berthreg/berth/internal/catalog"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/gc"
	"github.com/berthreg/berth/internal/health"
	"github.com/berthreg/berth/internal/input"
	"github.com/berthreg/berth/internal/jobmonitor"
	"github.com/berthreg/berth/internal/label"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/origin"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/retention"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/settings"
)

const base = "/api/v2.0"

// Deps are the services the API answers from.
type Deps struct {
	// Reg refuses writes in read-only mode.
	Reg *registry.Service
	// Auth checks Basic credentials.
	Auth *auth.Authenticator
	Log  *slog.Logger
	// GC starts garbage collections and keeps their schedule.
	GC *gc.Service
	// Scan runs vulnerability scans and answers for their reports.
	Scan *scan.Service
	// Projects holds the rules of projects and finds them as callers may see them.
	Projects *project.Service
	// Repositories, Artifacts and Tags hold the rules of content as the API shows it.
	Repositories *registry.Repositories
	Artifacts    *registry.Artifacts
	Tags         *registry.Tags
	// Immutable holds projects' tag immutability rules.
	Immutable *retention.ImmutableRules
	// Retention holds tag retention policies and their runs.
	Retention *retention.Service
	// Labels holds the rules of global and project labels.
	Labels *label.Service
	// Users holds the rules of local user accounts.
	Users *user.Service
	// Robots holds the rules of robot accounts.
	Robots *robot.Service
	// Groups holds the rules of user groups.
	Groups *group.Service
	// Sessions opens, resumes and ends the portal's sessions.
	Sessions *session.Service
	// Settings holds the system configuration's rules.
	Settings *settings.Service
	// Health checks the components Berth depends on.
	Health *health.Checker
	// Catalog counts and searches what callers may see.
	Catalog *catalog.Service
	// AuditLog answers who may read which audit entries.
	AuditLog *audit.Service
	// Origin is the URL clients reached the registry at (/systeminfo, secure cookies).
	Origin *origin.Resolver
	// JobMonitor looks at and acts on the job queue (Harbor's job service monitor).
	JobMonitor *jobmonitor.Service
}

// Handler serves /api/v2.0.
type Handler struct {
	Deps
	mux *http.ServeMux
	// methods are the methods the routes serve, sorted, for the Allow header of a 405.
	methods []string
	// patterns are the routes as registered (see Routes).
	patterns []string
}

// New returns the API handler serving from deps, its route table built.
func New(deps Deps) *Handler {
	h := &Handler{Deps: deps}
	h.mux, h.methods = h.routes()
	return h
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
func precondition(msg string) *Error {
	return &Error{http.StatusPreconditionFailed, "PRECONDITION", msg}
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

// handlerFunc is an API endpoint: it writes a success answer itself and returns errors for
// fail to answer.
type handlerFunc func(c *call) error

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Text no store can hold is refused before any route reads it (see internal/input), also
	// in path parameters once pathValue decodes them again.
	if p := input.URL(r.URL); p != nil {
		h.fail(w, r, badRequest(p.Error()))
		return
	}
	if u, err := url.PathUnescape(r.URL.Path); err == nil {
		if why := input.Text(u); why != "" {
			h.fail(w, r, badRequest("invalid path: "+why+" once decoded"))
			return
		}
	}
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	// No route: ServeMux would answer 404 or 405 in plain text; answer in Harbor's shape.
	if allow := h.allowed(r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.fail(w, r, methodNotAllowed())
		return
	}
	h.fail(w, r, notFound("no such API: "+r.Method+" "+r.URL.Path))
}

// allowed lists the methods with a route for r's path, as ServeMux's Allow header does.
func (h *Handler) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range h.methods {
		alt := r.Clone(r.Context())
		alt.Method = m
		if _, pattern := h.mux.Handler(alt); pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// handle adapts an endpoint: identify the caller, run it, answer its error.
func (h *Handler) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.identify(w, r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		r = r.WithContext(auth.WithPrincipal(r.Context(), p))
		if err := h.checkWritable(r); err != nil {
			h.fail(w, r, err)
			return
		}
		if err := fn(&call{w: w, r: r, p: p}); err != nil {
			h.fail(w, r, err)
		}
	})
}

// identify finds the caller: Basic credentials when sent (they need no CSRF token), else the
// portal session cookie (see session.go), else anonymous.
func (h *Handler) identify(w http.ResponseWriter, r *http.Request) (auth.Principal, error) {
	name, password, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return auth.Principal{}, unauthorized()
		}
		return h.sessionPrincipal(w, r)
	}
	p, err := h.Auth.Basic(r.Context(), name, password)
	if errors.Is(err, auth.ErrBadCredentials) {
		return auth.Principal{}, unauthorized()
	}
	return p, err
}

// checkWritable refuses API changes in read-only mode, except the configuration change that
// ends it.
func (h *Handler) checkWritable(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if r.URL.Path == base+"/configurations" {
		return nil
	}
	if err := h.Reg.CheckWritable(r.Context()); err != nil {
		var re *registry.Error
		if errors.As(err, &re) {
			return &Error{http.StatusForbidden, "DENIED", re.Message}
		}
		return err
	}
	return nil
}

// fail writes Harbor's error body; anything that is not a refusal is logged and hidden.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := harborError(err)
	if e == nil {
		h.Log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{http.StatusInternalServerError, "UNKNOWN", "internal server error"}
	} else if e.Status == http.StatusServiceUnavailable && meta.IsUnavailable(err) {
		h.Log.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="harbor"`)
	}
	if te, ok := errors.AsType[*auth.ThrottledError](err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(te.Seconds()))
	}
	writeJSON(w, e.Status, map[string]any{"errors": []map[string]string{{"code": e.Code, "message": e.Message}}})
}

// kindStatus is the status and Harbor code of each kind of refusal.
var kindStatus = map[fault.Kind]struct {
	status int
	code   string
}{
	fault.Invalid:      {http.StatusBadRequest, "BAD_REQUEST"},
	fault.Unauthorized: {http.StatusUnauthorized, "UNAUTHORIZED"},
	fault.Forbidden:    {http.StatusForbidden, "FORBIDDEN"},
	fault.NotFound:     {http.StatusNotFound, "NOT_FOUND"},
	fault.Conflict:     {http.StatusConflict, "CONFLICT"},
	fault.Precondition: {http.StatusPreconditionFailed, "PRECONDITION"},
	fault.TooLarge:     {http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE"},
	fault.Upstream:     {http.StatusBadGateway, "BAD_GATEWAY"},
	fault.Unavailable:  {http.StatusServiceUnavailable, "UNAVAILABLE"},
}

// harborError is the one place where refusals from the services and the stores become Harbor's
// errors; nil for anything else (an internal error).
func harborError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var f *fault.Error
	if errors.As(err, &f) {
		ks, ok := kindStatus[f.Kind]
		if !ok {
			return nil
		}
		code := ks.code
		if f.Code != "" {
			code = f.Code
		}
		return &Error{ks.status, code, f.Message}
	}
	if e := registryError(err); e != nil {
		return e
	}
	// A login attempt during a lockout (fail adds Retry-After): Harbor's code for 429.
	if te, ok := errors.AsType[*auth.ThrottledError](err); ok {
		return &Error{http.StatusTooManyRequests, "TOO_MANY_REQUEST", te.Message()}
	}
	if errors.Is(err, meta.ErrBadQuery) {
		return badRequest(err.Error())
	}
	if meta.IsUnavailable(err) {
		// The database is down or restarting: a condition that passes, which clients retry.
		return &Error{http.StatusServiceUnavailable, "UNAVAILABLE", "the registry's database is unavailable; try again shortly"}
	}
	return nil
}

// registryError is the registry's refusal in err in Harbor's words; nil when err is none.
func registryError(err error) *Error {
	var ie *registry.ImmutableError
	if errors.As(err, &ie) {
		verb := "updated"
		if ie.Delete {
			verb = "deleted"
		}
		return precondition(fmt.Sprintf("the tag %s configured as immutable, cannot be %s", ie.Tag, verb))
	}
	var re *registry.Error
	if !errors.As(err, &re) {
		return nil
	}
	switch re.Code {
	case registry.CodeDenied:
		return &Error{http.StatusForbidden, "DENIED", re.Message}
	case registry.CodeNameUnknown, registry.CodeManifestUnknown, registry.CodeBlobUnknown, registry.CodeManifestBlobUnknown:
		return notFound(re.Message)
	case registry.CodePrecondition:
		return precondition(re.Message)
	case registry.CodeTooLarge:
		return &Error{http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE", re.Message}
	case registry.CodeUnauthorized:
		return unauthorized()
	}
	return badRequest(re.Message)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

// created answers 201 with the Location of the new resource, as Harbor does.
func created(c *call, location string) error {
	c.w.Header().Set("Location", location)
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

// ok answers 200 with no body.
func ok(c *call) error {
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// maxBody bounds a JSON request body; a larger one is refused with 413.
const maxBody = 1 << 20

// decode reads a JSON request body strictly: unknown fields, wrong types and trailing data
// are 400s. A body type is Harbor's model of the operation with every field the model has,
// read-only ones too (generated clients send the whole model), so that only fields of no
// model are unknown.
func decode(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeFrom(b, v)
}

// decodeOptional is decode for a body the client may leave out: an empty body leaves v as it
// is.
func decodeOptional(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return decodeFrom(b, v)
}

// readBody reads a JSON request body of at most maxBody bytes (413 beyond) whose text a store
// can hold: valid UTF-8, no NUL in any string (see input.JSON).
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBody {
		return nil, tooLarge(r.ContentLength)
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge(-1)
		}
		return nil, badRequest("invalid request body: " + err.Error())
	}
	if why := input.JSON(b); why != "" {
		return nil, badRequest("invalid request body: the JSON document " + why)
	}
	return b, nil
}

// tooLarge is the 413 of a request body over maxBody (size, when known from Content-Length).
func tooLarge(size int64) *Error {
	msg := fmt.Sprintf("the request body is larger than %d bytes", maxBody)
	if size >= 0 {
		msg = fmt.Sprintf("the request body of %d bytes is larger than %d bytes", size, maxBody)
	}
	return &Error{http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE", msg}
}

func decodeFrom(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid request body: " + err.Error())
	}
	if dec.More() {
		return badRequest("invalid request body: data after the JSON document")
	}
	return nil
}

// pathID reads a numeric id from the path; anything but a positive integer is a 400 that
// names what was expected.
func pathID(c *call, param, what string) (int64, error) {
	s := c.r.PathValue(param)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest(fmt.Sprintf("invalid %s id %q: a positive integer is required", what, s))
	}
	return id, nil
}

// projectRef reads a path parameter that names a project by name or by id: by id when it is a
// number, unless the X-Is-Resource-Name header says it is a name.
func projectRef(c *call, param string) (ref string, byName bool) {
	ref = pathValue(c, param)
	_, err := strconv.ParseInt(ref, 10, 64)
	return ref, err != nil || headerTrue(c, "X-Is-Resource-Name")
}

// pathValue returns a path parameter decoded once more: Harbor's clients send repository
// names with their slashes double-encoded (a%252Fb), some single-encoded (a%2Fb); the router
// decodes once, so both end up here as "a%2Fb" or "a/b" and one more decoding gives "a/b".
func pathValue(c *call, name string) string {
	v := c.r.PathValue(name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
