package api

// Robot accounts: Harbor's v2 robot API (/robots) and the list of what robots may be granted
// (/permissions), over the robot service (internal/auth/robot), which holds their rules.

import (
	"net/http"
	"strconv"

	"github.com/berthreg/berth/internal/auth/robot"
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

// robotSecJSON is Harbor's RobotSec. Answering a refresh, it carries a generated secret; a
// secret the caller chose is not sent back, and the answer is {} as Harbor's.
type robotSecJSON struct {
	Secret string `json:"secret,omitempty"`
}

func toRobotJSON(r robot.Robot) robotJSON {
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
		ID: r.ID, Name: r.Login, Description: r.Description, Level: r.Level(), Duration: &d,
		Editable: true, Disable: r.Disabled, ExpiresAt: r.ExpiresAt, Permissions: perms,
		CreatorType: r.CreatorType, CreatorRef: r.CreatorRef,
		CreationTime: harborTime(r.CreatedAt), UpdateTime: harborTime(r.UpdatedAt),
	}
}

// robotPermissions reads requested permissions: their namespaces name projects.
func robotPermissions(req []robotPermissionJSON) []meta.RobotPermission {
	out := make([]meta.RobotPermission, 0, len(req))
	for _, p := range req {
		rp := meta.RobotPermission{Kind: p.Kind, Namespace: p.Namespace}
		for _, a := range p.Access {
			rp.Access = append(rp.Access, meta.RobotAccess{Resource: a.Resource, Action: a.Action, Effect: a.Effect})
		}
		out = append(out, rp)
	}
	return out
}

func (h *Handler) createRobot(c *call) error {
	var req robotCreateReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	r, secret, err := h.Robots.Create(c.r.Context(), robot.Spec{
		Name: req.Name, Description: req.Description, Secret: req.Secret, Level: req.Level, Disabled: req.Disable,
		Duration: req.Duration, Permissions: robotPermissions(req.Permissions), ProjectsByName: headerTrue(c, "X-Is-Resource-Name"),
	})
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", base+"/robots/"+strconv.FormatInt(r.ID, 10))
	writeJSON(c.w, http.StatusCreated, robotCreatedJSON{
		ID: r.ID, Name: r.Login, Secret: secret, CreationTime: harborTime(r.CreatedAt), ExpiresAt: r.ExpiresAt,
	})
	return nil
}

func (h *Handler) getRobot(c *call) error {
	id, err := pathID(c, "robot_id", "robot")
	if err != nil {
		return err
	}
	r, err := h.Robots.Get(c.r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toRobotJSON(r))
	return nil
}

func (h *Handler) listRobots(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	rs, total, err := h.Robots.List(c.r.Context(), lq, headerTrue(c, "X-Is-Resource-Name"))
	if err != nil {
		return err
	}
	out := make([]robotJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, toRobotJSON(r))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) updateRobot(c *call) error {
	id, err := pathID(c, "robot_id", "robot")
	if err != nil {
		return err
	}
	var req robotJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	err = h.Robots.Update(c.r.Context(), id, robot.Change{
		Name: req.Name, Level: req.Level, Description: req.Description, Disabled: req.Disable, Duration: req.Duration,
		Permissions: robotPermissions(req.Permissions), ProjectsByName: headerTrue(c, "X-Is-Resource-Name"),
	})
	if err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) refreshRobotSecret(c *call) error {
	id, err := pathID(c, "robot_id", "robot")
	if err != nil {
		return err
	}
	var req robotSecJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	secret, err := h.Robots.RefreshSecret(c.r.Context(), id, req.Secret)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, robotSecJSON{Secret: secret})
	return nil
}

func (h *Handler) deleteRobot(c *call) error {
	id, err := pathID(c, "robot_id", "robot")
	if err != nil {
		return err
	}
	if err := h.Robots.Delete(c.r.Context(), id); err != nil {
		return err
	}
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

func grantList(ps []rbac.Permission) []grantJSON {
	out := make([]grantJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, grantJSON{Resource: string(p.Resource), Action: string(p.Action)})
	}
	return out
}

// permissions lists what robots may be granted.
func (h *Handler) permissions(c *call) error {
	system, project, err := h.Robots.Grantable(c.r.Context())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, permissionsJSON{System: grantList(system), Project: grantList(project)})
	return nil
}
