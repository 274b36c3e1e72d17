package api

// CVE allowlists: the system's (/system/CVEAllowlist) and each project's (the cve_allowlist
// field of ProjectReq and Project). They are stored and returned; the pull gate that reads them
// arrives with scanning.

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/berthreg/berth/internal/meta"
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

// validItems returns the CVE ids, each non-empty and listed once (Harbor's rule).
func (l *allowlistReq) validItems() ([]string, error) {
	seen := make(map[string]bool, len(l.Items))
	out := make([]string, 0, len(l.Items))
	for _, it := range l.Items {
		id := strings.TrimSpace(it.CVEID)
		if id == "" {
			return nil, badRequest("empty or whitespace-only CVE ID in allowlist")
		}
		if seen[id] {
			return nil, badRequest(fmt.Sprintf("duplicate CVE ID in allowlist: %s", id))
		}
		seen[id] = true
		out = append(out, id)
	}
	return out, nil
}

// getSystemAllowlist is open to every signed-in user, as in Harbor.
func (h *Handler) getSystemAllowlist(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	l, err := h.DB.CVEAllowlist(c.r.Context(), meta.SystemAllowlistProject)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, allowlistToJSON(l))
	return nil
}

func (h *Handler) putSystemAllowlist(c *call) error {
	if err := h.requireSysAdmin(c); err != nil {
		return err
	}
	var req allowlistReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.ProjectID != nil && *req.ProjectID != meta.SystemAllowlistProject {
		return badRequest(fmt.Sprintf("project_id of the system allowlist must be 0, not %d", *req.ProjectID))
	}
	items, err := req.validItems()
	if err != nil {
		return err
	}
	if err := h.DB.SetCVEAllowlist(c.r.Context(), meta.CVEAllowlist{ProjectID: meta.SystemAllowlistProject, Items: items, ExpiresAt: req.ExpiresAt}); err != nil {
		return err
	}
	return ok(c)
}
