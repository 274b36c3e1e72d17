package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// API tests of robot accounts (/robots, /permissions) and of robots logging in on /v2/ (Basic
// and the token flow) and on the API, through the complete server, on SQLite and PostgreSQL.

type robotAccess struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
	Effect   string `json:"effect,omitempty"`
}

type robotPermission struct {
	Kind      string        `json:"kind"`
	Namespace string        `json:"namespace"`
	Access    []robotAccess `json:"access"`
}

type robotCreated struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Secret       string `json:"secret"`
	CreationTime string `json:"creation_time"`
	ExpiresAt    int64  `json:"expires_at"`
}

type robotAccount struct {
	ID           int64             `json:"id"`
	Name         string            `json:"name"`
	Description  string            `json:"description"`
	Secret       string            `json:"secret,omitempty"`
	Level        string            `json:"level"`
	Duration     *int64            `json:"duration"`
	Editable     bool              `json:"editable"`
	Disable      bool              `json:"disable"`
	ExpiresAt    int64             `json:"expires_at"`
	Permissions  []robotPermission `json:"permissions"`
	CreatorType  string            `json:"creator_type"`
	CreatorRef   int64             `json:"creator_ref"`
	CreationTime string            `json:"creation_time"`
	UpdateTime   string            `json:"update_time"`
}

// access builds an access list from "resource:action" strings.
func access(pairs ...string) []robotAccess {
	out := make([]robotAccess, 0, len(pairs))
	for _, p := range pairs {
		r, a, _ := strings.Cut(p, ":")
		out = append(out, robotAccess{Resource: r, Action: a})
	}
	return out
}

// projectRobot is the body of a project robot creation.
func projectRobot(name, project string, duration int64, pairs ...string) map[string]any {
	return map[string]any{
		"name": name, "level": "project", "duration": duration,
		"permissions": []robotPermission{{Kind: "project", Namespace: project, Access: access(pairs...)}},
	}
}

// mrRobot creates a robot with the given credentials (nil: admin) and returns what the creation
// answered.
func (ts *testServer) mrRobot(t *testing.T, auth http.Header, body map[string]any) robotCreated {
	t.Helper()
	resp := ts.mrJSON(t, http.MethodPost, apiBase+"/robots", auth, body)
	expectStatus(t, resp, http.StatusCreated)
	r := decodeJSON[robotCreated](t, resp)
	if want := fmt.Sprintf("%s/robots/%d", apiBase, r.ID); resp.Header.Get("Location") != want {
		t.Errorf("create robot: Location %q, want %q", resp.Header.Get("Location"), want)
	}
	if r.Secret == "" {
		t.Fatalf("create robot: no secret in %s", respBody(t, resp))
	}
	return r
}

