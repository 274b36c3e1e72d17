package api

// Accessories of an artifact (swagger tag "artifact"), through the registry's artifact service.

import "net/http"

func (h *Handler) listAccessories(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	accs, total, err := h.Artifacts.Accessories(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"),
		pathValue(c, "reference"), lq)
	if err != nil {
		return err
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, toAccessoriesJSON(accs))
	return nil
}
