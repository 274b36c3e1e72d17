// Package oci serves the OCI Distribution API v1.1 (and the Docker Registry HTTP API V2 it grew
// from) under /v2/. Handlers parse and answer HTTP; the rules live in internal/registry and the
// authorization decision in internal/rbac.
package oci

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/input"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/origin"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
)

// Handler serves /v2/.
type Handler struct {
	Reg    *registry.Service
	Authz  *rbac.Authorizer
	Auth   *auth.Authenticator
	Tokens *auth.TokenService
	// Origin is the URL clients reached the registry at, for token realms and Location headers.
	Origin  *origin.Resolver
	Service string // token service name, "harbor-registry"
	Log     *slog.Logger
	// Gate, if set, applies the project's pull policies (vulnerability severity) to a pull of
	// a manifest; an error refuses it (*PolicyError for a 412 PROJECTPOLICYVIOLATION).
	Gate func(ctx context.Context, project meta.Project, m meta.Manifest) error
}

// PolicyError is a pull a project policy refuses.
type PolicyError struct{ Message string }

func (e *PolicyError) Error() string { return e.Message }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(r.URL.EscapedPath())
	if !ok {
		writeError(w, r, h.Log, &registry.Error{Code: registry.CodeNameInvalid, Message: "invalid repository name or path"})
		return
	}
	// Text no store can hold is refused before anything reads it (see internal/input).
	if p := input.URL(r.URL); p != nil {
		writeError(w, r, h.Log, &registry.Error{Code: queryCode(rt.kind, p.Param), Message: p.Error()})
		return
	}
	c, err := h.identify(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch rt.kind {
	case "base":
		h.base(w, r, c)
		return
	case "catalog":
		h.catalog(w, r, c)
		return
	}
	// The method is checked before the project is looked up, and an unknown project is
	// challenged for the same scope as a private one, so that no answer tells an outsider
	// whether a project exists.
	action, handle := h.dispatch(rt, r.Method)
	if handle == nil {
		w.Header().Set("Allow", allowed(rt.kind))
		writeError(w, r, h.Log, &registry.Error{Code: registry.CodeUnsupported, Message: r.Method + " is not supported here"})
		return
	}
	project, err := h.Reg.Project(r.Context(), rt.name)
	if err != nil {
		var re *registry.Error
		if errors.As(err, &re) && re.Code == registry.CodeNameUnknown {
			if c.principal.IsAnonymous() {
				err = &challengeError{scope: "repository:" + rt.name + ":" + scopeActions(action), tokenPresent: c.claims != nil}
			} else {
				err = errRepoNotFound(rt.name)
			}
		}
		h.fail(w, r, err)
		return
	}
	if err := h.authorize(r.Context(), c, project, rt.name, action); err != nil {
		h.fail(w, r, err)
		return
	}
	if action != "pull" {
		if err := h.Reg.CheckWritable(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	r = r.WithContext(auth.WithPrincipal(r.Context(), c.principal))
	handle(w, r, request{caller: c, project: project, repo: rt.name, ref: rt.ref})
}

// request is what a handler needs after routing and authorization.
type request struct {
	caller  caller
	project meta.Project
	repo    string
	ref     string
}

type handleFunc func(http.ResponseWriter, *http.Request, request)

// dispatch names the action a route needs and the function that serves it.
func (h *Handler) dispatch(rt route, method string) (string, handleFunc) {
	switch rt.kind {
	case "manifest":
		switch method {
		case http.MethodGet, http.MethodHead:
			return "pull", h.getManifest
		case http.MethodPut:
			return "push", h.putManifest
		case http.MethodDelete:
			return "delete", h.deleteManifest
		}
	case "blob":
		switch method {
		case http.MethodGet, http.MethodHead:
			return "pull", h.getBlob
		case http.MethodDelete:
			return "delete", h.deleteBlob
		}
	case "uploads":
		if method == http.MethodPost {
			return "push", h.startUpload
		}
	case "upload":
		switch method {
		case http.MethodGet:
			return "push", h.uploadStatus
		case http.MethodPatch:
			return "push", h.patchUpload
		case http.MethodPut:
			return "push", h.putUpload
		case http.MethodDelete:
			return "push", h.cancelUpload
		}
	case "tags":
		if method == http.MethodGet || method == http.MethodHead {
			return "pull", h.tags
		}
	case "referrers":
		if method == http.MethodGet || method == http.MethodHead {
			return "pull", h.referrers
		}
	}
	return "", nil
}

// queryCode is the error code of a query parameter a client got wrong, by what it names.
func queryCode(kind, param string) registry.Code {
	switch param {
	case "n":
		return registry.CodePaginationInvalid
	case "digest", "mount":
		return registry.CodeDigestInvalid
	case "tag":
		return registry.CodeTagInvalid
	case "last":
		if kind == "tags" {
			return registry.CodeTagInvalid
		}
	case "artifactType":
		return registry.CodeManifestInvalid
	}
	return registry.CodeNameInvalid
}

func allowed(kind string) string {
	switch kind {
	case "manifest":
		return "GET, HEAD, PUT, DELETE"
	case "blob":
		return "GET, HEAD, DELETE"
	case "uploads":
		return "POST"
	case "upload":
		return "GET, PATCH, PUT, DELETE"
	}
	return "GET, HEAD"
}

// fail answers an error, adding the token challenge to 401s.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ce *challengeError
	if errors.As(err, &ce) {
		h.challenge(w, r, ce.scope, ce.tokenPresent)
		writeError(w, r, h.Log, errUnauthorized("authentication required"))
		return
	}
	var re *registry.Error
	if errors.As(err, &re) && re.Code == registry.CodeUnauthorized {
		h.challenge(w, r, "", false)
	}
	// Basic credentials during a login lockout: the distribution spec's TOOMANYREQUESTS.
	if te, ok := errors.AsType[*auth.ThrottledError](err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(te.Seconds()))
		writeBody(w, http.StatusTooManyRequests, errorEntry{Code: "TOOMANYREQUESTS", Message: te.Message()})
		return
	}
	writeError(w, r, h.Log, err)
}

// base answers GET /v2/: 200 for any authenticated caller, 401 with a challenge otherwise, as
// Docker's login probe expects.
func (h *Handler) base(w http.ResponseWriter, r *http.Request, c caller) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, r, h.Log, &registry.Error{Code: registry.CodeUnsupported, Message: r.Method + " is not supported here"})
		return
	}
	if c.principal.IsAnonymous() {
		h.fail(w, r, &challengeError{})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("{}"))
	}
}
