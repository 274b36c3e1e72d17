package project

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Project members are users and user groups with one of five roles: guests and up read the
// list, project admins manage it (rbac resource "member"). Adding, changing and removing a
// member are events (and so audit entries) named for the user or group.

// NewMember is a membership to add (Harbor's ProjectMember): a role, and a user by id or name,
// or else a user group by id, by LDAP DN, or by name and type.
type NewMember struct {
	Role      int
	UserID    int64
	Username  string
	GroupID   int64
	GroupDN   string
	GroupName string
	GroupType int
}

func checkRole(id int) error {
	if _, ok := meta.RoleNames[id]; !ok {
		return fault.Invalidf("invalid role id %d: 1 (project admin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limited guest)", id)
	}
	return nil
}

func memberNotFound(id int64, p meta.Project) error {
	return fault.NotFoundf("member %d not found in project %s", id, p.Name)
}

// Members returns one page of the project's members ordered by name, those whose name
// contains entityName when it is not empty, and their total.
func (s *Service) Members(ctx context.Context, ref string, byName bool, entityName string, offset, limit int) ([]meta.Member, int64, error) {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMember, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListMembers(ctx, p.ID, entityName, offset, limit)
}

// Member returns one member of the project.
func (s *Service) Member(ctx context.Context, ref string, byName bool, id int64) (meta.Member, error) {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMember, rbac.ActRead)
	if err != nil {
		return meta.Member{}, err
	}
	m, err := s.Store.MemberByID(ctx, p.ID, id)
	if errors.Is(err, meta.ErrNotFound) {
		return m, memberNotFound(id, p)
	}
	return m, err
}

// AddMember makes a user or group a member of the project and returns the membership's id.
func (s *Service) AddMember(ctx context.Context, ref string, byName bool, m NewMember) (int64, error) {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMember, rbac.ActCreate)
	if err != nil {
		return 0, err
	}
	if err := checkRole(m.Role); err != nil {
		return 0, err
	}
	entityType, entityID, name, err := s.memberEntity(ctx, m)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		if id, err = tx.AddMember(ctx, p.ID, entityType, entityID, m.Role); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.MemberAdded, p.ID, name, events.Member{Project: p.Name, Group: entityType == meta.MemberGroup}))
		return nil
	})
	switch {
	case errors.Is(err, meta.ErrConflict):
		return 0, fault.Conflictf("the member %s already exists in project %s", name, p.Name)
	case errors.Is(err, meta.ErrNotFound):
		// Deleted between the lookup and the insert.
		return 0, fault.NotFoundf("%s not found", name)
	}
	return id, err
}

// memberEntity resolves the user or group a new membership is for, and names it. As in Harbor
// a user is named by id or name; a group by id, LDAP DN or name, and an HTTP or OIDC group
// named for the first time is recorded ("onboarded"), since those groups exist only in what
// the identity provider says.
func (s *Service) memberEntity(ctx context.Context, m NewMember) (entityType string, id int64, name string, err error) {
	if m.UserID != 0 || m.Username != "" {
		var user meta.User
		switch {
		case m.UserID < 0:
			return "", 0, "", fault.Invalidf("invalid user_id %d", m.UserID)
		case m.UserID > 0:
			user, err = s.Store.UserByID(ctx, m.UserID)
			name = "user " + strconv.FormatInt(m.UserID, 10)
		default:
			user, err = s.Store.UserByName(ctx, m.Username)
			name = "user " + m.Username
		}
		if errors.Is(err, meta.ErrNotFound) {
			return "", 0, "", fault.NotFoundf("%s not found", name)
		}
		if err != nil {
			return "", 0, "", err
		}
		return meta.MemberUser, user.ID, user.Username, nil
	}
	var group meta.Group
	switch {
	case m.GroupID == 0 && m.GroupName == "" && m.GroupDN == "":
		return "", 0, "", fault.Invalidf("the member user and member group should not both be empty")
	case m.GroupID < 0:
		return "", 0, "", fault.Invalidf("invalid group id %d", m.GroupID)
	case m.GroupID > 0:
		group, err = s.Store.GroupByID(ctx, m.GroupID)
		name = "group " + strconv.FormatInt(m.GroupID, 10)
	case m.GroupDN != "":
		group, err = s.Store.GroupByLDAPDN(ctx, m.GroupDN)
		name = "LDAP group " + m.GroupDN
	default:
		group, err = s.onboardGroup(ctx, m.GroupName, m.GroupType)
		name = "group " + m.GroupName
	}
	if errors.Is(err, meta.ErrNotFound) {
		return "", 0, "", fault.NotFoundf("%s not found", name)
	}
	if err != nil {
		return "", 0, "", err
	}
	return meta.MemberGroup, group.ID, group.Name, nil
}

// maxGroupName is the longest group name a group may have.
const maxGroupName = 255

// onboardGroup finds a group by name, creating HTTP and OIDC groups that are not known yet.
func (s *Service) onboardGroup(ctx context.Context, name string, typ int) (meta.Group, error) {
	group, err := s.Store.GroupByName(ctx, name, typ)
	if !errors.Is(err, meta.ErrNotFound) || (typ != meta.GroupHTTP && typ != meta.GroupOIDC) {
		return group, err
	}
	if len(name) > maxGroupName {
		return group, fault.Invalidf("group_name is longer than %d characters", maxGroupName)
	}
	id, err := s.Store.CreateGroup(ctx, meta.Group{Name: name, Type: typ})
	if errors.Is(err, meta.ErrConflict) {
		// Another request onboarded it first.
		return s.Store.GroupByName(ctx, name, typ)
	}
	if err != nil {
		return group, fmt.Errorf("onboard group %s: %w", name, err)
	}
	return s.Store.GroupByID(ctx, id)
}

// SetMemberRole changes a member's role.
func (s *Service) SetMemberRole(ctx context.Context, ref string, byName bool, id int64, role int) error {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMember, rbac.ActUpdate)
	if err != nil {
		return err
	}
	if err := checkRole(role); err != nil {
		return err
	}
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		m, err := tx.MemberByID(ctx, p.ID, id)
		if err != nil {
			return err
		}
		if err := tx.SetMemberRole(ctx, p.ID, id, role); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.MemberUpdated, p.ID, m.EntityName, memberPayload(p, m)))
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return memberNotFound(id, p)
	}
	return err
}

func memberPayload(p meta.Project, m meta.Member) events.Member {
	return events.Member{Project: p.Name, Group: m.EntityType == meta.MemberGroup}
}

// RemoveMember removes a member from the project.
func (s *Service) RemoveMember(ctx context.Context, ref string, byName bool, id int64) error {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMember, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		m, err := tx.DeleteMember(ctx, p.ID, id)
		if err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.MemberRemoved, p.ID, m.EntityName, memberPayload(p, m)))
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return memberNotFound(id, p)
	}
	return err
}
