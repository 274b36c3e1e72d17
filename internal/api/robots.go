package api

// Robot accounts: Harbor's v2 robot API (/robots) and the list of what robots may be granted
// (/permissions). A project robot ("robot$<project>+<name>") holds permissions in its project;
// a system robot ("robot$<name>") may hold system permissions and permissions in any project
// or in every project ("*"). Whoever creates or edits a robot must hold each permission they
// grant: a robot never exceeds its creator. The secret is shown once and stored argon2id-hashed.

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// robotRoutes registers the endpoints for robot accounts, the grantable permissions and the
// user groups (which, like robots, are identities that projects admit).
func (h *Handler) robotRoutes(r route) {
	r("GET /robots", h.listRobots)
	r("POST /robots", h.createRobot)
	r("GET /robots/{robot_id}", h.getRobot)
	r("PUT /robots/{robot_id}", h.updateRobot)
	r("PATCH /robots/{robot_id}", h.refreshRobotSecret)
	r("DELETE /robots/{robot_id}", h.deleteRobot)
	r("GET /permissions", h.permissions)
	h.userGroupRoutes(r)
}

// Robot levels, as Harbor names them.
const (
	levelSystem  = meta.RobotKindSystem
	levelProject = meta.RobotKindProject
)

var robotNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

const (
	maxRobotNameLen = 255
	msgRobotName    = "robot name is not in lower case or contains illegal characters"
	msgRobotSecret  = "the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number"
)

// robotAccessJSON is Harbor's Access.
type robotAccessJSON struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
	Effect   string `json:"effect,omitempty"`
}

// robotPermissionJSON is Harbor's RobotPermission.
type robotPermissionJSON struct {
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace"`
	Access    []robotAccessJSON `json:"access"`
}

// robotCreateReq is Harbor's RobotCreate.
type robotCreateReq struct {
	Name        string                `json:"name"`
	Description string                `json:"description"`
	Secret      string                `json:"secret"`
	Level       string                `json:"level"`
	Disable     bool                  `json:"disable"`
	Duration    int64                 `json:"duration"`
	Permissions []robotPermissionJSON `json:"permissions"`
}

// robotJSON is Harbor's Robot, the answer of GET and the body of PUT (whose read-only fields
// are accepted, so a client can send back what it read, and ignored).
type robotJSON struct {
	ID           int64                 `json:"id"`
	Name         string                `json:"name"`
	Description  string                `json:"description"`
	Secret       string                `json:"secret,omitempty"`
	Level        string                `json:"level"`
	Duration     *int64                `json:"duration"`
	Editable     bool                  `json:"editable"`
	Disable      bool                  `json:"disable"`
	ExpiresAt    int64                 `json:"expires_at"`
	Permissions  []robotPermissionJSON `json:"permissions"`
	CreatorType  string                `json:"creator_type"`
	CreatorRef   int64                 `json:"creator_ref"`
	CreationTime string                `json:"creation_time"`
	UpdateTime   string                `json:"update_time"`
}

// robotCreatedJSON is Harbor's RobotCreated: the only answer that carries a generated secret.
type robotCreatedJSON struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Secret       string `json:"secret"`
	CreationTime string `json:"creation_time"`
	ExpiresAt    int64  `json:"expires_at"`
}

// robotSecJSON is Harbor's RobotSec.
type robotSecJSON struct {
	Secret string `json:"secret"`
}

func robotLevel(r meta.Robot) string {
	if r.ProjectID != 0 {
		return levelProject
	}
	return levelSystem
}

