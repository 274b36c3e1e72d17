// Package robot holds the rules of robot accounts, as Harbor's v2 robot API has them. A project
// robot ("robot$<project>+<name>") holds permissions in its project; a system robot
// ("robot$<name>") may hold system permissions and permissions in any project or in every
// project ("*"). Whoever creates or edits a robot must hold each permission they grant: a robot
// never exceeds its creator. The secret is shown once and stored argon2id-hashed.
//
// Creating, changing (its secret included) and deleting a robot are events (events.RobotCreated,
// RobotUpdated, RobotDeleted) written with the change: in the robot's project's stream for a
// project robot, in the system's for a system robot, naming the robot by its login.
package robot

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the robot rules read and write.
type Store interface {
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	SystemConfig(ctx context.Context) (meta.SystemConfig, error)
	RobotByID(ctx context.Context, id int64) (meta.Robot, error)
	ListRobots(ctx context.Context, f meta.RobotFilter, lq meta.ListQuery) ([]meta.Robot, int64, error)
	ProjectByID(ctx context.Context, id int64) (meta.Project, error)
	IsProjectAdminAnywhere(ctx context.Context, userID int64) (bool, error)
}

// Service is the robot rules over the store.
type Service struct {
	Store Store
	Authz *rbac.Authorizer
	// Projects finds the projects that robots belong to and are granted permissions in, as
	// the caller may see them.
	Projects *project.Service
}

// Robot levels, as Harbor names them.
const (
	LevelSystem  = meta.RobotKindSystem
	LevelProject = meta.RobotKindProject
)

// Robot is a robot account with the name it logs in with.
type Robot struct {
	meta.Robot
	// Login is the configured prefix followed by the stored name.
	Login string
}

// Level is the robot's level: project for a project robot, system otherwise.
func (r Robot) Level() string { return levelOf(r.Robot) }

func levelOf(r meta.Robot) string {
	if r.ProjectID != 0 {
		return LevelProject
	}
	return LevelSystem
}

// Spec is what a robot is created with.
type Spec struct {
	// Name is the robot's own name: its login adds the prefix, and for a project robot the
	// project ("robot$<project>+<name>").
	Name        string
	Description string
	// Secret is the robot's secret; "" for a generated one.
	Secret   string
	Level    string
	Disabled bool
	// Duration is the robot's lifetime in days: -1 for ever, 0 for the configured default.
	Duration int64
	// Permissions name their project in Namespace (kind project), or "*" for every project
	// (system robots only), or "/" (kind system); ProjectID is ignored.
	Permissions []meta.RobotPermission
	// ProjectsByName resolves numeric namespaces as project names rather than ids (the REST
	// API's X-Is-Resource-Name header).
	ProjectsByName bool
}

// Change is what an update of a robot says: Harbor's PUT sends the whole robot back, whose name
// and level must be the robot's own.
type Change struct {
	Name        string // with or without the prefix
	Level       string
	Description string
	Disabled    bool
	// Duration, when set, is the new lifetime in days, counted from the robot's creation.
	Duration    *int64
	Permissions []meta.RobotPermission
	// ProjectsByName is as in Spec.
	ProjectsByName bool
}

var nameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

const (
	maxNameLen = 255
	msgName    = "robot name is not in lower case or contains illegal characters"
	msgSecret  = "the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number"
)

