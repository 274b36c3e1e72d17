package user

// The caller's permissions (Harbor's /users/current/permissions), asked of the one
// authorization decision. Resources are named as Harbor names them: "/project/<id>/<resource>"
// with the project itself as "/project/<id>" ("." relative to the scope), and
// "/system/<resource>" for system-level permissions.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Grant is one permission: a resource as Harbor names it and an action.
type Grant struct {
	Resource string
	Action   string
}

var projectScopeRE = regexp.MustCompile(`^/project/([0-9]+)(/|$)`)

// systemPolicies are Harbor's system-level policies (rbac/system/policies.go).
var systemPolicies = []rbac.Permission{
	{Resource: "audit-log", Action: rbac.ActList},
	{Resource: "catalog", Action: rbac.ActRead},
	{Resource: "configuration", Action: rbac.ActRead}, {Resource: "configuration", Action: rbac.ActUpdate},
	{Resource: "garbage-collection", Action: rbac.ActCreate}, {Resource: "garbage-collection", Action: rbac.ActRead},
	{Resource: "garbage-collection", Action: rbac.ActUpdate}, {Resource: "garbage-collection", Action: rbac.ActDelete},
	{Resource: "garbage-collection", Action: rbac.ActList},
	{Resource: "ldap-user", Action: rbac.ActCreate}, {Resource: "ldap-user", Action: rbac.ActList},
	{Resource: "project", Action: rbac.ActCreate}, {Resource: "project", Action: rbac.ActRead},
	{Resource: "project", Action: rbac.ActUpdate}, {Resource: "project", Action: rbac.ActDelete},
	{Resource: "project", Action: rbac.ActList},
	{Resource: "registry", Action: rbac.ActCreate}, {Resource: "registry", Action: rbac.ActRead},
	{Resource: "registry", Action: rbac.ActUpdate}, {Resource: "registry", Action: rbac.ActDelete},
	{Resource: "registry", Action: rbac.ActList},
	{Resource: "replication", Action: rbac.ActCreate}, {Resource: "replication", Action: rbac.ActRead},
	{Resource: "replication", Action: rbac.ActUpdate}, {Resource: "replication", Action: rbac.ActDelete},
	{Resource: "replication", Action: rbac.ActList},
	{Resource: "robot", Action: rbac.ActCreate}, {Resource: "robot", Action: rbac.ActRead},
	{Resource: "robot", Action: rbac.ActUpdate}, {Resource: "robot", Action: rbac.ActDelete},
	{Resource: "robot", Action: rbac.ActList},
	{Resource: "scan-all", Action: rbac.ActCreate}, {Resource: "scan-all", Action: rbac.ActRead},
	{Resource: "scan-all", Action: rbac.ActUpdate}, {Resource: "scan-all", Action: rbac.ActStop},
	{Resource: "scan-all", Action: rbac.ActList},
	{Resource: "system-volumes", Action: rbac.ActRead},
	{Resource: "user", Action: rbac.ActCreate}, {Resource: "user", Action: rbac.ActRead},
	{Resource: "user", Action: rbac.ActUpdate}, {Resource: "user", Action: rbac.ActDelete},
	{Resource: "user", Action: rbac.ActList},
	{Resource: "user-group", Action: rbac.ActCreate}, {Resource: "user-group", Action: rbac.ActRead},
	{Resource: "user-group", Action: rbac.ActUpdate}, {Resource: "user-group", Action: rbac.ActDelete},
	{Resource: "user-group", Action: rbac.ActList},
}

// Permissions lists what the signed-in caller may do within scope: a project
// ("/project/<id>"), the system ("/system", or "/" for it), nothing for any other scope. With
// relative, resources are named relative to the scope and those outside it left out (Harbor's
// Resource.RelativeTo).
func (s *Service) Permissions(ctx context.Context, scope string, relative bool) ([]Grant, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return nil, err
	}
	var perms []Grant
	switch m := projectScopeRE.FindStringSubmatch(scope); {
	case m != nil:
		var err error
		if perms, err = s.projectPermissions(ctx, m[1]); err != nil {
			return nil, err
		}
	case scope == "/system" || strings.HasPrefix(scope, "/system/") || scope == "/":
		var err error
		if perms, err = s.systemPermissions(ctx); err != nil {
			return nil, err
		}
		if scope == "/" {
			scope = "/system"
		}
	}
	out := make([]Grant, 0, len(perms))
	for _, p := range perms {
		if relative {
			if !strings.HasPrefix(p.Resource, scope) {
				continue
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(p.Resource, scope), "/")
			if rel == "" {
				rel = "."
			}
			p.Resource = rel
		}
		out = append(out, p)
	}
	return out, nil
}

// projectPermissions asks the authorizer about every project permission. An unknown or
// invisible project yields none, so the answer does not reveal which projects exist.
func (s *Service) projectPermissions(ctx context.Context, idStr string) ([]Grant, error) {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return nil, nil
	}
	p, err := s.Store.ProjectByID(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up project %d: %w", id, err)
	}
	caller := auth.PrincipalFrom(ctx)
	prefix := "/project/" + strconv.FormatInt(p.ID, 10)
	var out []Grant
	for _, perm := range rbac.ProjectPermissions() {
		allowed, err := s.Authz.Can(ctx, caller, p, perm.Resource, perm.Action)
		if err != nil {
			return nil, err
		}
		if !allowed {
			continue
		}
		res := prefix + "/" + string(perm.Resource)
		if perm.Resource == rbac.ResProject {
			res = prefix // Harbor's "self" resource: the project itself
		}
		out = append(out, Grant{res, string(perm.Action)})
	}
	return out, nil
}

// systemPermissions: system administrators hold every system permission; other callers may
// create projects when the authorizer says so (unless creation is restricted to
// administrators).
func (s *Service) systemPermissions(ctx context.Context) ([]Grant, error) {
	caller := auth.PrincipalFrom(ctx)
	var out []Grant
	if caller.SysAdmin {
		for _, p := range systemPolicies {
			out = append(out, Grant{"/system/" + string(p.Resource), string(p.Action)})
		}
		return out, nil
	}
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return nil, err
	}
	if ok, err := s.Authz.CanCreateProject(ctx, caller, cfg.ProjectCreationRestriction == "adminonly"); err != nil {
		return nil, err
	} else if ok {
		out = append(out, Grant{"/system/project", string(rbac.ActCreate)})
	}
	return out, nil
}
