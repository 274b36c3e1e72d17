package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests of /api/v2.0/users, /users/current/permissions, portal sessions (/c/login, /c/log_out)
// with their CSRF protection, on both databases.

const acctPassword = "Passw0rd-Strong"

// acctUser is the UserResp shape.
type acctUser struct {
	Email           string `json:"email"`
	Realname        string `json:"realname"`
	Comment         string `json:"comment"`
	UserID          int64  `json:"user_id"`
	Username        string `json:"username"`
	SysadminFlag    bool   `json:"sysadmin_flag"`
	AdminRoleInAuth bool   `json:"admin_role_in_auth"`
	CreationTime    string `json:"creation_time"`
	UpdateTime      string `json:"update_time"`
}

type acctPermission struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// acctJSON decodes a JSON response body into v, refusing fields v does not know.
func acctJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(respBody(t, resp))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s %s: decode %T: %v; body: %.500s", resp.Request.Method, resp.Request.URL.Opaque, v, err, respBody(t, resp))
	}
}

// acctErrorMessage checks status and code of a Harbor error body and returns its message.
func acctErrorMessage(t *testing.T, resp *http.Response, status int, code string) string {
	t.Helper()
	assertOCIError(t, resp, status, code)
	if resp.StatusCode != status {
		t.FailNow()
	}
	return decodeErrors(t, resp)[0].Message
}

// acctCreate creates a user as admin and returns its id, read from the Location header.
func acctCreate(t *testing.T, ts *testServer, name string) int64 {
	t.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":%q,"email":%q,"realname":%q,"comment":"test"}`,
		name, acctPassword, name+"@example.com", "Real "+name)
	resp := ts.do(t, http.MethodPost, "/api/v2.0/users", hdr(nil, "Content-Type", "application/json"), []byte(body))
	expectStatus(t, resp, http.StatusCreated)
	loc := resp.Header.Get("Location")
	idStr, ok := strings.CutPrefix(loc, "/api/v2.0/users/")
	id, err := strconv.ParseInt(idStr, 10, 64)
	if !ok || err != nil {
		t.Fatalf("create user %s: Location %q", name, loc)
	}
	return id
}

func acctAuth(name string) http.Header { return basicAuth(name, acctPassword) }

func acctGetUser(t *testing.T, ts *testServer, id int64) acctUser {
	t.Helper()
	resp := ts.do(t, http.MethodGet, fmt.Sprintf("/api/v2.0/users/%d", id), nil, nil)
	expectStatus(t, resp, http.StatusOK)
	var u acctUser
	acctJSON(t, resp, &u)
	return u
}

// acctSession is a portal session: the sid cookie and the CSRF token.
type acctSession struct {
	sid, csrf string
}

func (s acctSession) headers() http.Header { return hdr(anonymous(), "Cookie", "sid="+s.sid) }

// withCSRF adds the session's CSRF token (and a JSON content type) for unsafe requests.
func (s acctSession) withCSRF() http.Header {
	return hdr(s.headers(), "X-Harbor-CSRF-Token", s.csrf, "Content-Type", "application/json")
}

func acctLogin(t *testing.T, ts *testServer, principal, password string) acctSession {
	t.Helper()
	form := url.Values{"principal": {principal}, "password": {password}}.Encode()
	resp := ts.do(t, http.MethodPost, "/c/login", hdr(anonymous(), "Content-Type", "application/x-www-form-urlencoded"), []byte(form))
	expectStatus(t, resp, http.StatusOK)
	var s acctSession
	for _, c := range resp.Cookies() {
		if c.Name == "sid" {
			s.sid = c.Value
			if !c.HttpOnly || c.Path != "/" {
				t.Errorf("sid cookie %+v: want HttpOnly and Path=/", c)
			}
		}
	}
	s.csrf = resp.Header.Get("X-Harbor-CSRF-Token")
	if s.sid == "" || s.csrf == "" {
		t.Fatalf("login: cookie %q, CSRF token %q; Set-Cookie %q", s.sid, s.csrf, resp.Header.Values("Set-Cookie"))
	}
	return s
}

