package portal

// A project's members (/projects/{project}/members): the list, adding a user with a role,
// changing a member's role, removing a member. The member calls of project.Service decide, as
// for /api/v2.0/projects/{name}/members.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// roleChoices are the roles, most powerful first, as Harbor's portal lists them.
var roleChoices = []roleChoice{
	{meta.RoleProjectAdmin, "Project admin"}, {meta.RoleMaintainer, "Maintainer"}, {meta.RoleDeveloper, "Developer"},
	{meta.RoleGuest, "Guest"}, {meta.RoleLimitedGuest, "Limited guest"},
}

type roleChoice struct {
	ID    int
	Label string
}

type membersPage struct {
	Project   string
	Tabs      projectTabs
	Members   []meta.Member
	List      listing
	Roles     []roleChoice
	CanAdd    bool
	CanUpdate bool
	CanRemove bool
	Notice    string
	Error     string
	// Username, Kind ("user" or a group type: "http", "oidc") and Role are the add form's values.
	Username string
	Kind     string
	Role     int
}

// memberKinds are what the add form adds: a user, or a group of a type a name can onboard
// (as POST /api/v2.0/projects/{name}/members with member_group does).
var memberKinds = map[string]int{"user": 0, "http": meta.GroupHTTP, "oidc": meta.GroupOIDC}

var memberNotices = map[string]string{
	"added":   "The member was added.",
	"changed": "The member's role was changed.",
	"removed": "The member was removed.",
}

func (h *Handler) listMembers(c *call) error {
	v, err := h.Projects.Get(c.ctx(), c.r.PathValue("project"), true)
	if err != nil {
		return err
	}
	pg := membersPage{Role: meta.RoleDeveloper, Notice: memberNotices[c.r.URL.Query().Get("done")]}
	return h.renderMembers(c, v, pg, http.StatusOK)
}

func (h *Handler) renderMembers(c *call, v project.View, pg membersPage, code int) error {
	_, l, err := parseListing(c.r, nil)
	if err != nil {
		return err
	}
	pg.Project, pg.Roles = v.Project.Name, roleChoices
	members, total, err := h.Projects.Members(c.ctx(), v.Project.Name, true, l.Filter, (l.Page-1)*l.PageSize, l.PageSize)
	if err != nil {
		return err
	}
	l.Total = total
	pg.Members, pg.List = members, l
	if pg.Tabs, err = h.projectTabs(c, v, "members"); err != nil {
		return err
	}
	for act, ok := range map[rbac.Action]*bool{rbac.ActCreate: &pg.CanAdd, rbac.ActUpdate: &pg.CanUpdate, rbac.ActDelete: &pg.CanRemove} {
		if *ok, err = h.Projects.Can(c.ctx(), v.Project, rbac.ResMember, act); err != nil {
			return err
		}
	}
	h.render(c.w, c, code, "members", pg)
	return nil
}

func (h *Handler) membersURL(project, done string) string {
	return "/projects/" + url.PathEscape(project) + "/members?done=" + done
}

func formRole(f url.Values) (int, error) {
	role, err := strconv.Atoi(f.Get("role"))
	if err != nil {
		return 0, fault.Invalidf("Choose a role.")
	}
	return role, nil
}

func (h *Handler) addMember(c *call) error {
	v, err := h.Projects.Get(c.ctx(), c.r.PathValue("project"), true)
	if err != nil {
		return err
	}
	pg := membersPage{Username: strings.TrimSpace(c.r.PostForm.Get("username")), Kind: c.r.PostForm.Get("kind")}
	if pg.Kind == "" {
		pg.Kind = "user"
	}
	err = func() error {
		groupType, ok := memberKinds[pg.Kind]
		if !ok {
			return fault.Invalidf("A member is a user, an HTTP group or an OIDC group, not %q.", pg.Kind)
		}
		if pg.Username == "" {
			if groupType != 0 {
				return fault.Invalidf("Enter the name of the group to add.")
			}
			return fault.Invalidf("Enter the name of the user to add.")
		}
		role, err := formRole(c.r.PostForm)
		if err != nil {
			return err
		}
		pg.Role = role
		m := project.NewMember{Role: role, Username: pg.Username}
		if groupType != 0 {
			m = project.NewMember{Role: role, GroupName: pg.Username, GroupType: groupType}
		}
		_, err = h.Projects.AddMember(c.ctx(), v.Project.Name, true, m)
		return err
	}()
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok || code == http.StatusForbidden || code == http.StatusUnauthorized {
			return err
		}
		pg.Error = msg
		return h.renderMembers(c, v, pg, code)
	}
	http.Redirect(c.w, c.r, h.membersURL(v.Project.Name, "added"), http.StatusSeeOther)
	return nil
}

func memberID(c *call) (int64, error) {
	id, err := strconv.ParseInt(c.r.PathValue("member"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.NotFoundf("There is no member %q.", c.r.PathValue("member"))
	}
	return id, nil
}

func (h *Handler) setMemberRole(c *call) error {
	name := c.r.PathValue("project")
	id, err := memberID(c)
	if err != nil {
		return err
	}
	role, err := formRole(c.r.PostForm)
	if err != nil {
		return err
	}
	if err := h.Projects.SetMemberRole(c.ctx(), name, true, id, role); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, h.membersURL(name, "changed"), http.StatusSeeOther)
	return nil
}

type removeMemberPage struct {
	Project string
	Member  meta.Member
}

func (h *Handler) removeMemberForm(c *call) error {
	name := c.r.PathValue("project")
	id, err := memberID(c)
	if err != nil {
		return err
	}
	m, err := h.Projects.Member(c.ctx(), name, true, id)
	if err != nil {
		return err
	}
	v, err := h.Projects.Get(c.ctx(), name, true)
	if err != nil {
		return err
	}
	if err := h.requireProject(c, v, rbac.ResMember, rbac.ActDelete); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "member_remove", removeMemberPage{Project: v.Project.Name, Member: m})
	return nil
}

func (h *Handler) removeMember(c *call) error {
	name := c.r.PathValue("project")
	id, err := memberID(c)
	if err != nil {
		return err
	}
	if err := h.Projects.RemoveMember(c.ctx(), name, true, id); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, h.membersURL(name, "removed"), http.StatusSeeOther)
	return nil
}
