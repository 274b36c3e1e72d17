package api

// systemRoutes registers the endpoints for systeminfo, health, statistics, search.
func (h *Handler) systemRoutes(r route) {}
