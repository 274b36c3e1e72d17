package api

import (
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// authorize checks a permission in a project through the one authorization decision. Callers
// have already resolved the project with h.project, which hides projects the caller cannot
// see; a visible project without the permission is 403 (401 for anonymous callers).
func (h *Handler) authorize(c *call, p meta.Project, res rbac.Resource, act rbac.Action) error {
	ok, err := h.Authz.Can(c.r.Context(), c.p, p, res, act)
	if err != nil {
		return err
	}
	if !ok {
		if c.p.IsAnonymous() {
			return unauthorized()
		}
		return forbidden()
	}
	return nil
}

// requireSignedIn refuses anonymous callers.
func (h *Handler) requireSignedIn(c *call) error {
	if c.p.IsAnonymous() {
		return unauthorized()
	}
	return nil
}

// requireSysAdmin admits system administrators only.
func (h *Handler) requireSysAdmin(c *call) error {
	if c.p.IsAnonymous() {
		return unauthorized()
	}
	if !c.p.SysAdmin {
		return forbidden()
	}
	return nil
}

// authorizeSystem checks a system-level permission through the authorizer: system
// administrators, and robots granted it.
func (h *Handler) authorizeSystem(c *call, res rbac.Resource, act rbac.Action) error {
	if c.p.IsAnonymous() {
		return unauthorized()
	}
	ok, err := h.Authz.CanSystem(c.r.Context(), c.p, res, act)
	if err != nil {
		return err
	}
	if !ok {
		return forbidden()
	}
	return nil
}
