package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// API tests of project members and user groups (/projects/{p}/members, /usergroups) through
// the complete server, on SQLite and PostgreSQL. Helpers prefixed "mr" are shared with the
// robot tests (api_robots_test.go).

const apiBase = "/api/v2.0"

// mrUser creates a local user directly in the store (user management has tests of its own)
// and returns its id, name and Basic credentials.
func (ts *testServer) mrUser(t *testing.T, prefix string) (int64, string, http.Header) {
	t.Helper()
	name := prefix + uniqueSuffix()
	password := "Passw0rd" + uniqueSuffix()
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ts.srv.db.CreateUser(context.Background(), meta.User{Username: name, PasswordHash: hash})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return id, name, basicAuth(name, password)
}

// mrProject creates a project as admin and returns its name and id.
func (ts *testServer) mrProject(t *testing.T, prefix string, public bool) (string, int64) {
	t.Helper()
	name := prefix + uniqueSuffix()
	body := mustJSON(t, map[string]any{"project_name": name, "metadata": map[string]string{"public": strconv.FormatBool(public)}})
	expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/projects", hdr(nil, "Content-Type", "application/json"), body), http.StatusCreated)
	p := decodeJSON[struct {
		ProjectID int64 `json:"project_id"`
	}](t, ts.do(t, http.MethodGet, apiBase+"/projects/"+name, hdr(nil, "X-Is-Resource-Name", "true"), nil))
	return name, p.ProjectID
}

// mrJSON sends a JSON body with the given credentials (nil: admin).
func (ts *testServer) mrJSON(t *testing.T, method, path string, auth http.Header, v any) *http.Response {
	t.Helper()
	var body []byte
	switch b := v.(type) {
	case nil:
	case string:
		body = []byte(b)
	default:
		body = mustJSON(t, v)
	}
	return ts.do(t, method, path, hdr(auth, "Content-Type", "application/json"), body)
}

// mrAddUser makes a user a member with a role as admin and returns the member id.
func (ts *testServer) mrAddUser(t *testing.T, project, user string, role int) int64 {
	t.Helper()
	resp := ts.mrJSON(t, http.MethodPost, apiBase+"/projects/"+project+"/members", nil,
		map[string]any{"role_id": role, "member_user": map[string]any{"username": user}})
	expectStatus(t, resp, http.StatusCreated)
	return mrLocationID(t, resp)
}

// mrLocationID returns the trailing id of a 201's Location header.
func mrLocationID(t *testing.T, resp *http.Response) int64 {
	t.Helper()
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("%s %s: Location %q does not end in an id", resp.Request.Method, resp.Request.URL.Opaque, loc)
	}
	return id
}

// mrExpectAPIError checks status and Harbor's error body {"errors":[{"code","message"}]}.
func mrExpectAPIError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	assertOCIError(t, resp, status, code)
}

// mrPush pushes a fresh image to repo:tag with the given credentials and returns the status
// of the first refused request, or 201 when the manifest was stored.
func (ts *testServer) mrPush(t *testing.T, auth http.Header, repo, tag string) int {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"id":"` + uniqueSuffix() + `"}`)
	layer := randomBytes(64)
	for _, b := range [][]byte{cfg, layer} {
		resp := ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sha256Digest(b), hdr(auth, "Content-Type", octet), b)
		if resp.StatusCode != http.StatusCreated {
			return resp.StatusCode
		}
	}
	m := mustJSON(t, tManifest{
		SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &tDescriptor{MediaType: mtOCIConfig, Digest: sha256Digest(cfg), Size: int64(len(cfg))},
		Layers: []tDescriptor{{MediaType: mtOCILayer, Digest: sha256Digest(layer), Size: int64(len(layer))}},
	})
	return ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, hdr(auth, "Content-Type", mtOCIManifest), m).StatusCode
}

// mrAuditCount waits for the batched audit log to hold an entry and returns how many match.
func (ts *testServer) mrAuditCount(t *testing.T, operation, resourceType, resource string) int {
	t.Helper()
	var n int
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := ts.srv.db.QueryRowForTest(context.Background(),
			"SELECT COUNT(*) FROM audit_log WHERE operation = $1 AND resource_type = $2 AND resource = $3",
			operation, resourceType, resource).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type memberEntity struct {
	ID         int64  `json:"id"`
	ProjectID  int64  `json:"project_id"`
	EntityName string `json:"entity_name"`
	RoleName   string `json:"role_name"`
	RoleID     int    `json:"role_id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
}

