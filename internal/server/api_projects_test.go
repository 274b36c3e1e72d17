package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// The project API (/api/v2.0/projects...) and the system CVE allowlist, through the full server
// on both databases.

// projAPI holds the helpers of the project, quota and audit tests. Users and memberships are
// written straight into the store, so these tests depend only on the endpoints they test.
type projAPI struct{ ts *testServer }

const projTestPassword = "Passw0rd1"

// user creates a user and returns its id and Basic credentials.
func (a projAPI) user(t *testing.T, name string) (int64, http.Header) {
	t.Helper()
	hash, err := auth.HashPassword(projTestPassword)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.ts.srv.db.CreateUser(context.Background(), meta.User{Username: name, Email: name + "@example.com", PasswordHash: hash})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return id, basicAuth(name, projTestPassword)
}

// member makes the user a member of the project with the role.
func (a projAPI) member(t *testing.T, projectID, userID int64, role int) {
	t.Helper()
	var id int64
	err := a.ts.srv.db.QueryRowForTest(context.Background(), `INSERT INTO project_members (project_id, entity_type, entity_id, role_id, created_at, updated_at)
		VALUES ($1, 'u', $2, $3, 0, 0) RETURNING id`, projectID, userID, role).Scan(&id)
	if err != nil {
		t.Fatalf("add member %d to project %d: %v", userID, projectID, err)
	}
}

// create creates a project as admin from a ProjectReq body and returns its id.
func (a projAPI) create(t *testing.T, req map[string]any) int64 {
	t.Helper()
	resp := a.ts.do(t, http.MethodPost, "/api/v2.0/projects", nil, mustJSON(t, req))
	expectStatus(t, resp, http.StatusCreated)
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/api/v2.0/projects/"), 10, 64)
	if err != nil || !strings.HasPrefix(loc, "/api/v2.0/projects/") {
		t.Fatalf("create project: Location %q, want /api/v2.0/projects/<id>", loc)
	}
	return id
}

// project creates a project with the given visibility (and no quota) and returns its id.
func (a projAPI) project(t *testing.T, name string, public bool) int64 {
	t.Helper()
	return a.create(t, map[string]any{"project_name": name, "metadata": map[string]string{"public": strconv.FormatBool(public)}})
}