// checkDuration applies Harbor's rule: -1 (never expires), 0 (the configured default) or a
// positive number of days.
func checkDuration(d int64) error {
	if d < -1 || d >= math.MaxInt32 {
		return fault.Invalidf("bad request error duration input: %d, duration must be either -1(Never) or a positive integer", d)
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

// secret returns the given secret once it follows the rules, or a generated one.
func secret(given string) (string, error) {
	if given == "" {
		return auth.RandomPassword(), nil
	}
	if auth.CheckPasswordRules(given) != nil {
		return "", fault.Invalidf(msgSecret)
	}
	return given, nil
}

// creator is how Harbor records who created a robot.
func creator(p auth.Principal) (string, int64) {
	if p.Kind == auth.Robot {
		return "robot", p.ID
	}
	return "local", p.ID
}

// event is a robot event, in its project's stream for a project robot.
func event(ctx context.Context, t events.Type, projectID int64, login string) meta.Event {
	if projectID != 0 {
		return events.OfProject(ctx, t, projectID, login, nil)
	}
	return events.OfSystem(ctx, t, login, nil)
}

// Create creates a robot; it returns the robot as stored and its secret, which is never shown
// again.
func (s *Service) Create(ctx context.Context, spec Spec) (Robot, string, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return Robot{}, "", err
	}
	if len(spec.Name) > maxNameLen || !nameRE.MatchString(spec.Name) {
		return Robot{}, "", fault.Invalidf(msgName)
	}
	if err := checkDuration(spec.Duration); err != nil {
		return Robot{}, "", err
	}
	if spec.Level != LevelSystem && spec.Level != LevelProject {
		return Robot{}, "", fault.Invalidf("bad request error level input: %q: \"system\" or \"project\"", spec.Level)
	}
	sec, err := secret(spec.Secret)
	if err != nil {
		return Robot{}, "", err
	}
	proj, perms, err := s.permissions(ctx, spec.Level, meta.Project{}, spec.Permissions, spec.ProjectsByName)
	if err != nil {
		return Robot{}, "", err
	}
	if err := s.requireLevel(ctx, proj, rbac.ActCreate); err != nil {
		return Robot{}, "", err
	}
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return Robot{}, "", err
	}
	name := spec.Name
	if proj.ID != 0 {
		name = proj.Name + "+" + spec.Name
	}
	login := cfg.RobotNamePrefix + name
	hash, err := auth.HashPassword(sec)
	if err != nil {
		return Robot{}, "", err
	}
	duration, expiresAt := expiry(spec.Duration, time.Now(), cfg)
	ctype, cref := creator(auth.PrincipalFrom(ctx))
	var id int64
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		id, err = tx.CreateRobot(ctx, meta.Robot{
			Name: name, Description: spec.Description, ProjectID: proj.ID, SecretHash: hash, Duration: duration,
			ExpiresAt: expiresAt, Disabled: spec.Disabled, CreatorType: ctype, CreatorRef: cref, Permissions: perms,
		})
		if err != nil {
			return err
		}
		tx.Emit(event(ctx, events.RobotCreated, proj.ID, login))
		return nil
	})
	switch {
	case errors.Is(err, meta.ErrConflict):
		return Robot{}, "", fault.Conflictf("robot account %s already exists", login)
	case errors.Is(err, meta.ErrNotFound):
		return Robot{}, "", fault.NotFoundf("a project the robot's permissions name no longer exists")
	case err != nil:
		return Robot{}, "", err
	}
	stored, err := s.Store.RobotByID(ctx, id)
	if err != nil {
		return Robot{}, "", fmt.Errorf("read robot %s back: %w", login, err)
	}
	return Robot{stored, cfg.RobotNamePrefix + stored.Name}, sec, nil
}