func acctCount(t *testing.T, ts *testServer, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := ts.srv.db.QueryRowForTest(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// acctWaitAudit waits for the batched audit log to hold an entry.
func acctWaitAudit(t *testing.T, ts *testServer, operation, resource string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := acctCount(t, ts, "SELECT COUNT(*) FROM audit_log WHERE operation = $1 AND resource_type = 'user' AND resource = $2", operation, resource)
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit entry %s user %s", operation, resource)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestUserCreation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		id := acctCreate(t, ts, "alice")
		u := acctGetUser(t, ts, id)
		if u.Username != "alice" || u.Email != "alice@example.com" || u.Realname != "Real alice" || u.Comment != "test" || u.SysadminFlag || u.UserID != id {
			t.Errorf("created user = %+v", u)
		}
		if _, err := time.Parse(time.RFC3339, u.CreationTime); err != nil {
			t.Errorf("creation_time %q: %v", u.CreationTime, err)
		}
		acctWaitAudit(t, ts, "create", "alice")
		// The new account works at once, and no answer ever carries a password hash.
		resp := ts.do(t, http.MethodGet, "/api/v2.0/users/current", acctAuth("alice"), nil)
		expectStatus(t, resp, http.StatusOK)
		if b := string(respBody(t, resp)); strings.Contains(b, "argon2") || strings.Contains(b, "password") {
			t.Errorf("user answer leaks password data: %s", b)
		}

		jsonCT := hdr(nil, "Content-Type", "application/json")
		valid := map[string]any{"username": "bob", "password": acctPassword, "email": "bob@example.com", "realname": "Bob"}
		with := func(k string, v any) string {
			m := map[string]any{}
			for k, v := range valid {
				m[k] = v
			}
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
			return string(mustJSON(t, m))
		}
		for _, tc := range []struct {
			name    string
			headers http.Header
			body    string
			status  int
			code    string
			message string
		}{
			{"duplicate username", jsonCT, `{"username":"alice","password":"Passw0rd-Strong","email":"other@example.com","realname":"A"}`, 409, "CONFLICT",
				"user alice or email other@example.com already exists"},
			{"duplicate email", jsonCT, with("email", "alice@example.com"), 409, "CONFLICT", ""},
			{"username with comma", jsonCT, with("username", "a,b"), 400, "BAD_REQUEST", ""},
			{"username with hash", jsonCT, with("username", "a#b"), 400, "BAD_REQUEST", ""},
			{"username with dollar", jsonCT, with("username", "robot$x"), 400, "BAD_REQUEST", ""},
			{"username with tilde", jsonCT, with("username", "a~b"), 400, "BAD_REQUEST", ""},
			{"username with percent", jsonCT, with("username", "a%b"), 400, "BAD_REQUEST", ""},
			{"username with quote", jsonCT, with("username", `a"b`), 400, "BAD_REQUEST", ""},
			{"empty username", jsonCT, with("username", ""), 400, "BAD_REQUEST", ""},
			{"username too long", jsonCT, with("username", strings.Repeat("u", 256)), 400, "BAD_REQUEST", ""},
			{"short password", jsonCT, with("password", "Sh0rt"), 400, "BAD_REQUEST", "the password or secret must be longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number"},
			{"password without upper case", jsonCT, with("password", "password123"), 400, "BAD_REQUEST", ""},
			{"password without digit", jsonCT, with("password", "PasswordOnly"), 400, "BAD_REQUEST", ""},
			{"password too long", jsonCT, with("password", "Aa1"+strings.Repeat("x", 130)), 400, "BAD_REQUEST", ""},
			{"no email", jsonCT, with("email", nil), 400, "BAD_REQUEST", "email can't be empty"},
			{"bad email", jsonCT, with("email", "not-an-email"), 400, "BAD_REQUEST", "email with illegal format"},
			{"no realname", jsonCT, with("realname", nil), 400, "BAD_REQUEST", "realname with illegal length"},
			{"realname with illegal character", jsonCT, with("realname", "Bob#1"), 400, "BAD_REQUEST", "realname contains illegal characters"},
			{"comment too long", jsonCT, with("comment", strings.Repeat("c", 31)), 400, "BAD_REQUEST", "comment with illegal length"},
			{"unknown field", jsonCT, with("role", "admin"), 400, "BAD_REQUEST", ""},
			{"wrong type", jsonCT, with("username", 7), 400, "BAD_REQUEST", ""},
			{"malformed JSON", jsonCT, `{"username":`, 400, "BAD_REQUEST", ""},
			{"non-admin", hdr(acctAuth("alice"), "Content-Type", "application/json"), with("username", "carol"), 403, "FORBIDDEN", ""},
			{"anonymous", hdr(anonymous(), "Content-Type", "application/json"), with("username", "carol"), 401, "UNAUTHORIZED", ""},
			{"wrong password", hdr(basicAuth("admin", "nope"), "Content-Type", "application/json"), with("username", "carol"), 401, "UNAUTHORIZED", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodPost, "/api/v2.0/users", tc.headers, []byte(tc.body))
				msg := acctErrorMessage(t, resp, tc.status, tc.code)
				if tc.message != "" && msg != tc.message {
					t.Errorf("message %q, want %q", msg, tc.message)
				}
			})
		}
		// None of the refused requests created anything.
		if n := acctCount(t, ts, "SELECT COUNT(*) FROM users"); n != 2 {
			t.Errorf("%d users after the refused creations, want 2 (admin, alice)", n)
		}
	})
}

