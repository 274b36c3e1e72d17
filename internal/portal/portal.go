// Package portal is Berth's web portal: server-rendered pages (html/template) with their
// stylesheet, embedded in the binary and served at "/" beside /v2/ and /api/.
//
// The portal holds no rule of its own. Every page gets its data from the same service methods
// as /api/v2.0, with the signed-in user in the context (auth.WithPrincipal), so the services
// decide what the user may see and do; a service's refusal (a fault error) becomes a status and
// its message on the page. Pages need no JavaScript and load nothing inline: the server's
// Content-Security-Policy for HTML (default-src 'self') holds for every page.
//
// Routes are in routes; sessions, CSRF and login in session.go; the pages in projects.go,
// account.go and the files named after them (admin.go holds the administration and garbage
// collection, users.go the users, search.go the search); templates and static assets in
// render.go and static.go.
package portal

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

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

// Deps are the services the portal shows and acts through.
type Deps struct {
	// Reg refuses changes in read-only mode.
	Reg          *registry.Service
	Sessions     *session.Service
	Users        *user.Service
	Robots       *robot.Service
	Groups       *group.Service
	Projects     *project.Service
	Repositories *registry.Repositories
	Artifacts    *registry.Artifacts
	Tags         *registry.Tags
	Labels       *label.Service
	// Immutable and Retention hold a project's tag immutability rules and retention policy.
	Immutable *retention.ImmutableRules
	Retention *retention.Service
	// Scan requests scans and reads their reports.
	Scan *scan.Service
	// GC runs, schedules and reports garbage collections.
	GC *gc.Service
	// Catalog searches projects and repositories.
	Catalog *catalog.Service
	// Settings holds the system configuration.
	Settings *settings.Service
	// AuditLog reads the audit entries a caller may see.
	AuditLog *audit.Service
	// JobMonitor reports the job queue's state.
	JobMonitor *jobmonitor.Service
	// Health checks the database for the status strip.
	Health *health.Checker
	// Origin decides whether the session cookie is Secure.
	Origin  *origin.Resolver
	Log     *slog.Logger
	Version string
}

// Handler serves the portal.
type Handler struct {
	Deps
	mux    *http.ServeMux
	pages  *pages
	assets *assets
	// strip keeps each caller's status strip for a few seconds (status.go).
	strip stripCache
}

// New returns the portal's handler.
func New(deps Deps) *Handler {
	h := &Handler{Deps: deps, pages: parsePages(), assets: loadAssets()}
	h.mux = h.routes()
	return h
}

// routes is the portal's route table. Each page is a pageFunc: it gets the request with its
// caller resolved and returns an error for fail to show.
func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /static/{file}", h.assets)
	mux.Handle("GET /{$}", h.page(h.home))
	mux.Handle("GET /login", h.page(h.loginForm))
	mux.Handle("POST /login", h.page(h.login))
	mux.Handle("POST /logout", h.change(h.logout))
	mux.Handle("GET /projects", h.page(h.listProjects))
	mux.Handle("GET /projects/new", h.page(h.newProjectForm))
	mux.Handle("POST /projects", h.change(h.createProject))
	mux.Handle("GET /projects/{project}", h.page(h.showProject))
	mux.Handle("GET /projects/{project}/delete", h.page(h.deleteProjectForm))
	mux.Handle("POST /projects/{project}/delete", h.change(h.deleteProject))
	mux.Handle("GET /projects/{project}/configuration", h.page(h.configuration))
	mux.Handle("POST /projects/{project}/configuration", h.change(h.saveConfiguration))
	mux.Handle("GET /projects/{project}/members", h.page(h.listMembers))
	mux.Handle("POST /projects/{project}/members", h.change(h.addMember))
	mux.Handle("POST /projects/{project}/members/{member}/role", h.change(h.setMemberRole))
	mux.Handle("GET /projects/{project}/members/{member}/delete", h.page(h.removeMemberForm))
	mux.Handle("POST /projects/{project}/members/{member}/delete", h.change(h.removeMember))
	mux.Handle("GET /projects/{project}/robots", h.page(h.listRobots))
	mux.Handle("GET /projects/{project}/robots/new", h.page(h.newRobotForm))
	mux.Handle("POST /projects/{project}/robots", h.change(h.createRobot))
	mux.Handle("POST /projects/{project}/robots/{robot}/disable", h.change(h.setRobotDisabled))
	mux.Handle("POST /projects/{project}/robots/{robot}/secret", h.change(h.refreshRobotSecret))
	mux.Handle("GET /projects/{project}/robots/{robot}/delete", h.page(h.deleteRobotForm))
	mux.Handle("POST /projects/{project}/robots/{robot}/delete", h.change(h.deleteRobot))
	h.repositoryRoutes(mux)
	mux.Handle("GET /admin", h.page(h.admin))
	mux.Handle("GET /admin/gc", h.page(h.gcPage))
	mux.Handle("POST /admin/gc/schedule", h.change(h.saveGCSchedule))
	mux.Handle("POST /admin/gc/run", h.change(h.runGC))
	mux.Handle("GET /admin/gc/{id}/log", h.page(h.gcLog))
	mux.Handle("GET /admin/users", h.page(h.listUsers))
	mux.Handle("GET /admin/users/new", h.page(h.newUserForm))
	mux.Handle("POST /admin/users", h.change(h.createUser))
	mux.Handle("POST /admin/users/{id}/admin", h.change(h.setUserAdmin))
	mux.Handle("GET /admin/users/{id}/password", h.page(h.userPasswordForm))
	mux.Handle("POST /admin/users/{id}/password", h.change(h.resetUserPassword))
	mux.Handle("GET /admin/users/{id}/delete", h.page(h.deleteUserForm))
	mux.Handle("POST /admin/users/{id}/delete", h.change(h.deleteUser))
	h.accessAdminRoutes(mux)
	h.projectPagesRoutes(mux)
	mux.Handle("GET /search", h.page(h.search))
	mux.Handle("GET /account", h.page(h.account))
	mux.Handle("GET /account/password", h.page(h.passwordForm))
	mux.Handle("POST /account/password", h.change(h.changePassword))
	h.systemRoutes(mux)
	return mux
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := input.URL(r.URL); p != nil {
		h.fail(w, r, &call{w: w, r: r}, fault.Invalidf("%s", p.Error()))
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		c := h.resume(w, r)
		h.fail(w, r, c, fault.NotFoundf("There is no page at %s.", r.URL.Path))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// call is one request with its caller.
type call struct {
	w http.ResponseWriter
	r *http.Request
	// p is the signed-in user, anonymous without a session.
	p auth.Principal
	// sid is the session id and csrf its token; both "" without a session.
	sid, csrf string
}

// ctx is the request's context with the caller, for the services.
func (c *call) ctx() context.Context { return c.r.Context() }

type pageFunc func(c *call) error

// page serves a page that reads (or, for the login form, posts without a session).
func (h *Handler) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := h.resume(w, r)
		if err := fn(c); err != nil {
			h.fail(w, c.r, c, err)
		}
	})
}

