package server

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// Harbor 2.13's extended audit log: /auditlog-exts, /auditlog-exts/events and
// /projects/{project_name}/auditlog-exts, read from the entries of the audit log.

// tAuditLogExt is Harbor's AuditLogExt.
type tAuditLogExt struct {
	ID                   int64  `json:"id"`
	Username             string `json:"username"`
	Resource             string `json:"resource"`
	ResourceType         string `json:"resource_type"`
	Operation            string `json:"operation"`
	OperationDescription string `json:"operation_description"`
	OperationResult      *bool  `json:"operation_result"`
	OpTime               string `json:"op_time"`
}

func (l tAuditLogExt) String() string {
	return l.Username + " " + l.Operation + " " + l.ResourceType + " " + l.Resource + " | " + l.OperationDescription
}

// extLogs lists extended audit entries, waiting until the listing has at least min entries.
func (a projAPI) extLogs(t *testing.T, path string, auth http.Header, min int) []tAuditLogExt {
	t.Helper()
	return listLogs[tAuditLogExt](t, a, path, auth, min)
}

func TestExtendedAuditLog(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		_, dave := a.user(t, "dave")
		_, erin := a.user(t, "erin")
		a.project(t, "ext", false)
		a.project(t, "other", true)
		_, d := ts.pushImage(t, "ext/app", "v1", mtOCIManifest)
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/ext/app/manifests/v1", nil, nil), http.StatusOK)
		expectStatus(t, ts.mrJSON(t, http.MethodPost, apiBase+"/projects/ext/members", nil,
			map[string]any{"role_id": meta.RoleProjectAdmin, "member_user": map[string]string{"username": "dave"}}), http.StatusCreated)
		expectStatus(t, ts.mrJSON(t, http.MethodPut, apiBase+"/projects/ext", nil, map[string]any{"metadata": map[string]string{"auto_scan": "false"}}), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/ext/app/manifests/"+d, nil, nil), http.StatusAccepted)

		want := []string{
			"admin create project ext | create project: ext",
			"admin create project other | create project: other",
			"admin create artifact ext/app:v1 | push artifact: ext/app@" + d,
			"admin pull artifact ext/app:v1 | pull artifact: ext/app@" + d,
			"admin create member dave | create user member dave in project ext",
			"admin update project ext | update project: ext",
			"admin delete artifact ext/app@" + d + " | delete artifact: ext/app@" + d,
		}
		logs := a.extLogs(t, apiBase+"/auditlog-exts?sort=op_time&page_size=100", nil, len(want))
		if got := entries(logs); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("extended audit log (oldest first):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, l := range logs {
			if _, err := time.Parse(time.RFC3339, l.OpTime); err != nil || l.ID == 0 || l.OperationResult == nil || !*l.OperationResult {
				t.Errorf("entry %+v: want an id, a date-time and operation_result true", l)
			}
		}
		// The audit log names the same member entry project_member, as before.
		legacy := a.logs(t, apiBase+"/audit-logs?q="+url.QueryEscape("resource=dave"), nil, 1)
		if len(legacy) != 1 || legacy[0].ResourceType != "project_member" {
			t.Errorf("audit log's member entry: %v", entries(legacy))
		}

		q := func(s string) string { return "q=" + url.QueryEscape(s) }
		cases := []struct {
			name string
			path string
			auth http.Header
			want []string
		}{
			{"newest first", "/auditlog-exts?page_size=1", nil, want[6:]},
			{"resource type", "/auditlog-exts?" + q("resource_type=member"), nil, want[4:5]},
			{"description", "/auditlog-exts?sort=op_time&" + q("operation_description=~push artifact"), nil, want[2:3]},
			{"operation and user", "/auditlog-exts?sort=op_time&" + q("operation={create update},username=admin,resource_type=project"), nil, []string{want[0], want[1], want[5]}},
			{"project admin sees its project", "/auditlog-exts?sort=op_time", dave, []string{want[0], want[2], want[3], want[4], want[5], want[6]}},
			{"outsider sees nothing", "/auditlog-exts", erin, nil},
			{"project log", "/projects/ext/auditlog-exts?sort=op_time&" + q("operation=pull"), dave, want[3:4]},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var got []tAuditLogExt
				resp := a.get(t, apiBase+c.path, c.auth, &got)
				if g := entries(got); !slices.Equal(g, c.want) && !(len(g) == 0 && len(c.want) == 0) {
					t.Errorf("GET %s:\n%s\nwant:\n%s", c.path, strings.Join(g, "\n"), strings.Join(c.want, "\n"))
				}
				if c.name != "newest first" && resp.Header.Get("X-Total-Count") != fmt.Sprint(len(c.want)) {
					t.Errorf("GET %s: X-Total-Count %s, want %d", c.path, resp.Header.Get("X-Total-Count"), len(c.want))
				}
			})
		}
		var page []tAuditLogExt
		resp := a.get(t, apiBase+"/auditlog-exts?page=2&page_size=3", nil, &page)
		if len(page) != 3 || resp.Header.Get("X-Total-Count") != "7" || !strings.Contains(resp.Header.Get("Link"), `rel="prev"`) ||
			!strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
			t.Errorf("page 2 of 3: %d entries, headers %v", len(page), resp.Header)
		}

		var types []struct {
			EventType string `json:"event_type"`
		}
		a.get(t, apiBase+"/auditlog-exts/events", nil, &types)
		var names []string
		for _, e := range types {
			names = append(names, e.EventType)
		}
		for _, n := range []string{"create_artifact", "delete_artifact", "pull_artifact", "create_project", "update_project", "create_member", "create_tag"} {
			if !slices.Contains(names, n) {
				t.Errorf("event types %q lack %s", names, n)
			}
		}

		errs := []struct {
			name   string
			path   string
			auth   http.Header
			status int
			code   string
		}{
			{"anonymous", "/auditlog-exts", anonymous(), 401, "UNAUTHORIZED"},
			{"unknown key", "/auditlog-exts?" + q("colour=red"), nil, 400, "BAD_REQUEST"},
			{"bad sort", "/auditlog-exts?sort=colour", nil, 400, "BAD_REQUEST"},
			{"event types, anonymous", "/auditlog-exts/events", anonymous(), 401, "UNAUTHORIZED"},
			{"event types, not an administrator", "/auditlog-exts/events", dave, 403, "FORBIDDEN"},
			{"project log, outsider", "/projects/ext/auditlog-exts", erin, 404, "NOT_FOUND"},
			{"project log, outsider of a public project", "/projects/other/auditlog-exts", erin, 403, "FORBIDDEN"},
			{"project log, anonymous", "/projects/other/auditlog-exts", anonymous(), 401, "UNAUTHORIZED"},
			{"project log, unknown project", "/projects/nothing/auditlog-exts", nil, 404, "NOT_FOUND"},
		}
		for _, c := range errs {
			t.Run(c.name, func(t *testing.T) {
				expectAPIError(t, ts.do(t, http.MethodGet, apiBase+c.path, c.auth, nil), c.status, c.code)
			})
		}
	})
}
