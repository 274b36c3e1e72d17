package api

// memberRoutes registers the endpoints for project members.
func (h *Handler) memberRoutes(r route) {}
