package api

// Audit logs: /audit-logs and /projects/{project_name}/logs (Harbor's swagger "auditlog" and
// getLogs operations), and the same entries as Harbor 2.13's extended audit log shows them,
// /auditlog-exts, /auditlog-exts/events and /projects/{project_name}/auditlog-exts
// (listAuditLogExts, listAuditLogEventTypes, getLogExts). Entries are written by
// internal/audit from /v2/ and the API.

import (
	"net/http"

	"github.com/berthreg/berth/internal/meta"
)

func (h *Handler) auditRoutes(r route) {
	r("GET /audit-logs", h.listAuditLogs)
	r("GET /projects/{project_name}/logs", h.listProjectLogs)
	r("GET /auditlog-exts", h.listAuditLogExts)
	r("GET /auditlog-exts/events", h.listAuditLogEventTypes)
	r("GET /projects/{project_name}/auditlog-exts", h.listProjectLogExts)
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

// auditLogExtJSON is Harbor's AuditLogExt. Berth records what committed, so every entry's
// operation succeeded.
type auditLogExtJSON struct {
	ID                   int64  `json:"id"`
	Username             string `json:"username"`
	Resource             string `json:"resource"`
	ResourceType         string `json:"resource_type"`
	Operation            string `json:"operation"`
	OperationDescription string `json:"operation_description"`
	OperationResult      bool   `json:"operation_result"`
	OpTime               string `json:"op_time"`
}

func (h *Handler) listAuditLogExts(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	entries, total, err := h.AuditLog.ListExt(c.r.Context(), lq)
	if err != nil {
		return err
	}
	return writeAuditLogExts(c, entries, total, page, lq.Limit)
}

func (h *Handler) listProjectLogExts(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	entries, total, err := h.AuditLog.ProjectLogExt(c.r.Context(), pathValue(c, "project_name"), lq)
	if err != nil {
		return err
	}
	return writeAuditLogExts(c, entries, total, page, lq.Limit)
}

func writeAuditLogExts(c *call, entries []meta.AuditEntry, total int64, page, limit int) error {
	out := make([]auditLogExtJSON, len(entries))
	for i, e := range entries {
		out[i] = auditLogExtJSON{ID: e.ID, Username: e.Username, Resource: e.Resource, ResourceType: e.ResourceType,
			Operation: e.Operation, OperationDescription: e.OpDesc, OperationResult: true, OpTime: harborTime(e.OpTime)}
	}
	setPageHeaders(c.w, c.r, page, limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// listAuditLogEventTypes answers Harbor's AuditLogEventType list.
func (h *Handler) listAuditLogEventTypes(c *call) error {
	types, err := h.AuditLog.EventTypes(c.r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]string, len(types))
	for i, t := range types {
		out[i] = map[string]string{"event_type": t}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
