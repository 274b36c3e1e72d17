package api

// robotRoutes registers the endpoints for robot accounts.
func (h *Handler) robotRoutes(r route) {}