// config changes the stored system configuration.
func (a projAPI) config(t *testing.T, change func(*meta.SystemConfig)) {
	t.Helper()
	ctx := context.Background()
	c, err := a.ts.srv.db.SystemConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	change(&c)
	if err := a.ts.srv.db.SetSystemConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// get sends a GET and decodes a 200 answer into v (a pointer, zeroed first so that nothing of
// an earlier answer survives).
func (a projAPI) get(t *testing.T, path string, headers http.Header, v any) *http.Response {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	rv.Set(reflect.Zero(rv.Type()))
	resp := a.ts.do(t, http.MethodGet, path, headers, nil)
	expectStatus(t, resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(respBody(t, resp), v); err != nil {
		t.Fatalf("GET %s: %v; body %s", path, err, respBody(t, resp))
	}
	return resp
}

// expectAPIError checks a Harbor error answer: status, and the code of its first error.
func expectAPIError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	where := resp.Request.Method + " " + resp.Request.URL.Opaque
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %.500s", where, resp.StatusCode, status, respBody(t, resp))
	}
	if resp.Request.Method == http.MethodHead {
		return
	}
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if err := json.Unmarshal(respBody(t, resp), &body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("%s: error body %q is not Harbor's {\"errors\":[...]}", where, respBody(t, resp))
	}
	if body.Errors[0].Code != code || body.Errors[0].Message == "" {
		t.Fatalf("%s: error %+v, want code %s with a message", where, body.Errors[0], code)
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// errorMessage returns the message of the first error of a Harbor or OCI error body.
func errorMessage(t *testing.T, resp *http.Response) string {
	t.Helper()
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if err := json.Unmarshal(respBody(t, resp), &body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("error body %q", respBody(t, resp))
	}
	return body.Errors[0].Message
}

// tProject is the part of Harbor's Project the tests look at.
type tProject struct {
	ProjectID          int64             `json:"project_id"`
	OwnerID            int64             `json:"owner_id"`
	Name               string            `json:"name"`
	OwnerName          string            `json:"owner_name"`
	CreationTime       string            `json:"creation_time"`
	UpdateTime         string            `json:"update_time"`
	Togglable          bool              `json:"togglable"`
	CurrentUserRoleID  int               `json:"current_user_role_id"`
	CurrentUserRoleIDs []int             `json:"current_user_role_ids"`
	RepoCount          int64             `json:"repo_count"`
	Metadata           map[string]string `json:"metadata"`
	CVEAllowlist       *struct {
		ID        int64  `json:"id"`
		ProjectID int64  `json:"project_id"`
		ExpiresAt *int64 `json:"expires_at"`
		Items     []struct {
			CVEID string `json:"cve_id"`
		} `json:"items"`
	} `json:"cve_allowlist"`
}

func TestProjectCreateAndGet(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		id := a.create(t, map[string]any{
			"project_name":  "alpha",
			"metadata":      map[string]string{"public": "true", "auto_scan": "true", "severity": "High", "prevent_vul": "false", "retention_id": "7", "proxy_speed_kb": "100"},
			"storage_limit": 1 << 30,
			"cve_allowlist": map[string]any{"items": []map[string]string{{"cve_id": "CVE-2021-44228"}, {"cve_id": "CVE-2022-0001"}}, "expires_at": 1893456000},
		})
		var p tProject
		a.get(t, fmt.Sprintf("/api/v2.0/projects/%d", id), nil, &p)
		if p.ProjectID != id || p.Name != "alpha" || p.OwnerName != "admin" || p.OwnerID != 1 || p.RepoCount != 0 {
			t.Errorf("project = %+v", p)
		}
		if p.CurrentUserRoleID != meta.RoleProjectAdmin || len(p.CurrentUserRoleIDs) != 1 || !p.Togglable {
			t.Errorf("role of the creator: %d %v togglable %v, want project admin", p.CurrentUserRoleID, p.CurrentUserRoleIDs, p.Togglable)
		}
		want := map[string]string{"public": "true", "auto_scan": "true", "severity": "high", "prevent_vul": "false", "retention_id": "7", "proxy_speed_kb": "100"}
		if fmt.Sprint(p.Metadata) != fmt.Sprint(want) {
			t.Errorf("metadata = %v, want %v (severity normalised)", p.Metadata, want)
		}
		if p.CVEAllowlist == nil || p.CVEAllowlist.ProjectID != id || len(p.CVEAllowlist.Items) != 2 ||
			p.CVEAllowlist.Items[0].CVEID != "CVE-2021-44228" || p.CVEAllowlist.ExpiresAt == nil || *p.CVEAllowlist.ExpiresAt != 1893456000 {
			t.Errorf("cve_allowlist = %+v", p.CVEAllowlist)
		}

		// By name, and a numeric name with X-Is-Resource-Name.
		var byName tProject
		a.get(t, "/api/v2.0/projects/alpha", nil, &byName)
		if byName.ProjectID != id {
			t.Errorf("GET by name: project %d, want %d", byName.ProjectID, id)
		}
		resp := ts.do(t, http.MethodPost, "/api/v2.0/projects", hdr(nil, "X-Resource-Name-In-Location", "true"), mustJSON(t, map[string]any{"project_name": "2024"}))
		expectStatus(t, resp, http.StatusCreated)
		if loc := resp.Header.Get("Location"); loc != "/api/v2.0/projects/2024" {
			t.Errorf("Location with X-Resource-Name-In-Location = %q", loc)
		}
		var numeric tProject
		a.get(t, "/api/v2.0/projects/2024", hdr(nil, "X-Is-Resource-Name", "true"), &numeric)
		if numeric.Name != "2024" || numeric.Metadata["public"] != "false" {
			t.Errorf("numeric name with X-Is-Resource-Name: %+v", numeric)
		}
		expectAPIError(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/2024", nil, nil), http.StatusNotFound, "NOT_FOUND")

		// The deprecated top-level public counts when the metadata does not say.
		legacy := a.create(t, map[string]any{"project_name": "legacy", "public": true})
		var l tProject
		a.get(t, fmt.Sprintf("/api/v2.0/projects/%d", legacy), nil, &l)
		if l.Metadata["public"] != "true" || l.CVEAllowlist == nil || len(l.CVEAllowlist.Items) != 0 {
			t.Errorf("legacy public project: %+v", l)
		}
	})
}

func TestProjectCreateRefusesBadRequests(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		_, alice := a.user(t, "alice")
		a.project(t, "taken", false)
		cases := []struct {
			name   string
			auth   http.Header
			body   string
			status int
			code   string
		}{
			{"anonymous", anonymous(), `{"project_name":"p1"}`, 401, "UNAUTHORIZED"},
			{"uppercase name", nil, `{"project_name":"Bad"}`, 400, "BAD_REQUEST"},
			{"empty name", nil, `{"project_name":""}`, 400, "BAD_REQUEST"},
			{"name with slash", nil, `{"project_name":"a/b"}`, 400, "BAD_REQUEST"},
			{"name too long", nil, `{"project_name":"` + strings.Repeat("a", 256) + `"}`, 400, "BAD_REQUEST"},
			{"unknown field", nil, `{"project_name":"p1","colour":"red"}`, 400, "BAD_REQUEST"},
			{"wrong type", nil, `{"project_name":"p1","public":"yes"}`, 400, "BAD_REQUEST"},
			{"malformed JSON", nil, `{"project_name":`, 400, "BAD_REQUEST"},
			{"bad boolean metadata", nil, `{"project_name":"p1","metadata":{"auto_scan":"maybe"}}`, 400, "BAD_REQUEST"},
			{"bad severity", nil, `{"project_name":"p1","metadata":{"severity":"extreme"}}`, 400, "BAD_REQUEST"},
			{"bad retention id", nil, `{"project_name":"p1","metadata":{"retention_id":"x"}}`, 400, "BAD_REQUEST"},
			{"unknown metadata key", nil, `{"project_name":"p1","metadata":{"colour":"red"}}`, 400, "BAD_REQUEST"},
			{"non-string metadata", nil, `{"project_name":"p1","metadata":{"public":true}}`, 400, "BAD_REQUEST"},
			{"duplicate CVE", nil, `{"project_name":"p1","cve_allowlist":{"items":[{"cve_id":"CVE-1"},{"cve_id":"CVE-1"}]}}`, 400, "BAD_REQUEST"},
			{"empty CVE", nil, `{"project_name":"p1","cve_allowlist":{"items":[{"cve_id":"  "}]}}`, 400, "BAD_REQUEST"},
			{"allowlist of another project", nil, `{"project_name":"p1","cve_allowlist":{"project_id":9,"items":[]}}`, 400, "BAD_REQUEST"},
			{"negative storage limit", nil, `{"project_name":"p1","storage_limit":-5}`, 400, "BAD_REQUEST"},
			{"proxy cache by admin", nil, `{"project_name":"p1","registry_id":3}`, 400, "BAD_REQUEST"},
			{"proxy cache by user", alice, `{"project_name":"p1","registry_id":3}`, 403, "FORBIDDEN"},
			{"duplicate name", nil, `{"project_name":"taken"}`, 409, "CONFLICT"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				expectAPIError(t, ts.do(t, http.MethodPost, "/api/v2.0/projects", c.auth, []byte(c.body)), c.status, c.code)
			})
		}
		resp := ts.do(t, http.MethodHead, "/api/v2.0/projects?project_name=p1", nil, nil)
		expectStatus(t, resp, http.StatusNotFound)

		// registry_id 0 is "no registry"; a user's own project makes them its admin.
		resp = ts.do(t, http.MethodPost, "/api/v2.0/projects", alice, []byte(`{"project_name":"alices","registry_id":0}`))
		expectStatus(t, resp, http.StatusCreated)
		var p tProject
		a.get(t, "/api/v2.0/projects/alices", alice, &p)
		if p.OwnerName != "alice" || p.CurrentUserRoleID != meta.RoleProjectAdmin {
			t.Errorf("alice's project: %+v", p)
		}

		// Creation restricted to administrators.
		a.config(t, func(c *meta.SystemConfig) { c.ProjectCreationRestriction = "adminonly" })
		expectAPIError(t, ts.do(t, http.MethodPost, "/api/v2.0/projects", alice, []byte(`{"project_name":"p2"}`)), 403, "FORBIDDEN")
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects", nil, []byte(`{"project_name":"p2"}`)), http.StatusCreated)
	})
}

