package api

// Quotas: /quotas and /quotas/{id} (Harbor's swagger "quota" operations). Each project has one
// storage quota; as in Harbor these endpoints are for system administrators and system robots
// granted quota:list / quota:read (project members see their project's quota in
// /projects/{p}/summary).

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
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
	if err := h.authorizeSystem(c, rbac.ResQuota, rbac.ActList); err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	params := c.r.URL.Query()
	var projectID int64
	// Quotas reference projects only; another reference, or an id no project can have,
	// matches nothing (Harbor compares them as strings).
	none := false
	if ref := params.Get("reference"); ref != "" && ref != "project" {
		none = true
	}
	if s := params.Get("reference_id"); s != "" {
		if projectID, err = strconv.ParseInt(s, 10, 64); err != nil || projectID <= 0 {
			none = true
		}
	}
	out := []quotaJSON{}
	var total int64
	if !none {
		qs, n, err := h.DB.ListQuotas(c.r.Context(), lq, projectID)
		if err != nil {
			return err
		}
		total = n
		for _, q := range qs {
			out = append(out, quotaToJSON(q))
		}
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) getQuota(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResQuota, rbac.ActRead); err != nil {
		return err
	}
	id, err := pathID(c, "id", "quota")
	if err != nil {
		return err
	}
	q, err := h.DB.QuotaByID(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("quota %d not found", id))
	}
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, quotaToJSON(q))
	return nil
}

func (h *Handler) updateQuota(c *call) error {
	if err := h.requireSysAdmin(c); err != nil {
		return err
	}
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
	if len(req.Hard) == 0 {
		return badRequest("hard required in body")
	}
	for name := range req.Hard {
		if name != "storage" {
			return badRequest(fmt.Sprintf("resource %s not support", name))
		}
	}
	hard, found := req.Hard["storage"]
	if !found {
		return badRequest("resource storage not found")
	}
	if err := validStorageLimit(hard); err != nil {
		return err
	}
	err = h.DB.SetQuotaHard(c.r.Context(), id, hard)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("quota %d not found", id))
	}
	if err != nil {
		return err
	}
	return ok(c)
}
