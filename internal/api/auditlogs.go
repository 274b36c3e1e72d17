package api

// auditRoutes registers the endpoints for audit logs.
func (h *Handler) auditRoutes(r route) {}