func TestProjectStorageLimitAtCreation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		_, alice := a.user(t, "alice")
		a.config(t, func(c *meta.SystemConfig) { c.StoragePerProject = 5 << 20 })
		quota := func(id int64) int64 {
			t.Helper()
			q, err := ts.srv.db.QuotaByProject(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			return q.Hard
		}
		// Administrators choose; 0 or nothing means the configured default; other users always
		// get the default, as in Harbor.
		if got := quota(a.create(t, map[string]any{"project_name": "big", "storage_limit": 1 << 40})); got != 1<<40 {
			t.Errorf("admin's limit: %d", got)
		}
		if got := quota(a.create(t, map[string]any{"project_name": "unlimited", "storage_limit": -1})); got != -1 {
			t.Errorf("admin's unlimited: %d", got)
		}
		if got := quota(a.create(t, map[string]any{"project_name": "zero", "storage_limit": 0})); got != 5<<20 {
			t.Errorf("storage_limit 0: %d, want the default", got)
		}
		resp := ts.do(t, http.MethodPost, "/api/v2.0/projects", alice, []byte(`{"project_name":"alices","storage_limit":-1}`))
		expectStatus(t, resp, http.StatusCreated)
		id, _ := strconv.ParseInt(strings.TrimPrefix(resp.Header.Get("Location"), "/api/v2.0/projects/"), 10, 64)
		if got := quota(id); got != 5<<20 {
			t.Errorf("a user's project: limit %d, want the default", got)
		}
	})
}