// tokenAccess fetches a token and returns the actions it grants on repo.
func (ts *testServer) tokenAccess(t *testing.T, auth http.Header, repo string) (string, []string) {
	t.Helper()
	tok := ts.token(t, auth, "repository:"+repo+":pull,push,delete")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Access []struct {
			Type, Name string
			Actions    []string
		} `json:"access"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	for _, a := range claims.Access {
		if a.Type == "repository" && a.Name == repo {
			return tok, a.Actions
		}
	}
	return tok, nil
}

// TestRobotAccounts covers the robot API: creation, reading, listing, update, secret refresh,
// deletion, with Harbor's answers and Berth's rule that a robot never exceeds its creator.
func TestRobotAccounts(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		project, _ := ts.mrProject(t, "robots", false)
		other, _ := ts.mrProject(t, "elsewhere", false)
		_, padminName, padmin := ts.mrUser(t, "padmin")
		ts.mrAddUser(t, project, padminName, meta.RoleProjectAdmin)
		_, devName, dev := ts.mrUser(t, "dev")
		ts.mrAddUser(t, project, devName, meta.RoleDeveloper)
		ts.mrAddUser(t, other, devName, meta.RoleDeveloper)
		_, lgName, limited := ts.mrUser(t, "limited")
		ts.mrAddUser(t, project, lgName, meta.RoleLimitedGuest)

		t.Run("create answers RobotCreated and GET the robot without its secret", func(t *testing.T) {
			before := time.Now()
			r := ts.mrRobot(t, nil, projectRobot("ci", project, 365, "repository:pull", "repository:push"))
			if r.Name != "robot$"+project+"+ci" {
				t.Errorf("name %q, want robot$%s+ci", r.Name, project)
			}
			if lo, hi := before.AddDate(0, 0, 365).Unix()-5, time.Now().AddDate(0, 0, 365).Unix()+5; r.ExpiresAt < lo || r.ExpiresAt > hi {
				t.Errorf("expires_at %d, want about 365 days from now (%d..%d)", r.ExpiresAt, lo, hi)
			}
			if _, err := time.Parse(time.RFC3339, r.CreationTime); err != nil {
				t.Errorf("creation_time %q: %v", r.CreationTime, err)
			}
			resp := ts.do(t, http.MethodGet, fmt.Sprintf("%s/robots/%d", apiBase, r.ID), nil, nil)
			expectStatus(t, resp, http.StatusOK)
			if strings.Contains(string(respBody(t, resp)), r.Secret) || strings.Contains(string(respBody(t, resp)), `"secret"`) {
				t.Errorf("GET robot shows the secret: %s", respBody(t, resp))
			}
			got := decodeJSON[robotAccount](t, resp)
			if got.Name != r.Name || got.Level != "project" || got.Duration == nil || *got.Duration != 365 || !got.Editable || got.Disable ||
				got.ExpiresAt != r.ExpiresAt || got.CreatorType != "local" || got.CreatorRef != 1 {
				t.Errorf("GET robot: %+v", got)
			}
			want := []robotPermission{{Kind: "project", Namespace: project, Access: []robotAccess{
				{"repository", "pull", "allow"}, {"repository", "push", "allow"}}}}
			if !slices.EqualFunc(got.Permissions, want, func(a, b robotPermission) bool {
				return a.Kind == b.Kind && a.Namespace == b.Namespace && slices.Equal(a.Access, b.Access)
			}) {
				t.Errorf("permissions %+v, want %+v", got.Permissions, want)
			}
			if n := ts.mrAuditCount(t, "create", "robot", r.Name); n != 1 {
				t.Errorf("audit log has %d create entries for %s, want 1", n, r.Name)
			}
		})

		t.Run("duration 0 takes the configured default, -1 never expires", func(t *testing.T) {
			r := ts.mrRobot(t, nil, projectRobot("dflt", project, 0, "repository:pull"))
			if want := time.Now().AddDate(0, 0, 30).Unix(); r.ExpiresAt < want-10 || r.ExpiresAt > want+10 {
				t.Errorf("duration 0: expires_at %d, want about %d (30 days)", r.ExpiresAt, want)
			}
			got := decodeJSON[robotAccount](t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/robots/%d", apiBase, r.ID), nil, nil))
			if *got.Duration != 30 {
				t.Errorf("duration 0 is stored as %d, want 30", *got.Duration)
			}
			r = ts.mrRobot(t, nil, projectRobot("forever", project, -1, "repository:pull"))
			if r.ExpiresAt != -1 {
				t.Errorf("duration -1: expires_at %d, want -1", r.ExpiresAt)
			}
		})

		t.Run("bad requests", func(t *testing.T) {
			ts.mrRobot(t, nil, projectRobot("taken", project, 1, "repository:pull"))
			system := func(perms ...robotPermission) map[string]any {
				return map[string]any{"name": "sys" + uniqueSuffix(), "level": "system", "duration": 1, "permissions": perms}
			}
			cases := []struct {
				name   string
				body   any
				status int
				code   string
			}{
				{"upper-case name", projectRobot("CI", project, 1, "repository:pull"), 400, "BAD_REQUEST"},
				{"name with a plus", projectRobot("a+b", project, 1, "repository:pull"), 400, "BAD_REQUEST"},
				{"empty name", projectRobot("", project, 1, "repository:pull"), 400, "BAD_REQUEST"},
				{"name too long", projectRobot(strings.Repeat("a", 256), project, 1, "repository:pull"), 400, "BAD_REQUEST"},
				{"bad level", map[string]any{"name": "x", "level": "global", "permissions": []robotPermission{{Kind: "project", Namespace: project, Access: access("repository:pull")}}}, 400, "BAD_REQUEST"},
				{"duration -2", projectRobot("x", project, -2, "repository:pull"), 400, "BAD_REQUEST"},
				{"no permissions", map[string]any{"name": "x", "level": "project", "permissions": []any{}}, 400, "BAD_REQUEST"},
				{"no access", projectRobot("x", project, 1), 400, "BAD_REQUEST"},
				{"unknown action", projectRobot("x", project, 1, "repository:fly"), 400, "BAD_REQUEST"},
				{"unknown resource", projectRobot("x", project, 1, "spaceship:pull"), 400, "BAD_REQUEST"},
				{"system resource in a project", projectRobot("x", project, 1, "garbage-collection:create"), 400, "BAD_REQUEST"},
				{"project robot with two permissions", map[string]any{"name": "x", "level": "project", "permissions": []robotPermission{
					{Kind: "project", Namespace: project, Access: access("repository:pull")}, {Kind: "project", Namespace: other, Access: access("repository:pull")}}}, 400, "BAD_REQUEST"},
				{"project robot with a system permission", map[string]any{"name": "x", "level": "project", "permissions": []robotPermission{
					{Kind: "system", Namespace: "/", Access: access("project:create")}}}, 400, "BAD_REQUEST"},
				{"project robot on every project", projectRobot("x", "*", 1, "repository:pull"), 400, "BAD_REQUEST"},
				{"bad kind", system(robotPermission{Kind: "galaxy", Namespace: "/", Access: access("project:create")}), 400, "BAD_REQUEST"},
				{"system permission on a project namespace", system(robotPermission{Kind: "system", Namespace: project, Access: access("project:create")}), 400, "BAD_REQUEST"},
				{"bad effect", map[string]any{"name": "x", "level": "project", "permissions": []robotPermission{
					{Kind: "project", Namespace: project, Access: []robotAccess{{"repository", "pull", "maybe"}}}}}, 400, "BAD_REQUEST"},
				{"short secret", map[string]any{"name": "x", "level": "project", "secret": "Ab1", "permissions": []robotPermission{
					{Kind: "project", Namespace: project, Access: access("repository:pull")}}}, 400, "BAD_REQUEST"},
				{"secret without a digit", map[string]any{"name": "x", "level": "project", "secret": "Abcdefghij", "permissions": []robotPermission{
					{Kind: "project", Namespace: project, Access: access("repository:pull")}}}, 400, "BAD_REQUEST"},
				{"unknown field", map[string]any{"name": "x", "level": "project", "owner": "me", "permissions": []robotPermission{
					{Kind: "project", Namespace: project, Access: access("repository:pull")}}}, 400, "BAD_REQUEST"},
				{"wrong type", map[string]any{"name": "x", "level": "project", "duration": "forever", "permissions": []robotPermission{
					{Kind: "project", Namespace: project, Access: access("repository:pull")}}}, 400, "BAD_REQUEST"},
				{"malformed JSON", `{"name":`, 400, "BAD_REQUEST"},
				{"duplicate name", projectRobot("taken", project, 1, "repository:pull"), 409, "CONFLICT"},
				{"unknown project", projectRobot("x", "nosuch"+uniqueSuffix(), 1, "repository:pull"), 404, "NOT_FOUND"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					mrExpectAPIError(t, ts.mrJSON(t, http.MethodPost, apiBase+"/robots", nil, tc.body), tc.status, tc.code)
				})
			}
			for _, p := range []string{"/robots/abc", "/robots/0"} {
				mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+p, nil, nil), http.StatusBadRequest, "BAD_REQUEST")
			}
			for _, m := range []string{http.MethodGet, http.MethodDelete} {
				mrExpectAPIError(t, ts.do(t, m, apiBase+"/robots/987654", nil, nil), http.StatusNotFound, "NOT_FOUND")
			}
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPatch, apiBase+"/robots/987654", nil, map[string]any{}), http.StatusNotFound, "NOT_FOUND")
		})

		t.Run("who may create robots", func(t *testing.T) {
			// A project admin manages the project's robots and grants what it holds there.
			r := ts.mrRobot(t, padmin, projectRobot("byadmin", project, 7, "repository:pull", "repository:delete", "member:create"))
			got := decodeJSON[robotAccount](t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/robots/%d", apiBase, r.ID), padmin, nil))
			if got.CreatorType != "local" || got.Name != r.Name {
				t.Errorf("robot by a project admin: %+v", got)
			}
			cases := []struct {
				name   string
				auth   http.Header
				body   map[string]any
				status int
				code   string
			}{
				{"developer", dev, projectRobot("bydev", project, 1, "repository:pull"), 403, "FORBIDDEN"},
				{"limited guest", limited, projectRobot("bylg", project, 1, "repository:pull"), 403, "FORBIDDEN"},
				{"anonymous", anonymous(), projectRobot("byanon", project, 1, "repository:pull"), 401, "UNAUTHORIZED"},
				{"project admin in a project it cannot see", padmin, projectRobot("x", other, 1, "repository:pull"), 404, "NOT_FOUND"},
				{"project admin at system level", padmin, map[string]any{"name": "sysbyadmin", "level": "system", "permissions": []robotPermission{
					{Kind: "project", Namespace: project, Access: access("repository:pull")}}}, 403, "FORBIDDEN"},
				{"project admin on every project", padmin, map[string]any{"name": "star", "level": "system", "permissions": []robotPermission{
					{Kind: "project", Namespace: "*", Access: access("repository:pull")}}}, 403, "FORBIDDEN"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					mrExpectAPIError(t, ts.mrJSON(t, http.MethodPost, apiBase+"/robots", tc.auth, tc.body), tc.status, tc.code)
				})
			}
		})

		t.Run("a robot cannot exceed its creator", func(t *testing.T) {
			// A system robot that may manage robots in the project but only pull there.
			manager := ts.mrRobot(t, nil, map[string]any{"name": "manager" + uniqueSuffix(), "level": "system", "duration": -1, "permissions": []robotPermission{
				{Kind: "project", Namespace: project, Access: access("robot:create", "robot:read", "robot:list", "repository:pull")},
			}})
			mh := basicAuth(manager.Name, manager.Secret)
			child := ts.mrRobot(t, mh, projectRobot("child", project, 1, "repository:pull"))
			got := decodeJSON[robotAccount](t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/robots/%d", apiBase, child.ID), mh, nil))
			if got.CreatorType != "robot" || got.CreatorRef != manager.ID {
				t.Errorf("robot created by a robot: creator %s/%d, want robot/%d", got.CreatorType, got.CreatorRef, manager.ID)
			}
			for _, perm := range []string{"repository:push", "repository:delete", "member:create"} {
				resp := ts.mrJSON(t, http.MethodPost, apiBase+"/robots", mh, projectRobot("greedy", project, 1, "repository:pull", perm))
				mrExpectAPIError(t, resp, http.StatusForbidden, "FORBIDDEN")
			}
			// A deny is no grant: anyone may narrow a robot.
			body := projectRobot("narrow", project, 1, "repository:pull")
			body["permissions"] = []robotPermission{{Kind: "project", Namespace: project, Access: []robotAccess{{"repository", "pull", ""}, {"repository", "push", "deny"}}}}
			ts.mrRobot(t, mh, body)
			// Nor can it manage robots elsewhere or at system level.
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPost, apiBase+"/robots", mh, projectRobot("away", other, 1, "repository:pull")), http.StatusNotFound, "NOT_FOUND")
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPost, apiBase+"/robots", mh, map[string]any{"name": "sys", "level": "system", "permissions": []robotPermission{
				{Kind: "project", Namespace: project, Access: access("repository:pull")}}}), http.StatusForbidden, "FORBIDDEN")
			// Editing follows the same rule.
			edit := map[string]any{"name": child.Name, "level": "project", "duration": 1, "permissions": []robotPermission{
				{Kind: "project", Namespace: project, Access: access("repository:pull", "repository:push")}}}
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, fmt.Sprintf("%s/robots/%d", apiBase, child.ID), mh, edit), http.StatusForbidden, "FORBIDDEN")
		})

		t.Run("listing", func(t *testing.T) {
			p, pid := ts.mrProject(t, "listing", false)
			_, n, padmin2 := ts.mrUser(t, "padmin")
			ts.mrAddUser(t, p, n, meta.RoleProjectAdmin)
			var names []string
			for i := 0; i < 3; i++ {
				names = append(names, ts.mrRobot(t, nil, projectRobot(fmt.Sprintf("lr%d", i), p, 1, "repository:pull")).Name)
			}
			sys := ts.mrRobot(t, nil, map[string]any{"name": "sysl" + uniqueSuffix(), "level": "system", "permissions": []robotPermission{
				{Kind: "system", Namespace: "/", Access: access("project:create")}, {Kind: "project", Namespace: "*", Access: access("repository:pull")}}})

			q := fmt.Sprintf("%s/robots?q=Level%%3Dproject,ProjectID%%3D%d&page_size=2", apiBase, pid)
			resp := ts.do(t, http.MethodGet, q, padmin2, nil)
			expectStatus(t, resp, http.StatusOK)
			rs := decodeJSON[[]robotAccount](t, resp)
			if resp.Header.Get("X-Total-Count") != "3" || len(rs) != 2 || !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
				t.Errorf("project robots page: %d robots, X-Total-Count %s, Link %q", len(rs), resp.Header.Get("X-Total-Count"), resp.Header.Get("Link"))
			}
			for _, r := range rs {
				if !slices.Contains(names, r.Name) || len(r.Permissions) != 1 || r.Level != "project" {
					t.Errorf("listed %+v", r)
				}
			}
			rs = decodeJSON[[]robotAccount](t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/robots?q=ProjectID%%3D%d,name%%3D~lr1", apiBase, pid), padmin2, nil))
			if len(rs) != 1 || rs[0].Name != names[1] {
				t.Errorf("name=~lr1: %+v", rs)
			}
			rs = decodeJSON[[]robotAccount](t, ts.do(t, http.MethodGet, apiBase+"/robots?q=Level%3Dsystem&page_size=100", nil, nil))
			found := false
			for _, r := range rs {
				if r.Level != "system" {
					t.Errorf("Level=system lists %+v", r)
				}
				if r.ID == sys.ID {
					found = true
					if len(r.Permissions) != 2 || r.Permissions[0].Namespace != "/" || r.Permissions[1].Namespace != "*" {
						t.Errorf("system robot permissions %+v", r.Permissions)
					}
				}
			}
			if !found {
				t.Errorf("Level=system does not list %s", sys.Name)
			}
			resp = ts.do(t, http.MethodGet, apiBase+"/robots?page_size=100", nil, nil)
			expectStatus(t, resp, http.StatusOK)
			if total := resp.Header.Get("X-Total-Count"); total == "" || total == "0" {
				t.Errorf("admin lists all robots: X-Total-Count %q", total)
			}
			// Guests and up read the project's robots; others are refused.
			_, dn, devh := ts.mrUser(t, "dev")
			ts.mrAddUser(t, p, dn, meta.RoleDeveloper)
			expectStatus(t, ts.do(t, http.MethodGet, q, devh, nil), http.StatusOK)
			_, ln, lgh := ts.mrUser(t, "lg")
			ts.mrAddUser(t, p, ln, meta.RoleLimitedGuest)
			for _, c := range []struct {
				name   string
				auth   http.Header
				path   string
				status int
				code   string
			}{
				{"limited guest", lgh, q, 403, "FORBIDDEN"},
				{"outsider", dev, q, 404, "NOT_FOUND"},
				{"anonymous", anonymous(), q, 401, "UNAUTHORIZED"},
				{"project admin, all robots", padmin2, apiBase + "/robots", 403, "FORBIDDEN"},
				{"project admin, system robots", padmin2, apiBase + "/robots?q=Level%3Dsystem", 403, "FORBIDDEN"},
				{"bad level", nil, apiBase + "/robots?q=Level%3Dgalaxy", 400, "BAD_REQUEST"},
				{"project level without a project", nil, apiBase + "/robots?q=Level%3Dproject", 400, "BAD_REQUEST"},
				{"project id not a number", nil, apiBase + "/robots?q=Level%3Dproject,ProjectID%3Dabc", 400, "BAD_REQUEST"},
				{"unknown key", nil, apiBase + "/robots?q=colour%3Dred", 400, "BAD_REQUEST"},
				{"unknown sort", nil, apiBase + "/robots?sort=colour", 400, "BAD_REQUEST"},
				{"unknown project", nil, apiBase + "/robots?q=Level%3Dproject,ProjectID%3D987654", 404, "NOT_FOUND"},
			} {
				t.Run(c.name, func(t *testing.T) {
					mrExpectAPIError(t, ts.do(t, http.MethodGet, c.path, c.auth, nil), c.status, c.code)
				})
			}
			// A robot of a project the caller cannot see is not found; one it may not read is
			// forbidden.
			one := fmt.Sprintf("%s/robots/%d", apiBase, sys.ID)
			mrExpectAPIError(t, ts.do(t, http.MethodGet, one, padmin2, nil), http.StatusForbidden, "FORBIDDEN")
			_, _, pother := ts.mrUser(t, "po")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/robots/%d", apiBase, mrRobotID(t, ts, names[0])), pother, nil), http.StatusNotFound, "NOT_FOUND")
		})

		t.Run("update", func(t *testing.T) {
			r := ts.mrRobot(t, nil, projectRobot("upd", project, 10, "repository:pull", "repository:push"))
			one := fmt.Sprintf("%s/robots/%d", apiBase, r.ID)
			cur := decodeJSON[robotAccount](t, ts.do(t, http.MethodGet, one, nil, nil))
			created, _ := time.Parse(time.RFC3339, cur.CreationTime)
			cur.Description = "read only now"
			d := int64(20)
			cur.Duration = &d
			cur.Permissions = []robotPermission{{Kind: "project", Namespace: project, Access: access("repository:pull")}}
			// The whole object read back is accepted, read-only fields included.
			expectStatus(t, ts.mrJSON(t, http.MethodPut, one, padmin, cur), http.StatusOK)
			got := decodeJSON[robotAccount](t, ts.do(t, http.MethodGet, one, nil, nil))
			if got.Description != "read only now" || *got.Duration != 20 || len(got.Permissions) != 1 || len(got.Permissions[0].Access) != 1 {
				t.Errorf("after PUT: %+v", got)
			}
			if want := created.AddDate(0, 0, 20).Unix(); got.ExpiresAt < want-2 || got.ExpiresAt > want+2 {
				t.Errorf("expires_at %d after setting 20 days, want about %d (from the creation time)", got.ExpiresAt, want)
			}
			if n := ts.mrAuditCount(t, "update", "robot", r.Name); n != 1 {
				t.Errorf("audit log has %d update entries for %s, want 1", n, r.Name)
			}
			bad := func(mut func(m map[string]any)) map[string]any {
				m := map[string]any{"name": r.Name, "level": "project", "duration": 20, "permissions": []robotPermission{
					{Kind: "project", Namespace: project, Access: access("repository:pull")}}}
				mut(m)
				return m
			}
			for _, c := range []struct {
				name   string
				auth   http.Header
				body   any
				status int
				code   string
			}{
				{"rename", nil, bad(func(m map[string]any) { m["name"] = "robot$other" }), 400, "BAD_REQUEST"},
				{"change level", nil, bad(func(m map[string]any) { m["level"] = "system" }), 400, "BAD_REQUEST"},
				{"move to another project", nil, bad(func(m map[string]any) {
					m["permissions"] = []robotPermission{{Kind: "project", Namespace: other, Access: access("repository:pull")}}
				}), 400, "BAD_REQUEST"},
				{"no permissions", nil, bad(func(m map[string]any) { m["permissions"] = []any{} }), 400, "BAD_REQUEST"},
				{"bad duration", nil, bad(func(m map[string]any) { m["duration"] = -5 }), 400, "BAD_REQUEST"},
				{"unknown field", nil, bad(func(m map[string]any) { m["colour"] = "red" }), 400, "BAD_REQUEST"},
				{"developer", dev, bad(func(map[string]any) {}), 403, "FORBIDDEN"},
				{"anonymous", anonymous(), bad(func(map[string]any) {}), 401, "UNAUTHORIZED"},
			} {
				t.Run(c.name, func(t *testing.T) {
					mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, one, c.auth, c.body), c.status, c.code)
				})
			}
			if got2 := decodeJSON[robotAccount](t, ts.do(t, http.MethodGet, one, nil, nil)); got2.Description != got.Description || got2.UpdateTime != got.UpdateTime {
				t.Errorf("refused PUTs changed the robot: %+v", got2)
			}
		})

		t.Run("delete", func(t *testing.T) {
			r := ts.mrRobot(t, nil, projectRobot("del", project, 1, "repository:pull"))
			one := fmt.Sprintf("%s/robots/%d", apiBase, r.ID)
			mrExpectAPIError(t, ts.do(t, http.MethodDelete, one, dev, nil), http.StatusForbidden, "FORBIDDEN")
			expectStatus(t, ts.do(t, http.MethodGet, one, nil, nil), http.StatusOK)
			expectStatus(t, ts.do(t, http.MethodDelete, one, padmin, nil), http.StatusOK)
			mrExpectAPIError(t, ts.do(t, http.MethodGet, one, nil, nil), http.StatusNotFound, "NOT_FOUND")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, "/v2/", basicAuth(r.Name, r.Secret), nil), http.StatusUnauthorized, "UNAUTHORIZED")
			if n := ts.mrAuditCount(t, "delete", "robot", r.Name); n != 1 {
				t.Errorf("audit log has %d delete entries for %s, want 1", n, r.Name)
			}
		})

		t.Run("deleting the project deletes its robots", func(t *testing.T) {
			p, _ := ts.mrProject(t, "gone", false)
			r := ts.mrRobot(t, nil, projectRobot("bot", p, 1, "repository:pull"))
			expectStatus(t, ts.do(t, http.MethodDelete, apiBase+"/projects/"+p, hdr(nil, "X-Is-Resource-Name", "true"), nil), http.StatusOK)
			mrExpectAPIError(t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/robots/%d", apiBase, r.ID), nil, nil), http.StatusNotFound, "NOT_FOUND")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, "/v2/", basicAuth(r.Name, r.Secret), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		})
	})
}

// mrRobotID looks a robot up by its full name as admin.
func mrRobotID(t *testing.T, ts *testServer, full string) int64 {
	t.Helper()
	rs := decodeJSON[[]robotAccount](t, ts.do(t, http.MethodGet, apiBase+"/robots?page_size=100&q="+url.QueryEscape("name="+strings.TrimPrefix(full, "robot$")), nil, nil))
	if len(rs) != 1 {
		t.Fatalf("robot %s: found %d", full, len(rs))
	}
	return rs[0].ID
}

// TestRobotLogin checks that robots log in everywhere users do, within their permissions:
// Basic and the token flow on /v2/, Basic on the API; and that refreshed, disabled and expired
// robots are refused.
func TestRobotLogin(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		project, _ := ts.mrProject(t, "myproject", false)
		other, _ := ts.mrProject(t, "otherproject", false)
		r := ts.mrRobot(t, nil, projectRobot("ci-pipeline", project, 365, "repository:pull", "repository:push"))
		robot := basicAuth(r.Name, r.Secret)
		repo, otherRepo := project+"/app", other+"/app"
		ts.pushImage(t, otherRepo, "v1", mtOCIManifest)

		t.Run("Basic on /v2/: granted actions succeed, others are refused", func(t *testing.T) {
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", robot, nil), http.StatusOK)
			if st := ts.mrPush(t, robot, repo, "v1"); st != http.StatusCreated {
				t.Fatalf("robot push to %s: status %d, want 201", repo, st)
			}
			resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/v1", hdr(robot, "Accept", mtOCIManifest), nil)
			expectStatus(t, resp, http.StatusOK)
			digest := resp.Header.Get("Docker-Content-Digest")
			// No delete permission.
			assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+digest, robot, nil), http.StatusForbidden, "DENIED")
			// Nothing in the other project, which it cannot even see.
			if st := ts.mrPush(t, robot, otherRepo, "v2"); st != http.StatusNotFound {
				t.Errorf("robot push to %s: status %d, want 404", otherRepo, st)
			}
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+otherRepo+"/manifests/v1", robot, nil), http.StatusNotFound, "NAME_UNKNOWN")
		})

		t.Run("token flow grants only what the robot holds", func(t *testing.T) {
			tok, actions := ts.tokenAccess(t, robot, repo)
			slices.Sort(actions)
			if !slices.Equal(actions, []string{"pull", "push"}) {
				t.Errorf("token actions on %s: %v, want [pull push]", repo, actions)
			}
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/v1", hdr(bearer(tok), "Accept", mtOCIManifest), nil), http.StatusOK)
			if st := ts.mrPush(t, bearer(tok), repo, "v3"); st != http.StatusCreated {
				t.Errorf("push with the robot's token: status %d, want 201", st)
			}
			otherTok, otherActions := ts.tokenAccess(t, robot, otherRepo)
			if len(otherActions) != 0 {
				t.Errorf("token actions on %s: %v, want none", otherRepo, otherActions)
			}
			if st := ts.mrPush(t, bearer(otherTok), otherRepo, "v2"); st < 400 {
				t.Errorf("push to %s with the robot's token: status %d, want a refusal", otherRepo, st)
			}
			// The OAuth2 password grant (containerd, podman) takes robots too.
			form := url.Values{"grant_type": {"password"}, "service": {TokenService}, "scope": {"repository:" + repo + ":pull"},
				"username": {r.Name}, "password": {r.Secret}}
			resp := ts.do(t, http.MethodPost, "/service/token", hdr(anonymous(), "Content-Type", "application/x-www-form-urlencoded"), []byte(form.Encode()))
			expectStatus(t, resp, http.StatusOK)
		})

		t.Run("Basic on the API: within its permissions", func(t *testing.T) {
			// It sees its project (403, not 404) but may not read it: that takes project:read,
			// which it does not hold (Harbor's GetProject checks it too).
			mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/projects/"+project, robot, nil), http.StatusForbidden, "FORBIDDEN")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/projects/"+project+"/members", robot, nil), http.StatusForbidden, "FORBIDDEN")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/projects/"+other, robot, nil), http.StatusNotFound, "NOT_FOUND")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/robots", robot, nil), http.StatusForbidden, "FORBIDDEN")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/usergroups", robot, nil), http.StatusForbidden, "FORBIDDEN")
		})

		t.Run("a deny overrides an allow", func(t *testing.T) {
			body := projectRobot("denied", project, 1)
			body["permissions"] = []robotPermission{{Kind: "project", Namespace: project, Access: []robotAccess{
				{"repository", "pull", "allow"}, {"repository", "push", "allow"}, {"repository", "push", "deny"}}}}
			d := ts.mrRobot(t, nil, body)
			dh := basicAuth(d.Name, d.Secret)
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/v1", hdr(dh, "Accept", mtOCIManifest), nil), http.StatusOK)
			if st := ts.mrPush(t, dh, repo, "denied"); st != http.StatusForbidden {
				t.Errorf("push by a robot denied push: status %d, want 403", st)
			}
		})

		t.Run("artifact delete allows /v2/ deletes", func(t *testing.T) {
			d := ts.mrRobot(t, nil, projectRobot("cleaner", project, 1, "repository:pull", "artifact:delete"))
			_, digest := ts.pushImage(t, repo, "doomed", mtOCIManifest)
			expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+digest, basicAuth(d.Name, d.Secret), nil), http.StatusAccepted)
		})

		t.Run("a system robot on every project", func(t *testing.T) {
			s := ts.mrRobot(t, nil, map[string]any{"name": "puller" + uniqueSuffix(), "level": "system", "permissions": []robotPermission{
				{Kind: "project", Namespace: "*", Access: access("repository:pull")}}})
			sh := basicAuth(s.Name, s.Secret)
			for _, rp := range []string{repo, otherRepo} {
				expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+rp+"/manifests/v1", hdr(sh, "Accept", mtOCIManifest), nil), http.StatusOK)
			}
			if st := ts.mrPush(t, sh, otherRepo, "sys"); st != http.StatusForbidden {
				t.Errorf("push by a pull-only system robot: status %d, want 403", st)
			}
		})

		t.Run("refreshing the secret retires the old one at once", func(t *testing.T) {
			x := ts.mrRobot(t, nil, projectRobot("refresh", project, 1, "repository:pull"))
			one := fmt.Sprintf("%s/robots/%d", apiBase, x.ID)
			old := basicAuth(x.Name, x.Secret)
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", old, nil), http.StatusOK) // now in the login cache
			resp := ts.mrJSON(t, http.MethodPatch, one, nil, map[string]any{})
			expectStatus(t, resp, http.StatusOK)
			sec := decodeJSON[struct {
				Secret string `json:"secret"`
			}](t, resp).Secret
			if sec == "" || sec == x.Secret {
				t.Fatalf("refreshed secret %q", sec)
			}
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/", old, nil), http.StatusUnauthorized, "UNAUTHORIZED")
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", basicAuth(x.Name, sec), nil), http.StatusOK)
			// A secret of the caller's choosing is not sent back: the answer is {}, as Harbor's.
			resp = ts.mrJSON(t, http.MethodPatch, one, nil, map[string]any{"secret": "MyOwnSecret42"})
			expectStatus(t, resp, http.StatusOK)
			if body := strings.TrimSpace(string(respBody(t, resp))); body != "{}" {
				t.Errorf("refresh with a chosen secret answered %s, want {}", body)
			}
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", basicAuth(x.Name, "MyOwnSecret42"), nil), http.StatusOK)
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/", basicAuth(x.Name, sec), nil), http.StatusUnauthorized, "UNAUTHORIZED")
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPatch, one, nil, map[string]any{"secret": "weak"}), http.StatusBadRequest, "BAD_REQUEST")
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPatch, one, nil, map[string]any{"token": "x"}), http.StatusBadRequest, "BAD_REQUEST")
			_, _, devh := ts.mrUser(t, "outsider")
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPatch, one, devh, map[string]any{}), http.StatusNotFound, "NOT_FOUND")
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPatch, one, anonymous(), map[string]any{}), http.StatusUnauthorized, "UNAUTHORIZED")
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", basicAuth(x.Name, "MyOwnSecret42"), nil), http.StatusOK)
		})

		t.Run("a caller-chosen secret at creation", func(t *testing.T) {
			body := projectRobot("chosen", project, 1, "repository:pull")
			body["secret"] = "Chosen2Secret"
			c := ts.mrRobot(t, nil, body)
			if c.Secret != "Chosen2Secret" {
				t.Errorf("created with a chosen secret, answered %q", c.Secret)
			}
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", basicAuth(c.Name, "Chosen2Secret"), nil), http.StatusOK)
		})

		t.Run("a disabled robot is refused until enabled again", func(t *testing.T) {
			x := ts.mrRobot(t, nil, projectRobot("toggle", project, 1, "repository:pull"))
			h := basicAuth(x.Name, x.Secret)
			one := fmt.Sprintf("%s/robots/%d", apiBase, x.ID)
			tok, _ := ts.tokenAccess(t, h, repo)
			cur := decodeJSON[robotAccount](t, ts.do(t, http.MethodGet, one, nil, nil))
			cur.Disable = true
			expectStatus(t, ts.mrJSON(t, http.MethodPut, one, nil, cur), http.StatusOK)
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/", h, nil), http.StatusUnauthorized, "UNAUTHORIZED")
			resp := ts.do(t, http.MethodGet, "/service/token?service="+TokenService+"&scope=repository:"+repo+":pull", h, nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("token for a disabled robot: status %d, want 401", resp.StatusCode)
			}
			mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/projects/"+project, h, nil), http.StatusUnauthorized, "UNAUTHORIZED")
			// A token issued before grants nothing beyond its own claims: a fresh check of
			// the robot's rights (for a push it was never given) finds none.
			if st := ts.mrPush(t, bearer(tok), repo, "late"); st < 400 {
				t.Errorf("push with a disabled robot's token: status %d", st)
			}
			cur.Disable = false
			expectStatus(t, ts.mrJSON(t, http.MethodPut, one, nil, cur), http.StatusOK)
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", h, nil), http.StatusOK)
		})

		t.Run("an expired robot is refused", func(t *testing.T) {
			x := ts.mrRobot(t, nil, projectRobot("expiring", project, 1, "repository:pull"))
			h := basicAuth(x.Name, x.Secret)
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", h, nil), http.StatusOK)
			var n int
			err := ts.srv.db.QueryRowForTest(context.Background(), "UPDATE robots SET expires_at = $1 WHERE id = $2 RETURNING id",
				time.Now().Add(-time.Minute).Unix(), x.ID).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/", h, nil), http.StatusUnauthorized, "UNAUTHORIZED")
			if resp := ts.do(t, http.MethodGet, "/service/token?service="+TokenService+"&scope=repository:"+repo+":pull", h, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("token for an expired robot: status %d, want 401", resp.StatusCode)
			}
			mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/projects/"+project, h, nil), http.StatusUnauthorized, "UNAUTHORIZED")
		})

		t.Run("a wrong secret is refused", func(t *testing.T) {
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/", basicAuth(r.Name, r.Secret+"x"), nil), http.StatusUnauthorized, "UNAUTHORIZED")
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/", basicAuth("robot$nobody", "Secret123"), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		})
	})
}

// TestPermissionsList covers GET /permissions: what robots may be granted, for admins.
func TestPermissionsList(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		project, _ := ts.mrProject(t, "perms", false)
		_, name, padmin := ts.mrUser(t, "padmin")
		ts.mrAddUser(t, project, name, meta.RoleProjectAdmin)
		_, dname, dev := ts.mrUser(t, "dev")
		ts.mrAddUser(t, project, dname, meta.RoleDeveloper)
		r := ts.mrRobot(t, nil, projectRobot("bot", project, 1, "repository:pull"))

		type perms struct {
			System  []robotAccess `json:"system"`
			Project []robotAccess `json:"project"`
		}
		has := func(l []robotAccess, pair string) bool {
			res, act, _ := strings.Cut(pair, ":")
			return slices.Contains(l, robotAccess{Resource: res, Action: act})
		}
		all := decodeJSON[perms](t, ts.do(t, http.MethodGet, apiBase+"/permissions", nil, nil))
		for _, p := range []string{"repository:pull", "repository:push", "artifact:delete", "member:create", "robot:create"} {
			if !has(all.Project, p) {
				t.Errorf("project permissions lack %s", p)
			}
		}
		for _, p := range []string{"project:create", "robot:create", "catalog:read", "user-group:list"} {
			if !has(all.System, p) {
				t.Errorf("system permissions lack %s", p)
			}
		}
		if has(all.Project, "garbage-collection:create") || has(all.System, "repository:push") {
			t.Error("a permission is listed at the wrong level")
		}
		resp := ts.do(t, http.MethodGet, apiBase+"/permissions", padmin, nil)
		expectStatus(t, resp, http.StatusOK)
		if !strings.Contains(string(respBody(t, resp)), `"system":[]`) {
			t.Errorf("a project admin sees system permissions: %s", respBody(t, resp))
		}
		if pa := decodeJSON[perms](t, resp); len(pa.Project) != len(all.Project) {
			t.Errorf("project admin: %d project permissions, admin %d", len(pa.Project), len(all.Project))
		}
		mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/permissions", dev, nil), http.StatusForbidden, "FORBIDDEN")
		mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/permissions", basicAuth(r.Name, r.Secret), nil), http.StatusForbidden, "FORBIDDEN")
		mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/permissions", anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
	})
}
