package api

// userRoutes registers the endpoints for users, sessions, configurations.
func (h *Handler) userRoutes(r route) {}
