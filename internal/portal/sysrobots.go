package portal

// System robot accounts (/admin/robots): robots with system permissions, or project
// permissions in every project or in several. The list, the create form, the secret shown
// once, disable and enable, a new secret, deletion — through the robot service
// (internal/auth/robot) as /api/v2.0/robots with level "system" does; its rules decide who may
// do what and what may be granted.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/auth/robot"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

type sysRobotsPage struct {
	Rows      []robotRow
	List      listing
	CanCreate bool
	Notice    string
	// Base is the robots' path; Caption names the table (the robottable partial).
	Base, Caption string
}

func (h *Handler) listSystemRobots(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	lq, l, err := parseListing(c.r, robotSortKeys)
	if err != nil {
		return err
	}
	lq.Filters = append(lq.Filters, meta.Filter{Key: "level", Op: meta.OpExact, Values: []string{robot.LevelSystem}})
	rs, total, err := h.Robots.List(c.ctx(), lq, false)
	if err != nil {
		return err
	}
	l.Total = total
	pg := sysRobotsPage{List: l, Notice: robotNotices[c.r.URL.Query().Get("done")], Base: "/admin/robots", Caption: "System robot accounts"}
	can := map[rbac.Action]bool{}
	for _, act := range []rbac.Action{rbac.ActCreate, rbac.ActUpdate, rbac.ActDelete} {
		if can[act], err = h.Robots.CanSystem(c.ctx(), act); err != nil {
			return err
		}
	}
	pg.CanCreate = can[rbac.ActCreate]
	for _, r := range rs {
		pg.Rows = append(pg.Rows, robotRow{Robot: r, Summary: scopedAccessSummary(r.Permissions), CanUpdate: can[rbac.ActUpdate], CanDelete: can[rbac.ActDelete]})
	}
	h.render(c.w, c, http.StatusOK, "sysrobots", pg)
	return nil
}

// scopedAccessSummary is a system robot's permissions with where they hold: "System: robot:
// list; All projects: repository: pull, push; Project web: artifact: read".
func scopedAccessSummary(perms []meta.RobotPermission) string {
	var parts []string
	for _, p := range perms {
		scope := "Project " + p.Namespace
		switch {
		case p.Kind == meta.RobotKindSystem:
			scope = "System"
		case p.Namespace == "*":
			scope = "All projects"
		}
		parts = append(parts, scope+" — "+accessSummary([]meta.RobotPermission{p}))
	}
	return strings.Join(parts, "; ")
}

type newSysRobotPage struct {
	Name        string
	Description string
	Duration    string
	Never       bool
	// AllProjects grants the project permissions in every project; otherwise in Projects
	// (names, separated by commas or spaces).
	AllProjects bool
	Projects    string
	System      []permGroup
	Project     []permGroup
	Error       string
}

func (h *Handler) newSystemRobotForm(c *call) error {
	pg := newSysRobotPage{Duration: "30", AllProjects: true}
	return h.renderSystemRobotForm(c, pg, nil, defaultAccess, http.StatusOK)
}

// prefixed gives a form's permission checkboxes ids of their own (the system and the project
// lists share resource names).
func prefixed(gs []permGroup, prefix string) []permGroup {
	for i := range gs {
		for j := range gs[i].Actions {
			gs[i].Actions[j].ID = prefix + strings.TrimPrefix(gs[i].Actions[j].ID, "perm-")
		}
	}
	return gs
}

func (h *Handler) renderSystemRobotForm(c *call, pg newSysRobotPage, system, project []string, code int) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	// Those who may not create system robots get the service's refusal rather than a form.
	ok, err := h.Robots.CanSystem(c.ctx(), rbac.ActCreate)
	if err != nil {
		return err
	}
	if !ok {
		return fault.ErrForbidden
	}
	sys, proj, err := h.Robots.Grantable(c.ctx())
	if err != nil {
		return err
	}
	pg.System = prefixed(permGroups(sys, system), "sys-")
	pg.Project = prefixed(permGroups(proj, project), "proj-")
	h.render(c.w, c, code, "sysrobot_new", pg)
	return nil
}