func TestUserSelfRegistration(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		body := []byte(`{"username":"newbie","password":"Passw0rd-Strong","email":"newbie@example.com","realname":"New Bie"}`)
		anon := hdr(anonymous(), "Content-Type", "application/json")
		// Off by default: only administrators create users.
		assertOCIError(t, ts.do(t, http.MethodPost, "/api/v2.0/users", anon, body), http.StatusUnauthorized, "UNAUTHORIZED")

		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, []byte(`{"self_registration":true}`)), http.StatusOK)
		resp := ts.do(t, http.MethodPost, "/api/v2.0/users", anon, body)
		expectStatus(t, resp, http.StatusCreated)
		if !strings.HasPrefix(resp.Header.Get("Location"), "/api/v2.0/users/") {
			t.Errorf("Location %q", resp.Header.Get("Location"))
		}
		// Self-registered users are ordinary users.
		resp = ts.do(t, http.MethodGet, "/api/v2.0/users/current", basicAuth("newbie", "Passw0rd-Strong"), nil)
		expectStatus(t, resp, http.StatusOK)
		var u acctUser
		acctJSON(t, resp, &u)
		if u.Username != "newbie" || u.SysadminFlag {
			t.Errorf("self-registered user = %+v", u)
		}
		// Validation still applies.
		assertOCIError(t, ts.do(t, http.MethodPost, "/api/v2.0/users", anon, []byte(`{"username":"weak","password":"weak","email":"w@example.com","realname":"W"}`)),
			http.StatusBadRequest, "BAD_REQUEST")

		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, []byte(`{"self_registration":false}`)), http.StatusOK)
		other := []byte(`{"username":"late","password":"Passw0rd-Strong","email":"late@example.com","realname":"Late"}`)
		assertOCIError(t, ts.do(t, http.MethodPost, "/api/v2.0/users", anon, other), http.StatusUnauthorized, "UNAUTHORIZED")
		assertOCIError(t, ts.do(t, http.MethodPost, "/api/v2.0/users", hdr(basicAuth("newbie", "Passw0rd-Strong"), "Content-Type", "application/json"), other),
			http.StatusForbidden, "FORBIDDEN")
	})
}

func TestUserProfileReadUpdate(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		alice := acctCreate(t, ts, "alice")
		bob := acctCreate(t, ts, "bob")
		aliceURL := fmt.Sprintf("/api/v2.0/users/%d", alice)

		for _, tc := range []struct {
			name    string
			path    string
			headers http.Header
			status  int
			code    string
		}{
			{"self", aliceURL, acctAuth("alice"), 200, ""},
			{"admin", aliceURL, nil, 200, ""},
			{"other user", aliceURL, acctAuth("bob"), 403, "FORBIDDEN"},
			{"anonymous", aliceURL, anonymous(), 401, "UNAUTHORIZED"},
			{"unknown id", "/api/v2.0/users/999999", nil, 404, "NOT_FOUND"},
			{"invalid id", "/api/v2.0/users/abc", nil, 400, "BAD_REQUEST"},
			{"zero id", "/api/v2.0/users/0", nil, 400, "BAD_REQUEST"},
		} {
			t.Run("GET "+tc.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodGet, tc.path, tc.headers, nil)
				if tc.status == 200 {
					expectStatus(t, resp, 200)
					var u acctUser
					acctJSON(t, resp, &u)
					if u.UserID != alice || u.Username != "alice" {
						t.Errorf("GET alice = %+v", u)
					}
					return
				}
				assertOCIError(t, resp, tc.status, tc.code)
			})
		}

		resp := ts.do(t, http.MethodGet, "/api/v2.0/users/current", acctAuth("bob"), nil)
		expectStatus(t, resp, http.StatusOK)
		var cur acctUser
		acctJSON(t, resp, &cur)
		if cur.UserID != bob || cur.Username != "bob" || cur.Email != "bob@example.com" {
			t.Errorf("current user of bob = %+v", cur)
		}
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", anonymous(), nil), 401, "UNAUTHORIZED")

		ct := "application/json"
		for _, tc := range []struct {
			name    string
			path    string
			headers http.Header
			body    string
			status  int
			code    string
		}{
			{"self", aliceURL, acctAuth("alice"), `{"email":"alice.new@example.com","realname":"Alice New","comment":"hello"}`, 200, ""},
			{"admin", aliceURL, nil, `{"email":"alice.admin@example.com","realname":"Alice A","comment":""}`, 200, ""},
			{"other user", aliceURL, acctAuth("bob"), `{"email":"x@example.com","realname":"X"}`, 403, "FORBIDDEN"},
			{"anonymous", aliceURL, anonymous(), `{"email":"x@example.com","realname":"X"}`, 401, "UNAUTHORIZED"},
			{"email of another user", aliceURL, nil, `{"email":"bob@example.com","realname":"X"}`, 409, "CONFLICT"},
			{"bad email", aliceURL, nil, `{"email":"nope","realname":"X"}`, 400, "BAD_REQUEST"},
			{"no realname", aliceURL, nil, `{"email":"x@example.com"}`, 400, "BAD_REQUEST"},
			{"username is not a profile field", aliceURL, nil, `{"email":"x@example.com","realname":"X","username":"mallory"}`, 400, "BAD_REQUEST"},
			{"unknown id", "/api/v2.0/users/999999", nil, `{"email":"x@example.com","realname":"X"}`, 404, "NOT_FOUND"},
		} {
			t.Run("PUT "+tc.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodPut, tc.path, hdr(tc.headers, "Content-Type", ct), []byte(tc.body))
				if tc.status == 200 {
					expectStatus(t, resp, 200)
					return
				}
				assertOCIError(t, resp, tc.status, tc.code)
			})
		}
		u := acctGetUser(t, ts, alice)
		if u.Email != "alice.admin@example.com" || u.Realname != "Alice A" || u.Comment != "" || u.Username != "alice" {
			t.Errorf("after updates alice = %+v", u)
		}
	})
}