func TestProjectListing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		aliceID, alice := a.user(t, "alice")
		_, bob := a.user(t, "bob")
		pubA := a.project(t, "web-public", true)
		privA := a.project(t, "web-private", false)
		privB := a.project(t, "db-private", false)
		a.member(t, privA, aliceID, meta.RoleDeveloper)
		_ = pubA
		_ = privB

		names := func(auth http.Header, query string) ([]string, *http.Response) {
			t.Helper()
			var ps []tProject
			resp := a.get(t, "/api/v2.0/projects"+query, auth, &ps)
			out := make([]string, len(ps))
			for i, p := range ps {
				out[i] = p.Name
			}
			return out, resp
		}
		cases := []struct {
			name  string
			auth  http.Header
			query string
			want  string
		}{
			{"admin sees all", nil, "", "[db-private library web-private web-public]"},
			{"anonymous sees public", anonymous(), "", "[library web-public]"},
			{"anonymous asking for private", anonymous(), "?public=false", "[]"},
			{"member sees public and own", alice, "", "[library web-private web-public]"},
			{"member's private ones", alice, "?public=false", "[web-private]"},
			{"outsider", bob, "", "[library web-public]"},
			{"name is fuzzy", nil, "?name=priv", "[db-private web-private]"},
			{"q exact name", nil, "?q=name%3Dweb-public", "[web-public]"},
			{"q fuzzy name", nil, "?q=name%3D~web", "[web-private web-public]"},
			{"owner", nil, "?owner=admin&public=true", "[library web-public]"},
			{"sort descending", nil, "?sort=-name", "[web-public web-private library db-private]"},
			{"sort by id", nil, "?sort=project_id&q=name%3D~web", "[web-public web-private]"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, _ := names(c.auth, c.query)
				if fmt.Sprint(got) != c.want {
					t.Errorf("GET /projects%s = %v, want %s", c.query, got, c.want)
				}
			})
		}

		// Paging: X-Total-Count and Link.
		got, resp := names(nil, "?page=2&page_size=1")
		if fmt.Sprint(got) != "[library]" || resp.Header.Get("X-Total-Count") != "4" {
			t.Errorf("page 2 of 1: %v, X-Total-Count %q", got, resp.Header.Get("X-Total-Count"))
		}
		link := resp.Header.Get("Link")
		if !strings.Contains(link, `page=1&page_size=1>; rel="prev"`) || !strings.Contains(link, `page=3&page_size=1>; rel="next"`) {
			t.Errorf("Link = %q", link)
		}

		// Detail.
		var detailed, bare []tProject
		a.get(t, "/api/v2.0/projects?name=web-public", nil, &detailed)
		a.get(t, "/api/v2.0/projects?name=web-public&with_detail=false", nil, &bare)
		if len(detailed) != 1 || detailed[0].Metadata["public"] != "true" || detailed[0].CVEAllowlist == nil || detailed[0].OwnerName != "admin" {
			t.Errorf("with detail: %+v", detailed)
		}
		if len(bare) != 1 || bare[0].Metadata != nil || bare[0].CVEAllowlist != nil {
			t.Errorf("with_detail=false: %+v", bare)
		}
		var alices []tProject
		a.get(t, "/api/v2.0/projects?name=web-private", alice, &alices)
		if len(alices) != 1 || alices[0].CurrentUserRoleID != meta.RoleDeveloper || alices[0].Togglable {
			t.Errorf("alice's view of web-private: %+v", alices)
		}

		for _, bad := range []string{"?page_size=101", "?page=first", "?q=colour%3Dred", "?sort=colour", "?public=maybe", "?with_detail=perhaps", "?q=name%3D%5Ba"} {
			expectAPIError(t, ts.do(t, http.MethodGet, "/api/v2.0/projects"+bad, nil, nil), 400, "BAD_REQUEST")
		}
	})
}

func TestProjectHead(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		_, alice := a.user(t, "alice")
		a.project(t, "secret", false)
		cases := []struct {
			name   string
			auth   http.Header
			query  string
			status int
		}{
			{"existing", nil, "?project_name=library", 200},
			{"existing public, anonymous", anonymous(), "?project_name=library", 200},
			{"free name", nil, "?project_name=nothing", 404},
			{"free name, anonymous", anonymous(), "?project_name=nothing", 404},
			{"taken by an invisible project", alice, "?project_name=secret", 403},
			{"taken, anonymous", anonymous(), "?project_name=secret", 401},
			{"no name", nil, "", 400},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodHead, "/api/v2.0/projects"+c.query, c.auth, nil)
				if resp.StatusCode != c.status {
					t.Errorf("HEAD /projects%s: %d, want %d", c.query, resp.StatusCode, c.status)
				}
			})
		}
	})
}