// sysRobotPermissions are the permissions the form asks for, as the API takes them.
func sysRobotPermissions(pg newSysRobotPage, system, project []string) ([]meta.RobotPermission, error) {
	access := func(vals []string) ([]meta.RobotAccess, error) {
		var out []meta.RobotAccess
		for _, a := range vals {
			res, act, ok := strings.Cut(a, ":")
			if !ok {
				return nil, fault.Invalidf("The permission %q is not one of the form's.", a)
			}
			out = append(out, meta.RobotAccess{Resource: res, Action: act})
		}
		return out, nil
	}
	var perms []meta.RobotPermission
	sys, err := access(system)
	if err != nil {
		return nil, err
	}
	if len(sys) > 0 {
		perms = append(perms, meta.RobotPermission{Kind: meta.RobotKindSystem, Namespace: "/", Access: sys})
	}
	proj, err := access(project)
	if err != nil {
		return nil, err
	}
	if len(proj) > 0 {
		if pg.AllProjects {
			perms = append(perms, meta.RobotPermission{Kind: meta.RobotKindProject, Namespace: "*", Access: proj})
		} else {
			names := strings.FieldsFunc(pg.Projects, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
			if len(names) == 0 {
				return nil, fault.Invalidf("Name the projects the project permissions hold in, or choose all projects.")
			}
			for _, n := range names {
				perms = append(perms, meta.RobotPermission{Kind: meta.RobotKindProject, Namespace: n, Access: proj})
			}
		}
	}
	if len(perms) == 0 {
		return nil, fault.Invalidf("Tick at least one permission.")
	}
	return perms, nil
}

// robotDuration reads the form's expiry: -1 for never, 0 for the system's default, or days.
func robotDuration(never bool, days string) (int64, error) {
	if never {
		return -1, nil
	}
	if days == "" {
		return 0, nil
	}
	d, err := strconv.ParseInt(days, 10, 64)
	if err != nil || d < 1 {
		return 0, fault.Invalidf("The expiry %q is not a whole number of days from 1; tick “Never expires” for a robot that does not expire.", days)
	}
	return d, nil
}

func (h *Handler) createSystemRobot(c *call) error {
	f := c.r.PostForm
	pg := newSysRobotPage{Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description")),
		Duration: strings.TrimSpace(f.Get("duration")), Never: f.Get("never") == "on",
		AllProjects: f.Get("scope") != "some", Projects: strings.TrimSpace(f.Get("projects"))}
	system, project := f["system"], f["project"]
	r, secret, err := func() (robot.Robot, string, error) {
		duration, err := robotDuration(pg.Never, pg.Duration)
		if err != nil {
			return robot.Robot{}, "", err
		}
		perms, err := sysRobotPermissions(pg, system, project)
		if err != nil {
			return robot.Robot{}, "", err
		}
		return h.Robots.Create(c.ctx(), robot.Spec{Name: pg.Name, Description: pg.Description, Level: robot.LevelSystem,
			Duration: duration, Permissions: perms, ProjectsByName: true})
	}()
	if err != nil {
		code, msg, ok := refusal(err)
		// A project named that does not exist (or cannot be seen) is a mistake in the form.
		if !ok || (code != http.StatusBadRequest && code != http.StatusConflict && code != http.StatusNotFound) {
			return err
		}
		pg.Error = msg
		return h.renderSystemRobotForm(c, pg, system, project, code)
	}
	return h.showSystemSecret(c, robotSecretPage{Login: r.Login, Secret: secret, Created: true}, http.StatusCreated)
}

// showSystemSecret shows a system robot's secret, this once, as showSecret does.
func (h *Handler) showSystemSecret(c *call, pg robotSecretPage, code int) error {
	pg.CopyScript = h.assets.url("copy.js")
	h.render(c.w, c, code, "robot_secret", pg)
	return nil
}

// systemRobot is the robot with the id in the path, if it is a system robot: a project's robot
// is not found here.
func (h *Handler) systemRobot(c *call) (robot.Robot, error) {
	if err := requireSignedIn(c); err != nil {
		return robot.Robot{}, err
	}
	id, err := strconv.ParseInt(c.r.PathValue("robot"), 10, 64)
	if err != nil || id <= 0 {
		return robot.Robot{}, fault.NotFoundf("There is no system robot account %q.", c.r.PathValue("robot"))
	}
	r, err := h.Robots.Get(c.ctx(), id)
	if err != nil {
		return r, err
	}
	if r.Level() != robot.LevelSystem {
		return r, fault.NotFoundf("There is no system robot account %d.", id)
	}
	return r, nil
}

func sysRobotsURL(done string) string { return "/admin/robots?done=" + done }

// setSystemRobotDisabled disables or enables a robot: the robot as it is, with disable
// changed, as a client of PUT /api/v2.0/robots/{id} sends it.
func (h *Handler) setSystemRobotDisabled(c *call) error {
	r, err := h.systemRobot(c)
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
	http.Redirect(c.w, c.r, sysRobotsURL(done), http.StatusSeeOther)
	return nil
}

func (h *Handler) refreshSystemRobotSecret(c *call) error {
	r, err := h.systemRobot(c)
	if err != nil {
		return err
	}
	secret, err := h.Robots.RefreshSecret(c.ctx(), r.ID, "")
	if err != nil {
		return err
	}
	return h.showSystemSecret(c, robotSecretPage{Login: r.Login, Secret: secret}, http.StatusOK)
}

func (h *Handler) deleteSystemRobotForm(c *call) error {
	r, err := h.systemRobot(c)
	if err != nil {
		return err
	}
	ok, err := h.Robots.CanSystem(c.ctx(), rbac.ActDelete)
	if err != nil {
		return err
	}
	if !ok {
		return fault.ErrForbidden
	}
	h.render(c.w, c, http.StatusOK, "robot_delete", deleteRobotPage{Robot: r})
	return nil
}

func (h *Handler) deleteSystemRobot(c *call) error {
	r, err := h.systemRobot(c)
	if err != nil {
		return err
	}
	if err := h.Robots.Delete(c.ctx(), r.ID); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, sysRobotsURL("deleted"), http.StatusSeeOther)
	return nil
}
