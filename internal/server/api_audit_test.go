package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// The audit log: what /v2/ and the API record (push, pull, delete, create, membership) and its
// listings, /audit-logs and /projects/{project_name}/logs, on both databases.

// tAuditLog is Harbor's AuditLog.
type tAuditLog struct {
	ID           int64  `json:"id"`
	Username     string `json:"username"`
	Resource     string `json:"resource"`
	ResourceType string `json:"resource_type"`
	Operation    string `json:"operation"`
	OpTime       string `json:"op_time"`
}

func (l tAuditLog) String() string {
	return l.Username + " " + l.Operation + " " + l.ResourceType + " " + l.Resource
}

// listLogs lists audit entries of either model, waiting (the event stream writes them off the
// request path) until the listing has at least min entries.
func listLogs[L any](t *testing.T, a projAPI, path string, auth http.Header, min int) []L {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out []L
		a.get(t, path, auth, &out)
		if len(out) >= min || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a projAPI) logs(t *testing.T, path string, auth http.Header, min int) []tAuditLog {
	t.Helper()
	return listLogs[tAuditLog](t, a, path, auth, min)
}

// entries is each entry in words, for comparisons and failure messages.
func entries[L fmt.Stringer](logs []L) []string {
	out := make([]string, len(logs))
	for i, l := range logs {
		out[i] = l.String()
	}
	return out
}

func TestAuditLogRecordsPushPullDeleteAndCreation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		_, bob := a.user(t, "bob")
		a.project(t, "aud", true)
		_, d := ts.pushImage(t, "aud/app", "v1", mtOCIManifest)
		img := a.image(t, "aud/app")
		expectStatus(t, a.putManifest(t, "aud/app", img.digest, img), http.StatusCreated)
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/aud/app/manifests/v1", bob, nil), http.StatusOK)
		anon := bearer(ts.token(t, anonymous(), "repository:aud/app:pull"))
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/aud/app/manifests/"+d, anon, nil), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodHead, "/v2/aud/app/manifests/v1", nil, nil), http.StatusOK) // HEAD is not a pull
		expectStatus(t, ts.do(t, http.MethodPut, "/v2/aud/app/manifests/v2", hdr(nil, "Content-Type", mtOCIManifest), img.body), http.StatusCreated)
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/aud/app/manifests/v2", nil, nil), http.StatusAccepted)
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/aud/app/manifests/"+img.digest, nil, nil), http.StatusAccepted)
		gone := a.project(t, "gone", false)
		expectStatus(t, ts.do(t, http.MethodDelete, fmt.Sprintf("/api/v2.0/projects/%d", gone), nil, nil), http.StatusOK)

		want := []string{
			"admin create project aud",
			"admin create artifact aud/app:v1",
			"admin create artifact aud/app@" + img.digest,
			"bob pull artifact aud/app:v1",
			"anonymous pull artifact aud/app@" + d,
			"admin create artifact aud/app:v2",
			"admin delete tag aud/app:v2",
			"admin delete artifact aud/app@" + img.digest,
			"admin create project gone",
			"admin delete project gone",
		}
		logs := a.logs(t, "/api/v2.0/audit-logs?sort=op_time&page_size=100", nil, len(want))
		if got := entries(logs); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit log (oldest first):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, l := range logs {
			if _, err := time.Parse(time.RFC3339, l.OpTime); err != nil || l.ID == 0 {
				t.Errorf("entry %+v: op_time %q not a date-time (%v)", l, l.OpTime, err)
			}
		}

		// Newest first by default; the project's own log has its entries only.
		latest := a.logs(t, "/api/v2.0/audit-logs?page_size=1", nil, 1)
		if len(latest) != 1 || latest[0].String() != "admin delete project gone" {
			t.Errorf("default order: newest first, got %v", entries(latest))
		}
		projectLogs := a.logs(t, "/api/v2.0/projects/aud/logs?page_size=100", nil, 8)
		if len(projectLogs) != 8 {
			t.Errorf("aud's log: %v", entries(projectLogs))
		}
	})
}

func TestAuditLogRecordsMembershipChanges(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		a.user(t, "carol")
		a.project(t, "team", false)
		resp := ts.do(t, http.MethodPost, "/api/v2.0/projects/team/members", nil, []byte(`{"role_id":2,"member_user":{"username":"carol"}}`))
		expectStatus(t, resp, http.StatusCreated)
		logs := a.logs(t, "/api/v2.0/projects/team/logs?q=resource%3D~carol", nil, 1)
		if len(logs) != 1 || logs[0].Operation != "create" || logs[0].Username != "admin" || !strings.Contains(logs[0].ResourceType, "member") {
			t.Errorf("membership entries: %v", entries(logs))
		}
	})
}

