// Package group holds the rules of user groups: sets of users kept by an identity provider
// (LDAP groups by DN, HTTP and OIDC groups by name) that a project can admit as a whole.
// System administrators, and robots granted "user-group", manage them; any signed-in user may
// search them, to add one as a project member. Which users are in a group is kept by whatever
// authenticates them (meta.SetUserGroups).
package group

import (
	"context"
	"errors"
	"fmt"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the group rules read and write.
type Store interface {
	ListGroups(ctx context.Context, f meta.GroupFilter) ([]meta.Group, int64, error)
	GroupByID(ctx context.Context, id int64) (meta.Group, error)
	CreateGroup(ctx context.Context, g meta.Group) (int64, error)
	RenameGroup(ctx context.Context, id int64, name string) error
	DeleteGroup(ctx context.Context, id int64) error
}

// Service is the group rules over the store.
type Service struct {
	Store Store
	Authz *rbac.Authorizer
}

const maxNameLen = 255

// CheckName applies the rule for group names: 1 to 255 characters.
func CheckName(name string) error {
	if name == "" {
		return fault.Invalidf("group_name is required")
	}
	if len(name) > maxNameLen {
		return fault.Invalidf("group_name is longer than %d characters", maxNameLen)
	}
	return nil
}

func notFound(id int64) error { return fault.NotFoundf("user group %d not found", id) }

// Can reports whether the caller may act on user groups (rbac.ActList, ActCreate, …), for a
// page deciding what to offer; the methods below check it themselves.
func (s *Service) Can(ctx context.Context, act rbac.Action) (bool, error) {
	return s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResUserGroup, act)
}

// List returns one page of groups, filtered by f.
func (s *Service) List(ctx context.Context, f meta.GroupFilter) ([]meta.Group, int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResUserGroup, rbac.ActList); err != nil {
		return nil, 0, err
	}
	return s.Store.ListGroups(ctx, f)
}

// Search returns one page of the groups whose name contains name, for any signed-in caller:
// whoever manages a project's members must be able to find a group to add.
func (s *Service) Search(ctx context.Context, name string, offset, limit int) ([]meta.Group, int64, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return nil, 0, err
	}
	if name == "" {
		return nil, 0, fault.Invalidf("groupname is required")
	}
	return s.Store.ListGroups(ctx, meta.GroupFilter{Name: name, Offset: offset, Limit: limit})
}

// Create adds a group and returns its id. A zero type is chosen as Harbor chooses it: LDAP
// with a DN (it can be nothing else), HTTP otherwise. An LDAP group needs its DN, and only
// LDAP groups have one.
func (s *Service) Create(ctx context.Context, g meta.Group) (int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResUserGroup, rbac.ActCreate); err != nil {
		return 0, err
	}
	if g.Type == 0 {
		g.Type = meta.GroupHTTP
		if g.LDAPDN != "" {
			g.Type = meta.GroupLDAP
		}
	}
	switch g.Type {
	case meta.GroupLDAP:
		if g.LDAPDN == "" {
			return 0, fault.Invalidf("ldap_group_dn is required for an LDAP group (group_type 1)")
		}
	case meta.GroupHTTP, meta.GroupOIDC:
		if g.LDAPDN != "" {
			return 0, fault.Invalidf("ldap_group_dn is only for LDAP groups (group_type 1)")
		}
	default:
		return 0, fault.Invalidf("invalid group_type %d: 1 (LDAP), 2 (HTTP) or 3 (OIDC)", g.Type)
	}
	if err := CheckName(g.Name); err != nil {
		return 0, err
	}
	id, err := s.Store.CreateGroup(ctx, meta.Group{Name: g.Name, Type: g.Type, LDAPDN: g.LDAPDN})
	if errors.Is(err, meta.ErrConflict) {
		return 0, fault.Conflictf("the user group %s already exists", g.Name)
	}
	return id, err
}

// Get returns a group.
func (s *Service) Get(ctx context.Context, id int64) (meta.Group, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResUserGroup, rbac.ActRead); err != nil {
		return meta.Group{}, err
	}
	return s.group(ctx, id)
}

func (s *Service) group(ctx context.Context, id int64) (meta.Group, error) {
	g, err := s.Store.GroupByID(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return g, notFound(id)
	}
	if err != nil {
		return g, fmt.Errorf("look up user group %d: %w", id, err)
	}
	return g, nil
}

// Update renames a group to g.Name. A group's type and DN are what identify it at its
// provider, so they cannot change (Harbor likewise only updates the name): g.Type and g.LDAPDN
// must be zero or what they are.
func (s *Service) Update(ctx context.Context, id int64, g meta.Group) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResUserGroup, rbac.ActUpdate); err != nil {
		return err
	}
	cur, err := s.group(ctx, id)
	if err != nil {
		return err
	}
	if (g.Type != 0 && g.Type != cur.Type) || (g.LDAPDN != "" && g.LDAPDN != cur.LDAPDN) {
		return fault.Invalidf("only the group_name of a user group can be changed")
	}
	if err := CheckName(g.Name); err != nil {
		return err
	}
	err = s.Store.RenameGroup(ctx, id, g.Name)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return notFound(id)
	case errors.Is(err, meta.ErrConflict):
		return fault.Conflictf("the user group %s already exists", g.Name)
	}
	return err
}

// Delete removes a group with its project memberships.
func (s *Service) Delete(ctx context.Context, id int64) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResUserGroup, rbac.ActDelete); err != nil {
		return err
	}
	err := s.Store.DeleteGroup(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(id)
	}
	return err
}
