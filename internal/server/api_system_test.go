package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// Tests of /systeminfo, /systeminfo/volumes, /health, /statistics, /search and
// /configurations, on both databases.

// sysCreateProject creates a project with the given credentials.
func sysCreateProject(t *testing.T, ts *testServer, auth http.Header, name string, public bool) {
	t.Helper()
	body := fmt.Sprintf(`{"project_name":%q,"metadata":{"public":"%t"}}`, name, public)
	expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects", hdr(auth, "Content-Type", "application/json"), []byte(body)), http.StatusCreated)
}

// sysPushImage pushes a fresh image to repo:latest and returns the bytes it stores (config,
// layer and manifest).
func sysPushImage(t *testing.T, ts *testServer, repo string) int64 {
	t.Helper()
	m := ts.imageManifest(t, repo, mtOCIManifest)
	b := mustJSON(t, m)
	ts.pushManifest(t, repo, "latest", mtOCIManifest, b)
	return m.Config.Size + m.Layers[0].Size + int64(len(b))
}

func TestSystemInfo(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		get := func(auth http.Header) map[string]any {
			t.Helper()
			resp := ts.do(t, http.MethodGet, "/api/v2.0/systeminfo", auth, nil)
			expectStatus(t, resp, http.StatusOK)
			var m map[string]any
			if err := json.Unmarshal(respBody(t, resp), &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		host := strings.TrimPrefix(ts.URL, "http://")
		anon := get(anonymous())
		for k, want := range map[string]any{
			"auth_mode": "db_auth", "self_registration": false, "primary_auth_mode": false,
			"external_url": ts.URL, "registry_url": host, "banner_message": "",
		} {
			if anon[k] != want {
				t.Errorf("anonymous %s = %#v, want %#v", k, anon[k], want)
			}
		}
		if v, _ := anon["harbor_version"].(string); !strings.HasPrefix(v, "berth-") {
			t.Errorf("harbor_version %q, want a berth- version", v)
		}
		for _, k := range []string{"project_creation_restriction", "current_time", "read_only", "has_ca_root", "registry_storage_provider_name"} {
			if _, ok := anon[k]; ok {
				t.Errorf("anonymous callers see %s", k)
			}
		}

		acctCreate(t, ts, "alice")
		user := get(acctAuth("alice"))
		for k, want := range map[string]any{
			"auth_mode": "db_auth", "project_creation_restriction": "everyone", "read_only": false,
			"registry_storage_provider_name": "filesystem", "has_ca_root": false, "external_url": ts.URL,
		} {
			if user[k] != want {
				t.Errorf("signed-in %s = %#v, want %#v", k, user[k], want)
			}
		}
		if _, ok := user["current_time"].(string); !ok {
			t.Errorf("signed-in current_time = %#v", user["current_time"])
		}

		// Configuration changes show.
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil,
			[]byte(`{"self_registration":true,"banner_message":"{\"message\":\"maintenance\"}","project_creation_restriction":"adminonly"}`)), http.StatusOK)
		anon = get(anonymous())
		if anon["self_registration"] != true || anon["banner_message"] != `{"message":"maintenance"}` {
			t.Errorf("after update, anonymous sees %v", anon)
		}
		if got := get(nil)["project_creation_restriction"]; got != "adminonly" {
			t.Errorf("project_creation_restriction %v", got)
		}
	})
}

func TestSystemVolumes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		resp := ts.do(t, http.MethodGet, "/api/v2.0/systeminfo/volumes", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		var v struct {
			Storage []struct {
				Total uint64 `json:"total"`
				Free  uint64 `json:"free"`
			} `json:"storage"`
		}
		acctJSON(t, resp, &v)
		if len(v.Storage) != 1 || v.Storage[0].Total == 0 || v.Storage[0].Free > v.Storage[0].Total {
			t.Errorf("volumes = %+v", v)
		}
		acctCreate(t, ts, "alice")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/systeminfo/volumes", acctAuth("alice"), nil), 403, "FORBIDDEN")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/systeminfo/volumes", anonymous(), nil), 401, "UNAUTHORIZED")
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		resp := ts.do(t, http.MethodGet, "/api/v2.0/health", anonymous(), nil)
		expectStatus(t, resp, http.StatusOK)
		var h struct {
			Status     string `json:"status"`
			Components []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
				Error  string `json:"error"`
			} `json:"components"`
		}
		acctJSON(t, resp, &h)
		if h.Status != "healthy" {
			t.Errorf("status %q", h.Status)
		}
		var names []string
		for _, c := range h.Components {
			names = append(names, c.Name)
			if c.Status != "healthy" || c.Error != "" {
				t.Errorf("component %+v", c)
			}
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "core,database,registry" {
			t.Errorf("components %v", names)
		}
	})
}

