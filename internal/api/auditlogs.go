package api

// Audit logs: /audit-logs and /projects/{project_name}/logs (Harbor's swagger "auditlog" and
// getLogs operations). Entries are written by internal/audit from /v2/ and the API.

import (
	"net/http"

	"github.com/berthreg/berth/internal/meta"
)

func (h *Handler) auditRoutes(r route) {
	r("GET /audit-logs", h.listAuditLogs)
	r("GET /projects/{project_name}/logs", h.listProjectLogs)
}

// auditLogJSON is Harbor's AuditLog.
type auditLogJSON struct {
	ID           int64  `json:"id"`
	Username     string `json:"username"`
	Resource     string `json:"resource"`
	ResourceType string `json:"resource_type"`
	Operation    string `json:"operation"`
	OpTime       string `json:"op_time"`
}

func (h *Handler) listAuditLogs(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	entries, total, err := h.AuditLog.List(c.r.Context(), lq)
	if err != nil {
		return err
	}
	return writeAuditLogs(c, entries, total, page, lq.Limit)
}

func (h *Handler) listProjectLogs(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	entries, total, err := h.AuditLog.ProjectLog(c.r.Context(), pathValue(c, "project_name"), lq)
	if err != nil {
		return err
	}
	return writeAuditLogs(c, entries, total, page, lq.Limit)
}

func writeAuditLogs(c *call, entries []meta.AuditEntry, total int64, page, limit int) error {
	out := make([]auditLogJSON, len(entries))
	for i, e := range entries {
		out[i] = auditLogJSON{ID: e.ID, Username: e.Username, Resource: e.Resource, ResourceType: e.ResourceType,
			Operation: e.Operation, OpTime: harborTime(e.OpTime)}
	}
	setPageHeaders(c.w, c.r, page, limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