func TestUserDeletion(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		alice := acctCreate(t, ts, "alice")
		acctCreate(t, ts, "bob")
		carol := acctCreate(t, ts, "carol")
		expectStatus(t, ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/users/%d/sysadmin", carol), nil, []byte(`{"sysadmin_flag":true}`)), http.StatusOK)

		// alice owns a project, so she is a member of it.
		resp := ts.do(t, http.MethodPost, "/api/v2.0/projects", hdr(acctAuth("alice"), "Content-Type", "application/json"), []byte(`{"project_name":"alice-proj"}`))
		expectStatus(t, resp, http.StatusCreated)
		if n := acctCount(t, ts, "SELECT COUNT(*) FROM project_members WHERE entity_type = 'u' AND entity_id = $1", alice); n != 1 {
			t.Fatalf("alice has %d memberships, want 1", n)
		}
		sess := acctLogin(t, ts, "alice", acctPassword)

		aliceURL := fmt.Sprintf("/api/v2.0/users/%d", alice)
		for _, tc := range []struct {
			name    string
			path    string
			headers http.Header
			status  int
			code    string
			message string
		}{
			{"by a user", aliceURL, acctAuth("bob"), 403, "FORBIDDEN", "Not authorized to delete users"},
			{"by anonymous", aliceURL, anonymous(), 401, "UNAUTHORIZED", ""},
			{"oneself", aliceURL, acctAuth("alice"), 403, "FORBIDDEN", ""},
			{"the default admin", "/api/v2.0/users/1", basicAuth("carol", acctPassword), 403, "FORBIDDEN", "User with ID 1 cannot be deleted"},
			{"an admin deleting herself", fmt.Sprintf("/api/v2.0/users/%d", carol), basicAuth("carol", acctPassword), 403, "FORBIDDEN", ""},
			{"unknown id", "/api/v2.0/users/999999", nil, 404, "NOT_FOUND", ""},
			{"invalid id", "/api/v2.0/users/x1", nil, 400, "BAD_REQUEST", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				msg := acctErrorMessage(t, ts.do(t, http.MethodDelete, tc.path, tc.headers, nil), tc.status, tc.code)
				if tc.message != "" && msg != tc.message {
					t.Errorf("message %q, want %q", msg, tc.message)
				}
			})
		}

		expectStatus(t, ts.do(t, http.MethodDelete, aliceURL, basicAuth("carol", acctPassword), nil), http.StatusOK)
		acctWaitAudit(t, ts, "delete", "alice")
		assertOCIError(t, ts.do(t, http.MethodGet, aliceURL, nil, nil), 404, "NOT_FOUND")
		assertOCIError(t, ts.do(t, http.MethodDelete, aliceURL, nil, nil), 404, "NOT_FOUND")
		// Her credentials, her session and her memberships are gone; her project stays.
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", acctAuth("alice"), nil), 401, "UNAUTHORIZED")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", sess.headers(), nil), 401, "UNAUTHORIZED")
		if n := acctCount(t, ts, "SELECT COUNT(*) FROM project_members WHERE entity_type = 'u' AND entity_id = $1", alice); n != 0 {
			t.Errorf("deleted alice keeps %d memberships", n)
		}
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/alice-proj", nil, nil), http.StatusOK)
		// The name and the e-mail address are free again.
		if again := acctCreate(t, ts, "alice"); again == alice {
			t.Errorf("re-created alice got the deleted id %d", alice)
		}
	})
}

