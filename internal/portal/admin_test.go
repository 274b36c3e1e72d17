package portal_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAdminPages: the administration pages render for an administrator, and a user who is no
// administrator is offered no Administration entry, gets 403 on every admin page, and a forged
// post with their own valid token changes nothing.
func TestAdminPages(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("guarded")
	for _, c := range []struct{ path, text string }{
		{"/admin", "Garbage collection"},
		{"/admin/gc", "No schedule: garbage collection runs only when started here."},
		{"/admin/users", "guest@example.com"},
		{"/admin/users?filter=gue&sort=-username", "guest@example.com"},
		{"/admin/users/new", "Repeat the password"},
	} {
		mustContain(t, b.get(c.path), http.StatusOK, c.text)
	}
	mustContain(t, b.get("/projects"), http.StatusOK, `<a href="/admin">Administration</a>`)
	if a := g.get("/projects"); strings.Contains(a.body, `href="/admin"`) {
		t.Errorf("a user who is no administrator is offered the administration:\n%s", a.body)
	}
	guestID := userID(t, b, "guest")
	for _, p := range []string{"/admin", "/admin/gc", "/admin/gc/1/log", "/admin/users", "/admin/users/new",
		"/admin/users/" + guestID + "/password", "/admin/users/" + guestID + "/delete"} {
		if a := g.get(p); a.status != http.StatusForbidden {
			t.Errorf("GET %s as a user: %d, want 403", p, a.status)
		}
	}
	tok := g.token("/account/password")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/admin/gc/run", url.Values{"delete_untagged": {"on"}, "dry_run": {"false"}}},
		{"/admin/gc/schedule", url.Values{"type": {"Daily"}, "time": {"02:00"}}},
		{"/admin/users", url.Values{"username": {"forged"}, "email": {"forged@example.com"}, "password": {"Forged12345"}, "repeat_password": {"Forged12345"}}},
		{"/admin/users/" + guestID + "/admin", url.Values{"admin": {"true"}}},
	} {
		c.form.Set("csrf", tok)
		if a := g.do(http.MethodPost, c.path, c.form); a.status != http.StatusForbidden {
			t.Errorf("POST %s as a user: %d, want 403:\n%s", c.path, a.status, a.body)
		}
	}
	if h := strings.TrimSpace(b.api(http.MethodGet, "/system/gc", nil, http.StatusOK)); h != "[]" {
		t.Errorf("a forged post ran garbage collection: %s", h)
	}
	if s := strings.TrimSpace(b.api(http.MethodGet, "/system/gc/schedule", nil, http.StatusOK)); s != "{}" {
		t.Errorf("a forged post set a schedule: %s", s)
	}
	if u := strings.TrimSpace(b.api(http.MethodGet, "/users?q=username%3Dforged", nil, http.StatusOK)); u != "[]" {
		t.Errorf("a forged post created a user: %s", u)
	}
	// Anonymous callers are sent to the login page.
	if a := newBrowser(t, b.base).get("/admin/gc"); a.status != http.StatusSeeOther {
		t.Errorf("GET /admin/gc anonymously: %d, want a redirect to the login page", a.status)
	}
}

