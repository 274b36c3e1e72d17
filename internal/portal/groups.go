package portal

// User groups (/admin/groups): the list, creating an HTTP or OIDC group, renaming and
// deleting one. The group service (internal/auth/group) decides, as for /api/v2.0/usergroups.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// groupTypes are the group types the create form offers: LDAP groups come from an LDAP
// directory, which Berth's local accounts do not use.
var groupTypes = []groupType{{meta.GroupHTTP, "HTTP"}, {meta.GroupOIDC, "OIDC"}}

type groupType struct {
	Value int
	Label string
}

// groupTypeName names a group type as Harbor's portal does.
func groupTypeName(t int) string {
	switch t {
	case meta.GroupLDAP:
		return "LDAP"
	case meta.GroupHTTP:
		return "HTTP"
	case meta.GroupOIDC:
		return "OIDC"
	}
	return "Unknown"
}

var groupSortKeys = []string{"name", "type", "creation_time"}

type groupRow struct {
	meta.Group
	TypeName string
}

type groupsPage struct {
	Groups    []groupRow
	List      listing
	Types     []groupType
	CanCreate bool
	CanUpdate bool
	CanDelete bool
	// The create form's values, and the service's refusal of them.
	Name   string
	Type   int
	Notice string
	Error  string
}

var groupNotices = map[string]string{
	"created": "The user group was created.",
	"renamed": "The user group was renamed.",
	"deleted": "The user group was deleted.",
}

func (h *Handler) listGroups(c *call) error {
	pg := groupsPage{Type: meta.GroupHTTP, Notice: groupNotices[c.r.URL.Query().Get("done")]}
	return h.renderGroups(c, pg, http.StatusOK)
}

// renderGroups shows one page of groups with the create form.
func (h *Handler) renderGroups(c *call, pg groupsPage, code int) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	lq, l, err := parseListing(c.r, groupSortKeys)
	if err != nil {
		return err
	}
	gs, total, err := h.Groups.List(c.ctx(), meta.GroupFilter{Name: l.Filter, Offset: lq.Offset, Limit: lq.Limit, Sort: lq.Sort})
	if err != nil {
		return err
	}
	l.Total = total
	pg.List, pg.Types = l, groupTypes
	for _, g := range gs {
		pg.Groups = append(pg.Groups, groupRow{Group: g, TypeName: groupTypeName(g.Type)})
	}
	for act, can := range map[rbac.Action]*bool{rbac.ActCreate: &pg.CanCreate, rbac.ActUpdate: &pg.CanUpdate, rbac.ActDelete: &pg.CanDelete} {
		if *can, err = h.Groups.Can(c.ctx(), act); err != nil {
			return err
		}
	}
	h.render(c.w, c, code, "groups", pg)
	return nil
}

func (h *Handler) createGroup(c *call) error {
	f := c.r.PostForm
	pg := groupsPage{Name: strings.TrimSpace(f.Get("name"))}
	var err error
	if pg.Type, err = strconv.Atoi(f.Get("type")); err != nil {
		err = fault.Invalidf("The group type %q is not one of the form's.", f.Get("type"))
	} else {
		_, err = h.Groups.Create(c.ctx(), meta.Group{Name: pg.Name, Type: pg.Type})
	}
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok || (code != http.StatusBadRequest && code != http.StatusConflict) {
			return err
		}
		pg.Error = msg
		return h.renderGroups(c, pg, code)
	}
	http.Redirect(c.w, c.r, "/admin/groups?done=created", http.StatusSeeOther)
	return nil
}

// pathGroup is the group with the id in the path.
func (h *Handler) pathGroup(c *call) (meta.Group, error) {
	if err := requireSignedIn(c); err != nil {
		return meta.Group{}, err
	}
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return meta.Group{}, fault.NotFoundf("There is no user group %q.", c.r.PathValue("id"))
	}
	return h.Groups.Get(c.ctx(), id)
}

// requireGroups refuses, as the group service does, a caller who may not act on groups: for
// the forms offered before the service is called.
func (h *Handler) requireGroups(c *call, act rbac.Action) error {
	ok, err := h.Groups.Can(c.ctx(), act)
	if err != nil || ok {
		return err
	}
	return fault.ErrForbidden
}

type groupEditPage struct {
	Group meta.Group
	Name  string
	Error string
}

func (h *Handler) editGroupForm(c *call) error {
	g, err := h.pathGroup(c)
	if err != nil {
		return err
	}
	if err := h.requireGroups(c, rbac.ActUpdate); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "group_edit", groupEditPage{Group: g, Name: g.Name})
	return nil
}

// renameGroup changes a group's name, as PUT /api/v2.0/usergroups/{id} does: its type and DN
// stay.
func (h *Handler) renameGroup(c *call) error {
	g, err := h.pathGroup(c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.r.PostForm.Get("name"))
	if err := h.Groups.Update(c.ctx(), g.ID, meta.Group{Name: name}); err != nil {
		code, msg, ok := refusal(err)
		if !ok || (code != http.StatusBadRequest && code != http.StatusConflict) {
			return err
		}
		h.render(c.w, c, code, "group_edit", groupEditPage{Group: g, Name: name, Error: msg})
		return nil
	}
	http.Redirect(c.w, c.r, "/admin/groups?done=renamed", http.StatusSeeOther)
	return nil
}

func (h *Handler) deleteGroupForm(c *call) error {
	g, err := h.pathGroup(c)
	if err != nil {
		return err
	}
	if err := h.requireGroups(c, rbac.ActDelete); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "group_delete", groupEditPage{Group: g})
	return nil
}

func (h *Handler) deleteGroup(c *call) error {
	g, err := h.pathGroup(c)
	if err != nil {
		return err
	}
	if err := h.Groups.Delete(c.ctx(), g.ID); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, "/admin/groups?done=deleted", http.StatusSeeOther)
	return nil
}