// permissions validates requested permissions for a robot of the level (and, for a project
// robot, its project) and resolves their namespaces: Harbor's rules (a project robot has
// exactly one permission, in its project; every resource and action must exist at its kind's
// scope) and Berth's guarantee that the caller holds everything granted. proj is the project
// of a project-level robot, resolved from the first permission when zero.
func (s *Service) permissions(ctx context.Context, level string, proj meta.Project, req []meta.RobotPermission, byName bool) (meta.Project, []meta.RobotPermission, error) {
	if len(req) == 0 {
		return proj, nil, fault.Invalidf("bad request empty permission")
	}
	if level == LevelProject && len(req) > 1 {
		return proj, nil, fault.Invalidf("bad request permission: a project robot has one permission, for its project")
	}
	out := make([]meta.RobotPermission, 0, len(req))
	for _, p := range req {
		if len(p.Access) == 0 {
			return proj, nil, fault.Invalidf("bad request empty access")
		}
		rp := meta.RobotPermission{Kind: p.Kind}
		var target meta.Project
		switch {
		case p.Kind == meta.RobotKindSystem && level == LevelSystem:
			if p.Namespace != "/" && p.Namespace != "" {
				return proj, nil, fault.Invalidf("bad request permission namespace %q: system permissions have namespace \"/\"", p.Namespace)
			}
		case p.Kind == meta.RobotKindProject && p.Namespace == "*" && level == LevelSystem:
		case p.Kind == meta.RobotKindProject:
			if p.Namespace == "" || p.Namespace == "*" {
				return proj, nil, fault.Invalidf("bad request permission namespace %q: a project robot's permission names its project", p.Namespace)
			}
			var err error
			if target, err = s.findProject(ctx, p.Namespace, byName); err != nil {
				return proj, nil, err
			}
			if level == LevelProject {
				if proj.ID == 0 {
					proj = target
				} else if proj.ID != target.ID {
					return proj, nil, fault.Invalidf("cannot update the project id of robot")
				}
			}
			rp.ProjectID = target.ID
		default:
			return proj, nil, fault.Invalidf("bad request permission level: %q for a %s robot", p.Kind, level)
		}
		for _, a := range p.Access {
			perm := rbac.Permission{Resource: rbac.Resource(a.Resource), Action: rbac.Action(a.Action)}
			if !rbac.Grantable(p.Kind, perm) {
				return proj, nil, fault.Invalidf("bad request permission: %s:%s", a.Resource, a.Action)
			}
			switch a.Effect {
			case "", rbac.EffectAllow:
				if err := s.holds(ctx, p.Kind, target, perm); err != nil {
					return proj, nil, err
				}
				a.Effect = rbac.EffectAllow
			case rbac.EffectDeny:
				// A deny only narrows what the robot gets: anyone may write one.
			default:
				return proj, nil, fault.Invalidf("bad request permission effect %q: \"allow\" or \"deny\"", a.Effect)
			}
			rp.Access = append(rp.Access, meta.RobotAccess{Resource: a.Resource, Action: a.Action, Effect: a.Effect})
		}
		out = append(out, rp)
	}
	return proj, out, nil
}

// findProject resolves a project by name, or by id when ref is numeric and byName is false, as
// the caller may see it.
func (s *Service) findProject(ctx context.Context, ref string, byName bool) (meta.Project, error) {
	_, err := strconv.ParseInt(ref, 10, 64)
	return s.Projects.Find(ctx, ref, byName || err != nil)
}

// holds refuses to grant what the caller does not hold itself: in that project, in every
// project (target zero, kind project), or at system level.
func (s *Service) holds(ctx context.Context, kind string, target meta.Project, perm rbac.Permission) error {
	caller := auth.PrincipalFrom(ctx)
	var ok bool
	var err error
	where := "the system"
	switch {
	case kind == meta.RobotKindSystem:
		ok, err = s.Authz.CanSystem(ctx, caller, perm.Resource, perm.Action)
	case target.ID == 0:
		ok, err = s.Authz.CanEveryProject(ctx, caller, perm.Resource, perm.Action)
		where = "every project"
	default:
		ok, err = s.Authz.Can(ctx, caller, target, perm.Resource, perm.Action)
		where = "project " + target.Name
	}
	if err != nil {
		return err
	}
	if !ok {
		return fault.Forbiddenf("permission scope is invalid: %s cannot grant %s:%s in %s, which it does not hold itself",
			caller.Name, perm.Resource, perm.Action, where)
	}
	return nil
}

// requireLevel checks the caller's right on robots at a robot's level: in its project for a
// project robot (proj non-zero), at system level otherwise.
func (s *Service) requireLevel(ctx context.Context, proj meta.Project, act rbac.Action) error {
	if proj.ID != 0 {
		return s.Authz.Require(ctx, proj, rbac.ResRobot, act)
	}
	return s.Authz.RequireSystem(ctx, rbac.ResRobot, act)
}