// TestHealthReportsUnreachableDatabase closes the store under a running server: /health
// still answers 200, with the database unhealthy and no detail of the cause.
func TestHealthReportsUnreachableDatabase(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	ts.srv.db.Close()
	resp := ts.do(t, http.MethodGet, "/api/v2.0/health", anonymous(), nil)
	expectStatus(t, resp, http.StatusOK)
	var h map[string]any
	if err := json.Unmarshal(respBody(t, resp), &h); err != nil {
		t.Fatal(err)
	}
	if h["status"] != "unhealthy" {
		t.Errorf("status %v", h["status"])
	}
	found := false
	for _, c := range h["components"].([]any) {
		m := c.(map[string]any)
		if m["name"] == "database" {
			found = true
			if m["status"] != "unhealthy" || m["error"] != "database is unreachable" {
				t.Errorf("database component %v", m)
			}
		}
	}
	if !found {
		t.Error("no database component")
	}
}

func TestStatistics(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		acctCreate(t, ts, "alice")
		acctCreate(t, ts, "bob")
		sysCreateProject(t, ts, nil, "stat-public", true)
		sysCreateProject(t, ts, nil, "stat-private", false)
		sysCreateProject(t, ts, acctAuth("alice"), "stat-alice", false)
		var stored int64
		stored += sysPushImage(t, ts, "stat-public/app")
		stored += sysPushImage(t, ts, "stat-private/app")
		stored += sysPushImage(t, ts, "stat-private/other")
		stored += sysPushImage(t, ts, "stat-alice/app")

		stats := func(auth http.Header) map[string]int64 {
			t.Helper()
			resp := ts.do(t, http.MethodGet, "/api/v2.0/statistics", auth, nil)
			expectStatus(t, resp, http.StatusOK)
			var m map[string]int64
			if err := json.Unmarshal(respBody(t, resp), &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		for _, tc := range []struct {
			name string
			auth http.Header
			want map[string]int64
		}{
			// Projects: library and stat-public are public; stat-private and stat-alice private.
			{"admin", nil, map[string]int64{
				"public_project_count": 2, "public_repo_count": 1, "private_project_count": 2, "private_repo_count": 3,
				"total_project_count": 4, "total_repo_count": 4, "total_storage_consumption": stored}},
			{"member", acctAuth("alice"), map[string]int64{
				"public_project_count": 2, "public_repo_count": 1, "private_project_count": 1, "private_repo_count": 1,
				"total_project_count": 0, "total_repo_count": 0, "total_storage_consumption": 0}},
			{"outsider", acctAuth("bob"), map[string]int64{
				"public_project_count": 2, "public_repo_count": 1, "private_project_count": 0, "private_repo_count": 0,
				"total_project_count": 0, "total_repo_count": 0, "total_storage_consumption": 0}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := stats(tc.auth)
				if len(got) != len(tc.want) {
					t.Errorf("statistics %v, want the keys of %v", got, tc.want)
				}
				for k, v := range tc.want {
					if got[k] != v {
						t.Errorf("%s = %d, want %d", k, got[k], v)
					}
				}
			})
		}
		// The same blob pushed again elsewhere is stored, and counted, once.
		m := ts.imageManifest(t, "stat-public/app", mtOCIManifest)
		b := mustJSON(t, m)
		ts.pushManifest(t, "stat-public/app", "v2", mtOCIManifest, b)
		for _, d := range []string{m.Config.Digest, m.Layers[0].Digest} {
			resp := ts.do(t, http.MethodPost, "/v2/stat-public/copy/blobs/uploads/?mount="+d+"&from=stat-public/app", nil, nil)
			expectStatus(t, resp, http.StatusCreated)
		}
		ts.pushManifest(t, "stat-public/copy", "v1", mtOCIManifest, b)
		if got := stats(nil)["total_storage_consumption"]; got != stored+m.Config.Size+m.Layers[0].Size+int64(len(b)) {
			t.Errorf("after pushing one image twice: storage %d, want %d", got, stored+m.Config.Size+m.Layers[0].Size+int64(len(b)))
		}
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/statistics", anonymous(), nil), 401, "UNAUTHORIZED")
	})
}

