package api

import "github.com/berthreg/berth/internal/rbac"

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