func TestProjectUpdate(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		ownerID, owner := a.user(t, "owner")
		maintID, maint := a.user(t, "maint")
		_, outsider := a.user(t, "outsider")
		id := a.project(t, "app", false)
		pub := a.project(t, "open", true)
		a.member(t, id, ownerID, meta.RoleProjectAdmin)
		a.member(t, id, maintID, meta.RoleMaintainer)
		path := fmt.Sprintf("/api/v2.0/projects/%d", id)

		body := `{"metadata":{"public":"true","auto_scan":"true","severity":"critical"},
			"cve_allowlist":{"id":0,"project_id":` + strconv.FormatInt(id, 10) + `,"items":[{"cve_id":"CVE-2023-1"}],"creation_time":"0001-01-01T00:00:00.000Z"}}`
		expectStatus(t, ts.do(t, http.MethodPut, path, owner, []byte(body)), http.StatusOK)
		var p tProject
		a.get(t, path, owner, &p)
		if p.Metadata["public"] != "true" || p.Metadata["auto_scan"] != "true" || p.Metadata["severity"] != "critical" {
			t.Errorf("metadata after update: %v", p.Metadata)
		}
		if p.CVEAllowlist == nil || len(p.CVEAllowlist.Items) != 1 || p.CVEAllowlist.Items[0].CVEID != "CVE-2023-1" || p.CVEAllowlist.ExpiresAt != nil {
			t.Errorf("allowlist after update: %+v", p.CVEAllowlist)
		}
		// The project is public now: anyone reads it.
		a.get(t, path, anonymous(), &p)

		// The deprecated public flag; a same-name project_name is accepted.
		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{"project_name":"app","public":false}`)), http.StatusOK)
		a.get(t, path, nil, &p)
		if p.Metadata["public"] != "false" || p.Metadata["auto_scan"] != "true" {
			t.Errorf("after public=false: %v", p.Metadata)
		}

		cases := []struct {
			name   string
			path   string
			auth   http.Header
			body   string
			status int
			code   string
		}{
			{"maintainer", path, maint, `{"metadata":{"auto_scan":"false"}}`, 403, "FORBIDDEN"},
			{"outsider of a private project", path, outsider, `{"metadata":{"auto_scan":"false"}}`, 404, "NOT_FOUND"},
			{"anonymous on a public project", fmt.Sprintf("/api/v2.0/projects/%d", pub), anonymous(), `{}`, 401, "UNAUTHORIZED"},
			{"unknown project", "/api/v2.0/projects/99999", nil, `{}`, 404, "NOT_FOUND"},
			{"bad metadata", path, owner, `{"metadata":{"prevent_vul":"sometimes"}}`, 400, "BAD_REQUEST"},
			{"allowlist of another project", path, owner, `{"cve_allowlist":{"project_id":12345,"items":[]}}`, 400, "BAD_REQUEST"},
			{"duplicate CVE", path, owner, `{"cve_allowlist":{"items":[{"cve_id":"CVE-9"},{"cve_id":"CVE-9"}]}}`, 400, "BAD_REQUEST"},
			{"rename", path, owner, `{"project_name":"other"}`, 400, "BAD_REQUEST"},
			{"proxy cache", path, nil, `{"registry_id":4}`, 400, "BAD_REQUEST"},
			{"unknown field", path, owner, `{"colour":"red"}`, 400, "BAD_REQUEST"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				expectAPIError(t, ts.do(t, http.MethodPut, c.path, c.auth, []byte(c.body)), c.status, c.code)
			})
		}
		// Refused updates changed nothing.
		a.get(t, path, nil, &p)
		if p.Metadata["auto_scan"] != "true" || p.Metadata["prevent_vul"] != "" || len(p.CVEAllowlist.Items) != 1 {
			t.Errorf("a refused update changed the project: %+v", p)
		}

		// A system administrator may change the quota here; a project admin's value is ignored.
		expectStatus(t, ts.do(t, http.MethodPut, path, owner, []byte(`{"storage_limit":1024}`)), http.StatusOK)
		if q, _ := ts.srv.db.QuotaByProject(context.Background(), id); q.Hard != -1 {
			t.Errorf("a project admin changed the quota to %d", q.Hard)
		}
		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{"storage_limit":1024}`)), http.StatusOK)
		if q, _ := ts.srv.db.QuotaByProject(context.Background(), id); q.Hard != 1024 {
			t.Errorf("quota after the admin's update: %d", q.Hard)
		}
	})
}

