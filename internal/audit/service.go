package audit

import (
	"context"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Listing is what reading the audit log takes; *meta.DB satisfies it.
type Listing interface {
	ListAudit(ctx context.Context, lq meta.ListQuery, scope meta.AuditScope) ([]meta.AuditEntry, int64, error)
}

// Projects finds a project as the caller may see it and checks a permission in it
// (*project.Service).
type Projects interface {
	FindFor(ctx context.Context, ref string, byName bool, res rbac.Resource, act rbac.Action) (meta.Project, error)
}

// Service answers who may read which entries of the audit log.
type Service struct {
	Store    Listing
	Authz    *rbac.Authorizer
	Projects Projects
}

// List returns one page of the entries the caller in ctx may read: every entry for those
// holding audit-log:list at system level (system administrators and system robots granted
// it, as Harbor's RequireSystemAccess decides); for other users the entries of the projects
// whose logs they may read; nothing for other robots.
func (s *Service) List(ctx context.Context, lq meta.ListQuery) ([]meta.AuditEntry, int64, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return nil, 0, err
	}
	p := auth.PrincipalFrom(ctx)
	all, err := s.Authz.CanSystem(ctx, p, rbac.ResAuditLog, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	var scope meta.AuditScope
	switch {
	case all:
		scope.All = true
	case p.Kind == auth.User:
		scope.UserID, scope.Roles = p.ID, logRoles()
	}
	return s.Store.ListAudit(ctx, lq, scope)
}

// ProjectLog returns one page of a project's entries, for those who may list its logs.
func (s *Service) ProjectLog(ctx context.Context, project string, lq meta.ListQuery) ([]meta.AuditEntry, int64, error) {
	p, err := s.Projects.FindFor(ctx, project, true, rbac.ResLog, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListAudit(ctx, lq, meta.AuditScope{ProjectID: p.ID})
}

var logList = rbac.Permission{Resource: rbac.ResLog, Action: rbac.ActList}

// logRoles are the project roles that may read a project's logs, read from the permission
// table so the listing cannot disagree with the authorization decision.
func logRoles() []int {
	var roles []int
	for _, r := range []int{meta.RoleProjectAdmin, meta.RoleMaintainer, meta.RoleDeveloper, meta.RoleGuest, meta.RoleLimitedGuest} {
		if rbac.RoleAllows(r, logList) {
			roles = append(roles, r)
		}
	}
	return roles
}
