package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
)

// caller is who sent a /v2/ request and how.
type caller struct {
	principal auth.Principal
	// claims is set for bearer tokens: the token's access list is what it grants.
	claims *auth.Claims
	// basic is true when credentials came as HTTP Basic.
	basic bool
}

func (c caller) sentCredentials() bool { return c.basic || c.claims != nil }

// identify reads the Authorization header. A bad credential is an error: it must not quietly
// fall back to anonymous access.
func (h *Handler) identify(r *http.Request) (caller, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return caller{}, nil
	}
	scheme, value, _ := strings.Cut(authz, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		claims, err := h.Tokens.Verify(strings.TrimSpace(value))
		if err != nil {
			return caller{}, errUnauthorized("invalid or expired token")
		}
		return caller{principal: claims.Principal, claims: claims}, nil
	case "basic":
		name, password, ok := r.BasicAuth()
		if !ok {
			return caller{}, errUnauthorized("malformed Basic credentials")
		}
		p, err := h.Auth.Basic(r.Context(), name, password)
		if err != nil {
			if errors.Is(err, auth.ErrBadCredentials) {
				return caller{}, errUnauthorized("invalid username or password")
			}
			return caller{}, err
		}
		return caller{principal: p, basic: true}, nil
	}
	return caller{}, errUnauthorized("unsupported authorization scheme")
}

func errRepoNotFound(repo string) *registry.Error {
	return &registry.Error{Code: registry.CodeNameUnknown, Message: fmt.Sprintf("repository %s not found", repo)}
}

func errUnauthorized(msg string) *registry.Error {
	return &registry.Error{Code: registry.CodeUnauthorized, Message: msg}
}

// repoActions maps the rbac decision onto the token actions of a repository.
var repoActions = []struct {
	action string
	perm   rbac.Action
}{
	{"pull", rbac.ActPull},
	{"push", rbac.ActPush},
	{"delete", rbac.ActDelete},
}

// Grant trims requested token access to what the principal may do. It is the token service's
// view of the same decision the /v2/ handlers make.
func (h *Handler) Grant(ctx context.Context, p auth.Principal, requested []auth.Access) ([]auth.Access, error) {
	var out []auth.Access
	for _, a := range requested {
		switch {
		case a.Type == "registry" && a.Name == "catalog":
			if !p.IsAnonymous() {
				out = append(out, auth.Access{Type: a.Type, Name: a.Name, Actions: []string{"*"}})
			}
		case a.Type == "repository" && a.Class == "":
			project, err := h.Reg.Project(ctx, a.Name)
			if err != nil {
				var re *registry.Error
				if errors.As(err, &re) {
					continue // invalid name or no such project: nothing to grant
				}
				return nil, err
			}
			var granted []string
			for _, ra := range repoActions {
				if !slices.Contains(a.Actions, ra.action) && !slices.Contains(a.Actions, "*") {
					continue
				}
				ok, err := h.Authz.Can(ctx, p, project, rbac.ResRepository, ra.perm)
				if err != nil {
					return nil, err
				}
				if ok {
					granted = append(granted, ra.action)
				}
			}
			if len(granted) > 0 {
				out = append(out, auth.Access{Type: a.Type, Name: a.Name, Actions: granted})
			}
		}
	}
	return out, nil
}

// authorize decides whether the caller may perform action ("pull", "push", "delete") on the
// repository of the given project. Denials are shaped so that clients do the right thing:
//   - no credentials → 401 with a Bearer challenge for the scope (clients fetch a token);
//   - a token that lacks a scope the principal does hold → 401 insufficient_scope (clients
//     fetch a new token);
//   - a signed-in principal without the right → 403, or 404 when the project is private and
//     the principal cannot see it at all (outsiders must not learn it exists).
func (h *Handler) authorize(ctx context.Context, c caller, project meta.Project, repo, action string) error {
	perm := permOf(action)
	if c.claims != nil && tokenGrants(c.claims, repo, action) {
		return nil
	}
	// Like Harbor, a request without credentials is always challenged, public repository or
	// not: clients then fetch a token (anonymous, for public pulls) and every pull takes the
	// same path.
	if !c.sentCredentials() {
		return &challengeError{scope: fmt.Sprintf("repository:%s:%s", repo, scopeActions(action))}
	}
	ok, err := h.Authz.Can(ctx, c.principal, project, rbac.ResRepository, perm)
	if err != nil {
		return err
	}
	if ok && c.claims == nil {
		return nil
	}
	if c.principal.IsAnonymous() {
		return &challengeError{scope: fmt.Sprintf("repository:%s:%s", repo, scopeActions(action)), tokenPresent: c.claims != nil}
	}
	if ok { // a token that does not carry a right the principal holds
		return &challengeError{scope: fmt.Sprintf("repository:%s:%s", repo, scopeActions(action)), tokenPresent: true}
	}
	visible, err := h.Authz.CanSeeProject(ctx, c.principal, project)
	if err != nil {
		return err
	}
	if !visible {
		return errRepoNotFound(repo)
	}
	return &registry.Error{Code: registry.CodeDenied, Message: fmt.Sprintf("requested access to the resource is denied: %s on %s", action, repo)}
}

func permOf(action string) rbac.Action {
	switch action {
	case "push":
		return rbac.ActPush
	case "delete":
		return rbac.ActDelete
	}
	return rbac.ActPull
}

// scopeActions is what a challenge asks for: pushing clients also need pull.
func scopeActions(action string) string {
	if action == "push" {
		return "pull,push"
	}
	return action
}

func tokenGrants(c *auth.Claims, repo, action string) bool {
	for _, a := range c.Access {
		if a.Type == "repository" && a.Class == "" && a.Name == repo &&
			(slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// challengeError is a 401 that tells the client where to get a token and for what.
type challengeError struct {
	scope        string
	tokenPresent bool
}

func (e *challengeError) Error() string { return "authentication required for " + e.scope }

// challenge sets the WWW-Authenticate header of a 401. Its realm is on the host the client
// used (see internal/origin), which some clients require.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, scope string, insufficient bool) {
	v := fmt.Sprintf(`Bearer realm="%s/service/token",service="%s"`, h.Origin.URL(r), h.Service)
	if scope != "" {
		v += fmt.Sprintf(`,scope="%s"`, scope)
	}
	if insufficient {
		v += `,error="insufficient_scope"`
	}
	w.Header().Set("WWW-Authenticate", v)
}
