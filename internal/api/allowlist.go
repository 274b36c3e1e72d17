package api

// CVE allowlists: the system's (/system/CVEAllowlist) and each project's (the cve_allowlist
// field of ProjectReq and Project); the rules are project.Service's, and the vulnerability
// gate of pulls reads the lists.

import (
	"net/http"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
)

func (h *Handler) allowlistRoutes(r route) {
	r("GET /system/CVEAllowlist", h.getSystemAllowlist)
	r("PUT /system/CVEAllowlist", h.putSystemAllowlist)
}

type allowlistItem struct {
	CVEID string `json:"cve_id"`
}

// allowlistJSON is Harbor's CVEAllowlist. expires_at is left out when the list never expires.
type allowlistJSON struct {
	ID           int64           `json:"id"`
	ProjectID    int64           `json:"project_id"`
	ExpiresAt    *int64          `json:"expires_at,omitempty"`
	Items        []allowlistItem `json:"items"`
	CreationTime string          `json:"creation_time"`
	UpdateTime   string          `json:"update_time"`
}

func allowlistToJSON(l meta.CVEAllowlist) allowlistJSON {
	items := make([]allowlistItem, len(l.Items))
	for i, id := range l.Items {
		items[i] = allowlistItem{CVEID: id}
	}
	return allowlistJSON{
		ID: l.ID, ProjectID: l.ProjectID, ExpiresAt: l.ExpiresAt, Items: items,
		CreationTime: harborTime(l.CreatedAt), UpdateTime: harborTime(l.UpdatedAt),
	}
}

// allowlistReq is a CVEAllowlist in a request body. Clients send back what they read, so the
// read-only fields (id, times) are accepted and ignored.
type allowlistReq struct {
	ID           *int64          `json:"id"`
	ProjectID    *int64          `json:"project_id"`
	ExpiresAt    *int64          `json:"expires_at"`
	Items        []allowlistItem `json:"items"`
	CreationTime *string         `json:"creation_time"`
	UpdateTime   *string         `json:"update_time"`
}

func (l *allowlistReq) allowlist() project.Allowlist {
	items := make([]string, len(l.Items))
	for i, it := range l.Items {
		items[i] = it.CVEID
	}
	return project.Allowlist{ProjectID: l.ProjectID, Items: items, ExpiresAt: l.ExpiresAt}
}

func (h *Handler) getSystemAllowlist(c *call) error {
	l, err := h.Projects.SystemAllowlist(c.r.Context())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, allowlistToJSON(l))
	return nil
}

func (h *Handler) putSystemAllowlist(c *call) error {
	var req allowlistReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Projects.SetSystemAllowlist(c.r.Context(), req.allowlist()); err != nil {
		return err
	}
	return ok(c)
}