func toRobotJSON(r meta.Robot, prefix string) robotJSON {
	perms := make([]robotPermissionJSON, 0, len(r.Permissions))
	for _, p := range r.Permissions {
		acc := make([]robotAccessJSON, 0, len(p.Access))
		for _, a := range p.Access {
			acc = append(acc, robotAccessJSON{Resource: a.Resource, Action: a.Action, Effect: a.Effect})
		}
		perms = append(perms, robotPermissionJSON{Kind: p.Kind, Namespace: p.Namespace, Access: acc})
	}
	d := r.Duration
	return robotJSON{
		ID: r.ID, Name: prefix + r.Name, Description: r.Description, Level: robotLevel(r), Duration: &d,
		Editable: true, Disable: r.Disabled, ExpiresAt: r.ExpiresAt, Permissions: perms,
		CreatorType: r.CreatorType, CreatorRef: r.CreatorRef,
		CreationTime: harborTime(r.CreatedAt), UpdateTime: harborTime(r.UpdatedAt),
	}
}

// checkDuration applies Harbor's rule: -1 (never expires), 0 (the configured default) or a
// positive number of days.
func checkDuration(d int64) error {
	if d < -1 || d >= math.MaxInt32 {
		return badRequest(fmt.Sprintf("bad request error duration input: %d, duration must be either -1(Never) or a positive integer", d))
	}
	return nil
}

// expiry turns a duration into Harbor's expires_at (Unix seconds, -1 for never), counted from
// from; 0 days means the configured robot_token_duration, which is also what is stored.
func expiry(d int64, from time.Time, cfg meta.SystemConfig) (duration, expiresAt int64) {
	switch d {
	case -1:
		return -1, -1
	case 0:
		d = int64(cfg.RobotTokenDuration)
	}
	return d, from.AddDate(0, 0, int(d)).Unix()
}

// robotPermissions validates requested permissions for a robot of the level (and, for a
// project robot, its project) and resolves their namespaces: Harbor's rules (a project robot has
// exactly one permission, in its project; every resource and action must exist at its kind's
// scope) and Berth's guarantee that the caller holds everything granted. project is the
// project of a project-level robot, resolved from the first permission when zero.
func (h *Handler) robotPermissions(c *call, level string, project meta.Project, req []robotPermissionJSON) (meta.Project, []meta.RobotPermission, error) {
	if len(req) == 0 {
		return project, nil, badRequest("bad request empty permission")
	}
	if level == levelProject && len(req) > 1 {
		return project, nil, badRequest("bad request permission: a project robot has one permission, for its project")
	}
	out := make([]meta.RobotPermission, 0, len(req))
	for _, p := range req {
		if len(p.Access) == 0 {
			return project, nil, badRequest("bad request empty access")
		}
		rp := meta.RobotPermission{Kind: p.Kind}
		var target meta.Project
		switch {
		case p.Kind == meta.RobotKindSystem && level == levelSystem:
			if p.Namespace != "/" && p.Namespace != "" {
				return project, nil, badRequest(fmt.Sprintf("bad request permission namespace %q: system permissions have namespace \"/\"", p.Namespace))
			}
		case p.Kind == meta.RobotKindProject && p.Namespace == "*" && level == levelSystem:
		case p.Kind == meta.RobotKindProject:
			if p.Namespace == "" || p.Namespace == "*" {
				return project, nil, badRequest(fmt.Sprintf("bad request permission namespace %q: a project robot's permission names its project", p.Namespace))
			}
			var err error
			if target, err = h.project(c, p.Namespace); err != nil {
				return project, nil, err
			}
			if level == levelProject {
				if project.ID == 0 {
					project = target
				} else if project.ID != target.ID {
					return project, nil, badRequest("cannot update the project id of robot")
				}
			}
			rp.ProjectID = target.ID
		default:
			return project, nil, badRequest(fmt.Sprintf("bad request permission level: %q for a %s robot", p.Kind, level))
		}
		for _, a := range p.Access {
			perm := rbac.Permission{Resource: rbac.Resource(a.Resource), Action: rbac.Action(a.Action)}
			if !rbac.Grantable(p.Kind, perm) {
				return project, nil, badRequest(fmt.Sprintf("bad request permission: %s:%s", a.Resource, a.Action))
			}
			switch a.Effect {
			case "", rbac.EffectAllow:
				if err := h.holds(c, p.Kind, target, perm); err != nil {
					return project, nil, err
				}
				a.Effect = rbac.EffectAllow
			case rbac.EffectDeny:
				// A deny only narrows what the robot gets: anyone may write one.
			default:
				return project, nil, badRequest(fmt.Sprintf("bad request permission effect %q: \"allow\" or \"deny\"", a.Effect))
			}
			rp.Access = append(rp.Access, meta.RobotAccess{Resource: a.Resource, Action: a.Action, Effect: a.Effect})
		}
		out = append(out, rp)
	}
	return project, out, nil
}