func TestProjectDelete(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		maintID, maint := a.user(t, "maint")
		empty := a.project(t, "empty", false)
		full := a.project(t, "full", false)
		a.member(t, empty, maintID, meta.RoleMaintainer)
		ts.pushImage(t, "full/app", "v1", mtOCIManifest)

		type deletable struct {
			Deletable *bool   `json:"deletable"`
			Message   *string `json:"message"`
		}
		var d deletable
		a.get(t, fmt.Sprintf("/api/v2.0/projects/%d/_deletable", full), nil, &d)
		if d.Deletable == nil || *d.Deletable || d.Message == nil || !strings.Contains(*d.Message, "contains repositories") {
			t.Errorf("_deletable of a project with a repository: %+v", d)
		}
		d = deletable{}
		a.get(t, "/api/v2.0/projects/empty/_deletable", nil, &d)
		if d.Deletable == nil || !*d.Deletable {
			t.Errorf("_deletable of an empty project: %+v", d)
		}
		expectAPIError(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/empty/_deletable", maint, nil), 403, "FORBIDDEN")

		resp := ts.do(t, http.MethodDelete, fmt.Sprintf("/api/v2.0/projects/%d", full), nil, nil)
		expectAPIError(t, resp, http.StatusPreconditionFailed, "PRECONDITION")
		if msg := errorMessage(t, resp); msg != "the project contains repositories, can not be deleted" {
			t.Errorf("412 message %q", msg)
		}
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/full", nil, nil), http.StatusOK)

		expectAPIError(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/empty", maint, nil), 403, "FORBIDDEN")
		expectAPIError(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/library", anonymous(), nil), 401, "UNAUTHORIZED")
		expectAPIError(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/nothing", nil, nil), 404, "NOT_FOUND")

		expectStatus(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/empty", nil, nil), http.StatusOK)
		expectAPIError(t, ts.do(t, http.MethodGet, fmt.Sprintf("/api/v2.0/projects/%d", empty), nil, nil), 404, "NOT_FOUND")
		if _, err := ts.srv.db.QuotaByProject(context.Background(), empty); err != meta.ErrNotFound {
			t.Errorf("quota of the deleted project: %v", err)
		}
		// The name is free again.
		a.project(t, "empty", true)
	})
}

func TestProjectSummary(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		id := a.create(t, map[string]any{"project_name": "sum", "storage_limit": 1 << 20})
		users := map[int]http.Header{}
		for _, role := range []int{meta.RoleDeveloper, meta.RoleGuest, meta.RoleLimitedGuest, meta.RoleMaintainer} {
			uid, h := a.user(t, fmt.Sprintf("user%d", role))
			a.member(t, id, uid, role)
			users[role] = h
		}
		_, outsider := a.user(t, "outsider")
		ts.pushImage(t, "sum/one", "v1", mtOCIManifest)
		ts.pushImage(t, "sum/two/deep", "v1", mtOCIManifest)
		used, err := ts.srv.db.RecountProjectUsage(context.Background(), id)
		if err != nil || used == 0 {
			t.Fatalf("usage %d, %v", used, err)
		}

		type summary struct {
			RepoCount         int64  `json:"repo_count"`
			ProjectAdminCount *int64 `json:"project_admin_count"`
			MaintainerCount   *int64 `json:"maintainer_count"`
			DeveloperCount    *int64 `json:"developer_count"`
			GuestCount        *int64 `json:"guest_count"`
			LimitedGuestCount *int64 `json:"limited_guest_count"`
			Quota             *struct {
				Hard map[string]int64 `json:"hard"`
				Used map[string]int64 `json:"used"`
			} `json:"quota"`
		}
		var s summary
		a.get(t, "/api/v2.0/projects/sum/summary", nil, &s)
		if s.RepoCount != 2 || s.ProjectAdminCount == nil || *s.ProjectAdminCount != 1 || *s.MaintainerCount != 1 ||
			*s.DeveloperCount != 1 || *s.GuestCount != 1 || *s.LimitedGuestCount != 1 {
			t.Errorf("summary counts: %+v", s)
		}
		if s.Quota == nil || s.Quota.Hard["storage"] != 1<<20 || s.Quota.Used["storage"] != used {
			t.Errorf("summary quota: %+v, want hard %d used %d", s.Quota, 1<<20, used)
		}
		// Guests see the member counts; limited guests only the project and its quota.
		var g, lg summary
		a.get(t, fmt.Sprintf("/api/v2.0/projects/%d/summary", id), users[meta.RoleGuest], &g)
		a.get(t, fmt.Sprintf("/api/v2.0/projects/%d/summary", id), users[meta.RoleLimitedGuest], &lg)
		if g.GuestCount == nil || g.Quota == nil {
			t.Errorf("guest's summary: %+v", g)
		}
		if lg.GuestCount != nil || lg.Quota == nil || lg.RepoCount != 2 {
			t.Errorf("limited guest's summary: %+v", lg)
		}
		expectAPIError(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/sum/summary", outsider, nil), 404, "NOT_FOUND")
		expectAPIError(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/sum/summary", anonymous(), nil), 401, "UNAUTHORIZED")
		var pub summary
		a.get(t, "/api/v2.0/projects/library/summary", anonymous(), &pub)
		if pub.Quota != nil || pub.ProjectAdminCount != nil {
			t.Errorf("anonymous summary of a public project shows %+v", pub)
		}
	})
}

func TestProjectMetadataAPI(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		id := a.project(t, "meta", false)
		pub := a.project(t, "metapub", true)
		roles := map[int]http.Header{}
		for _, role := range []int{meta.RoleProjectAdmin, meta.RoleMaintainer, meta.RoleDeveloper, meta.RoleGuest} {
			uid, h := a.user(t, fmt.Sprintf("user%d", role))
			a.member(t, id, uid, role)
			roles[role] = h
		}
		_, outsider := a.user(t, "outsider")
		base := fmt.Sprintf("/api/v2.0/projects/%d/metadatas", id)
		admin := roles[meta.RoleProjectAdmin]

		expectStatus(t, ts.do(t, http.MethodPost, base+"/", admin, []byte(`{"auto_scan":"true","severity":"Low"}`)), http.StatusOK)
		var md map[string]string
		a.get(t, base+"/", roles[meta.RoleMaintainer], &md)
		if fmt.Sprint(md) != "map[auto_scan:true public:false severity:low]" {
			t.Errorf("metadata = %v", md)
		}
		a.get(t, base, nil, &md) // without the trailing slash too
		md = nil
		a.get(t, base+"/severity", admin, &md)
		if fmt.Sprint(md) != "map[severity:low]" {
			t.Errorf("GET severity = %v", md)
		}
		expectStatus(t, ts.do(t, http.MethodPut, base+"/severity", admin, []byte(`{"severity":"high"}`)), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodPut, base+"/prevent_vul", admin, []byte(`{"prevent_vul":"true"}`)), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodPut, base+"/public", admin, []byte(`{"public":"true"}`)), http.StatusOK)
		md = nil
		a.get(t, base+"/", nil, &md)
		if fmt.Sprint(md) != "map[auto_scan:true prevent_vul:true public:true severity:high]" {
			t.Errorf("metadata after PUTs = %v", md)
		}
		expectStatus(t, ts.do(t, http.MethodDelete, base+"/auto_scan", admin, nil), http.StatusOK)
		md = nil
		a.get(t, base+"/", nil, &md)
		if _, ok := md["auto_scan"]; ok {
			t.Errorf("auto_scan still set after DELETE: %v", md)
		}

		cases := []struct {
			name, method, path string
			auth               http.Header
			body               string
			status             int
			code               string
		}{
			{"add existing", "POST", base + "/", admin, `{"severity":"low"}`, 409, "CONFLICT"},
			{"add public", "POST", base + "/", admin, `{"public":"false"}`, 409, "CONFLICT"},
			{"add empty", "POST", base + "/", admin, `{}`, 400, "BAD_REQUEST"},
			{"add unknown key", "POST", base + "/", admin, `{"colour":"red"}`, 400, "BAD_REQUEST"},
			{"add bad value", "POST", base + "/", admin, `{"auto_sbom_generation":"often"}`, 400, "BAD_REQUEST"},
			{"add non-string", "POST", base + "/", admin, `{"auto_scan":true}`, 400, "BAD_REQUEST"},
			{"get missing", "GET", base + "/auto_scan", admin, ``, 404, "NOT_FOUND"},
			{"put bad value", "PUT", base + "/severity", admin, `{"severity":"catastrophic"}`, 400, "BAD_REQUEST"},
			{"put other key", "PUT", base + "/severity", admin, `{"auto_scan":"true"}`, 400, "BAD_REQUEST"},
			{"put unknown key", "PUT", base + "/colour", admin, `{"colour":"red"}`, 400, "BAD_REQUEST"},
			{"delete missing", "DELETE", base + "/auto_scan", admin, ``, 404, "NOT_FOUND"},
			{"maintainer adds", "POST", base + "/", roles[meta.RoleMaintainer], `{"auto_scan":"true"}`, 403, "FORBIDDEN"},
			{"maintainer updates", "PUT", base + "/severity", roles[meta.RoleMaintainer], `{"severity":"low"}`, 403, "FORBIDDEN"},
			{"maintainer deletes", "DELETE", base + "/severity", roles[meta.RoleMaintainer], ``, 403, "FORBIDDEN"},
			{"developer lists", "GET", base + "/", roles[meta.RoleDeveloper], ``, 403, "FORBIDDEN"},
			{"guest reads", "GET", base + "/severity", roles[meta.RoleGuest], ``, 403, "FORBIDDEN"},
			{"outsider", "GET", fmt.Sprintf("/api/v2.0/projects/%d/metadatas/", pub), outsider, ``, 403, "FORBIDDEN"},
			{"anonymous", "GET", fmt.Sprintf("/api/v2.0/projects/%d/metadatas/", pub), anonymous(), ``, 401, "UNAUTHORIZED"},
			{"unknown project", "GET", "/api/v2.0/projects/nothing/metadatas/", nil, ``, 404, "NOT_FOUND"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var body []byte
				if c.body != "" {
					body = []byte(c.body)
				}
				expectAPIError(t, ts.do(t, c.method, c.path, c.auth, body), c.status, c.code)
			})
		}
		// The project became public through its metadata; deleting "public" makes it private.
		expectStatus(t, ts.do(t, http.MethodGet, fmt.Sprintf("/api/v2.0/projects/%d", id), outsider, nil), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodDelete, base+"/public", admin, nil), http.StatusOK)
		expectAPIError(t, ts.do(t, http.MethodGet, fmt.Sprintf("/api/v2.0/projects/%d", id), outsider, nil), 404, "NOT_FOUND")
	})
}