// TestMemberPermissions checks every members endpoint for every role, plus outsiders and
// anonymous callers: allowed calls succeed, denied ones are refused and change nothing.
func TestMemberPermissions(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		project, _ := ts.mrProject(t, "members", false)
		type caller struct {
			name string
			auth http.Header
			role int // 0: not a member
		}
		callers := []caller{{name: "system admin", auth: nil}, {name: "anonymous", auth: anonymous()}}
		for _, r := range []struct {
			name string
			role int
		}{{"project admin", meta.RoleProjectAdmin}, {"maintainer", meta.RoleMaintainer}, {"developer", meta.RoleDeveloper},
			{"guest", meta.RoleGuest}, {"limited guest", meta.RoleLimitedGuest}, {"outsider", 0}} {
			_, name, h := ts.mrUser(t, strings.ReplaceAll(r.name, " ", ""))
			if r.role != 0 {
				ts.mrAddUser(t, project, name, r.role)
			}
			callers = append(callers, caller{r.name, h, r.role})
		}
		const (
			read   = "read"
			manage = "manage"
		)
		// allowed[caller][kind] per HARBOR-NOTES §d: guests and up read members, project admins
		// manage them; outsiders do not see the private project at all.
		allowed := map[string]map[string]int{
			"system admin":  {read: 200, manage: 200},
			"project admin": {read: 200, manage: 200},
			"maintainer":    {read: 200, manage: 403},
			"developer":     {read: 200, manage: 403},
			"guest":         {read: 200, manage: 403},
			"limited guest": {read: 403, manage: 403},
			"outsider":      {read: 404, manage: 404},
			"anonymous":     {read: 401, manage: 401},
		}
		for _, c := range callers {
			t.Run(c.name, func(t *testing.T) {
				_, target, _ := ts.mrUser(t, "target")
				mid := ts.mrAddUser(t, project, target, meta.RoleGuest)
				members := apiBase + "/projects/" + project + "/members"
				one := members + "/" + strconv.FormatInt(mid, 10)
				_, fresh, _ := ts.mrUser(t, "fresh")

				cases := []struct {
					kind, method, path string
					body               any
					ok                 int
				}{
					{read, http.MethodGet, members, nil, http.StatusOK},
					{read, http.MethodGet, one, nil, http.StatusOK},
					{manage, http.MethodPost, members, map[string]any{"role_id": 2, "member_user": map[string]any{"username": fresh}}, http.StatusCreated},
					{manage, http.MethodPut, one, map[string]any{"role_id": meta.RoleDeveloper}, http.StatusOK},
					{manage, http.MethodDelete, one, nil, http.StatusOK},
				}
				for _, tc := range cases {
					resp := ts.mrJSON(t, tc.method, tc.path, c.auth, tc.body)
					want := allowed[c.name][tc.kind]
					if want == 200 {
						want = tc.ok
					}
					if resp.StatusCode != want {
						t.Errorf("%s %s as %s: status %d, want %d; body %.300s", tc.method, tc.path, c.name, resp.StatusCode, want, respBody(t, resp))
						continue
					}
					if want >= 400 {
						code := map[int]string{401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}[want]
						mrExpectAPIError(t, resp, want, code)
					}
				}
				// Denied writes change nothing.
				if allowed[c.name][manage] != 200 {
					m := decodeJSON[memberEntity](t, ts.do(t, http.MethodGet, one, nil, nil))
					if m.RoleID != meta.RoleGuest {
						t.Errorf("a refused PUT by %s changed the role to %d", c.name, m.RoleID)
					}
					list := decodeJSON[[]memberEntity](t, ts.do(t, http.MethodGet, members+"?entityname="+fresh, nil, nil))
					if len(list) != 0 {
						t.Errorf("a refused POST by %s added %s: %+v", c.name, fresh, list)
					}
				}
			})
		}
	})
}

