// Package project holds the rules of projects: finding one as a caller may see it, creating,
// changing and deleting them, their metadata, members, quotas and CVE allowlists. The REST API,
// the portal and the CLI all come here, so none of them can disagree on a rule.
//
// Every operation checks the caller in ctx (auth.PrincipalFrom) through the one authorization
// decision, and the changes that make events (a project created, updated or deleted; a member
// added, updated or removed) emit them in the transaction that makes the change.
package project

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the project service reads and writes. Changes that emit events are written
// through Tx, with the *meta.Tx methods of the same names.
type Store interface {
	Tx(ctx context.Context, fn func(*meta.Tx) error) error

	ProjectByName(ctx context.Context, name string) (meta.Project, error)
	ProjectByID(ctx context.Context, id int64) (meta.Project, error)
	ListProjectsPage(ctx context.Context, lq meta.ListQuery, vis meta.ProjectVisibility) ([]meta.Project, int64, error)
	ProjectMetadata(ctx context.Context, projectID int64) (map[string]string, error)
	ProjectsMetadata(ctx context.Context, ids []int64) (map[int64]map[string]string, error)
	DefaultProjectOwner(ctx context.Context) (int64, error)
	SystemConfig(ctx context.Context) (meta.SystemConfig, error)

	CVEAllowlist(ctx context.Context, projectID int64) (meta.CVEAllowlist, error)
	CVEAllowlists(ctx context.Context, projectIDs []int64) (map[int64]meta.CVEAllowlist, error)
	SetCVEAllowlist(ctx context.Context, l meta.CVEAllowlist) error

	QuotaByID(ctx context.Context, id int64) (meta.Quota, error)
	QuotaByProject(ctx context.Context, projectID int64) (meta.Quota, error)
	ListQuotas(ctx context.Context, lq meta.ListQuery, projectID int64) ([]meta.Quota, int64, error)
	QuotaUsedTotal(ctx context.Context) (int64, error)
	SetQuotaHard(ctx context.Context, id, hard int64) error

	ListMembers(ctx context.Context, projectID int64, entityName string, offset, limit int) ([]meta.Member, int64, error)
	MemberByID(ctx context.Context, projectID, memberID int64) (meta.Member, error)
	MemberRoleCounts(ctx context.Context, projectID int64) (map[int]int64, error)
	UserByID(ctx context.Context, id int64) (meta.User, error)
	UserByName(ctx context.Context, name string) (meta.User, error)
	GroupByID(ctx context.Context, id int64) (meta.Group, error)
	GroupByName(ctx context.Context, name string, typ int) (meta.Group, error)
	GroupByLDAPDN(ctx context.Context, dn string) (meta.Group, error)
	CreateGroup(ctx context.Context, g meta.Group) (int64, error)
}

// Service is the project rules over the store.
type Service struct {
	Store Store
	Authz *rbac.Authorizer
}

// Find resolves a project by name, or by id when ref is a number and byName is false, as the
// caller in ctx sees it: a project the caller cannot see is not found (unauthorized for an
// anonymous caller, who may see it once signed in).
func (s *Service) Find(ctx context.Context, ref string, byName bool) (meta.Project, error) {
	var p meta.Project
	var err error
	id, perr := strconv.ParseInt(ref, 10, 64)
	if byName || perr != nil {
		p, err = s.Store.ProjectByName(ctx, ref)
	} else {
		p, err = s.Store.ProjectByID(ctx, id)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return p, fault.NotFoundf("project %s not found", ref)
	}
	if err != nil {
		return p, fmt.Errorf("look up project %s: %w", ref, err)
	}
	ok, err := s.Authz.CanSeeProject(ctx, auth.PrincipalFrom(ctx), p)
	if err != nil {
		return p, err
	}
	if !ok {
		if auth.PrincipalFrom(ctx).IsAnonymous() {
			return p, fault.ErrUnauthorized
		}
		return p, fault.NotFoundf("project %s not found", ref)
	}
	return p, nil
}

// FindFor is Find followed by a check of one permission in the project.
func (s *Service) FindFor(ctx context.Context, ref string, byName bool, res rbac.Resource, act rbac.Action) (meta.Project, error) {
	p, err := s.Find(ctx, ref, byName)
	if err != nil {
		return p, err
	}
	return p, s.Authz.Require(ctx, p, res, act)
}

// Can says whether the caller in ctx may act on a resource in project p, as the operation
// itself will decide, so that an entry point offers only the actions the caller may take.
func (s *Service) Can(ctx context.Context, p meta.Project, res rbac.Resource, act rbac.Action) (bool, error) {
	return s.Authz.Can(ctx, auth.PrincipalFrom(ctx), p, res, act)
}

// Exists answers whether a project has the name: nil when it has and the caller can see it,
// not found when the name is free. A taken name the caller cannot see is refused (forbidden,
// unauthorized for an anonymous caller) rather than not found, as Harbor answers, so that a
// form choosing a new project's name still learns that the name is taken.
func (s *Service) Exists(ctx context.Context, name string) error {
	p, err := s.Store.ProjectByName(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("project %s not found", name)
	}
	if err != nil {
		return fmt.Errorf("look up project %s: %w", name, err)
	}
	caller := auth.PrincipalFrom(ctx)
	ok, err := s.Authz.CanSeeProject(ctx, caller, p)
	if err != nil || ok {
		return err
	}
	if caller.IsAnonymous() {
		return fault.ErrUnauthorized
	}
	return fault.ErrForbidden
}

