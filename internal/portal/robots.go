package portal

// A project's robot accounts (/projects/{project}/robots): the list, the create form, the
// secret shown once, disable and enable, a new secret, deletion. Everything goes through the
// robot service (internal/auth/robot), as /api/v2.0/robots does; its rules decide who may do
// what and what a robot may be granted.

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/auth/robot"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

var robotSortKeys = []string{"name", "expires_at", "creation_time"}

type robotRow struct {
	robot.Robot
	Summary   string // what the robot may do, in short
	CanUpdate bool
	CanDelete bool
}

type robotsPage struct {
	Project   string
	Tabs      projectTabs
	Rows      []robotRow
	List      listing
	CanCreate bool
	Notice    string
	// Base is the robots' path; Caption names the table (the robottable partial).
	Base, Caption string
}

// robotNotices are the notices a redirect after an action asks for.
var robotNotices = map[string]string{
	"disabled": "The robot account was disabled.",
	"enabled":  "The robot account was enabled.",
	"deleted":  "The robot account was deleted.",
}

func (h *Handler) listRobots(c *call) error {
	name := c.r.PathValue("project")
	lq, l, err := parseListing(c.r, robotSortKeys)
	if err != nil {
		return err
	}
	v, err := h.Projects.Get(c.ctx(), name, true)
	if err != nil {
		return err
	}
	lq.Filters = append(lq.Filters,
		meta.Filter{Key: "level", Op: meta.OpExact, Values: []string{robot.LevelProject}},
		meta.Filter{Key: "project_id", Op: meta.OpExact, Values: []string{strconv.FormatInt(v.Project.ID, 10)}})
	rs, total, err := h.Robots.List(c.ctx(), lq, false)
	if err != nil {
		return err
	}
	l.Total = total
	pg := robotsPage{Project: v.Project.Name, List: l, Notice: robotNotices[c.r.URL.Query().Get("done")],
		Base: "/projects/" + url.PathEscape(v.Project.Name) + "/robots", Caption: "Robot accounts of " + v.Project.Name}
	if pg.Tabs, err = h.projectTabs(c, v, "robots"); err != nil {
		return err
	}
	can := map[rbac.Action]bool{}
	for _, act := range []rbac.Action{rbac.ActCreate, rbac.ActUpdate, rbac.ActDelete} {
		if can[act], err = h.Projects.Can(c.ctx(), v.Project, rbac.ResRobot, act); err != nil {
			return err
		}
	}
	pg.CanCreate = can[rbac.ActCreate]
	for _, r := range rs {
		pg.Rows = append(pg.Rows, robotRow{Robot: r, Summary: accessSummary(r.Permissions), CanUpdate: can[rbac.ActUpdate], CanDelete: can[rbac.ActDelete]})
	}
	h.render(c.w, c, http.StatusOK, "robots", pg)
	return nil
}