// TestMembers covers the members endpoints' answers, validation and effects.
func TestMembers(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		project, projectID := ts.mrProject(t, "team", false)
		members := apiBase + "/projects/" + project + "/members"

		t.Run("create answers 201 with Location and the member reads back", func(t *testing.T) {
			uid, name, _ := ts.mrUser(t, "alice")
			resp := ts.mrJSON(t, http.MethodPost, members, nil, map[string]any{"role_id": 4, "member_user": map[string]any{"user_id": uid}})
			expectStatus(t, resp, http.StatusCreated)
			id := mrLocationID(t, resp)
			if want := members + "/" + strconv.FormatInt(id, 10); resp.Header.Get("Location") != want {
				t.Errorf("Location %q, want %q", resp.Header.Get("Location"), want)
			}
			got := decodeJSON[memberEntity](t, ts.do(t, http.MethodGet, resp.Header.Get("Location"), nil, nil))
			want := memberEntity{ID: id, ProjectID: projectID, EntityName: name, RoleName: "maintainer", RoleID: 4, EntityID: uid, EntityType: "u"}
			if got != want {
				t.Errorf("GET member: %+v, want %+v", got, want)
			}
			// By project id too.
			expectStatus(t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/projects/%d/members/%d", apiBase, projectID, id), nil, nil), http.StatusOK)
			if n := ts.mrAuditCount(t, "create", "project_member", name); n != 1 {
				t.Errorf("audit log has %d create entries for %s, want 1", n, name)
			}
		})

		t.Run("the new member gets the role's rights at once", func(t *testing.T) {
			_, name, h := ts.mrUser(t, "bob")
			repo := project + "/app" + uniqueSuffix()
			if st := ts.mrPush(t, h, repo, "v1"); st != http.StatusNotFound {
				t.Errorf("push by a non-member: status %d, want 404 (the private project is invisible)", st)
			}
			mid := ts.mrAddUser(t, project, name, meta.RoleGuest)
			if st := ts.mrPush(t, h, repo, "v1"); st != http.StatusForbidden {
				t.Errorf("push by a guest: status %d, want 403", st)
			}
			expectStatus(t, ts.mrJSON(t, http.MethodPut, fmt.Sprintf("%s/%d", members, mid), nil, map[string]any{"role_id": meta.RoleDeveloper}), http.StatusOK)
			if st := ts.mrPush(t, h, repo, "v1"); st != http.StatusCreated {
				t.Errorf("push by a developer: status %d, want 201", st)
			}
			if n := ts.mrAuditCount(t, "update", "project_member", name); n != 1 {
				t.Errorf("audit log has %d update entries for %s, want 1", n, name)
			}
			expectStatus(t, ts.do(t, http.MethodDelete, fmt.Sprintf("%s/%d", members, mid), nil, nil), http.StatusOK)
			mrExpectAPIError(t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/%d", members, mid), nil, nil), http.StatusNotFound, "NOT_FOUND")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, apiBase+"/projects/"+project, h, nil), http.StatusNotFound, "NOT_FOUND")
			if n := ts.mrAuditCount(t, "delete", "project_member", name); n != 1 {
				t.Errorf("audit log has %d delete entries for %s, want 1", n, name)
			}
		})

		t.Run("list pages and filters by entity name", func(t *testing.T) {
			p, _ := ts.mrProject(t, "listing", false)
			list := apiBase + "/projects/" + p + "/members"
			var names []string
			for i := 0; i < 3; i++ {
				_, name, _ := ts.mrUser(t, fmt.Sprintf("carol%d", i))
				ts.mrAddUser(t, p, name, meta.RoleDeveloper)
				names = append(names, name)
			}
			resp := ts.do(t, http.MethodGet, list+"?page_size=2", nil, nil)
			expectStatus(t, resp, http.StatusOK)
			if got := resp.Header.Get("X-Total-Count"); got != "4" { // the owner (admin) and three
				t.Errorf("X-Total-Count %q, want 4", got)
			}
			if ms := decodeJSON[[]memberEntity](t, resp); len(ms) != 2 {
				t.Errorf("page of 2: %d members", len(ms))
			}
			if !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
				t.Errorf("Link %q has no next page", resp.Header.Get("Link"))
			}
			resp = ts.do(t, http.MethodGet, list+"?entityname="+strings.ToUpper(names[1]), nil, nil)
			ms := decodeJSON[[]memberEntity](t, resp)
			if len(ms) != 1 || ms[0].EntityName != names[1] || ms[0].RoleName != "developer" || resp.Header.Get("X-Total-Count") != "1" {
				t.Errorf("entityname=%s: %+v (X-Total-Count %s)", names[1], ms, resp.Header.Get("X-Total-Count"))
			}
			mrExpectAPIError(t, ts.do(t, http.MethodGet, list+"?page_size=101", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		})

		t.Run("bad requests", func(t *testing.T) {
			_, name, _ := ts.mrUser(t, "dave")
			ts.mrAddUser(t, project, name, meta.RoleGuest)
			cases := []struct {
				name   string
				method string
				path   string
				body   any
				status int
				code   string
			}{
				{"role 0", http.MethodPost, members, map[string]any{"role_id": 0, "member_user": map[string]any{"username": "admin"}}, 400, "BAD_REQUEST"},
				{"role 6", http.MethodPost, members, map[string]any{"role_id": 6, "member_user": map[string]any{"username": "admin"}}, 400, "BAD_REQUEST"},
				{"no member", http.MethodPost, members, map[string]any{"role_id": 2}, 400, "BAD_REQUEST"},
				{"empty member", http.MethodPost, members, map[string]any{"role_id": 2, "member_user": map[string]any{}}, 400, "BAD_REQUEST"},
				{"malformed JSON", http.MethodPost, members, `{"role_id":`, 400, "BAD_REQUEST"},
				{"unknown field", http.MethodPost, members, map[string]any{"role_id": 2, "member_user": map[string]any{"username": name}, "x": 1}, 400, "BAD_REQUEST"},
				{"wrong type", http.MethodPost, members, map[string]any{"role_id": "2", "member_user": map[string]any{"username": name}}, 400, "BAD_REQUEST"},
				{"unknown user name", http.MethodPost, members, map[string]any{"role_id": 2, "member_user": map[string]any{"username": "nobody" + uniqueSuffix()}}, 404, "NOT_FOUND"},
				{"unknown user id", http.MethodPost, members, map[string]any{"role_id": 2, "member_user": map[string]any{"user_id": 987654}}, 404, "NOT_FOUND"},
				{"unknown group id", http.MethodPost, members, map[string]any{"role_id": 2, "member_group": map[string]any{"id": 987654}}, 404, "NOT_FOUND"},
				{"unknown LDAP group", http.MethodPost, members, map[string]any{"role_id": 2, "member_group": map[string]any{"ldap_group_dn": "cn=x,dc=example"}}, 404, "NOT_FOUND"},
				{"already a member", http.MethodPost, members, map[string]any{"role_id": 2, "member_user": map[string]any{"username": name}}, 409, "CONFLICT"},
				{"owner already a member", http.MethodPost, members, map[string]any{"role_id": 2, "member_user": map[string]any{"user_id": 1}}, 409, "CONFLICT"},
				{"member id not a number", http.MethodGet, members + "/abc", nil, 400, "BAD_REQUEST"},
				{"unknown member id", http.MethodGet, members + "/987654", nil, 404, "NOT_FOUND"},
				{"PUT unknown member id", http.MethodPut, members + "/987654", map[string]any{"role_id": 2}, 404, "NOT_FOUND"},
				{"DELETE unknown member id", http.MethodDelete, members + "/987654", nil, 404, "NOT_FOUND"},
				{"PUT role 9", http.MethodPut, members + "/1", map[string]any{"role_id": 9}, 400, "BAD_REQUEST"},
				{"unknown project", http.MethodGet, apiBase + "/projects/nosuch" + uniqueSuffix() + "/members", nil, 404, "NOT_FOUND"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					mrExpectAPIError(t, ts.mrJSON(t, tc.method, tc.path, nil, tc.body), tc.status, tc.code)
				})
			}
		})

		t.Run("a member of another project is not found here", func(t *testing.T) {
			other, _ := ts.mrProject(t, "other", false)
			_, name, _ := ts.mrUser(t, "erin")
			mid := ts.mrAddUser(t, other, name, meta.RoleGuest)
			for _, m := range []string{http.MethodGet, http.MethodDelete} {
				mrExpectAPIError(t, ts.do(t, m, fmt.Sprintf("%s/%d", members, mid), nil, nil), http.StatusNotFound, "NOT_FOUND")
			}
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, fmt.Sprintf("%s/%d", members, mid), nil, map[string]any{"role_id": 1}), http.StatusNotFound, "NOT_FOUND")
			m := decodeJSON[memberEntity](t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/projects/%s/members/%d", apiBase, other, mid), nil, nil))
			if m.RoleID != meta.RoleGuest {
				t.Errorf("member of %s changed through %s: %+v", other, project, m)
			}
		})
	})
}