// change serves a form post that changes something: it needs a live session and its CSRF
// token in the form's csrf field (a page of another site can make the browser send the cookie
// but can neither read the token nor send it back), and a registry that takes changes.
func (h *Handler) change(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, &call{w: w, r: r}, fault.Invalidf("The form could not be read: %v", err))
			return
		}
		if p := input.Values(r.PostForm); p != nil {
			h.fail(w, r, &call{w: w, r: r}, fault.Invalidf("The form could not be read: %s", p.Error()))
			return
		}
		c, err := h.resumeForChange(w, r)
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		// Logging out, and the configuration change that ends read-only mode (as the API's
		// PUT /configurations), go through in read-only mode.
		if r.URL.Path != "/logout" && r.URL.Path != "/admin/configuration" {
			if err := h.Reg.CheckWritable(c.ctx()); err != nil {
				h.fail(w, c.r, c, err)
				return
			}
		}
		if err := fn(c); err != nil {
			h.fail(w, c.r, c, err)
		}
	})
}

// maxForm bounds a form's body.
const maxForm = 64 << 10

// status is the HTTP status of each kind of refusal.
var status = map[fault.Kind]int{
	fault.Invalid:      http.StatusBadRequest,
	fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden:    http.StatusForbidden,
	fault.NotFound:     http.StatusNotFound,
	fault.Conflict:     http.StatusConflict,
	fault.Precondition: http.StatusPreconditionFailed,
	fault.TooLarge:     http.StatusRequestEntityTooLarge,
	fault.Upstream:     http.StatusBadGateway,
	fault.Unavailable:  http.StatusServiceUnavailable,
}

// refusal is err as a status and words for a person; ok is false for an internal error,
// which is logged and shown as such.
func refusal(err error) (code int, msg string, ok bool) {
	if f, isFault := errors.AsType[*fault.Error](err); isFault {
		if code, known := status[f.Kind]; known {
			return code, sentence(f.Message), true
		}
	}
	if te, isThrottled := errors.AsType[*auth.ThrottledError](err); isThrottled {
		return http.StatusTooManyRequests, sentence(te.Message()), true
	}
	if re, isReg := errors.AsType[*registry.Error](err); isReg {
		if re.Code == registry.CodeDenied {
			return http.StatusForbidden, sentence(re.Message), true
		}
		return http.StatusBadRequest, sentence(re.Message), true
	}
	if errors.Is(err, meta.ErrBadQuery) {
		return http.StatusBadRequest, sentence(err.Error()), true
	}
	if meta.IsUnavailable(err) {
		return http.StatusServiceUnavailable, "The registry's database is unavailable. Try again shortly.", true
	}
	if _, isMBE := errors.AsType[*http.MaxBytesError](err); isMBE {
		return http.StatusRequestEntityTooLarge, "The form is too large.", true
	}
	return 0, "", false
}

// fail answers a refusal with an error page in words; an anonymous caller refused for want of
// a sign-in is sent to the login page, to come back after.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	code, msg, ok := refusal(err)
	if !ok {
		h.Log.ErrorContext(r.Context(), "portal: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		code, msg = http.StatusInternalServerError, "Something went wrong on the server. The error has been logged; please try again."
	}
	if code == http.StatusUnauthorized && c.p.IsAnonymous() && r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	retryAfter(w, err)
	h.render(w, c, code, "error", errorPage{Status: code, StatusText: http.StatusText(code), Message: msg})
}

// retryAfter tells a client locked out of logins when to try again.
func retryAfter(w http.ResponseWriter, err error) {
	if te, ok := errors.AsType[*auth.ThrottledError](err); ok {
		w.Header().Set("Retry-After", itoa(te.Seconds()))
	}
}

type errorPage struct {
	Status     int
	StatusText string
	Message    string
}

// formRefusal is a refusal a form shows above itself (a bad value: 400, or 409), or ok false
// for one the error page shows.
func formRefusal(err error) (int, string, bool) {
	code, msg, ok := refusal(err)
	if !ok || (code != http.StatusBadRequest && code != http.StatusConflict) {
		return 0, "", false
	}
	return code, msg, true
}