// accessSummary is a robot's permissions in short: "repository: pull, push; artifact: read".
func accessSummary(perms []meta.RobotPermission) string {
	var parts []string
	for _, p := range perms {
		byRes := map[string][]string{}
		var order []string
		for _, a := range p.Access {
			act := a.Action
			if a.Effect == rbac.EffectDeny {
				act = "not " + act
			}
			if _, seen := byRes[a.Resource]; !seen {
				order = append(order, a.Resource)
			}
			byRes[a.Resource] = append(byRes[a.Resource], act)
		}
		for _, res := range order {
			parts = append(parts, res+": "+strings.Join(byRes[res], ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// robotExpiry is when a robot expires, for the list.
func robotExpiry(r robot.Robot) string {
	if r.ExpiresAt < 0 {
		return "never"
	}
	t := time.Unix(r.ExpiresAt, 0)
	if t.Before(time.Now()) {
		return "expired " + formatTime(t)
	}
	return formatTime(t)
}

type permGroup struct {
	Resource string
	Actions  []permChoice
}

type permChoice struct {
	Action  string
	ID      string // the checkbox's id
	Value   string // resource:action
	Checked bool
}

type newRobotPage struct {
	Project     string
	Tabs        projectTabs
	Name        string
	Description string
	Duration    string
	Never       bool
	Groups      []permGroup
	Error       string
}

// defaultAccess is what the form ticks first: pushing and pulling images.
var defaultAccess = []string{"repository:pull", "repository:push"}

// permGroups are the permissions a project robot may be granted (the robot service's list),
// grouped by resource, with those in checked ticked.
func permGroups(grantable []rbac.Permission, checked []string) []permGroup {
	var out []permGroup
	for _, p := range grantable {
		if len(out) == 0 || out[len(out)-1].Resource != string(p.Resource) {
			out = append(out, permGroup{Resource: string(p.Resource)})
		}
		v := string(p.Resource) + ":" + string(p.Action)
		g := &out[len(out)-1]
		g.Actions = append(g.Actions, permChoice{Action: string(p.Action), ID: "perm-" + string(p.Resource) + "-" + string(p.Action), Value: v, Checked: slices.Contains(checked, v)})
	}
	// Repositories first: push and pull are what most robots are for.
	slices.SortStableFunc(out, func(a, b permGroup) int {
		switch {
		case a.Resource == string(rbac.ResRepository) && b.Resource != a.Resource:
			return -1
		case b.Resource == string(rbac.ResRepository) && b.Resource != a.Resource:
			return 1
		}
		return 0
	})
	return out
}

func (h *Handler) newRobotForm(c *call) error {
	v, err := h.Projects.Get(c.ctx(), c.r.PathValue("project"), true)
	if err != nil {
		return err
	}
	pg := newRobotPage{Project: v.Project.Name, Duration: "30"}
	return h.renderRobotForm(c, v, pg, defaultAccess, http.StatusOK)
}

func (h *Handler) renderRobotForm(c *call, v project.View, pg newRobotPage, checked []string, code int) error {
	// Those who may not create robots get the service's refusal rather than a form.
	if err := h.requireProject(c, v, rbac.ResRobot, rbac.ActCreate); err != nil {
		return err
	}
	_, grantable, err := h.Robots.Grantable(c.ctx())
	if err != nil {
		return err
	}
	pg.Groups = permGroups(grantable, checked)
	if pg.Tabs, err = h.projectTabs(c, v, "robots"); err != nil {
		return err
	}
	h.render(c.w, c, code, "robot_new", pg)
	return nil
}

// requireProject refuses, as the services do, a caller who may not act on res in the project:
// for the pages that offer a form before the service is called.
func (h *Handler) requireProject(c *call, v project.View, res rbac.Resource, act rbac.Action) error {
	ok, err := h.Projects.Can(c.ctx(), v.Project, res, act)
	if err != nil || ok {
		return err
	}
	return fault.ErrForbidden
}

type robotSecretPage struct {
	Project string
	Tabs    projectTabs
	Login   string
	Secret  string
	Created bool // a new robot, rather than a new secret
	// CopyScript is the URL of the script behind the copy button.
	CopyScript string
}

func (h *Handler) createRobot(c *call) error {
	name := c.r.PathValue("project")
	v, err := h.Projects.Get(c.ctx(), name, true)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	pg := newRobotPage{Project: v.Project.Name, Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description")),
		Duration: strings.TrimSpace(f.Get("duration")), Never: f.Get("never") == "on"}
	access := f["access"]
	r, secret, err := func() (robot.Robot, string, error) {
		duration := int64(-1)
		if !pg.Never {
			if pg.Duration == "" {
				duration = 0 // the system's default
			} else {
				d, err := strconv.ParseInt(pg.Duration, 10, 64)
				if err != nil || d < 1 {
					return robot.Robot{}, "", fault.Invalidf("The expiry %q is not a whole number of days from 1; tick “Never expires” for a robot that does not expire.", pg.Duration)
				}
				duration = d
			}
		}
		perm := meta.RobotPermission{Kind: meta.RobotKindProject, Namespace: v.Project.Name}
		for _, a := range access {
			res, act, ok := strings.Cut(a, ":")
			if !ok {
				return robot.Robot{}, "", fault.Invalidf("The permission %q is not one of the form's.", a)
			}
			perm.Access = append(perm.Access, meta.RobotAccess{Resource: res, Action: act})
		}
		if len(perm.Access) == 0 {
			return robot.Robot{}, "", fault.Invalidf("Tick at least one permission.")
		}
		return h.Robots.Create(c.ctx(), robot.Spec{Name: pg.Name, Description: pg.Description, Level: robot.LevelProject,
			Duration: duration, Permissions: []meta.RobotPermission{perm}, ProjectsByName: true})
	}()
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok || (code != http.StatusBadRequest && code != http.StatusConflict) {
			return err
		}
		pg.Error = msg
		return h.renderRobotForm(c, v, pg, access, code)
	}
	return h.showSecret(c, v, robotSecretPage{Login: r.Login, Secret: secret, Created: true}, http.StatusCreated)
}

// showSecret shows a robot's secret, this once: the page is never stored (render's no-store)
// and the secret is nowhere else to be read again.
func (h *Handler) showSecret(c *call, v project.View, pg robotSecretPage, code int) error {
	pg.Project = v.Project.Name
	pg.CopyScript = h.assets.url("copy.js")
	var err error
	if pg.Tabs, err = h.projectTabs(c, v, "robots"); err != nil {
		return err
	}
	h.render(c.w, c, code, "robot_secret", pg)
	return nil
}

// projectRobot is the robot with the id in the path, in the project in the path: a robot of
// another project is not found here.
func (h *Handler) projectRobot(c *call) (project.View, robot.Robot, error) {
	v, err := h.Projects.Get(c.ctx(), c.r.PathValue("project"), true)
	if err != nil {
		return v, robot.Robot{}, err
	}
	id, err := strconv.ParseInt(c.r.PathValue("robot"), 10, 64)
	if err != nil || id <= 0 {
		return v, robot.Robot{}, fault.NotFoundf("There is no robot account %q in project %s.", c.r.PathValue("robot"), v.Project.Name)
	}
	r, err := h.Robots.Get(c.ctx(), id)
	if err != nil {
		return v, r, err
	}
	if r.ProjectID != v.Project.ID {
		return v, r, fault.NotFoundf("There is no robot account %d in project %s.", id, v.Project.Name)
	}
	return v, r, nil
}

func (h *Handler) robotsURL(project, done string) string {
	u := "/projects/" + url.PathEscape(project) + "/robots"
	if done != "" {
		u += "?done=" + done
	}
	return u
}

// setRobotDisabled disables or enables a robot: the robot as it is, with disable changed, as
// a client of PUT /api/v2.0/robots/{id} sends it.
func (h *Handler) setRobotDisabled(c *call) error {
	v, r, err := h.projectRobot(c)
	if err != nil {
		return err
	}
	disable := c.r.PostForm.Get("disable") == "true"
	d := r.Duration
	err = h.Robots.Update(c.ctx(), r.ID, robot.Change{Name: r.Login, Level: r.Level(), Description: r.Description,
		Disabled: disable, Duration: &d, Permissions: r.Permissions, ProjectsByName: true})
	if err != nil {
		return err
	}
	done := "enabled"
	if disable {
		done = "disabled"
	}
	http.Redirect(c.w, c.r, h.robotsURL(v.Project.Name, done), http.StatusSeeOther)
	return nil
}

func (h *Handler) refreshRobotSecret(c *call) error {
	v, r, err := h.projectRobot(c)
	if err != nil {
		return err
	}
	secret, err := h.Robots.RefreshSecret(c.ctx(), r.ID, "")
	if err != nil {
		return err
	}
	return h.showSecret(c, v, robotSecretPage{Login: r.Login, Secret: secret}, http.StatusOK)
}

type deleteRobotPage struct {
	Project string
	Robot   robot.Robot
}

func (h *Handler) deleteRobotForm(c *call) error {
	v, r, err := h.projectRobot(c)
	if err != nil {
		return err
	}
	if err := h.requireProject(c, v, rbac.ResRobot, rbac.ActDelete); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "robot_delete", deleteRobotPage{Project: v.Project.Name, Robot: r})
	return nil
}

func (h *Handler) deleteRobot(c *call) error {
	v, r, err := h.projectRobot(c)
	if err != nil {
		return err
	}
	if err := h.Robots.Delete(c.ctx(), r.ID); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, h.robotsURL(v.Project.Name, "deleted"), http.StatusSeeOther)
	return nil
}