// TestGroupMembers checks that users get the roles of their groups, the most powerful role
// when several apply, and that groups are listed as members of type "g".
func TestGroupMembers(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		project, _ := ts.mrProject(t, "groups", false)
		members := apiBase + "/projects/" + project + "/members"

		resp := ts.mrJSON(t, http.MethodPost, apiBase+"/usergroups", nil, map[string]any{"group_name": "devs" + uniqueSuffix(), "group_type": 2})
		expectStatus(t, resp, http.StatusCreated)
		gid := mrLocationID(t, resp)

		uid, name, h := ts.mrUser(t, "gina")
		repo := project + "/app"
		if st := ts.mrPush(t, h, repo, "v1"); st != http.StatusNotFound {
			t.Fatalf("push before any membership: status %d, want 404", st)
		}
		resp = ts.mrJSON(t, http.MethodPost, members, nil, map[string]any{"role_id": meta.RoleDeveloper, "member_group": map[string]any{"id": gid}})
		expectStatus(t, resp, http.StatusCreated)
		groupMember := decodeJSON[memberEntity](t, ts.do(t, http.MethodGet, resp.Header.Get("Location"), nil, nil))
		if groupMember.EntityType != "g" || groupMember.EntityID != gid || groupMember.RoleName != "developer" {
			t.Errorf("group member: %+v", groupMember)
		}
		if st := ts.mrPush(t, h, repo, "v1"); st != http.StatusNotFound {
			t.Errorf("push by a user outside the group: status %d, want 404", st)
		}

		if err := ts.srv.db.AddUserToGroup(ctx, gid, uid); err != nil {
			t.Fatal(err)
		}
		if st := ts.mrPush(t, h, repo, "v1"); st != http.StatusCreated {
			t.Errorf("push by a member of a developer group: status %d, want 201", st)
		}
		// A direct guest membership does not lower the group's developer role.
		ts.mrAddUser(t, project, name, meta.RoleGuest)
		if st := ts.mrPush(t, h, repo, "v2"); st != http.StatusCreated {
			t.Errorf("push by a guest in a developer group: status %d, want 201", st)
		}
		p := decodeJSON[struct {
			RoleID int `json:"current_user_role_id"`
		}](t, ts.do(t, http.MethodGet, apiBase+"/projects/"+project, h, nil))
		if p.RoleID != meta.RoleDeveloper {
			t.Errorf("current_user_role_id %d, want %d (the group's)", p.RoleID, meta.RoleDeveloper)
		}
		// Leaving the group takes its rights away: the direct guest role remains.
		if err := ts.srv.db.SetUserGroups(ctx, uid, nil); err != nil {
			t.Fatal(err)
		}
		if st := ts.mrPush(t, h, repo, "v3"); st != http.StatusForbidden {
			t.Errorf("push by a guest who left the group: status %d, want 403", st)
		}

		t.Run("a group named for the first time is onboarded", func(t *testing.T) {
			name := "oidc" + uniqueSuffix()
			resp := ts.mrJSON(t, http.MethodPost, members, nil, map[string]any{"role_id": meta.RoleGuest, "member_group": map[string]any{"group_name": name, "group_type": 3}})
			expectStatus(t, resp, http.StatusCreated)
			g, err := ts.srv.db.GroupByName(ctx, name, meta.GroupOIDC)
			if err != nil {
				t.Fatalf("onboarded group: %v", err)
			}
			m := decodeJSON[memberEntity](t, ts.do(t, http.MethodGet, resp.Header.Get("Location"), nil, nil))
			if m.EntityID != g.ID || m.EntityName != name || m.EntityType != "g" {
				t.Errorf("member %+v, group %+v", m, g)
			}
			// Named again: the same group, already a member.
			resp = ts.mrJSON(t, http.MethodPost, members, nil, map[string]any{"role_id": meta.RoleGuest, "member_group": map[string]any{"group_name": name, "group_type": 3}})
			mrExpectAPIError(t, resp, http.StatusConflict, "CONFLICT")
			// An unknown group of no onboardable type is not found.
			resp = ts.mrJSON(t, http.MethodPost, members, nil, map[string]any{"role_id": meta.RoleGuest, "member_group": map[string]any{"group_name": "ghost" + uniqueSuffix()}})
			mrExpectAPIError(t, resp, http.StatusNotFound, "NOT_FOUND")
		})

		t.Run("deleting a group removes its memberships", func(t *testing.T) {
			resp := ts.mrJSON(t, http.MethodPost, apiBase+"/usergroups", nil, map[string]any{"group_name": "tmp" + uniqueSuffix(), "group_type": 2})
			expectStatus(t, resp, http.StatusCreated)
			gid := mrLocationID(t, resp)
			resp = ts.mrJSON(t, http.MethodPost, members, nil, map[string]any{"role_id": meta.RoleGuest, "member_group": map[string]any{"id": gid}})
			expectStatus(t, resp, http.StatusCreated)
			loc := resp.Header.Get("Location")
			expectStatus(t, ts.do(t, http.MethodDelete, fmt.Sprintf("%s/usergroups/%d", apiBase, gid), nil, nil), http.StatusOK)
			mrExpectAPIError(t, ts.do(t, http.MethodGet, loc, nil, nil), http.StatusNotFound, "NOT_FOUND")
		})
	})
}