// holds refuses to grant what the caller does not hold itself: in that project, in every
// project (target zero, kind project), or at system level.
func (h *Handler) holds(c *call, kind string, target meta.Project, perm rbac.Permission) error {
	ctx := c.r.Context()
	var ok bool
	var err error
	where := "the system"
	switch {
	case kind == meta.RobotKindSystem:
		ok, err = h.Authz.CanSystem(ctx, c.p, perm.Resource, perm.Action)
	case target.ID == 0:
		ok, err = h.Authz.CanEveryProject(ctx, c.p, perm.Resource, perm.Action)
		where = "every project"
	default:
		ok, err = h.Authz.Can(ctx, c.p, target, perm.Resource, perm.Action)
		where = "project " + target.Name
	}
	if err != nil {
		return err
	}
	if !ok {
		return &Error{http.StatusForbidden, "FORBIDDEN", fmt.Sprintf(
			"permission scope is invalid: %s cannot grant %s:%s in %s, which it does not hold itself", c.p.Name, perm.Resource, perm.Action, where)}
	}
	return nil
}

// creator is how Harbor records who created a robot.
func creator(p auth.Principal) (string, int64) {
	if p.Kind == auth.Robot {
		return "robot", p.ID
	}
	return "local", p.ID
}

func (h *Handler) createRobot(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	var req robotCreateReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if len(req.Name) > maxRobotNameLen || !robotNameRE.MatchString(req.Name) {
		return badRequest(msgRobotName)
	}
	if err := checkDuration(req.Duration); err != nil {
		return err
	}
	if req.Level != levelSystem && req.Level != levelProject {
		return badRequest(fmt.Sprintf("bad request error level input: %q: \"system\" or \"project\"", req.Level))
	}
	secret := req.Secret
	if secret != "" {
		if auth.CheckPasswordRules(secret) != nil {
			return badRequest(msgRobotSecret)
		}
	} else {
		secret = auth.RandomPassword()
	}
	project, perms, err := h.robotPermissions(c, req.Level, meta.Project{}, req.Permissions)
	if err != nil {
		return err
	}
	if err := h.robotLevelAccess(c, project, rbac.ActCreate); err != nil {
		return err
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	name := req.Name
	if project.ID != 0 {
		name = project.Name + "+" + req.Name
	}
	hash, err := auth.HashPassword(secret)
	if err != nil {
		return err
	}
	now := time.Now()
	duration, expiresAt := expiry(req.Duration, now, cfg)
	ctype, cref := creator(c.p)
	r := meta.Robot{
		Name: name, Description: req.Description, ProjectID: project.ID, SecretHash: hash, Duration: duration,
		ExpiresAt: expiresAt, Disabled: req.Disable, CreatorType: ctype, CreatorRef: cref, Permissions: perms,
	}
	id, err := h.DB.CreateRobot(c.r.Context(), r)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("robot account %s%s already exists", cfg.RobotNamePrefix, name))
	case errors.Is(err, meta.ErrNotFound):
		return notFound("a project the robot's permissions name no longer exists")
	case err != nil:
		return err
	}
	stored, err := h.DB.RobotByID(c.r.Context(), id)
	if err != nil {
		return err
	}
	h.audit(c, project.ID, "create", "robot", cfg.RobotNamePrefix+name)
	c.w.Header().Set("Location", base+"/robots/"+strconv.FormatInt(id, 10))
	writeJSON(c.w, http.StatusCreated, robotCreatedJSON{
		ID: id, Name: cfg.RobotNamePrefix + stored.Name, Secret: secret,
		CreationTime: harborTime(stored.CreatedAt), ExpiresAt: stored.ExpiresAt,
	})
	return nil
}

