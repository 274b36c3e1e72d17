package api

// Quotas: /quotas and /quotas/{id} (Harbor's swagger "quota" operations; the rules are
// project.Service's).

import (
	"net/http"

	"github.com/berthreg/berth/internal/meta"
)

func (h *Handler) quotaRoutes(r route) {
	r("GET /quotas", h.listQuotas)
	r("GET /quotas/{id}", h.getQuota)
	r("PUT /quotas/{id}", h.updateQuota)
}

// quotaJSON is Harbor's Quota.
type quotaJSON struct {
	ID           int64          `json:"id"`
	Ref          map[string]any `json:"ref"`
	Hard         resourceList   `json:"hard"`
	Used         resourceList   `json:"used"`
	CreationTime string         `json:"creation_time"`
	UpdateTime   string         `json:"update_time"`
}

func quotaToJSON(q meta.Quota) quotaJSON {
	return quotaJSON{
		ID:           q.ID,
		Ref:          map[string]any{"id": q.ProjectID, "name": q.ProjectName, "owner_name": q.OwnerName},
		Hard:         resourceList{"storage": q.Hard},
		Used:         resourceList{"storage": q.Used},
		CreationTime: harborTime(q.CreatedAt), UpdateTime: harborTime(q.UpdatedAt),
	}
}

func (h *Handler) listQuotas(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	params := c.r.URL.Query()
	qs, total, err := h.Projects.Quotas(c.r.Context(), lq, params.Get("reference"), params.Get("reference_id"))
	if err != nil {
		return err
	}
	out := make([]quotaJSON, 0, len(qs))
	for _, q := range qs {
		out = append(out, quotaToJSON(q))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) getQuota(c *call) error {
	id, err := pathID(c, "id", "quota")
	if err != nil {
		return err
	}
	q, err := h.Projects.Quota(c.r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, quotaToJSON(q))
	return nil
}

func (h *Handler) updateQuota(c *call) error {
	id, err := pathID(c, "id", "quota")
	if err != nil {
		return err
	}
	var req struct {
		Hard map[string]int64 `json:"hard"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Projects.SetQuota(c.r.Context(), id, req.Hard); err != nil {
		return err
	}
	return ok(c)
}