// userID is a user's id, from the API.
func userID(t *testing.T, b *browser, name string) string {
	t.Helper()
	var us []struct {
		UserID   int64  `json:"user_id"`
		Username string `json:"username"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/users?q=username%3D"+name, nil, http.StatusOK)), &us); err != nil || len(us) != 1 {
		t.Fatalf("user %s: %v %v", name, us, err)
	}
	return strconv.FormatInt(us[0].UserID, 10)
}

// TestGC: the schedule form stores the cron the API would (Daily at 02:00 is "0 0 2 * * *");
// Run now starts a collection that shows in the history with its log; the service's refusal of
// a bad cron is shown on the form; posts need the session's token.
func TestGC(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	tok := b.token("/admin/gc")
	if a := b.do(http.MethodPost, "/admin/gc/schedule", url.Values{"csrf": {"forged"}, "type": {"Daily"}, "time": {"02:00"}}); a.status != http.StatusForbidden {
		t.Errorf("a schedule post without the token: %d", a.status)
	}
	a := b.do(http.MethodPost, "/admin/gc/schedule", url.Values{"csrf": {tok}, "type": {"Daily"}, "time": {"02:00"}, "delete_untagged": {"on"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/gc?done=scheduled" {
		t.Fatalf("save the schedule: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	var s struct {
		Schedule struct{ Type, Cron string } `json:"schedule"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/system/gc/schedule", nil, http.StatusOK)), &s); err != nil || s.Schedule.Type != "Daily" || s.Schedule.Cron != "0 0 2 * * *" {
		t.Fatalf("the schedule through the API: %+v %v", s, err)
	}
	mustContain(t, b.get("/admin/gc?done=scheduled"), http.StatusOK, "The schedule was saved.", "Current schedule: Daily (cron 0 0 2 * * *)", `value="02:00"`,
		`name="delete_untagged" checked`)
	// Weekly on Monday at 03:30, and a custom cron the service refuses.
	b.do(http.MethodPost, "/admin/gc/schedule", url.Values{"csrf": {tok}, "type": {"Weekly"}, "time": {"03:30"}, "day": {"1"}})
	if a := b.get("/admin/gc"); strings.Contains(a.body, `id="gc-sched-untagged" name="delete_untagged" checked`) {
		t.Error("a schedule saved without delete untagged shows it ticked")
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/system/gc/schedule", nil, http.StatusOK)), &s); err != nil || s.Schedule.Cron != "0 30 3 * * 1" {
		t.Errorf("weekly: %+v %v", s, err)
	}
	a = b.do(http.MethodPost, "/admin/gc/schedule", url.Values{"csrf": {tok}, "type": {"Custom"}, "cron": {"* * * * * *"}})
	mustContain(t, a, http.StatusBadRequest, "runs more than once a minute", `value="* * * * * *"`)
	a = b.do(http.MethodPost, "/admin/gc/schedule", url.Values{"csrf": {tok}, "type": {"Daily"}, "time": {"25:00"}})
	mustContain(t, a, http.StatusBadRequest, "is not a time of day")
	// None removes the schedule.
	b.do(http.MethodPost, "/admin/gc/schedule", url.Values{"csrf": {tok}, "type": {"None"}})
	if s := strings.TrimSpace(b.api(http.MethodGet, "/system/gc/schedule", nil, http.StatusOK)); s != "{}" {
		t.Errorf("after None: %s", s)
	}
	// Run now, then a dry run.
	a = b.do(http.MethodPost, "/admin/gc/run", url.Values{"csrf": {tok}, "delete_untagged": {"on"}, "dry_run": {"false"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/gc?done=started" {
		t.Fatalf("run now: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	b.do(http.MethodPost, "/admin/gc/run", url.Values{"csrf": {tok}, "dry_run": {"true"}})
	var runs []struct {
		ID        int64  `json:"id"`
		JobStatus string `json:"job_status"`
		DryRun    bool   `json:"dry_run"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/system/gc", nil, http.StatusOK)), &runs); err != nil {
			t.Fatal(err)
		}
		if len(runs) == 2 && runs[0].JobStatus == "Success" && runs[1].JobStatus == "Success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runs did not end: %+v", runs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	page := b.get("/admin/gc")
	mustContain(t, page, http.StatusOK, `href="/admin/gc/`+strconv.FormatInt(runs[0].ID, 10)+`/log"`, "0 B", "0 blobs, 0 manifests")
	if !regexp.MustCompile(`<td>Yes</td>`).MatchString(page.body) {
		t.Errorf("the dry run is not shown as one:\n%s", page.body)
	}
	mustContain(t, b.get("/admin/gc/"+strconv.FormatInt(runs[1].ID, 10)+"/log"), http.StatusOK, "<pre", "Garbage collection "+strconv.FormatInt(runs[1].ID, 10))
	mustContain(t, b.get("/admin/gc/999/log"), http.StatusNotFound, "Garbage collection 999 not found.")
	mustContain(t, b.get("/admin/gc?sort=bogus"), http.StatusBadRequest, "cannot be sorted by")
}

// TestUsers: an administrator creates a user (the service's rules shown on the form), makes
// and revokes an administrator, resets a password and deletes a user, each post with the
// session's token.
func TestUsers(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	tok := b.token("/admin/users/new")
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {tok}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	if a := b.do(http.MethodPost, "/admin/users", url.Values{"csrf": {"forged"}, "username": {"alice"}}); a.status != http.StatusForbidden {
		t.Errorf("create without the token: %d", a.status)
	}
	a := b.do(http.MethodPost, "/admin/users", form("username", "alice", "email", "alice@example.com", "realname", "Alice", "password", "weak", "repeat_password", "weak"))
	mustContain(t, a, http.StatusBadRequest, "The password or secret must be longer than 8 chars", `value="alice"`)
	a = b.do(http.MethodPost, "/admin/users", form("username", "alice", "email", "alice@example.com", "password", "Alice12345", "repeat_password", "Alice12346"))
	mustContain(t, a, http.StatusBadRequest, "The password and its repetition differ.")
	a = b.do(http.MethodPost, "/admin/users", form("username", "alice", "email", "alice@example.com", "realname", "Alice", "password", "Alice12345", "repeat_password", "Alice12345"))
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/users?done=created" {
		t.Fatalf("create: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	a = b.do(http.MethodPost, "/admin/users", form("username", "alice", "email", "alice2@example.com", "realname", "Alice", "password", "Alice12345", "repeat_password", "Alice12345"))
	mustContain(t, a, http.StatusConflict, "already exists")
	mustContain(t, b.get("/admin/users?done=created"), http.StatusOK, "The user was created.", "alice@example.com", "Make admin: alice")
	id := userID(t, b, "alice")
	if a := b.do(http.MethodPost, "/admin/users/"+id+"/admin", form("admin", "true")); a.status != http.StatusSeeOther {
		t.Fatalf("make admin: %d\n%s", a.status, a.body)
	}
	mustContain(t, b.get("/admin/users"), http.StatusOK, "Revoke admin from alice")
	alice := newBrowser(t, b.base)
	if a := alice.login("alice", "Alice12345"); a.status != http.StatusSeeOther {
		t.Fatalf("alice's login: %d", a.status)
	}
	mustContain(t, alice.get("/projects"), http.StatusOK, `<a href="/admin">Administration</a>`)
	b.do(http.MethodPost, "/admin/users/"+id+"/admin", form("admin", "false"))
	mustContain(t, b.get("/admin/users"), http.StatusOK, "Make admin: alice")
	// Reset the password: the rules, then a good one.
	mustContain(t, b.get("/admin/users/"+id+"/password"), http.StatusOK, "Reset the password of alice")
	a = b.do(http.MethodPost, "/admin/users/"+id+"/password", form("new_password", "short", "repeat_password", "short"))
	mustContain(t, a, http.StatusBadRequest, "The password or secret must be longer than 8 chars")
	a = b.do(http.MethodPost, "/admin/users/"+id+"/password", form("new_password", "Alice54321", "repeat_password", "Alice54321"))
	if a.status != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", a.status, a.body)
	}
	if a := newBrowser(t, b.base).login("alice", "Alice54321"); a.status != http.StatusSeeOther {
		t.Errorf("login with the new password: %d", a.status)
	}
	// Delete, after the confirmation page.
	mustContain(t, b.get("/admin/users/"+id+"/delete"), http.StatusOK, "Delete user alice", "This cannot be undone.")
	if a := b.do(http.MethodPost, "/admin/users/"+id+"/delete", form()); a.status != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", a.status, a.body)
	}
	mustContain(t, b.get("/admin/users?done=deleted"), http.StatusOK, "The user was deleted.")
	mustContain(t, b.get("/admin/users/"+id+"/delete"), http.StatusNotFound)
}

// TestSearch: the header's search box is a GET form on every page; results come from the
// catalog with its visibility rules: a user does not find a private project they are not in.
func TestSearch(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("visible")
	b.api(http.MethodPost, "/projects", map[string]any{"project_name": "hidden-visible"}, http.StatusCreated)
	mustContain(t, b.get("/projects"), http.StatusOK, `action="/search"`, `name="q"`)
	mustContain(t, b.get("/search?q=visible"), http.StatusOK, `href="/projects/visible"`, `href="/projects/hidden-visible"`, `value="visible"`)
	a := g.get("/search?q=visible")
	mustContain(t, a, http.StatusOK, `href="/projects/visible"`)
	if strings.Contains(a.body, "hidden-visible") {
		t.Errorf("a user found a private project they are not a member of:\n%s", a.body)
	}
	mustContain(t, b.get("/search?q=nothing-like-it"), http.StatusOK, "No project matches.", "No repository matches.")
	mustContain(t, b.get("/search"), http.StatusOK, "Type part of a project")
	mustContain(t, newBrowser(t, b.base).get("/search?q=library"), http.StatusOK, `href="/projects/library"`)
}
