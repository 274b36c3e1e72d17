package api

// Project members: Harbor's /projects/{project_name_or_id}/members endpoints. Users and user
// groups are members with one of five roles; guests and up read the list, project admins manage
// it (rbac resource "member"), and every change is audited.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// memberRoutes registers the endpoints for project members.
func (h *Handler) memberRoutes(r route) {
	r("GET /projects/{project_name_or_id}/members", h.listMembers)
	r("POST /projects/{project_name_or_id}/members", h.createMember)
	r("GET /projects/{project_name_or_id}/members/{mid}", h.getMember)
	r("PUT /projects/{project_name_or_id}/members/{mid}", h.updateMember)
	r("DELETE /projects/{project_name_or_id}/members/{mid}", h.deleteMember)
}

// memberJSON is Harbor's ProjectMemberEntity.
type memberJSON struct {
	ID         int64  `json:"id"`
	ProjectID  int64  `json:"project_id"`
	EntityName string `json:"entity_name"`
	RoleName   string `json:"role_name"`
	RoleID     int    `json:"role_id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
}

func toMemberJSON(m meta.Member) memberJSON {
	return memberJSON{ID: m.ID, ProjectID: m.ProjectID, EntityName: m.EntityName, RoleName: meta.RoleNames[m.RoleID],
		RoleID: m.RoleID, EntityID: m.EntityID, EntityType: m.EntityType}
}

// memberReq is Harbor's ProjectMember: a role and either a user or a group.
type memberReq struct {
	RoleID      int            `json:"role_id"`
	MemberUser  *userEntityReq `json:"member_user"`
	MemberGroup *groupJSON     `json:"member_group"`
}

// userEntityReq is Harbor's UserEntity: a user by id or by name.
type userEntityReq struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
}

// roleReq is Harbor's RoleRequest.
type roleReq struct {
	RoleID int `json:"role_id"`
}

func checkRole(id int) error {
	if _, ok := meta.RoleNames[id]; !ok {
		return badRequest(fmt.Sprintf("invalid role id %d: 1 (project admin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limited guest)", id))
	}
	return nil
}

// memberProject resolves the project of a members endpoint and checks the caller's right.
func (h *Handler) memberProject(c *call, act rbac.Action) (meta.Project, error) {
	p, err := h.project(c, pathValue(c, "project_name_or_id"))
	if err != nil {
		return p, err
	}
	return p, h.authorize(c, p, rbac.ResMember, act)
}

func memberNotFound(id int64, p meta.Project) error {
	return notFound(fmt.Sprintf("member %d not found in project %s", id, p.Name))
}

func (h *Handler) listMembers(c *call) error {
	p, err := h.memberProject(c, rbac.ActList)
	if err != nil {
		return err
	}
	page, size, err := pagination(c.r.URL.Query())
	if err != nil {
		return err
	}
	ms, total, err := h.DB.ListMembers(c.r.Context(), p.ID, c.r.URL.Query().Get("entityname"), (page-1)*size, size)
	if err != nil {
		return err
	}
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, toMemberJSON(m))
	}
	setPageHeaders(c.w, c.r, page, size, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) getMember(c *call) error {
	p, err := h.memberProject(c, rbac.ActRead)
	if err != nil {
		return err
	}
	id, err := pathID(c, "mid", "member")
	if err != nil {
		return err
	}
	m, err := h.DB.MemberByID(c.r.Context(), p.ID, id)
	if errors.Is(err, meta.ErrNotFound) {
		return memberNotFound(id, p)
	}
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toMemberJSON(m))
	return nil
}

func (h *Handler) createMember(c *call) error {
	p, err := h.memberProject(c, rbac.ActCreate)
	if err != nil {
		return err
	}
	var req memberReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := checkRole(req.RoleID); err != nil {
		return err
	}
	entityType, entityID, name, err := h.memberEntity(c, req)
	if err != nil {
		return err
	}
	id, err := h.DB.AddMember(c.r.Context(), p.ID, entityType, entityID, req.RoleID)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("the member %s already exists in project %s", name, p.Name))
	case errors.Is(err, meta.ErrNotFound):
		// Deleted between the lookup and the insert.
		return notFound(fmt.Sprintf("%s not found", name))
	case err != nil:
		return err
	}
	h.audit(c, p.ID, "create", "project_member", name)
	ref := url.PathEscape(c.r.PathValue("project_name_or_id"))
	return created(c, base+"/projects/"+ref+"/members/"+strconv.FormatInt(id, 10))
}

// memberEntity resolves the user or group a new membership is for. As in Harbor a user is named
// by id or name; a group by id, LDAP DN or name, and an HTTP or OIDC group named for the first
// time is recorded ("onboarded"), since those groups exist only in what the identity provider
// says.
func (h *Handler) memberEntity(c *call, req memberReq) (entityType string, id int64, name string, err error) {
	ctx := c.r.Context()
	if u := req.MemberUser; u != nil && (u.UserID != 0 || u.Username != "") {
		var user meta.User
		switch {
		case u.UserID < 0:
			return "", 0, "", badRequest(fmt.Sprintf("invalid user_id %d", u.UserID))
		case u.UserID > 0:
			user, err = h.DB.UserByID(ctx, u.UserID)
			name = "user " + strconv.FormatInt(u.UserID, 10)
		default:
			user, err = h.DB.UserByName(ctx, u.Username)
			name = "user " + u.Username
		}
		if errors.Is(err, meta.ErrNotFound) {
			return "", 0, "", notFound(name + " not found")
		}
		if err != nil {
			return "", 0, "", err
		}
		return meta.MemberUser, user.ID, user.Username, nil
	}
	g := req.MemberGroup
	if g == nil || (g.ID == 0 && g.GroupName == "" && g.LDAPGroupDN == "") {
		return "", 0, "", badRequest("the member user and member group should not both be empty")
	}
	var group meta.Group
	switch {
	case g.ID < 0:
		return "", 0, "", badRequest(fmt.Sprintf("invalid group id %d", g.ID))
	case g.ID > 0:
		group, err = h.DB.GroupByID(ctx, g.ID)
		name = "group " + strconv.FormatInt(g.ID, 10)
	case g.LDAPGroupDN != "":
		group, err = h.DB.GroupByLDAPDN(ctx, g.LDAPGroupDN)
		name = "LDAP group " + g.LDAPGroupDN
	default:
		group, err = h.onboardGroup(c, g)
		name = "group " + g.GroupName
	}
	if errors.Is(err, meta.ErrNotFound) {
		return "", 0, "", notFound(name + " not found")
	}
	if err != nil {
		return "", 0, "", err
	}
	return meta.MemberGroup, group.ID, group.Name, nil
}

// onboardGroup finds a group by name, creating HTTP and OIDC groups that are not known yet.
func (h *Handler) onboardGroup(c *call, g *groupJSON) (meta.Group, error) {
	ctx := c.r.Context()
	group, err := h.DB.GroupByName(ctx, g.GroupName, g.GroupType)
	if !errors.Is(err, meta.ErrNotFound) || (g.GroupType != meta.GroupHTTP && g.GroupType != meta.GroupOIDC) {
		return group, err
	}
	if err := checkGroupName(g.GroupName); err != nil {
		return group, err
	}
	id, err := h.DB.CreateGroup(ctx, meta.Group{Name: g.GroupName, Type: g.GroupType})
	if errors.Is(err, meta.ErrConflict) {
		// Another request onboarded it first.
		return h.DB.GroupByName(ctx, g.GroupName, g.GroupType)
	}
	if err != nil {
		return group, err
	}
	return h.DB.GroupByID(ctx, id)
}

func (h *Handler) updateMember(c *call) error {
	p, err := h.memberProject(c, rbac.ActUpdate)
	if err != nil {
		return err
	}
	id, err := pathID(c, "mid", "member")
	if err != nil {
		return err
	}
	var req roleReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := checkRole(req.RoleID); err != nil {
		return err
	}
	m, err := h.DB.MemberByID(c.r.Context(), p.ID, id)
	if err == nil {
		err = h.DB.SetMemberRole(c.r.Context(), p.ID, id, req.RoleID)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return memberNotFound(id, p)
	}
	if err != nil {
		return err
	}
	h.audit(c, p.ID, "update", "project_member", m.EntityName)
	return ok(c)
}

func (h *Handler) deleteMember(c *call) error {
	p, err := h.memberProject(c, rbac.ActDelete)
	if err != nil {
		return err
	}
	id, err := pathID(c, "mid", "member")
	if err != nil {
		return err
	}
	m, err := h.DB.DeleteMember(c.r.Context(), p.ID, id)
	if errors.Is(err, meta.ErrNotFound) {
		return memberNotFound(id, p)
	}
	if err != nil {
		return err
	}
	h.audit(c, p.ID, "delete", "project_member", m.EntityName)
	return ok(c)
}
