package audit

import (
	"context"
	"slices"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Listing is what reading the audit log takes; *meta.DB satisfies it.
type Listing interface {
	ListAudit(ctx context.Context, lq meta.ListQuery, scope meta.AuditScope) ([]meta.AuditEntry, int64, error)
	ListAuditExt(ctx context.Context, lq meta.ListQuery, scope meta.AuditScope, view meta.AuditExtView) ([]meta.AuditEntry, int64, error)
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
	scope, err := s.scope(ctx)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListAudit(ctx, lq, scope)
}

// CanListAll reports whether the caller in ctx may read every entry of the audit log (the
// whole log, as List gives it to those holding audit-log:list at system level): for pages that
// offer the system's audit log before it is asked for.
func (s *Service) CanListAll(ctx context.Context) (bool, error) {
	return s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResAuditLog, rbac.ActList)
}

// ListExt is List as Harbor's extended audit log (/auditlog-exts) shows the entries: its
// resource types, and a description of each entry; q= and sort= take its names.
func (s *Service) ListExt(ctx context.Context, lq meta.ListQuery) ([]meta.AuditEntry, int64, error) {
	scope, err := s.scope(ctx)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListAuditExt(ctx, lq, scope, extView)
}

// scope is what the caller in ctx may read of the audit log.
func (s *Service) scope(ctx context.Context) (meta.AuditScope, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return meta.AuditScope{}, err
	}
	p := auth.PrincipalFrom(ctx)
	all, err := s.Authz.CanSystem(ctx, p, rbac.ResAuditLog, rbac.ActList)
	if err != nil {
		return meta.AuditScope{}, err
	}
	var scope meta.AuditScope
	switch {
	case all:
		scope.All = true
	case p.Kind == auth.User:
		scope.UserID, scope.Roles = p.ID, logRoles()
	}
	return scope, nil
}

// ProjectLog returns one page of a project's entries, for those who may list its logs.
func (s *Service) ProjectLog(ctx context.Context, project string, lq meta.ListQuery) ([]meta.AuditEntry, int64, error) {
	p, err := s.Projects.FindFor(ctx, project, true, rbac.ResLog, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListAudit(ctx, lq, meta.AuditScope{ProjectID: p.ID})
}

// ProjectLogExt is ProjectLog as Harbor's extended audit log shows the entries (see ListExt).
func (s *Service) ProjectLogExt(ctx context.Context, project string, lq meta.ListQuery) ([]meta.AuditEntry, int64, error) {
	p, err := s.Projects.FindFor(ctx, project, true, rbac.ResLog, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListAuditExt(ctx, lq, meta.AuditScope{ProjectID: p.ID}, extView)
}

// The extended audit log names members "member" (Harbor's resource), where the audit log
// names them "project_member"; every other resource type is the same in both.
var extView = meta.AuditExtView{ResourceTypes: map[string]string{"project_member": "member"}}

func extResourceType(t string) string {
	if n, ok := extView.ResourceTypes[t]; ok {
		return n
	}
	return t
}

// harborEventTypes are the event types of Harbor's extended audit log, in Harbor's order
// (src/pkg/auditext/model): "<operation>_<resource type>".
var harborEventTypes = []string{
	"create_artifact", "delete_artifact", "pull_artifact", "create_project", "delete_project", "delete_repository",
	"login_user", "logout_user", "create_user", "delete_user", "update_user", "create_robot", "delete_robot",
	"update_configuration", "create_member", "delete_member", "update_member", "update_project",
}

// EventTypes lists the event types of the entries Berth records, as Harbor's extended audit
// log names them ("<operation>_<resource type>"): those Harbor has in its order, then Berth's
// others (tags, scanners, scans, collections), sorted. For those who may read the whole audit
// log (Harbor's ListAuditLogEventTypes).
func (s *Service) EventTypes(ctx context.Context) ([]string, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResAuditLog, rbac.ActList); err != nil {
		return nil, err
	}
	recorded := map[string]bool{}
	for _, k := range entryOf {
		recorded[k.operation+"_"+extResourceType(k.resourceType)] = true
	}
	var out, others []string
	for _, t := range harborEventTypes {
		if recorded[t] {
			out = append(out, t)
			delete(recorded, t)
		}
	}
	for t := range recorded {
		others = append(others, t)
	}
	slices.Sort(others)
	return append(out, others...), nil
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