func TestSystemCVEAllowlist(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		_, alice := a.user(t, "alice")
		type allowlist struct {
			ID        int64  `json:"id"`
			ProjectID *int64 `json:"project_id"`
			ExpiresAt *int64 `json:"expires_at"`
			Items     []struct {
				CVEID string `json:"cve_id"`
			} `json:"items"`
			CreationTime string `json:"creation_time"`
			UpdateTime   string `json:"update_time"`
		}
		var l allowlist
		a.get(t, "/api/v2.0/system/CVEAllowlist", alice, &l)
		if l.ProjectID == nil || *l.ProjectID != 0 || l.Items == nil || len(l.Items) != 0 || l.ExpiresAt != nil {
			t.Errorf("initial system allowlist: %+v", l)
		}
		body := `{"items":[{"cve_id":"CVE-2021-44228"},{"cve_id":"CVE-2014-0160"}],"expires_at":1900000000}`
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/CVEAllowlist", nil, []byte(body)), http.StatusOK)
		a.get(t, "/api/v2.0/system/CVEAllowlist", alice, &l)
		if l.ID == 0 || len(l.Items) != 2 || l.Items[1].CVEID != "CVE-2014-0160" || l.ExpiresAt == nil || *l.ExpiresAt != 1900000000 {
			t.Errorf("system allowlist after PUT: %+v", l)
		}
		// What a client read can be written back as it is.
		resp := ts.do(t, http.MethodGet, "/api/v2.0/system/CVEAllowlist", nil, nil)
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/CVEAllowlist", nil, respBody(t, resp)), http.StatusOK)

		cases := []struct {
			name   string
			method string
			auth   http.Header
			body   string
			status int
			code   string
		}{
			{"anonymous reads", "GET", anonymous(), ``, 401, "UNAUTHORIZED"},
			{"user writes", "PUT", alice, `{"items":[]}`, 403, "FORBIDDEN"},
			{"anonymous writes", "PUT", anonymous(), `{"items":[]}`, 401, "UNAUTHORIZED"},
			{"duplicate", "PUT", nil, `{"items":[{"cve_id":"CVE-1"},{"cve_id":"CVE-1"}]}`, 400, "BAD_REQUEST"},
			{"empty id", "PUT", nil, `{"items":[{"cve_id":""}]}`, 400, "BAD_REQUEST"},
			{"a project's id", "PUT", nil, `{"project_id":3,"items":[]}`, 400, "BAD_REQUEST"},
			{"unknown field", "PUT", nil, `{"items":[],"colour":1}`, 400, "BAD_REQUEST"},
			{"wrong type", "PUT", nil, `{"items":"CVE-1"}`, 400, "BAD_REQUEST"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var body []byte
				if c.body != "" {
					body = []byte(c.body)
				}
				expectAPIError(t, ts.do(t, c.method, "/api/v2.0/system/CVEAllowlist", c.auth, body), c.status, c.code)
			})
		}
		a.get(t, "/api/v2.0/system/CVEAllowlist", nil, &l)
		if len(l.Items) != 2 {
			t.Errorf("refused PUTs changed the allowlist: %+v", l)
		}
		// Never expiring again.
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/CVEAllowlist", nil, []byte(`{"items":[],"expires_at":null}`)), http.StatusOK)
		l = allowlist{}
		a.get(t, "/api/v2.0/system/CVEAllowlist", nil, &l)
		if len(l.Items) != 0 || l.ExpiresAt != nil {
			t.Errorf("cleared allowlist: %+v", l)
		}
	})
}
