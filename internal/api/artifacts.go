package api

// artifactRoutes registers the endpoints for repositories, artifacts, tags.
func (h *Handler) artifactRoutes(r route) {}