func TestSearch(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		acctCreate(t, ts, "alice")
		sysCreateProject(t, ts, nil, "find-public", true)
		sysCreateProject(t, ts, nil, "find-private", false)
		sysCreateProject(t, ts, acctAuth("alice"), "find-alice", false)
		for _, r := range []string{"find-public/web", "find-private/web", "find-alice/web", "library/find-me"} {
			sysPushImage(t, ts, r)
		}
		type result struct {
			Project []struct {
				ProjectID int64  `json:"project_id"`
				Name      string `json:"name"`
			} `json:"project"`
			Repository []struct {
				ProjectID      int64  `json:"project_id"`
				ProjectName    string `json:"project_name"`
				ProjectPublic  bool   `json:"project_public"`
				RepositoryName string `json:"repository_name"`
				PullCount      int64  `json:"pull_count"`
				ArtifactCount  int64  `json:"artifact_count"`
			} `json:"repository"`
		}
		search := func(auth http.Header, q string) (projects, repos string, r result) {
			t.Helper()
			resp := ts.do(t, http.MethodGet, "/api/v2.0/search?q="+q, auth, nil)
			expectStatus(t, resp, http.StatusOK)
			if err := json.Unmarshal(respBody(t, resp), &r); err != nil {
				t.Fatal(err)
			}
			var ps, rs []string
			for _, p := range r.Project {
				ps = append(ps, p.Name)
			}
			for _, x := range r.Repository {
				rs = append(rs, x.RepositoryName)
			}
			return strings.Join(ps, ","), strings.Join(rs, ","), r
		}
		for _, tc := range []struct {
			name     string
			auth     http.Header
			q        string
			projects string
			repos    string
		}{
			{"admin", nil, "find", "find-alice,find-private,find-public", "find-alice/web,find-private/web,find-public/web,library/find-me"},
			{"member", acctAuth("alice"), "find", "find-alice,find-public", "find-alice/web,find-public/web,library/find-me"},
			{"anonymous", anonymous(), "find", "find-public", "find-public/web,library/find-me"},
			{"case-insensitive", anonymous(), "FIND-PUB", "find-public", "find-public/web"},
			{"repository part", nil, "web", "", "find-alice/web,find-private/web,find-public/web"},
			{"wildcards are literal", nil, "%25", "", ""},
			{"no match", nil, "nothing-here", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ps, rs, _ := search(tc.auth, tc.q)
				if ps != tc.projects || rs != tc.repos {
					t.Errorf("search %q: projects %q, repositories %q; want %q, %q", tc.q, ps, rs, tc.projects, tc.repos)
				}
			})
		}
		_, _, r := search(nil, "find-public")
		if len(r.Repository) != 1 || !r.Repository[0].ProjectPublic || r.Repository[0].ArtifactCount != 1 ||
			r.Repository[0].ProjectName != "find-public" || r.Repository[0].ProjectID != r.Project[0].ProjectID {
			t.Errorf("repository result %+v, project %+v", r.Repository, r.Project)
		}
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/search", nil, nil), 400, "BAD_REQUEST")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/search?q=", nil, nil), 400, "BAD_REQUEST")
	})
}

