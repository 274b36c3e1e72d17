// Package rbac makes every authorization decision in Berth: /v2/, the token service, the REST API
// and the portal all ask Authorizer.Can, which reads one permission table (HARBOR-NOTES §d).
package rbac

import (
	"context"
	"fmt"
	"sort"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// Resource and Action use Harbor's strings, so robot permissions can name them as Harbor does.
type (
	Resource string
	Action   string
)

const (
	ResRepository    Resource = "repository"
	ResArtifact      Resource = "artifact"
	ResTag           Resource = "tag"
	ResAccessory     Resource = "accessory"
	ResArtifactLabel Resource = "artifact-label"
	ResProject       Resource = "project"
	ResMetadata      Resource = "metadata"
	ResMember        Resource = "member"
	ResRobot         Resource = "robot"
	ResLabel         Resource = "label"
	ResLog           Resource = "log"
	ResQuota         Resource = "quota"
	ResConfiguration Resource = "configuration"
	ResScan          Resource = "scan"
	ResSBOM          Resource = "sbom"
	ResScanner       Resource = "scanner"
	ResTagRetention  Resource = "tag-retention"
	ResImmutableTag  Resource = "immutable-tag"
	ResWebhook       Resource = "notification-policy"
	ResPreheat       Resource = "preheat-policy"
	ResExportCVE     Resource = "export-cve"
)

const (
	ActPull        Action = "pull"
	ActPush        Action = "push"
	ActCreate      Action = "create"
	ActRead        Action = "read"
	ActUpdate      Action = "update"
	ActDelete      Action = "delete"
	ActList        Action = "list"
	ActOperate     Action = "operate"
	ActStop        Action = "stop"
	ActScannerPull Action = "scanner-pull"
)

// Permission is one cell of the table: an action on a resource within a project.
type Permission struct {
	Resource Resource
	Action   Action
}

func perms(res Resource, acts ...Action) []Permission {
	out := make([]Permission, len(acts))
	for i, a := range acts {
		out[i] = Permission{res, a}
	}
	return out
}

func join(lists ...[]Permission) map[Permission]bool {
	m := map[Permission]bool{}
	for _, l := range lists {
		for _, p := range l {
			m[p] = true
		}
	}
	return m
}

// The rows of HARBOR-NOTES §d, grouped as the table groups them.
var (
	readContent = join(
		perms(ResRepository, ActPull, ActList, ActRead),
		perms(ResArtifact, ActRead, ActList),
		perms(ResTag, ActList),
		perms(ResAccessory, ActList),
		perms(ResScan, ActRead),
		perms(ResSBOM, ActRead),
		perms(ResScanner, ActRead),
	)
	writeContent = join(
		perms(ResRepository, ActPush, ActUpdate),
		perms(ResArtifact, ActCreate),
		perms(ResTag, ActCreate),
		perms(ResArtifactLabel, ActCreate, ActDelete),
		perms(ResExportCVE, ActCreate, ActRead),
	)
	deleteContent = join(
		perms(ResRepository, ActDelete),
		perms(ResArtifact, ActDelete),
		perms(ResTag, ActDelete),
	)
	runScans       = join(perms(ResScan, ActCreate, ActStop), perms(ResSBOM, ActCreate, ActStop))
	manageRetained = join(perms(ResTagRetention, ActCreate, ActRead, ActUpdate, ActDelete, ActList, ActOperate))
	manageRules    = join(
		perms(ResImmutableTag, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
		perms(ResLabel, ActCreate, ActUpdate, ActDelete),
	)
	readPeople = join(
		perms(ResMember, ActRead, ActList),
		perms(ResRobot, ActRead, ActList),
		perms(ResLabel, ActRead, ActList),
	)
	readSettings  = join(perms(ResWebhook, ActRead, ActList), perms(ResMetadata, ActRead, ActList))
	manageProject = join(
		perms(ResMember, ActCreate, ActUpdate, ActDelete),
		perms(ResRobot, ActCreate, ActUpdate, ActDelete),
		perms(ResWebhook, ActCreate, ActUpdate, ActDelete),
		perms(ResPreheat, ActCreate, ActRead, ActUpdate, ActDelete, ActList),
		perms(ResMetadata, ActCreate, ActUpdate, ActDelete),
		perms(ResProject, ActUpdate, ActDelete),
		perms(ResLog, ActList),
		perms(ResScanner, ActCreate),
	)
	readProject = join(perms(ResProject, ActRead), perms(ResQuota, ActRead), perms(ResConfiguration, ActRead))
)

func union(sets ...map[Permission]bool) map[Permission]bool {
	m := map[Permission]bool{}
	for _, s := range sets {
		for p := range s {
			m[p] = true
		}
	}
	return m
}

// roleTable maps a project role to what it may do in that project.
var roleTable = map[int]map[Permission]bool{
	meta.RoleProjectAdmin: union(readContent, writeContent, deleteContent, runScans, manageRetained, manageRules, readPeople, readSettings, manageProject, readProject),
	meta.RoleMaintainer:   union(readContent, writeContent, deleteContent, runScans, manageRetained, manageRules, readPeople, readSettings, readProject),
	meta.RoleDeveloper:    union(readContent, writeContent, manageRetained, readPeople, readProject),
	meta.RoleGuest:        union(readContent, readPeople, readProject),
	meta.RoleLimitedGuest: union(readContent, readProject),
}

// publicTable is what anyone, anonymous included, may do in a public project.
var publicTable = union(readContent, join(perms(ResLabel, ActRead, ActList), perms(ResProject, ActRead)))

// RoleAllows reports whether a project role grants the permission; exported for the tests and
// the API's permission listing.
func RoleAllows(role int, p Permission) bool { return roleTable[role][p] }

// ProjectPermissions lists, sorted, every permission that can be held in a project, so a
// caller's permissions can be listed by asking Can about each (/users/current/permissions).
func ProjectPermissions() []Permission {
	all := union(publicTable)
	for _, t := range roleTable {
		all = union(all, t)
	}
	out := make([]Permission, 0, len(all))
	for p := range all {
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

// MemberStore is what the authorizer reads from the metadata store.
type MemberStore interface {
	MemberRole(ctx context.Context, projectID, userID int64) (int, error)
}

// RobotStore is what the authorizer reads about robot accounts: the grants of a robot that may
// act now (none when it is disabled, expired or deleted).
type RobotStore interface {
	RobotGrants(ctx context.Context, robotID int64) ([]meta.RobotGrant, error)
}

// Authorizer decides.
type Authorizer struct {
	Members MemberStore
	Robots  RobotStore
}

// Can reports whether the principal may perform the action on the resource in the project.
func (a *Authorizer) Can(ctx context.Context, p auth.Principal, project meta.Project, res Resource, act Action) (bool, error) {
	if p.SysAdmin {
		return true, nil
	}
	perm := Permission{res, act}
	if project.Public && publicTable[perm] {
		return true, nil
	}
	switch p.Kind {
	case auth.User:
	case auth.Robot:
		grants, err := a.robotGrants(ctx, p)
		if err != nil {
			return false, err
		}
		return robotAllows(grants, meta.RobotKindProject, project.ID, perm), nil
	default:
		return false, nil
	}
	role, err := a.Role(ctx, p, project)
	if err != nil {
		return false, err
	}
	return roleTable[role][perm], nil
}

// Role returns the principal's role in the project (0 when none).
func (a *Authorizer) Role(ctx context.Context, p auth.Principal, project meta.Project) (int, error) {
	if p.Kind != auth.User {
		return 0, nil
	}
	role, err := a.Members.MemberRole(ctx, project.ID, p.ID)
	if err != nil {
		return 0, fmt.Errorf("role of %s in %s: %w", p.Name, project.Name, err)
	}
	return role, nil
}

// CanSeeProject reports whether the project is visible to the principal at all: private
// projects are invisible to outsiders, which callers answer as "not found".
//
// A robot sees the projects it holds any permission in: a robot that may only push must still
// learn that the project exists, or every denial would read "not found".
func (a *Authorizer) CanSeeProject(ctx context.Context, p auth.Principal, project meta.Project) (bool, error) {
	if p.Kind == auth.Robot && !p.SysAdmin && !project.Public {
		grants, err := a.robotGrants(ctx, p)
		if err != nil {
			return false, err
		}
		for _, g := range grants {
			if g.Kind == meta.RobotKindProject && g.Effect != EffectDeny && (g.ProjectID == 0 || g.ProjectID == project.ID) {
				return true, nil
			}
		}
		return false, nil
	}
	return a.Can(ctx, p, project, ResProject, ActRead)
}

// CanCreateProject: system administrators; unless creation is restricted to admins, every
// signed-in user; and, whatever the restriction, system robots granted project:create at
// system level (Harbor's RequireSystemAccess). Project robots never create projects.
func (a *Authorizer) CanCreateProject(ctx context.Context, p auth.Principal, adminOnly bool) (bool, error) {
	switch {
	case p.SysAdmin:
		return true, nil
	case p.Kind == auth.User:
		return !adminOnly, nil
	case p.Kind == auth.Robot:
		return a.CanSystem(ctx, p, ResProject, ActCreate)
	}
	return false, nil
}

// Visibility is the set of projects a principal sees in listings (projects, repositories,
// the /v2/ catalog): everything for system administrators, otherwise the public projects and
// those the principal holds a role or a robot permission in.
func Visibility(p auth.Principal) meta.ProjectVisibility {
	switch {
	case p.SysAdmin:
		return meta.ProjectVisibility{All: true}
	case p.Kind == auth.User:
		return meta.ProjectVisibility{UserID: p.ID}
	case p.Kind == auth.Robot:
		return meta.ProjectVisibility{RobotID: p.ID}
	}
	return meta.ProjectVisibility{}
}