func TestAuditLogQueriesAndPermissions(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		pa := a.project(t, "pa", false)
		pb := a.project(t, "pb", true)
		daveID, dave := a.user(t, "dave")
		_, erin := a.user(t, "erin")
		a.member(t, pa, daveID, meta.RoleProjectAdmin)
		a.member(t, pb, daveID, meta.RoleMaintainer)
		ts.pushImage(t, "pa/web", "v1", mtOCIManifest)
		ts.pushImage(t, "pb/db", "v1", mtOCIManifest)
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/pa/web/manifests/v1", dave, nil), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/pb/db/manifests/v1", dave, nil), http.StatusOK)
		all := a.logs(t, "/api/v2.0/audit-logs?page_size=100", nil, 6)
		if len(all) != 6 {
			t.Fatalf("audit log: %v", entries(all))
		}

		q := func(s string) string { return "?q=" + url.QueryEscape(s) }
		first, err := time.Parse(time.RFC3339, all[len(all)-1].OpTime)
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name  string
			path  string
			auth  http.Header
			want  int
			check func(tAuditLog) bool
		}{
			{"operation", "/api/v2.0/audit-logs" + q("operation=pull"), nil, 2, func(l tAuditLog) bool { return l.Operation == "pull" }},
			{"username", "/api/v2.0/audit-logs" + q("username=dave"), nil, 2, func(l tAuditLog) bool { return l.Username == "dave" }},
			{"fuzzy resource", "/api/v2.0/audit-logs" + q("resource=~web"), nil, 2, func(l tAuditLog) bool { return strings.Contains(l.Resource, "web") }},
			{"resource type", "/api/v2.0/audit-logs" + q("resource_type=project"), nil, 2, func(l tAuditLog) bool { return l.ResourceType == "project" }},
			{"any of", "/api/v2.0/audit-logs" + q("operation={pull create},resource_type=artifact"), nil, 4, func(l tAuditLog) bool { return l.ResourceType == "artifact" }},
			{"time range", "/api/v2.0/audit-logs" + q("op_time=["+first.Add(-time.Hour).UTC().Format("2006-01-02 15:04:05")+"~"+time.Now().Add(time.Hour).UTC().Format("2006-01-02 15:04:05")+"]"), nil, 6, nil},
			{"empty time range", "/api/v2.0/audit-logs" + q("op_time=[2000-01-01 00:00:00~2000-01-02 00:00:00]"), nil, 0, nil},
			{"project admin sees its project", "/api/v2.0/audit-logs", dave, 3, func(l tAuditLog) bool { return strings.HasPrefix(l.Resource, "pa") }},
			{"maintainer's project is not", "/api/v2.0/audit-logs" + q("resource=~pb"), dave, 0, nil},
			{"outsider sees nothing", "/api/v2.0/audit-logs", erin, 0, nil},
			{"project log", "/api/v2.0/projects/pa/logs", dave, 3, func(l tAuditLog) bool { return strings.HasPrefix(l.Resource, "pa") }},
			{"project log with q", "/api/v2.0/projects/pb/logs" + q("operation=pull"), nil, 1, func(l tAuditLog) bool { return l.Resource == "pb/db:v1" }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var got []tAuditLog
				resp := a.get(t, c.path, c.auth, &got)
				if len(got) != c.want || resp.Header.Get("X-Total-Count") != fmt.Sprint(c.want) {
					t.Errorf("GET %s: %d entries (X-Total-Count %s), want %d: %v", c.path, len(got), resp.Header.Get("X-Total-Count"), c.want, entries(got))
				}
				for _, l := range got {
					if c.check != nil && !c.check(l) {
						t.Errorf("GET %s: unexpected entry %s", c.path, l)
					}
				}
			})
		}

		// Paging.
		var page []tAuditLog
		resp := a.get(t, "/api/v2.0/audit-logs?page=2&page_size=4", nil, &page)
		if len(page) != 2 || resp.Header.Get("X-Total-Count") != "6" || !strings.Contains(resp.Header.Get("Link"), `rel="prev"`) {
			t.Errorf("page 2 of 4: %d entries, headers %v", len(page), resp.Header)
		}

		errs := []struct {
			name   string
			path   string
			auth   http.Header
			status int
			code   string
		}{
			{"anonymous", "/api/v2.0/audit-logs", anonymous(), 401, "UNAUTHORIZED"},
			{"unknown key", "/api/v2.0/audit-logs" + q("colour=red"), nil, 400, "BAD_REQUEST"},
			{"bad time", "/api/v2.0/audit-logs" + q("op_time=[yesterday~]"), nil, 400, "BAD_REQUEST"},
			{"bad sort", "/api/v2.0/audit-logs?sort=colour", nil, 400, "BAD_REQUEST"},
			{"page size over the maximum", "/api/v2.0/audit-logs?page_size=101", nil, 400, "BAD_REQUEST"},
			{"maintainer reads the project log", "/api/v2.0/projects/pb/logs", dave, 403, "FORBIDDEN"},
			{"outsider, public project", "/api/v2.0/projects/pb/logs", erin, 403, "FORBIDDEN"},
			{"outsider, private project", "/api/v2.0/projects/pa/logs", erin, 404, "NOT_FOUND"},
			{"anonymous, public project", "/api/v2.0/projects/pb/logs", anonymous(), 401, "UNAUTHORIZED"},
			{"unknown project", "/api/v2.0/projects/nothing/logs", nil, 404, "NOT_FOUND"},
		}
		for _, c := range errs {
			t.Run(c.name, func(t *testing.T) {
				expectAPIError(t, ts.do(t, http.MethodGet, c.path, c.auth, nil), c.status, c.code)
			})
		}
		_ = pb
	})
}