// View is a project as the caller sees it.
type View struct {
	Project meta.Project
	// Metadata is Harbor's project metadata, "public" included, and Allowlist the project's
	// CVE allowlist; both are nil in a listing without detail.
	Metadata  map[string]string
	Allowlist *meta.CVEAllowlist
	// Role is the caller's role in the project, 0 for none.
	Role int
	// Togglable says whether the caller may switch the project between public and private.
	Togglable bool
}

// Describe is the project as the caller sees it, with md, its stored metadata, and al, its CVE
// allowlist; either may be nil to leave it out. It serves projects found by other means than
// this service (a search).
func (s *Service) Describe(ctx context.Context, p meta.Project, md map[string]string, al *meta.CVEAllowlist) (View, error) {
	caller := auth.PrincipalFrom(ctx)
	role, err := s.Authz.Role(ctx, caller, p)
	if err != nil {
		return View{}, err
	}
	v := View{Project: p, Allowlist: al, Role: role,
		Togglable: caller.SysAdmin || rbac.RoleAllows(role, rbac.Permission{Resource: rbac.ResMetadata, Action: rbac.ActUpdate})}
	if md != nil {
		v.Metadata = withPublic(md, p.Public)
	}
	return v, nil
}

// Get returns the project with its metadata and CVE allowlist. Seeing a project is not
// reading it: a robot sees the projects it holds any permission in, but reads one only with
// project:read (for users the two are the same).
func (s *Service) Get(ctx context.Context, ref string, byName bool) (View, error) {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResProject, rbac.ActRead)
	if err != nil {
		return View{}, err
	}
	md, err := s.Store.ProjectMetadata(ctx, p.ID)
	if err != nil {
		return View{}, err
	}
	al, err := s.Store.CVEAllowlist(ctx, p.ID)
	if err != nil {
		return View{}, err
	}
	return s.Describe(ctx, p, md, &al)
}

// List returns one page of the projects the caller sees, as lq selects them, and their total;
// with detail, each with its metadata and CVE allowlist.
func (s *Service) List(ctx context.Context, lq meta.ListQuery, detail bool) ([]View, int64, error) {
	ps, total, err := s.Store.ListProjectsPage(ctx, lq, rbac.Visibility(auth.PrincipalFrom(ctx)))
	if err != nil {
		return nil, 0, err
	}
	var mds map[int64]map[string]string
	var als map[int64]meta.CVEAllowlist
	if detail {
		ids := make([]int64, len(ps))
		for i, p := range ps {
			ids[i] = p.ID
		}
		if mds, err = s.Store.ProjectsMetadata(ctx, ids); err != nil {
			return nil, 0, err
		}
		if als, err = s.Store.CVEAllowlists(ctx, ids); err != nil {
			return nil, 0, err
		}
	}
	out := make([]View, 0, len(ps))
	for _, p := range ps {
		var al *meta.CVEAllowlist
		if detail {
			l := als[p.ID]
			al = &l
		}
		v, err := s.Describe(ctx, p, mds[p.ID], al)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, nil
}

// Summary is what a project holds: its repositories, and for callers who may read them its
// quota and how many members hold each role.
type Summary struct {
	RepoCount int64
	// Quota is nil when the caller may not read it (or the project has none).
	Quota *meta.Quota
	// MemberCounts are the members by role; nil when the caller may not list members.
	MemberCounts map[int]int64
}

// Summary returns the project's summary; as in Harbor, each part appears only to those who
// may read it.
func (s *Service) Summary(ctx context.Context, ref string, byName bool) (Summary, error) {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResProject, rbac.ActRead)
	if err != nil {
		return Summary{}, err
	}
	out := Summary{RepoCount: p.RepoCount}
	caller := auth.PrincipalFrom(ctx)
	if ok, err := s.Authz.Can(ctx, caller, p, rbac.ResQuota, rbac.ActRead); err != nil {
		return Summary{}, err
	} else if ok {
		q, err := s.Store.QuotaByProject(ctx, p.ID)
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return Summary{}, err
		}
		if err == nil {
			out.Quota = &q
		}
	}
	if ok, err := s.Authz.Can(ctx, caller, p, rbac.ResMember, rbac.ActList); err != nil {
		return Summary{}, err
	} else if ok {
		if out.MemberCounts, err = s.Store.MemberRoleCounts(ctx, p.ID); err != nil {
			return Summary{}, err
		}
	}
	return out, nil
}

// change runs fn, which changes a project, in one transaction; this process's project lookups
// (meta.DB.LookupProject, the registry's) serve the change as soon as it returns.
func (s *Service) change(ctx context.Context, fn func(tx *meta.Tx) error) error {
	return s.Store.Tx(ctx, fn)
}