// robot reads a robot and checks the caller's right to act on it. A project robot in a project
// the caller cannot see is "not found", like the project itself.
func (s *Service) robot(ctx context.Context, id int64, act rbac.Action) (meta.Robot, meta.Project, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return meta.Robot{}, meta.Project{}, err
	}
	missing := fault.NotFoundf("robot %d not found", id)
	r, err := s.Store.RobotByID(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return r, meta.Project{}, missing
	}
	if err != nil {
		return r, meta.Project{}, fmt.Errorf("look up robot %d: %w", id, err)
	}
	var proj meta.Project
	if r.ProjectID != 0 {
		proj, err = s.Store.ProjectByID(ctx, r.ProjectID)
		if errors.Is(err, meta.ErrNotFound) {
			return r, proj, missing
		}
		if err != nil {
			return r, proj, fmt.Errorf("look up project %d of robot %d: %w", r.ProjectID, id, err)
		}
		visible, err := s.Authz.CanSeeProject(ctx, auth.PrincipalFrom(ctx), proj)
		if err != nil {
			return r, proj, err
		}
		if !visible {
			return r, proj, missing
		}
	}
	return r, proj, s.requireLevel(ctx, proj, act)
}

// prefix is the configured robot name prefix.
func (s *Service) prefix(ctx context.Context) (string, error) {
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return "", err
	}
	return cfg.RobotNamePrefix, nil
}

// CanSystem reports whether the caller may act on system-level robots (rbac.ActList,
// ActCreate, …), for a page deciding what to offer; the methods check it themselves.
func (s *Service) CanSystem(ctx context.Context, act rbac.Action) (bool, error) {
	return s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResRobot, act)
}

// Get returns a robot, without its secret.
func (s *Service) Get(ctx context.Context, id int64) (Robot, error) {
	r, _, err := s.robot(ctx, id, rbac.ActRead)
	if err != nil {
		return Robot{}, err
	}
	prefix, err := s.prefix(ctx)
	if err != nil {
		return Robot{}, err
	}
	return Robot{r, prefix + r.Name}, nil
}

// List returns one page of robots. Harbor's query terms Level (or level) and ProjectID (or
// project_id), exact values, pick system robots or a project's robots (ProjectID alone means
// the project's); without them every robot is listed, to those allowed to list system robots.
// byName resolves ProjectID as a project name (the REST API's X-Is-Resource-Name header).
func (s *Service) List(ctx context.Context, lq meta.ListQuery, byName bool) ([]Robot, int64, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return nil, 0, err
	}
	take := func(keys ...string) (string, bool, error) {
		for _, k := range keys {
			if f, ok := lq.Take(k); ok {
				if f.Op != meta.OpExact {
					return "", false, fault.Invalidf("%s takes an exact value (%s=value)", k, k)
				}
				return f.Values[0], true, nil
			}
		}
		return "", false, nil
	}
	level, hasLevel, err := take("Level", "level")
	if err != nil {
		return nil, 0, err
	}
	pid, hasPID, err := take("ProjectID", "project_id")
	if err != nil {
		return nil, 0, err
	}
	if !hasLevel && hasPID {
		level, hasLevel = LevelProject, true
	}
	f := meta.RobotFilter{}
	var proj meta.Project
	switch {
	case !hasLevel:
	case level == LevelSystem:
		f.Level = LevelSystem
	case level == LevelProject:
		if !hasPID {
			return nil, 0, fault.Invalidf("must with project ID when to query project robots")
		}
		id, err := strconv.ParseInt(pid, 10, 64)
		if err != nil || id <= 0 {
			return nil, 0, fault.Invalidf("Project ID must be int type.")
		}
		if proj, err = s.Projects.Find(ctx, strconv.FormatInt(id, 10), byName); err != nil {
			return nil, 0, err
		}
		f.Level, f.ProjectID = LevelProject, proj.ID
	default:
		return nil, 0, fault.Invalidf("bad request error level input: %q", level)
	}
	if err := s.requireLevel(ctx, proj, rbac.ActList); err != nil {
		return nil, 0, err
	}
	rs, total, err := s.Store.ListRobots(ctx, f, lq)
	if err != nil {
		return nil, 0, err
	}
	prefix, err := s.prefix(ctx)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Robot, 0, len(rs))
	for _, r := range rs {
		out = append(out, Robot{r, prefix + r.Name})
	}
	return out, total, nil
}

