package api

// labelRoutes registers the endpoints for labels.
func (h *Handler) labelRoutes(r route) {}