// robotLevelAccess checks the caller's right on robots at the robot's level: in its project
// for a project robot (project non-zero), at system level otherwise.
func (h *Handler) robotLevelAccess(c *call, project meta.Project, act rbac.Action) error {
	if project.ID != 0 {
		return h.authorize(c, project, rbac.ResRobot, act)
	}
	return h.authorizeSystem(c, rbac.ResRobot, act)
}

// robot reads {robot_id} and checks the caller's right to act on it. A project robot in a
// project the caller cannot see is "not found", like the project itself.
func (h *Handler) robot(c *call, act rbac.Action) (meta.Robot, meta.Project, error) {
	if err := h.requireSignedIn(c); err != nil {
		return meta.Robot{}, meta.Project{}, err
	}
	id, err := pathID(c, "robot_id", "robot")
	if err != nil {
		return meta.Robot{}, meta.Project{}, err
	}
	missing := notFound(fmt.Sprintf("robot %d not found", id))
	r, err := h.DB.RobotByID(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return r, meta.Project{}, missing
	}
	if err != nil {
		return r, meta.Project{}, err
	}
	var project meta.Project
	if r.ProjectID != 0 {
		project, err = h.DB.ProjectByID(c.r.Context(), r.ProjectID)
		if errors.Is(err, meta.ErrNotFound) {
			return r, project, missing
		}
		if err != nil {
			return r, project, err
		}
		visible, err := h.Authz.CanSeeProject(c.r.Context(), c.p, project)
		if err != nil {
			return r, project, err
		}
		if !visible {
			return r, project, missing
		}
	}
	return r, project, h.robotLevelAccess(c, project, act)
}

func (h *Handler) getRobot(c *call) error {
	r, _, err := h.robot(c, rbac.ActRead)
	if err != nil {
		return err
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toRobotJSON(r, cfg.RobotNamePrefix))
	return nil
}

