package api

// quotaRoutes registers the endpoints for quotas.
func (h *Handler) quotaRoutes(r route) {}