type userGroup struct {
	ID          int64  `json:"id"`
	GroupName   string `json:"group_name"`
	GroupType   int    `json:"group_type"`
	LDAPGroupDN string `json:"ldap_group_dn"`
}

// TestUserGroups covers /usergroups: administrators manage groups, everyone signed in searches.
func TestUserGroups(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		groups := apiBase + "/usergroups"
		_, _, user := ts.mrUser(t, "plain")
		name := "team" + uniqueSuffix()

		resp := ts.mrJSON(t, http.MethodPost, groups, nil, map[string]any{"group_name": name, "group_type": 2})
		expectStatus(t, resp, http.StatusCreated)
		id := mrLocationID(t, resp)
		if want := fmt.Sprintf("%s/%d", groups, id); resp.Header.Get("Location") != want {
			t.Errorf("Location %q, want %q", resp.Header.Get("Location"), want)
		}
		one := fmt.Sprintf("%s/%d", groups, id)
		if g := decodeJSON[userGroup](t, ts.do(t, http.MethodGet, one, nil, nil)); g != (userGroup{ID: id, GroupName: name, GroupType: 2}) {
			t.Errorf("GET group: %+v", g)
		}
		dn := "cn=" + name + ",ou=groups,dc=example,dc=com"
		resp = ts.mrJSON(t, http.MethodPost, groups, nil, map[string]any{"group_name": name, "group_type": 1, "ldap_group_dn": dn})
		expectStatus(t, resp, http.StatusCreated)
		ldapID := mrLocationID(t, resp)

		t.Run("list filters by name and DN", func(t *testing.T) {
			resp := ts.do(t, http.MethodGet, groups+"?group_name="+name, nil, nil)
			gs := decodeJSON[[]userGroup](t, resp)
			if len(gs) != 2 || resp.Header.Get("X-Total-Count") != "2" {
				t.Errorf("group_name=%s: %+v (X-Total-Count %s)", name, gs, resp.Header.Get("X-Total-Count"))
			}
			gs = decodeJSON[[]userGroup](t, ts.do(t, http.MethodGet, groups+"?ldap_group_dn="+strings.ReplaceAll(dn, "=", "%3D"), nil, nil))
			if len(gs) != 1 || gs[0].ID != ldapID || gs[0].LDAPGroupDN != dn {
				t.Errorf("ldap_group_dn=%s: %+v", dn, gs)
			}
		})

		t.Run("any signed-in user searches", func(t *testing.T) {
			resp := ts.do(t, http.MethodGet, groups+"/search?groupname="+name[:6], user, nil)
			expectStatus(t, resp, http.StatusOK)
			var items []map[string]any
			if err := json.Unmarshal(respBody(t, resp), &items); err != nil || len(items) < 2 {
				t.Fatalf("search: %v %s", err, respBody(t, resp))
			}
			for _, it := range items {
				if _, ok := it["ldap_group_dn"]; ok || it["group_name"] == nil || it["group_type"] == nil || it["id"] == nil {
					t.Errorf("search item %v is not a UserGroupSearchItem", it)
				}
			}
			mrExpectAPIError(t, ts.do(t, http.MethodGet, groups+"/search", user, nil), http.StatusBadRequest, "BAD_REQUEST")
			mrExpectAPIError(t, ts.do(t, http.MethodGet, groups+"/search?groupname=x", anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		})

		t.Run("rename", func(t *testing.T) {
			renamed := "renamed" + uniqueSuffix()
			expectStatus(t, ts.mrJSON(t, http.MethodPut, one, nil, map[string]any{"group_name": renamed}), http.StatusOK)
			if g := decodeJSON[userGroup](t, ts.do(t, http.MethodGet, one, nil, nil)); g.GroupName != renamed {
				t.Errorf("after rename: %+v", g)
			}
			resp := ts.mrJSON(t, http.MethodPost, groups, nil, map[string]any{"group_name": "taken" + uniqueSuffix(), "group_type": 2})
			expectStatus(t, resp, http.StatusCreated)
			taken := decodeJSON[userGroup](t, ts.do(t, http.MethodGet, resp.Header.Get("Location"), nil, nil))
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, one, nil, map[string]any{"group_name": taken.GroupName}), http.StatusConflict, "CONFLICT")
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, one, nil, map[string]any{"group_name": "x", "group_type": 3}), http.StatusBadRequest, "BAD_REQUEST")
			mrExpectAPIError(t, ts.mrJSON(t, http.MethodPut, one, nil, map[string]any{"group_name": ""}), http.StatusBadRequest, "BAD_REQUEST")
		})

		t.Run("bad requests", func(t *testing.T) {
			cases := []struct {
				name   string
				method string
				path   string
				body   any
				status int
				code   string
			}{
				{"no name", http.MethodPost, groups, map[string]any{"group_type": 2}, 400, "BAD_REQUEST"},
				{"name too long", http.MethodPost, groups, map[string]any{"group_name": strings.Repeat("g", 256), "group_type": 2}, 400, "BAD_REQUEST"},
				{"bad type", http.MethodPost, groups, map[string]any{"group_name": "x", "group_type": 7}, 400, "BAD_REQUEST"},
				{"LDAP without DN", http.MethodPost, groups, map[string]any{"group_name": "x", "group_type": 1}, 400, "BAD_REQUEST"},
				{"DN on an HTTP group", http.MethodPost, groups, map[string]any{"group_name": "x", "group_type": 2, "ldap_group_dn": "cn=x"}, 400, "BAD_REQUEST"},
				{"unknown field", http.MethodPost, groups, map[string]any{"group_name": "x", "group_type": 2, "members": []int{1}}, 400, "BAD_REQUEST"},
				{"duplicate name", http.MethodPost, groups, map[string]any{"group_name": name, "group_type": 1, "ldap_group_dn": dn}, 409, "CONFLICT"},
				{"id not a number", http.MethodGet, groups + "/abc", nil, 400, "BAD_REQUEST"},
				{"unknown id", http.MethodGet, groups + "/987654", nil, 404, "NOT_FOUND"},
				{"PUT unknown id", http.MethodPut, groups + "/987654", map[string]any{"group_name": "x"}, 404, "NOT_FOUND"},
				{"DELETE unknown id", http.MethodDelete, groups + "/987654", nil, 404, "NOT_FOUND"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					mrExpectAPIError(t, ts.mrJSON(t, tc.method, tc.path, nil, tc.body), tc.status, tc.code)
				})
			}
		})

		t.Run("only administrators manage groups", func(t *testing.T) {
			for _, c := range []struct {
				name   string
				auth   http.Header
				status int
				code   string
			}{{"user", user, 403, "FORBIDDEN"}, {"anonymous", anonymous(), 401, "UNAUTHORIZED"}} {
				for _, r := range []struct {
					method, path string
					body         any
				}{
					{http.MethodGet, groups, nil},
					{http.MethodPost, groups, map[string]any{"group_name": "sneaky", "group_type": 2}},
					{http.MethodGet, one, nil},
					{http.MethodPut, one, map[string]any{"group_name": "sneaky"}},
					{http.MethodDelete, one, nil},
				} {
					mrExpectAPIError(t, ts.mrJSON(t, r.method, r.path, c.auth, r.body), c.status, c.code)
				}
			}
			expectStatus(t, ts.do(t, http.MethodGet, one, nil, nil), http.StatusOK)
			expectStatus(t, ts.do(t, http.MethodDelete, one, nil, nil), http.StatusOK)
			mrExpectAPIError(t, ts.do(t, http.MethodGet, one, nil, nil), http.StatusNotFound, "NOT_FOUND")
		})
	})
}
