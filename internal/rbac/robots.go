package rbac

import (
	"context"
	"fmt"
	"sort"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// Robot accounts hold explicit permissions instead of a role: {kind, namespace, resource,
// action, effect} rows granted by whoever created the robot, who cannot give more than they
// hold. This file lists what may be granted and decides for robots; Can, CanSeeProject and
// CanSystem call into it, so /v2/, the token service and the API decide for robots alike.

// System-level resources, named as Harbor names them (src/common/rbac/const.go).
const (
	ResAuditLog           Resource = "audit-log"
	ResCatalog            Resource = "catalog"
	ResUser               Resource = "user"
	ResUserGroup          Resource = "user-group"
	ResLDAPUser           Resource = "ldap-user"
	ResRegistry           Resource = "registry"
	ResReplication        Resource = "replication"
	ResReplicationPolicy  Resource = "replication-policy"
	ResReplicationAdapter Resource = "replication-adapter"
	ResGarbageCollection  Resource = "garbage-collection"
	ResPurgeAudit         Resource = "purge-audit"
	ResScanAll            Resource = "scan-all"
	ResSystemVolumes      Resource = "system-volumes"
	ResPreheatInstance    Resource = "preheat-instance"
	ResSecurityHub        Resource = "security-hub"
	ResJobServiceMonitor  Resource = "jobservice-monitor"
)

// Effects of a robot permission: a deny wins over any allow for the same resource and action.
const (
	EffectAllow = "allow"
	EffectDeny  = "deny"
)

// systemScope is what a system robot may be granted at system level (Harbor's system policies).
var systemScope = join(
	perms(ResAuditLog, ActList),
	perms(ResCatalog, ActRead),
	perms(ResConfiguration, ActRead, ActUpdate),
	perms(ResExportCVE, ActCreate, ActRead),
	perms(ResGarbageCollection, ActCreate, ActRead, ActUpdate, ActList, ActStop),
	perms(ResJobServiceMonitor, ActList, ActStop),
	perms(ResLabel, ActCreate, ActRead, ActUpdate, ActDelete),
	perms(ResLDAPUser, ActCreate, ActList),
	perms(ResPreheatInstance, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
	perms(ResProject, ActCreate, ActList),
	perms(ResPurgeAudit, ActCreate, ActRead, ActUpdate, ActList, ActStop),
	perms(ResQuota, ActRead, ActList),
	perms(ResRegistry, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
	perms(ResReplication, ActCreate, ActRead, ActList),
	perms(ResReplicationAdapter, ActList),
	perms(ResReplicationPolicy, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
	perms(ResRobot, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
	perms(ResScanAll, ActCreate, ActRead, ActUpdate, ActStop),
	perms(ResScanner, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
	perms(ResSecurityHub, ActRead, ActList),
	perms(ResSystemVolumes, ActRead),
	perms(ResUser, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
	perms(ResUserGroup, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
)

// projectScope is what a robot may be granted in a project: everything a project admin may do
// there, members and robots included (Harbor's project policies).
var projectScope = roleTable[meta.RoleProjectAdmin]

// Grantable reports whether a permission of the kind ("project" or "system") exists: robot
// requests naming anything else are refused.
func Grantable(kind string, p Permission) bool {
	switch kind {
	case meta.RobotKindProject:
		return projectScope[p]
	case meta.RobotKindSystem:
		return systemScope[p]
	}
	return false
}

// GrantablePermissions lists, sorted, the permissions of a kind that robots may be given
// (GET /permissions).
func GrantablePermissions(kind string) []Permission {
	var set map[Permission]bool
	switch kind {
	case meta.RobotKindProject:
		set = projectScope
	case meta.RobotKindSystem:
		set = systemScope
	}
	out := make([]Permission, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		return out[i].Action < out[j].Action
	})
	return out
}

func (a *Authorizer) robotGrants(ctx context.Context, p auth.Principal) ([]meta.RobotGrant, error) {
	if a.Robots == nil {
		return nil, nil
	}
	gs, err := a.Robots.RobotGrants(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("permissions of %s: %w", p.Name, err)
	}
	return gs, nil
}

// robotAllows evaluates grants for a permission of the kind; projectID selects the project for
// kind "project" (grants with project 0 cover every project).
func robotAllows(grants []meta.RobotGrant, kind string, projectID int64, perm Permission) bool {
	allowed := false
	for _, g := range grants {
		if g.Kind != kind || (kind == meta.RobotKindProject && g.ProjectID != 0 && g.ProjectID != projectID) {
			continue
		}
		// A deny removes what it names, including the /v2/ delete an artifact:delete stands
		// for, but never the pull that an allowed push implies.
		if g.Effect == EffectDeny {
			if covers(g, perm) && perm != (Permission{ResRepository, ActPull}) || Resource(g.Resource) == perm.Resource && Action(g.Action) == perm.Action {
				return false
			}
			continue
		}
		if covers(g, perm) {
			allowed = true
		}
	}
	return allowed
}

// covers reports whether a grant gives the permission. /v2/ asks for repository:delete to
// delete a manifest, and Harbor lets a robot that may delete artifacts do that through /v2/
// as well, so artifact:delete also covers repository:delete: deleting a repository is deleting
// every artifact in it, which such a robot can do one by one anyway.
// Pushing also needs pulling (clients check which layers exist before they upload), so, as
// in Harbor, repository:push covers repository:pull.
func covers(g meta.RobotGrant, perm Permission) bool {
	if Resource(g.Resource) == perm.Resource && Action(g.Action) == perm.Action {
		return true
	}
	granted := Permission{Resource(g.Resource), Action(g.Action)}
	switch perm {
	case Permission{ResRepository, ActDelete}:
		return granted == Permission{ResArtifact, ActDelete}
	case Permission{ResRepository, ActPull}:
		return granted == Permission{ResRepository, ActPush}
	}
	return false
}

// CanSystem reports whether the principal may perform a system-level action: system
// administrators always, robots when granted it at system level, nobody else.
func (a *Authorizer) CanSystem(ctx context.Context, p auth.Principal, res Resource, act Action) (bool, error) {
	if p.SysAdmin {
		return true, nil
	}
	if p.Kind != auth.Robot {
		return false, nil
	}
	grants, err := a.robotGrants(ctx, p)
	if err != nil {
		return false, err
	}
	return robotAllows(grants, meta.RobotKindSystem, 0, Permission{res, act}), nil
}

// CanEveryProject reports whether the principal holds a project permission in every project,
// present and future: system administrators, and robots granted it on namespace "*" without a
// deny anywhere. Granting a permission on "*" to a new robot needs exactly this.
func (a *Authorizer) CanEveryProject(ctx context.Context, p auth.Principal, res Resource, act Action) (bool, error) {
	if p.SysAdmin {
		return true, nil
	}
	if p.Kind != auth.Robot {
		return false, nil
	}
	grants, err := a.robotGrants(ctx, p)
	if err != nil {
		return false, err
	}
	perm := Permission{res, act}
	allowed := false
	for _, g := range grants {
		if g.Kind != meta.RobotKindProject || !covers(g, perm) {
			continue
		}
		if g.Effect == EffectDeny {
			return false, nil
		}
		if g.ProjectID == 0 {
			allowed = true
		}
	}
	return allowed, nil
}
