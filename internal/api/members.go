package api

// Project members: Harbor's /projects/{project_name_or_id}/members endpoints (the rules are
// project.Service's).

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
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

func (r memberReq) newMember() project.NewMember {
	m := project.NewMember{Role: r.RoleID}
	if u := r.MemberUser; u != nil {
		m.UserID, m.Username = u.UserID, u.Username
	}
	if g := r.MemberGroup; g != nil {
		m.GroupID, m.GroupDN, m.GroupName, m.GroupType = g.ID, g.LDAPGroupDN, g.GroupName, g.GroupType
	}
	return m
}

func (h *Handler) listMembers(c *call) error {
	page, size, err := pagination(c.r.URL.Query())
	if err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	ms, total, err := h.Projects.Members(c.r.Context(), ref, byName, c.r.URL.Query().Get("entityname"), (page-1)*size, size)
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
	id, err := pathID(c, "mid", "member")
	if err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	m, err := h.Projects.Member(c.r.Context(), ref, byName, id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toMemberJSON(m))
	return nil
}

func (h *Handler) createMember(c *call) error {
	var req memberReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	id, err := h.Projects.AddMember(c.r.Context(), ref, byName, req.newMember())
	if err != nil {
		return err
	}
	loc := url.PathEscape(c.r.PathValue("project_name_or_id"))
	return created(c, base+"/projects/"+loc+"/members/"+strconv.FormatInt(id, 10))
}

func (h *Handler) updateMember(c *call) error {
	id, err := pathID(c, "mid", "member")
	if err != nil {
		return err
	}
	var req roleReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Projects.SetMemberRole(c.r.Context(), ref, byName, id, req.RoleID); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteMember(c *call) error {
	id, err := pathID(c, "mid", "member")
	if err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Projects.RemoveMember(c.r.Context(), ref, byName, id); err != nil {
		return err
	}
	return ok(c)
}
