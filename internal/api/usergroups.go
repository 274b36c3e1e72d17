package api

// User groups: Harbor's /usergroups endpoints. Groups come from an identity provider (LDAP
// groups by DN, HTTP and OIDC groups by name); system administrators (or robots granted
// "user-group") manage them, any signed-in user may search them to add one as a project member.
// Which users are in a group is kept in the metadata store (meta.SetUserGroups) by whatever
// authenticates them.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

func (h *Handler) userGroupRoutes(r route) {
	r("GET /usergroups", h.listGroups)
	r("POST /usergroups", h.createGroup)
	r("GET /usergroups/search", h.searchGroups)
	r("GET /usergroups/{group_id}", h.getGroup)
	r("PUT /usergroups/{group_id}", h.updateGroup)
	r("DELETE /usergroups/{group_id}", h.deleteGroup)
}

// groupJSON is Harbor's UserGroup.
type groupJSON struct {
	ID          int64  `json:"id"`
	GroupName   string `json:"group_name"`
	GroupType   int    `json:"group_type"`
	LDAPGroupDN string `json:"ldap_group_dn"`
}

// groupSearchJSON is Harbor's UserGroupSearchItem.
type groupSearchJSON struct {
	ID        int64  `json:"id"`
	GroupName string `json:"group_name"`
	GroupType int    `json:"group_type"`
}

func toGroupJSON(g meta.Group) groupJSON {
	return groupJSON{ID: g.ID, GroupName: g.Name, GroupType: g.Type, LDAPGroupDN: g.LDAPDN}
}

const maxGroupNameLen = 255

func checkGroupName(name string) error {
	if name == "" {
		return badRequest("group_name is required")
	}
	if len(name) > maxGroupNameLen {
		return badRequest(fmt.Sprintf("group_name is longer than %d characters", maxGroupNameLen))
	}
	return nil
}

func groupNotFound(id int64) error { return notFound(fmt.Sprintf("user group %d not found", id)) }

func (h *Handler) listGroups(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResUserGroup, rbac.ActList); err != nil {
		return err
	}
	q := c.r.URL.Query()
	page, size, err := pagination(q)
	if err != nil {
		return err
	}
	gs, total, err := h.DB.ListGroups(c.r.Context(), meta.GroupFilter{Name: q.Get("group_name"), LDAPDN: q.Get("ldap_group_dn"), Offset: (page - 1) * size, Limit: size})
	if err != nil {
		return err
	}
	out := make([]groupJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, toGroupJSON(g))
	}
	setPageHeaders(c.w, c.r, page, size, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) searchGroups(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	q := c.r.URL.Query()
	name := q.Get("groupname")
	if name == "" {
		return badRequest("groupname is required")
	}
	page, size, err := pagination(q)
	if err != nil {
		return err
	}
	gs, total, err := h.DB.ListGroups(c.r.Context(), meta.GroupFilter{Name: name, Offset: (page - 1) * size, Limit: size})
	if err != nil {
		return err
	}
	out := make([]groupSearchJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, groupSearchJSON{ID: g.ID, GroupName: g.Name, GroupType: g.Type})
	}
	setPageHeaders(c.w, c.r, page, size, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) createGroup(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResUserGroup, rbac.ActCreate); err != nil {
		return err
	}
	var req groupJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.GroupType == 0 {
		// Harbor picks the type from the authentication mode; with a DN it can only be LDAP.
		req.GroupType = meta.GroupHTTP
		if req.LDAPGroupDN != "" {
			req.GroupType = meta.GroupLDAP
		}
	}
	switch req.GroupType {
	case meta.GroupLDAP:
		if req.LDAPGroupDN == "" {
			return badRequest("ldap_group_dn is required for an LDAP group (group_type 1)")
		}
	case meta.GroupHTTP, meta.GroupOIDC:
		if req.LDAPGroupDN != "" {
			return badRequest("ldap_group_dn is only for LDAP groups (group_type 1)")
		}
	default:
		return badRequest(fmt.Sprintf("invalid group_type %d: 1 (LDAP), 2 (HTTP) or 3 (OIDC)", req.GroupType))
	}
	if err := checkGroupName(req.GroupName); err != nil {
		return err
	}
	id, err := h.DB.CreateGroup(c.r.Context(), meta.Group{Name: req.GroupName, Type: req.GroupType, LDAPDN: req.LDAPGroupDN})
	if errors.Is(err, meta.ErrConflict) {
		return conflict(fmt.Sprintf("the user group %s already exists", req.GroupName))
	}
	if err != nil {
		return err
	}
	return created(c, base+"/usergroups/"+strconv.FormatInt(id, 10))
}

func (h *Handler) getGroup(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResUserGroup, rbac.ActRead); err != nil {
		return err
	}
	id, err := pathID(c, "group_id", "group")
	if err != nil {
		return err
	}
	g, err := h.DB.GroupByID(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return groupNotFound(id)
	}
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toGroupJSON(g))
	return nil
}

// updateGroup renames a group: a group's type and DN are what identify it at its provider,
// so they cannot change (Harbor likewise only updates the name).
func (h *Handler) updateGroup(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResUserGroup, rbac.ActUpdate); err != nil {
		return err
	}
	id, err := pathID(c, "group_id", "group")
	if err != nil {
		return err
	}
	var req groupJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	g, err := h.DB.GroupByID(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return groupNotFound(id)
	}
	if err != nil {
		return err
	}
	if (req.GroupType != 0 && req.GroupType != g.Type) || (req.LDAPGroupDN != "" && req.LDAPGroupDN != g.LDAPDN) {
		return badRequest("only the group_name of a user group can be changed")
	}
	if err := checkGroupName(req.GroupName); err != nil {
		return err
	}
	err = h.DB.RenameGroup(c.r.Context(), id, req.GroupName)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return groupNotFound(id)
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("the user group %s already exists", req.GroupName))
	case err != nil:
		return err
	}
	return ok(c)
}

func (h *Handler) deleteGroup(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResUserGroup, rbac.ActDelete); err != nil {
		return err
	}
	id, err := pathID(c, "group_id", "group")
	if err != nil {
		return err
	}
	err = h.DB.DeleteGroup(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return groupNotFound(id)
	}
	if err != nil {
		return err
	}
	return ok(c)
}
