package portal

// A project's logs (/projects/{project}/logs): its audit entries, newest first, paged, with
// the filters Harbor's project logs take in q (username and resource in part, resource type
// and operation exactly, a range of operation times). The entries come from the audit
// service, as /api/v2.0/projects/{project_name}/logs has them.

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
)

var logSortKeys = []string{"op_time", "username", "resource", "resource_type", "operation"}

// The resource types and operations the audit log records for a project (internal/audit), for
// the filters' choices.
var (
	logResourceTypes = []string{"artifact", "tag", "repository", "project", "project_member", "robot", "project_scanner", "scan"}
	logOperations    = []string{"create", "update", "delete", "pull"}
)

type logsPage struct {
	Project string
	Tabs    projectTabs
	Rows    []meta.AuditEntry
	List    listing
	// The filters as given.
	User, Resource, ResourceType, Operation, From, To string
	ResourceTypes, Operations                         []string
	Filtered                                          bool
}

func (h *Handler) projectLogs(c *call) error {
	lq, l, err := parseListing(c.r, logSortKeys)
	if err != nil {
		return err
	}
	// The page's own filters stand for the generic name box.
	lq.Filters, l.Filter = nil, ""
	q := c.r.URL.Query()
	pg := logsPage{User: strings.TrimSpace(q.Get("user")), Resource: strings.TrimSpace(q.Get("resource")),
		ResourceType: strings.TrimSpace(q.Get("resource_type")), Operation: strings.TrimSpace(q.Get("operation")),
		From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")),
		ResourceTypes: logResourceTypes, Operations: logOperations}
	l.extra = url.Values{}
	for _, f := range []struct {
		param, key, value string
		op                meta.FilterOp
	}{
		{"user", "username", pg.User, meta.OpFuzzy},
		{"resource", "resource", pg.Resource, meta.OpFuzzy},
		{"resource_type", "resource_type", pg.ResourceType, meta.OpExact},
		{"operation", "operation", pg.Operation, meta.OpExact},
	} {
		if f.value != "" {
			lq.Filters = append(lq.Filters, meta.Filter{Key: f.key, Op: f.op, Values: []string{f.value}})
			l.extra.Set(f.param, f.value)
		}
	}
	if pg.From != "" || pg.To != "" {
		r := meta.Filter{Key: "op_time", Op: meta.OpRange}
		if pg.From != "" {
			d, err := time.Parse(time.DateOnly, pg.From)
			if err != nil {
				return fault.Invalidf("The date %q is not a date such as 2026-01-31.", pg.From)
			}
			r.Min = d.Format(time.DateTime)
			l.extra.Set("from", pg.From)
		}
		if pg.To != "" {
			d, err := time.Parse(time.DateOnly, pg.To)
			if err != nil {
				return fault.Invalidf("The date %q is not a date such as 2026-01-31.", pg.To)
			}
			// The whole of the last day.
			r.Max = d.Add(24*time.Hour - time.Second).Format(time.DateTime)
			l.extra.Set("to", pg.To)
		}
		lq.Filters = append(lq.Filters, r)
	}
	pg.Filtered = len(l.extra) > 0
	v, err := h.Projects.Get(c.ctx(), c.r.PathValue("project"), true)
	if err != nil {
		return err
	}
	rows, total, err := h.AuditLog.ProjectLog(c.ctx(), v.Project.Name, lq)
	if err != nil {
		return err
	}
	l.Total = total
	pg.Project, pg.Rows, pg.List = v.Project.Name, rows, l
	if pg.Tabs, err = h.projectTabs(c, v, "logs"); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "logs", pg)
	return nil
}