func TestUserListAndSearch(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		for _, n := range []string{"dev-one", "dev-two", "ops-one"} {
			acctCreate(t, ts, n)
		}
		names := func(resp *http.Response) []string {
			t.Helper()
			expectStatus(t, resp, http.StatusOK)
			var us []acctUser
			acctJSON(t, resp, &us)
			out := []string{}
			for _, u := range us {
				out = append(out, u.Username)
			}
			return out
		}
		for _, tc := range []struct {
			query string
			want  string
			total string
		}{
			// The default administrator is left out of listings, as in Harbor.
			{"", "dev-one,dev-two,ops-one", "3"},
			{"?q=username%3D~dev", "dev-one,dev-two", "2"},
			{"?q=username%3Ddev-two", "dev-two", "1"},
			{"?q=email%3D~ops", "ops-one", "1"},
			{"?username=ONE", "dev-one,ops-one", "2"},
			{"?sort=-username", "ops-one,dev-two,dev-one", "3"},
			{"?page=2&page_size=2", "ops-one", "3"},
			{"?q=username%3D~%25", "", "0"},
		} {
			t.Run("list"+tc.query, func(t *testing.T) {
				resp := ts.do(t, http.MethodGet, "/api/v2.0/users"+tc.query, nil, nil)
				if got := strings.Join(names(resp), ","); got != tc.want {
					t.Errorf("users %q, want %q", got, tc.want)
				}
				if got := resp.Header.Get("X-Total-Count"); got != tc.total {
					t.Errorf("X-Total-Count %q, want %q", got, tc.total)
				}
			})
		}
		resp := ts.do(t, http.MethodGet, "/api/v2.0/users?page=1&page_size=2", nil, nil)
		expectStatus(t, resp, 200)
		if l := resp.Header.Get("Link"); !strings.Contains(l, `rel="next"`) || !strings.Contains(l, "page=2") {
			t.Errorf("Link %q, want a next link to page 2", l)
		}
		for _, tc := range []struct {
			query   string
			headers http.Header
			status  int
			code    string
		}{
			{"", acctAuth("dev-one"), 403, "FORBIDDEN"},
			{"", anonymous(), 401, "UNAUTHORIZED"},
			{"?q=password_hash%3Dx", nil, 400, "BAD_REQUEST"},
			{"?sort=password_hash", nil, 400, "BAD_REQUEST"},
			{"?page_size=101", nil, 400, "BAD_REQUEST"},
			{"?page=first", nil, 400, "BAD_REQUEST"},
			{"?q=user_id%3Dabc", nil, 400, "BAD_REQUEST"},
		} {
			t.Run("list refused"+tc.query, func(t *testing.T) {
				assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users"+tc.query, tc.headers, nil), tc.status, tc.code)
			})
		}

		// Search: any signed-in user, minimal fields.
		resp = ts.do(t, http.MethodGet, "/api/v2.0/users/search?username=dev", acctAuth("ops-one"), nil)
		expectStatus(t, resp, http.StatusOK)
		var found []struct {
			UserID   int64  `json:"user_id"`
			Username string `json:"username"`
		}
		acctJSON(t, resp, &found)
		if len(found) != 2 || found[0].Username != "dev-one" || found[1].Username != "dev-two" || found[0].UserID == 0 {
			t.Errorf("search dev = %+v", found)
		}
		if got := resp.Header.Get("X-Total-Count"); got != "2" {
			t.Errorf("search X-Total-Count %q", got)
		}
		resp = ts.do(t, http.MethodGet, "/api/v2.0/users/search?username=dev&page_size=1", acctAuth("ops-one"), nil)
		expectStatus(t, resp, http.StatusOK)
		acctJSON(t, resp, &found)
		if len(found) != 1 || resp.Header.Get("X-Total-Count") != "2" {
			t.Errorf("search page of 1 = %+v, total %q", found, resp.Header.Get("X-Total-Count"))
		}
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/search?username=dev", anonymous(), nil), 401, "UNAUTHORIZED")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/search", nil, nil), 400, "BAD_REQUEST")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/search?username=dev&page_size=500", nil, nil), 400, "BAD_REQUEST")
	})
}

func TestUserSysAdminFlag(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		alice := acctCreate(t, ts, "alice")
		acctCreate(t, ts, "bob")
		path := fmt.Sprintf("/api/v2.0/users/%d/sysadmin", alice)
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users", acctAuth("alice"), nil), 403, "FORBIDDEN")

		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{"sysadmin_flag":true}`)), http.StatusOK)
		if !acctGetUser(t, ts, alice).SysadminFlag {
			t.Error("sysadmin_flag not set")
		}
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/users", acctAuth("alice"), nil), http.StatusOK)

		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{"sysadmin_flag":false}`)), http.StatusOK)
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users", acctAuth("alice"), nil), 403, "FORBIDDEN")

		// A flag left out is false, as in Harbor: its generated client leaves out a false flag.
		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{"sysadmin_flag":true}`)), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{}`)), http.StatusOK)
		if acctGetUser(t, ts, alice).SysadminFlag {
			t.Error("{} left sysadmin_flag set")
		}

		for _, tc := range []struct {
			name    string
			path    string
			headers http.Header
			body    string
			status  int
			code    string
		}{
			{"by a user", path, acctAuth("bob"), `{"sysadmin_flag":true}`, 403, "FORBIDDEN"},
			{"by oneself", path, acctAuth("alice"), `{"sysadmin_flag":true}`, 403, "FORBIDDEN"},
			{"by anonymous", path, anonymous(), `{"sysadmin_flag":true}`, 401, "UNAUTHORIZED"},
			{"unknown user", "/api/v2.0/users/999999/sysadmin", nil, `{"sysadmin_flag":true}`, 404, "NOT_FOUND"},
			{"wrong type", path, nil, `{"sysadmin_flag":"yes"}`, 400, "BAD_REQUEST"},
			{"revoking the default admin", "/api/v2.0/users/1/sysadmin", nil, `{"sysadmin_flag":false}`, 403, "FORBIDDEN"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assertOCIError(t, ts.do(t, http.MethodPut, tc.path, tc.headers, []byte(tc.body)), tc.status, tc.code)
			})
		}
		if acctGetUser(t, ts, alice).SysadminFlag {
			t.Error("a refused request changed the flag")
		}
	})
}