// Update is Harbor's updateV2Robot: description, disable, duration and permissions change;
// name, level and project do not. A new duration counts from the robot's creation.
func (s *Service) Update(ctx context.Context, id int64, c Change) error {
	r, proj, err := s.robot(ctx, id, rbac.ActUpdate)
	if err != nil {
		return err
	}
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return err
	}
	level := levelOf(r)
	if c.Level != level || (c.Name != cfg.RobotNamePrefix+r.Name && c.Name != r.Name) {
		return fault.Invalidf("cannot update the level or name of robot")
	}
	if c.Duration != nil {
		if err := checkDuration(*c.Duration); err != nil {
			return err
		}
		if *c.Duration != r.Duration {
			r.Duration, r.ExpiresAt = expiry(*c.Duration, r.CreatedAt, cfg)
		}
	}
	if _, r.Permissions, err = s.permissions(ctx, level, proj, c.Permissions, c.ProjectsByName); err != nil {
		return err
	}
	r.Description, r.Disabled = c.Description, c.Disabled
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		if err := tx.UpdateRobot(ctx, r); err != nil {
			return err
		}
		tx.Emit(event(ctx, events.RobotUpdated, r.ProjectID, cfg.RobotNamePrefix+r.Name))
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("robot %d not found", r.ID)
	}
	return err
}

// RefreshSecret replaces a robot's secret with the one given, or a generated one, and returns
// the generated one — "" when the caller chose the secret, which, as in Harbor, is not sent
// back. The old secret stops working at once (the Authenticator's cache is keyed by the stored
// hash).
func (s *Service) RefreshSecret(ctx context.Context, id int64, given string) (string, error) {
	r, _, err := s.robot(ctx, id, rbac.ActUpdate)
	if err != nil {
		return "", err
	}
	sec, err := secret(given)
	if err != nil {
		return "", err
	}
	hash, err := auth.HashPassword(sec)
	if err != nil {
		return "", err
	}
	prefix, err := s.prefix(ctx)
	if err != nil {
		return "", err
	}
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		if err := tx.SetRobotSecret(ctx, r.ID, hash); err != nil {
			return err
		}
		tx.Emit(event(ctx, events.RobotUpdated, r.ProjectID, prefix+r.Name))
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return "", fault.NotFoundf("robot %d not found", r.ID)
	}
	if err != nil {
		return "", err
	}
	if given != "" {
		return "", nil
	}
	return sec, nil
}

// Delete deletes a robot with its permissions.
func (s *Service) Delete(ctx context.Context, id int64) error {
	r, _, err := s.robot(ctx, id, rbac.ActDelete)
	if err != nil {
		return err
	}
	prefix, err := s.prefix(ctx)
	if err != nil {
		return err
	}
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		if err := tx.DeleteRobot(ctx, r.ID); err != nil {
			return err
		}
		tx.Emit(event(ctx, events.RobotDeleted, r.ProjectID, prefix+r.Name))
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("robot %d not found", r.ID)
	}
	return err
}

// Grantable lists what robots may be granted, for the admins who create them (Harbor's
// getPermissions): system administrators get both lists, project admins (of any project) the
// project list.
func (s *Service) Grantable(ctx context.Context) (systemLevel, projectLevel []rbac.Permission, err error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return nil, nil, err
	}
	caller := auth.PrincipalFrom(ctx)
	refused := fault.Forbiddenf("only admins (system and project) can access permissions")
	switch {
	case caller.SysAdmin:
		return rbac.GrantablePermissions(meta.RobotKindSystem), rbac.GrantablePermissions(meta.RobotKindProject), nil
	case caller.Kind == auth.User:
		admin, err := s.Store.IsProjectAdminAnywhere(ctx, caller.ID)
		if err != nil {
			return nil, nil, err
		}
		if !admin {
			return nil, nil, refused
		}
		return nil, rbac.GrantablePermissions(meta.RobotKindProject), nil
	}
	return nil, nil, refused
}
