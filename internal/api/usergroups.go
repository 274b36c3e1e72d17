package api

// User groups: Harbor's /usergroups endpoints over the group service (internal/auth/group).

import (
	"net/http"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
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

func (req groupJSON) toGroup() meta.Group {
	return meta.Group{Name: req.GroupName, Type: req.GroupType, LDAPDN: req.LDAPGroupDN}
}

func (h *Handler) listGroups(c *call) error {
	q := c.r.URL.Query()
	page, size, err := pagination(q)
	if err != nil {
		return err
	}
	gs, total, err := h.Groups.List(c.r.Context(), meta.GroupFilter{Name: q.Get("group_name"), LDAPDN: q.Get("ldap_group_dn"), Offset: (page - 1) * size, Limit: size})
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
	q := c.r.URL.Query()
	page, size, err := pagination(q)
	if err != nil {
		return err
	}
	gs, total, err := h.Groups.Search(c.r.Context(), q.Get("groupname"), (page-1)*size, size)
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
	var req groupJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	id, err := h.Groups.Create(c.r.Context(), req.toGroup())
	if err != nil {
		return err
	}
	return created(c, base+"/usergroups/"+strconv.FormatInt(id, 10))
}

func (h *Handler) getGroup(c *call) error {
	id, err := pathID(c, "group_id", "group")
	if err != nil {
		return err
	}
	g, err := h.Groups.Get(c.r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toGroupJSON(g))
	return nil
}

func (h *Handler) updateGroup(c *call) error {
	id, err := pathID(c, "group_id", "group")
	if err != nil {
		return err
	}
	var req groupJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Groups.Update(c.r.Context(), id, req.toGroup()); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteGroup(c *call) error {
	id, err := pathID(c, "group_id", "group")
	if err != nil {
		return err
	}
	if err := h.Groups.Delete(c.r.Context(), id); err != nil {
		return err
	}
	return ok(c)
}