func TestUserPasswordChange(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		alice := acctCreate(t, ts, "alice")
		acctCreate(t, ts, "bob")
		path := fmt.Sprintf("/api/v2.0/users/%d/password", alice)
		body := func(old, new string) []byte {
			return mustJSON(t, map[string]string{"old_password": old, "new_password": new})
		}
		for _, tc := range []struct {
			name    string
			path    string
			headers http.Header
			body    []byte
			status  int
			code    string
			message string
		}{
			{"wrong old password", path, acctAuth("alice"), body("Wrong-Passw0rd", "N3w-Password"), 403, "FORBIDDEN", "Current password is incorrect"},
			{"missing old password", path, acctAuth("alice"), []byte(`{"new_password":"N3w-Password"}`), 403, "FORBIDDEN", "Current password is incorrect"},
			{"weak new password", path, acctAuth("alice"), body(acctPassword, "weakpass"), 400, "BAD_REQUEST",
				"the password or secret must be longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number"},
			{"same password", path, acctAuth("alice"), body(acctPassword, acctPassword), 400, "BAD_REQUEST", "New password is identical to old password"},
			{"admin, same password", path, nil, body("", acctPassword), 400, "BAD_REQUEST", "New password is identical to old password"},
			{"another user", path, acctAuth("bob"), body(acctPassword, "N3w-Password"), 403, "FORBIDDEN", ""},
			{"anonymous", path, anonymous(), body(acctPassword, "N3w-Password"), 401, "UNAUTHORIZED", ""},
			{"unknown user", "/api/v2.0/users/999999/password", nil, body("", "N3w-Password"), 404, "NOT_FOUND", ""},
			{"unknown field", path, nil, []byte(`{"new_password":"N3w-Password","password":"x"}`), 400, "BAD_REQUEST", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				msg := acctErrorMessage(t, ts.do(t, http.MethodPut, tc.path, tc.headers, tc.body), tc.status, tc.code)
				if tc.message != "" && msg != tc.message {
					t.Errorf("message %q, want %q", msg, tc.message)
				}
			})
		}
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", acctAuth("alice"), nil), http.StatusOK)

		// alice has two sessions and changes her password through the first: the second ends.
		s1 := acctLogin(t, ts, "alice", acctPassword)
		s2 := acctLogin(t, ts, "alice@example.com", acctPassword)
		expectStatus(t, ts.do(t, http.MethodPut, path, s1.withCSRF(), body(acctPassword, "N3w-Password")), http.StatusOK)
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", acctAuth("alice"), nil), 401, "UNAUTHORIZED")
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", basicAuth("alice", "N3w-Password"), nil), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", s1.headers(), nil), http.StatusOK)
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", s2.headers(), nil), 401, "UNAUTHORIZED")

		// An administrator resets it without the old one.
		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{"new_password":"Reset-Passw0rd"}`)), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", basicAuth("alice", "Reset-Passw0rd"), nil), http.StatusOK)
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", s1.headers(), nil), 401, "UNAUTHORIZED")

		// Administrators changing their own password prove the old one too.
		assertOCIError(t, ts.do(t, http.MethodPut, "/api/v2.0/users/1/password", nil, body("", "Another-Passw0rd")), 403, "FORBIDDEN")
	})
}

func TestUserCLISecretNeedsOIDC(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		alice := acctCreate(t, ts, "alice")
		path := fmt.Sprintf("/api/v2.0/users/%d/cli_secret", alice)
		msg := acctErrorMessage(t, ts.do(t, http.MethodPut, path, acctAuth("alice"), []byte(`{"secret":"Secret-Passw0rd"}`)), 412, "PRECONDITION")
		if msg != "unable to update CLI secret under authmode: db_auth" {
			t.Errorf("message %q", msg)
		}
		assertOCIError(t, ts.do(t, http.MethodPut, "/api/v2.0/users/abc/cli_secret", nil, []byte(`{"secret":"x"}`)), 400, "BAD_REQUEST")
	})
}

func TestCurrentUserPermissions(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		acctCreate(t, ts, "alice")
		acctCreate(t, ts, "bob")
		resp := ts.do(t, http.MethodPost, "/api/v2.0/projects", hdr(acctAuth("alice"), "Content-Type", "application/json"), []byte(`{"project_name":"perm-proj"}`))
		expectStatus(t, resp, http.StatusCreated)
		projID, _ := strings.CutPrefix(resp.Header.Get("Location"), "/api/v2.0/projects/")
		resp = ts.do(t, http.MethodGet, "/api/v2.0/projects/library", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		var lib struct {
			ProjectID int64 `json:"project_id"`
		}
		if err := json.Unmarshal(respBody(t, resp), &lib); err != nil || lib.ProjectID == 0 {
			t.Fatalf("library project: %v", err)
		}

		perms := func(user http.Header, query string) map[acctPermission]bool {
			t.Helper()
			resp := ts.do(t, http.MethodGet, "/api/v2.0/users/current/permissions"+query, user, nil)
			expectStatus(t, resp, http.StatusOK)
			var ps []acctPermission
			acctJSON(t, resp, &ps)
			out := map[acctPermission]bool{}
			for _, p := range ps {
				out[p] = true
			}
			return out
		}
		for _, tc := range []struct {
			name    string
			user    http.Header
			query   string
			has     []acctPermission
			hasNot  []acctPermission
			isEmpty bool
		}{
			{name: "project admin, relative", user: acctAuth("alice"), query: "?scope=/project/" + projID + "&relative=true",
				has:    []acctPermission{{".", "read"}, {".", "delete"}, {"repository", "push"}, {"repository", "pull"}, {"member", "create"}, {"robot", "create"}},
				hasNot: []acctPermission{{"repository", "scanner-pull"}}},
			{name: "project admin, absolute", user: acctAuth("alice"), query: "?scope=/project/" + projID,
				has: []acctPermission{{"/project/" + projID, "read"}, {"/project/" + projID + "/repository", "push"}}},
			{name: "outsider of a private project", user: acctAuth("bob"), query: "?scope=/project/" + projID + "&relative=true", isEmpty: true},
			{name: "outsider of a public project", user: acctAuth("bob"), query: fmt.Sprintf("?scope=/project/%d&relative=true", lib.ProjectID),
				has:    []acctPermission{{"repository", "pull"}, {".", "read"}},
				hasNot: []acctPermission{{"repository", "push"}, {"member", "create"}, {".", "delete"}}},
			{name: "system admin in any project", user: nil, query: "?scope=/project/" + projID + "&relative=true",
				has: []acctPermission{{"repository", "delete"}, {"member", "create"}}},
			{name: "unknown project", user: nil, query: "?scope=/project/999999", isEmpty: true},
			{name: "system admin, system scope", user: nil, query: "?scope=/system&relative=true",
				has: []acctPermission{{"user", "create"}, {"configuration", "update"}, {"project", "create"}}},
			{name: "system admin, system scope absolute", user: nil, query: "?scope=/system",
				has: []acctPermission{{"/system/user", "list"}}},
			{name: "user, system scope", user: acctAuth("alice"), query: "?scope=/system&relative=true",
				has: []acctPermission{{"project", "create"}}, hasNot: []acctPermission{{"user", "create"}}},
			{name: "no scope", user: nil, query: "", isEmpty: true},
			{name: "unknown scope", user: nil, query: "?scope=/nowhere", isEmpty: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := perms(tc.user, tc.query)
				if tc.isEmpty && len(got) != 0 {
					t.Errorf("permissions %v, want none", got)
				}
				for _, p := range tc.has {
					if !got[p] {
						t.Errorf("missing %v in %v", p, got)
					}
				}
				for _, p := range tc.hasNot {
					if got[p] {
						t.Errorf("unexpected %v", p)
					}
				}
			})
		}
		// With creation restricted to administrators, users lose the system permission.
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, []byte(`{"project_creation_restriction":"adminonly"}`)), 200)
		if got := perms(acctAuth("alice"), "?scope=/system&relative=true"); len(got) != 0 {
			t.Errorf("alice's system permissions under adminonly: %v", got)
		}
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current/permissions?scope=/system", anonymous(), nil), 401, "UNAUTHORIZED")
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current/permissions?scope=/system&relative=maybe", nil, nil), 400, "BAD_REQUEST")
	})
}

func TestSessionLoginAndCSRF(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		alice := acctCreate(t, ts, "alice")
		aliceURL := fmt.Sprintf("/api/v2.0/users/%d", alice)
		form := hdr(anonymous(), "Content-Type", "application/x-www-form-urlencoded")
		for _, tc := range []struct {
			name   string
			body   string
			status int
		}{
			{"wrong password", "principal=alice&password=Wrong-Passw0rd", 401},
			{"unknown user", "principal=nobody&password=" + acctPassword, 401},
			{"no password", "principal=alice", 401},
			{"empty form", "", 401},
		} {
			t.Run("login "+tc.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodPost, "/c/login", form, []byte(tc.body))
				assertOCIError(t, resp, tc.status, "UNAUTHORIZED")
				if c := resp.Header.Get("Set-Cookie"); c != "" {
					t.Errorf("failed login set a cookie: %q", c)
				}
			})
		}
		assertOCIError(t, ts.do(t, http.MethodGet, "/c/login", anonymous(), nil), 405, "METHOD_NOT_ALLOWED")
		// A password in the query string does not count (it would land in access logs).
		assertOCIError(t, ts.do(t, http.MethodPost, "/c/login?principal=alice&password="+acctPassword, form, nil), 401, "UNAUTHORIZED")

		s := acctLogin(t, ts, "alice", acctPassword)
		// Only the SHA-256 of the session id is stored.
		sum := sha256.Sum256([]byte(s.sid))
		if n := acctCount(t, ts, "SELECT COUNT(*) FROM sessions WHERE id_hash = $1 AND user_id = $2", hex.EncodeToString(sum[:]), alice); n != 1 {
			t.Errorf("%d sessions stored under the id's hash, want 1", n)
		}
		if n := acctCount(t, ts, "SELECT COUNT(*) FROM sessions WHERE id_hash = $1", s.sid); n != 0 {
			t.Error("the session id itself is stored")
		}

		resp := ts.do(t, http.MethodGet, "/api/v2.0/users/current", s.headers(), nil)
		expectStatus(t, resp, http.StatusOK)
		var u acctUser
		acctJSON(t, resp, &u)
		if u.Username != "alice" {
			t.Errorf("session user = %+v", u)
		}
		if got := resp.Header.Get("X-Harbor-CSRF-Token"); got != s.csrf {
			t.Errorf("CSRF token on a session request %q, want the login's %q", got, s.csrf)
		}

		update := []byte(`{"email":"alice@example.com","realname":"Alice Session","comment":""}`)
		for _, tc := range []struct {
			name    string
			headers http.Header
		}{
			{"no token", hdr(s.headers(), "Content-Type", "application/json")},
			{"wrong token", hdr(s.headers(), "X-Harbor-CSRF-Token", otherFirstChar(s.csrf), "Content-Type", "application/json")},
			{"another session's token", hdr(s.headers(), "X-Harbor-CSRF-Token", acctLogin(t, ts, "alice", acctPassword).csrf, "Content-Type", "application/json")},
		} {
			t.Run("CSRF "+tc.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodPut, aliceURL, tc.headers, update)
				if msg := acctErrorMessage(t, resp, 403, "FORBIDDEN"); msg != "CSRF token invalid" {
					t.Errorf("message %q", msg)
				}
				resp = ts.do(t, http.MethodDelete, "/api/v2.0/users/1", tc.headers, nil)
				assertOCIError(t, resp, 403, "FORBIDDEN")
			})
		}
		if acctGetUser(t, ts, alice).Realname == "Alice Session" {
			t.Fatal("a request without a valid CSRF token changed the profile")
		}
		expectStatus(t, ts.do(t, http.MethodPut, aliceURL, s.withCSRF(), update), http.StatusOK)
		if acctGetUser(t, ts, alice).Realname != "Alice Session" {
			t.Error("the request with the CSRF token did not apply")
		}
		// Basic credentials need no token, and win over a cookie.
		expectStatus(t, ts.do(t, http.MethodPut, aliceURL, hdr(acctAuth("alice"), "Content-Type", "application/json"), update), http.StatusOK)
		resp = ts.do(t, http.MethodGet, "/api/v2.0/users/current", hdr(nil, "Cookie", "sid="+s.sid), nil)
		expectStatus(t, resp, http.StatusOK)
		acctJSON(t, resp, &u)
		if u.Username != "admin" {
			t.Errorf("Basic and cookie: acting as %q, want admin", u.Username)
		}
		// An unknown cookie is anonymous.
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", hdr(anonymous(), "Cookie", "sid=bogus"), nil), 401, "UNAUTHORIZED")

		// The expiry slides forward as the session is used.
		hash := hex.EncodeToString(sum[:])
		past := time.Now().Add(-2 * time.Minute).UnixMicro()
		soon := time.Now().Add(30 * time.Second).UnixMicro()
		acctCount(t, ts, "UPDATE sessions SET seen_at = $1, expires_at = $2 WHERE id_hash = $3 RETURNING 1", past, soon, hash)
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", s.headers(), nil), http.StatusOK)
		if n := acctCount(t, ts, "SELECT COUNT(*) FROM sessions WHERE id_hash = $1 AND expires_at > $2", hash, time.Now().Add(59*time.Minute).UnixMicro()); n != 1 {
			t.Error("using the session did not extend it to session_timeout from now")
		}
		// An expired session is anonymous.
		acctCount(t, ts, "UPDATE sessions SET expires_at = $1 WHERE id_hash = $2 RETURNING 1", past, hash)
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", s.headers(), nil), 401, "UNAUTHORIZED")

		// Logout ends the session and clears the cookie.
		s = acctLogin(t, ts, "alice", acctPassword)
		resp = ts.do(t, http.MethodGet, "/c/log_out", s.headers(), nil)
		expectStatus(t, resp, http.StatusOK)
		cleared := false
		for _, c := range resp.Cookies() {
			cleared = cleared || (c.Name == "sid" && c.Value == "" && c.MaxAge < 0)
		}
		if !cleared {
			t.Errorf("logout did not clear the cookie: %q", resp.Header.Values("Set-Cookie"))
		}
		assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/users/current", s.headers(), nil), 401, "UNAUTHORIZED")
		expectStatus(t, ts.do(t, http.MethodGet, "/c/log_out", anonymous(), nil), http.StatusOK)
	})
}

// otherFirstChar returns tok with its first character changed: a token that differs from the
// real one by one character, whatever the real one starts with.
func otherFirstChar(tok string) string {
	if strings.HasPrefix(tok, "x") {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}