func TestConfigurations(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		type item struct {
			Value    any  `json:"value"`
			Editable bool `json:"editable"`
		}
		get := func() map[string]item {
			t.Helper()
			resp := ts.do(t, http.MethodGet, "/api/v2.0/configurations", nil, nil)
			expectStatus(t, resp, http.StatusOK)
			var m map[string]item
			acctJSON(t, resp, &m)
			return m
		}
		defaults := map[string]item{
			"auth_mode":                    {"db_auth", false},
			"primary_auth_mode":            {false, false},
			"project_creation_restriction": {"everyone", true},
			"self_registration":            {false, true},
			"robot_token_duration":         {float64(30), true},
			"robot_name_prefix":            {"robot$", true},
			"token_expiration":             {float64(30), true},
			"storage_per_project":          {float64(-1), true},
			"quota_per_project_enable":     {true, true},
			"read_only":                    {false, true},
			"session_timeout":              {float64(60), true},
			"banner_message":               {"", true},
		}
		got := get()
		if len(got) != len(defaults) {
			t.Errorf("configuration keys %v, want %d", got, len(defaults))
		}
		for k, want := range defaults {
			if got[k] != want {
				t.Errorf("%s = %+v, want %+v", k, got[k], want)
			}
		}

		acctCreate(t, ts, "alice")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/configurations", acctAuth("alice"), nil), 403, "FORBIDDEN")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/configurations", anonymous(), nil), 401, "UNAUTHORIZED")
		assertOCIError(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", acctAuth("alice"), []byte(`{"read_only":true}`)), 403, "FORBIDDEN")
		assertOCIError(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", anonymous(), []byte(`{"read_only":true}`)), 401, "UNAUTHORIZED")

		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, []byte(`{
			"project_creation_restriction": "adminonly", "robot_token_duration": 365, "robot_name_prefix": "bot$",
			"token_expiration": 45, "storage_per_project": 1073741824, "quota_per_project_enable": false,
			"session_timeout": 120, "auth_mode": "db_auth"}`)), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, []byte(`{}`)), http.StatusOK)
		want := map[string]any{
			"project_creation_restriction": "adminonly", "robot_token_duration": float64(365), "robot_name_prefix": "bot$",
			"token_expiration": float64(45), "storage_per_project": float64(1073741824), "quota_per_project_enable": false,
			"session_timeout": float64(120), "self_registration": false, "read_only": false,
		}
		got = get()
		for k, v := range want {
			if got[k].Value != v {
				t.Errorf("after update %s = %v, want %v", k, got[k].Value, v)
			}
		}

		for _, tc := range []struct {
			name string
			body string
		}{
			{"unknown key", `{"no_such_key": true}`},
			{"a Harbor key Berth does not support", `{"ldap_url": "ldap://x"}`},
			{"bool as string", `{"self_registration": "true"}`},
			{"int as string", `{"token_expiration": "30"}`},
			{"fraction", `{"token_expiration": 1.5}`},
			{"zero token expiration", `{"token_expiration": 0}`},
			{"negative robot duration", `{"robot_token_duration": -1}`},
			{"zero quota", `{"storage_per_project": 0}`},
			{"quota below -1", `{"storage_per_project": -2}`},
			{"unknown restriction", `{"project_creation_restriction": "nobody"}`},
			{"empty robot prefix", `{"robot_name_prefix": ""}`},
			{"robot prefix with a space", `{"robot_name_prefix": "my robot"}`},
			{"robot prefix that user names may start with", `{"robot_name_prefix": "robot-"}`},
			{"other auth mode", `{"auth_mode": "ldap_auth"}`},
			{"primary auth mode", `{"primary_auth_mode": true}`},
			{"zero session timeout", `{"session_timeout": 0}`},
			{"null", `{"read_only": null}`},
			{"string for bool", `{"read_only": "yes"}`},
			{"array", `[]`},
			{"null document", `null`},
			{"malformed", `{"read_only":`},
			{"trailing data", `{"read_only": true} {}`},
			// A valid key beside an invalid one: nothing is applied.
			{"valid and invalid together", `{"read_only": true, "token_expiration": -5}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assertOCIError(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, []byte(tc.body)), 400, "BAD_REQUEST")
			})
		}
		got = get()
		for k, v := range want {
			if got[k].Value != v {
				t.Errorf("after refused updates %s = %v, want %v", k, got[k].Value, v)
			}
		}

		// A portal session changes the configuration only with its CSRF token.
		s := acctLogin(t, ts, "admin", adminPassword)
		assertOCIError(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", hdr(s.headers(), "Content-Type", "application/json"), []byte(`{"read_only":true}`)), 403, "FORBIDDEN")
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", s.withCSRF(), []byte(`{"read_only":true}`)), http.StatusOK)
		if get()["read_only"].Value != true {
			t.Error("read_only not set through the session")
		}
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, []byte(`{"read_only":false}`)), http.StatusOK)
	})
}
