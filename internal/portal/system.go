package portal

// The system's administration pages beside users and garbage collection: the audit log
// (/admin/logs), the system configuration with the system CVE allowlist
// (/admin/configuration), the quotas of every project (/admin/quotas), and stopping a running
// garbage collection. Each calls the services of the matching /api/v2.0 endpoints
// (auditlog-exts, configurations and system/CVEAllowlist, quotas, PUT system/gc/{id}), which
// decide; the Can methods of those services only decide what to offer.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

func (h *Handler) systemRoutes(mux *http.ServeMux) {
	mux.Handle("GET /admin/logs", h.page(h.auditLog))
	mux.Handle("GET /admin/configuration", h.page(h.systemConfiguration))
	mux.Handle("POST /admin/configuration", h.change(h.saveSystemConfiguration))
	mux.Handle("POST /admin/configuration/allowlist", h.change(h.saveSystemAllowlist))
	mux.Handle("GET /admin/quotas", h.page(h.listQuotas))
	mux.Handle("GET /admin/quotas/{id}", h.page(h.quotaForm))
	mux.Handle("POST /admin/quotas/{id}", h.change(h.saveQuota))
	mux.Handle("POST /admin/gc/{id}/stop", h.change(h.stopGC))
}

// systemLinks are this file's administration pages the caller may open, for adminLinks.
func (h *Handler) systemLinks(c *call) ([]adminLink, error) {
	var out []adminLink
	if h.AuditLog != nil {
		ok, err := h.AuditLog.CanListAll(c.ctx())
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, adminLink{"/admin/logs", "Audit log", "Every recorded operation, newest first, filtered by user, resource, operation and time."})
		}
	}
	if h.Settings != nil {
		ok, err := h.Settings.Can(c.ctx(), rbac.ActRead)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, adminLink{"/admin/configuration", "Configuration", "Authentication, token expiry, robot accounts, project creation, read-only mode and the system CVE allowlist."})
		}
	}
	if h.Projects != nil {
		ok, err := h.Projects.CanQuotas(c.ctx(), rbac.ActList)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, adminLink{"/admin/quotas", "Quotas", "Every project's storage limit and use, largest first; change a project's limit."})
		}
	}
	return out, nil
}

// requireCan refuses (as the service would) a caller to whom a Can method said no: for the
// pages shown before the service is called.
func requireCan(c *call, ok bool, err error) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	if err != nil || ok {
		return err
	}
	return fault.ErrForbidden
}

// The audit log.

var auditSortKeys = []string{"op_time", "username", "resource", "resource_type", "operation"}

type auditLogPage struct {
	Entries []meta.AuditEntry
	List    listing
	// The filter form's values.
	User, Resource, ResourceType, Operation, From, To string
	// ResourceTypes and Operations are the choices of the filter's selects.
	ResourceTypes, Operations []string
	// Filtered is whether any filter is set.
	Filtered bool
}

func (h *Handler) auditLog(c *call) error {
	ok, err := h.AuditLog.CanListAll(c.ctx())
	if err := requireCan(c, ok, err); err != nil {
		return err
	}
	lq, l, err := parseListing(c.r, auditSortKeys)
	if err != nil {
		return err
	}
	// This page has its own filters, not the listings' name filter.
	lq.Filters, l.Filter = nil, ""
	q := c.r.URL.Query()
	pg := auditLogPage{
		User: strings.TrimSpace(q.Get("user")), Resource: strings.TrimSpace(q.Get("resource")),
		ResourceType: q.Get("resource_type"), Operation: q.Get("operation"),
		From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")),
	}
	l.extra = url.Values{}
	add := func(param, value string, f meta.Filter) {
		if value == "" {
			return
		}
		l.extra.Set(param, value)
		lq.Filters = append(lq.Filters, f)
		pg.Filtered = true
	}
	add("user", pg.User, meta.Filter{Key: "username", Op: meta.OpFuzzy, Values: []string{pg.User}})
	add("resource", pg.Resource, meta.Filter{Key: "resource", Op: meta.OpFuzzy, Values: []string{pg.Resource}})
	add("resource_type", pg.ResourceType, meta.Filter{Key: "resource_type", Op: meta.OpExact, Values: []string{pg.ResourceType}})
	add("operation", pg.Operation, meta.Filter{Key: "operation", Op: meta.OpExact, Values: []string{pg.Operation}})
	if pg.From != "" || pg.To != "" {
		f := meta.Filter{Key: "op_time", Op: meta.OpRange}
		for _, d := range []struct {
			value, param string
			bound        *string
			end          bool
		}{{pg.From, "from", &f.Min, false}, {pg.To, "to", &f.Max, true}} {
			if d.value == "" {
				continue
			}
			t, err := time.Parse(dateLayout, d.value)
			if err != nil {
				return fault.Invalidf("The date %q is not a date such as 2027-01-31.", d.value)
			}
			if d.end { // to the end of that day
				t = t.Add(24*time.Hour - time.Microsecond)
			}
			*d.bound = t.UTC().Format(time.RFC3339Nano)
			l.extra.Set(d.param, d.value)
		}
		lq.Filters = append(lq.Filters, f)
		pg.Filtered = true
	}
	types, err := h.AuditLog.EventTypes(c.ctx())
	if err != nil {
		return err
	}
	seenOp, seenType := map[string]bool{}, map[string]bool{}
	for _, t := range types {
		op, typ, ok := strings.Cut(t, "_")
		if !ok {
			continue
		}
		if !seenOp[op] {
			seenOp[op] = true
			pg.Operations = append(pg.Operations, op)
		}
		if !seenType[typ] {
			seenType[typ] = true
			pg.ResourceTypes = append(pg.ResourceTypes, typ)
		}
	}
	es, total, err := h.AuditLog.ListExt(c.ctx(), lq)
	if err != nil {
		return err
	}
	l.Total = total
	pg.Entries, pg.List = es, l
	h.render(c.w, c, http.StatusOK, "audit_log", pg)
	return nil
}

// Stopping a garbage collection.

func (h *Handler) stopGC(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return fault.NotFoundf("There is no garbage collection %q.", c.r.PathValue("id"))
	}
	if err := h.GC.Stop(c.ctx(), id); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, "/admin/gc?done=stopping", http.StatusSeeOther)
	return nil
}
