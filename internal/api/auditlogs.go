package api

// Audit logs: /audit-logs and /projects/{project_name}/logs (Harbor's swagger "auditlog" and
// getLogs operations). Entries are written by internal/audit from /v2/ and the API.

import (
	"net/http"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
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

var logList = rbac.Permission{Resource: rbac.ResLog, Action: rbac.ActList}

// logRoles are the project roles that may read a project's logs, read from the permission
// table so this listing cannot disagree with the authorization decision.
func logRoles() []int {
	var roles []int
	for _, r := range []int{meta.RoleProjectAdmin, meta.RoleMaintainer, meta.RoleDeveloper, meta.RoleGuest, meta.RoleLimitedGuest} {
		if rbac.RoleAllows(r, logList) {
			roles = append(roles, r)
		}
	}
	return roles
}

// listAuditLogs shows system administrators (and system robots granted audit-log:list) every
// entry and other users the entries of the projects whose logs they may read.
func (h *Handler) listAuditLogs(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	// Everything for those holding audit-log:list at system level (system administrators and
	// system robots granted it), as Harbor's RequireSystemAccess decides.
	all, err := h.Authz.CanSystem(c.r.Context(), c.p, rbac.ResAuditLog, rbac.ActList)
	if err != nil {
		return err
	}
	var scope meta.AuditScope
	switch {
	case all:
		scope.All = true
	case c.p.Kind == auth.User:
		scope.UserID, scope.Roles = c.p.ID, logRoles()
	}
	return h.writeAuditLogs(c, scope)
}

func (h *Handler) listProjectLogs(c *call) error {
	p, err := h.projectByName(c, pathValue(c, "project_name"))
	if err != nil {
		return err
	}
	if err := h.authorize(c, p, rbac.ResLog, rbac.ActList); err != nil {
		return err
	}
	return h.writeAuditLogs(c, meta.AuditScope{ProjectID: p.ID})
}

func (h *Handler) writeAuditLogs(c *call, scope meta.AuditScope) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	entries, total, err := h.DB.ListAudit(c.r.Context(), lq, scope)
	if err != nil {
		return err
	}
	out := make([]auditLogJSON, len(entries))
	for i, e := range entries {
		out[i] = auditLogJSON{ID: e.ID, Username: e.Username, Resource: e.Resource, ResourceType: e.ResourceType,
			Operation: e.Operation, OpTime: harborTime(e.OpTime)}
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