func (h *Handler) listRobots(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	take := func(keys ...string) (string, bool, error) {
		for _, k := range keys {
			if f, ok := lq.Take(k); ok {
				if f.Op != meta.OpExact {
					return "", false, badRequest(fmt.Sprintf("%s takes an exact value (%s=value)", k, k))
				}
				return f.Values[0], true, nil
			}
		}
		return "", false, nil
	}
	level, hasLevel, err := take("Level", "level")
	if err != nil {
		return err
	}
	pid, hasPID, err := take("ProjectID", "project_id")
	if err != nil {
		return err
	}
	if !hasLevel && hasPID {
		level, hasLevel = levelProject, true
	}
	f := meta.RobotFilter{}
	var project meta.Project
	switch {
	case !hasLevel:
	case level == levelSystem:
		f.Level = levelSystem
	case level == levelProject:
		if !hasPID {
			return badRequest("must with project ID when to query project robots")
		}
		id, err := strconv.ParseInt(pid, 10, 64)
		if err != nil || id <= 0 {
			return badRequest("Project ID must be int type.")
		}
		if project, err = h.project(c, strconv.FormatInt(id, 10)); err != nil {
			return err
		}
		f.Level, f.ProjectID = levelProject, project.ID
	default:
		return badRequest(fmt.Sprintf("bad request error level input: %q", level))
	}
	if err := h.robotLevelAccess(c, project, rbac.ActList); err != nil {
		return err
	}
	rs, total, err := h.DB.ListRobots(c.r.Context(), f, lq)
	if err != nil {
		return err
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	out := make([]robotJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, toRobotJSON(r, cfg.RobotNamePrefix))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// updateRobot is Harbor's updateV2Robot: description, disable, duration and permissions change;
// name, level and project do not. The new expiry counts from the robot's creation.
func (h *Handler) updateRobot(c *call) error {
	r, project, err := h.robot(c, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var req robotJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	level := robotLevel(r)
	if req.Level != level || (req.Name != cfg.RobotNamePrefix+r.Name && req.Name != r.Name) {
		return badRequest("cannot update the level or name of robot")
	}
	if req.Duration != nil {
		if err := checkDuration(*req.Duration); err != nil {
			return err
		}
		if *req.Duration != r.Duration {
			r.Duration, r.ExpiresAt = expiry(*req.Duration, r.CreatedAt, cfg)
		}
	}
	if _, r.Permissions, err = h.robotPermissions(c, level, project, req.Permissions); err != nil {
		return err
	}
	r.Description, r.Disabled = req.Description, req.Disable
	err = h.DB.UpdateRobot(c.r.Context(), r)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("robot %d not found", r.ID))
	}
	if err != nil {
		return err
	}
	h.audit(c, r.ProjectID, "update", "robot", cfg.RobotNamePrefix+r.Name)
	return ok(c)
}

// refreshRobotSecret replaces the secret with the one given, or a generated one, and answers
// it; the old secret stops working at once (the login cache is keyed by the stored hash).
func (h *Handler) refreshRobotSecret(c *call) error {
	r, _, err := h.robot(c, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var req robotSecJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	secret := req.Secret
	if secret != "" {
		if auth.CheckPasswordRules(secret) != nil {
			return badRequest(msgRobotSecret)
		}
	} else {
		secret = auth.RandomPassword()
	}
	hash, err := auth.HashPassword(secret)
	if err != nil {
		return err
	}
	err = h.DB.SetRobotSecret(c.r.Context(), r.ID, hash)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("robot %d not found", r.ID))
	}
	if err != nil {
		return err
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	h.audit(c, r.ProjectID, "update", "robot", cfg.RobotNamePrefix+r.Name)
	writeJSON(c.w, http.StatusOK, robotSecJSON{Secret: secret})
	return nil
}

func (h *Handler) deleteRobot(c *call) error {
	r, _, err := h.robot(c, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = h.DB.DeleteRobot(c.r.Context(), r.ID)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("robot %d not found", r.ID))
	}
	if err != nil {
		return err
	}
	cfg, err := h.DB.SystemConfig(c.r.Context())
	if err != nil {
		return err
	}
	h.audit(c, r.ProjectID, "delete", "robot", cfg.RobotNamePrefix+r.Name)
	return ok(c)
}

// grantJSON is Harbor's Permission.
type grantJSON struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// permissionsJSON is Harbor's Permissions.
type permissionsJSON struct {
	System  []grantJSON `json:"system"`
	Project []grantJSON `json:"project"`
}

func grantList(kind string) []grantJSON {
	ps := rbac.GrantablePermissions(kind)
	out := make([]grantJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, grantJSON{Resource: string(p.Resource), Action: string(p.Action)})
	}
	return out
}

// permissions lists what robots may be granted, for the admins who create them (Harbor's
// getPermissions): system administrators get both lists, project admins the project list.
func (h *Handler) permissions(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	out := permissionsJSON{System: []grantJSON{}, Project: []grantJSON{}}
	switch {
	case c.p.SysAdmin:
		out.System, out.Project = grantList(meta.RobotKindSystem), grantList(meta.RobotKindProject)
	case c.p.Kind == auth.User:
		admin, err := h.DB.IsProjectAdminAnywhere(c.r.Context(), c.p.ID)
		if err != nil {
			return err
		}
		if !admin {
			return &Error{http.StatusForbidden, "FORBIDDEN", "only admins (system and project) can access permissions"}
		}
		out.Project = grantList(meta.RobotKindProject)
	default:
		return &Error{http.StatusForbidden, "FORBIDDEN", "only admins (system and project) can access permissions"}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
