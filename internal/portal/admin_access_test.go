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

// formOf is a form with the token and the fields kv (name, value, …; a name may repeat).
func formOf(tok string, kv ...string) url.Values {
	v := url.Values{"csrf": {tok}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestAccessAdminPagesRender: the administration links user groups, system robots and
// interrogation services for an administrator, and each page renders; a user who is no
// administrator gets 403 on each.
func TestAccessAdminPagesRender(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("render")
	mustContain(t, b.get("/admin"), http.StatusOK, `href="/admin/groups"`, `href="/admin/robots"`, `href="/admin/scanners"`)
	for _, c := range []struct{ path, text string }{
		{"/admin/groups", "There are no user groups yet."},
		{"/admin/groups?filter=x&page=2", "No user group matches"},
		{"/admin/robots", "There are no system robot accounts."},
		{"/admin/robots?sort=-name&filter=x", "No system robot account matches"},
		{"/admin/robots/new", "System permissions"},
		{"/admin/scanners", "Vulnerability database"},
		{"/admin/scanners?sort=-name", "Scan all now"},
		{"/admin/scanners/new", "Skip certificate verification"},
	} {
		mustContain(t, b.get(c.path), http.StatusOK, c.text)
		if a := g.get(c.path); a.status != http.StatusForbidden {
			t.Errorf("GET %s as a user: %d, want 403", c.path, a.status)
		}
	}
	mustContain(t, b.get("/admin/groups?sort=ldap_group_dn"), http.StatusBadRequest, "cannot be sorted")
	mustContain(t, b.get("/admin/robots?sort=bogus"), http.StatusBadRequest, "cannot be sorted")
}

type apiGroup struct {
	ID        int64  `json:"id"`
	GroupName string `json:"group_name"`
	GroupType int    `json:"group_type"`
}

// groups are the user groups, from the API.
func groups(t *testing.T, b *browser) map[string]apiGroup {
	t.Helper()
	var gs []apiGroup
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/usergroups?page_size=100", nil, http.StatusOK)), &gs); err != nil {
		t.Fatal(err)
	}
	out := map[string]apiGroup{}
	for _, g := range gs {
		out[g.GroupName] = g
	}
	return out
}

// TestUserGroups: an administrator creates HTTP and OIDC groups (the service's refusals shown
// on the form), filters, renames and deletes one after a confirmation; a user who is no
// administrator is offered nothing and their forged posts change nothing.
func TestUserGroups(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("grp")
	tok := b.token("/admin/groups")
	for _, c := range []struct {
		form   url.Values
		status int
		msg    string
	}{
		{formOf(tok, "name", "", "type", "2"), http.StatusBadRequest, "Group_name is required."},
		{formOf(tok, "name", "x", "type", "9"), http.StatusBadRequest, "Invalid group_type 9"},
		{formOf(tok, "name", "x", "type", "http"), http.StatusBadRequest, "is not one of the form's"},
		{formOf(tok, "name", strings.Repeat("n", 256), "type", "2"), http.StatusBadRequest, "longer than 255"},
	} {
		mustContain(t, b.do(http.MethodPost, "/admin/groups", c.form), c.status, c.msg)
	}
	if a := b.do(http.MethodPost, "/admin/groups", formOf("forged", "name", "devs", "type", "2")); a.status != http.StatusForbidden {
		t.Errorf("create without the token: %d", a.status)
	}
	for _, c := range []struct{ name, typ string }{{"devs", "2"}, {"sso-team", "3"}} {
		a := b.do(http.MethodPost, "/admin/groups", formOf(tok, "name", c.name, "type", c.typ))
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/groups?done=created" {
			t.Fatalf("create %s: %d %s\n%s", c.name, a.status, a.header.Get("Location"), a.body)
		}
	}
	mustContain(t, b.do(http.MethodPost, "/admin/groups", formOf(tok, "name", "devs", "type", "2")), http.StatusConflict,
		"The user group devs already exists.", `value="devs"`)
	gs := groups(t, b)
	if gs["devs"].GroupType != 2 || gs["sso-team"].GroupType != 3 {
		t.Fatalf("the groups through the API: %+v", gs)
	}
	devs := strconv.FormatInt(gs["devs"].ID, 10)
	a := b.get("/admin/groups?done=created")
	mustContain(t, a, http.StatusOK, "The user group was created.", "<td>devs</td>", "<td>HTTP</td>", "<td>sso-team</td>", "<td>OIDC</td>",
		`href="/admin/groups/`+devs+`/edit"`, `href="/admin/groups/`+devs+`/delete"`)
	a = b.get("/admin/groups?filter=sso")
	mustContain(t, a, http.StatusOK, "<td>sso-team</td>")
	if strings.Contains(a.body, "<td>devs</td>") {
		t.Errorf("the filter sso shows devs:\n%s", a.body)
	}
	mustContain(t, b.get("/admin/groups?page_size=1&page=2"), http.StatusOK, "<td>sso-team</td>", "2–2 of 2")
	mustContain(t, b.get("/admin/groups?page_size=1&sort=-name"), http.StatusOK, "<td>sso-team</td>", `aria-sort="descending"`)
	mustContain(t, b.get("/admin/groups?page_size=1&sort=-type"), http.StatusOK, "<td>sso-team</td>")
	mustContain(t, b.get("/admin/groups?page_size=1&sort=type"), http.StatusOK, "<td>devs</td>")

	// A user who is no administrator: no page, no form, and forged posts change nothing.
	for _, p := range []string{"/admin/groups", "/admin/groups/" + devs + "/edit", "/admin/groups/" + devs + "/delete"} {
		if a := g.get(p); a.status != http.StatusForbidden {
			t.Errorf("GET %s as a user: %d, want 403", p, a.status)
		}
	}
	gtok := g.token("/account/password")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/admin/groups", formOf(gtok, "name", "forged", "type", "2")},
		{"/admin/groups/" + devs + "/edit", formOf(gtok, "name", "forged")},
		{"/admin/groups/" + devs + "/delete", formOf(gtok)},
	} {
		mustContain(t, g.do(http.MethodPost, c.path, c.form), http.StatusForbidden, "You do not have permission")
	}
	if gs := groups(t, b); len(gs) != 2 || gs["devs"].ID == 0 {
		t.Errorf("the user's forged posts changed the groups: %+v", gs)
	}

	// Rename: the form, the service's refusal of an empty name, then a new one.
	mustContain(t, b.get("/admin/groups/"+devs+"/edit"), http.StatusOK, "Rename user group devs", `value="devs"`)
	mustContain(t, b.do(http.MethodPost, "/admin/groups/"+devs+"/edit", formOf(tok, "name", " ")), http.StatusBadRequest, "Group_name is required.")
	if a := b.do(http.MethodPost, "/admin/groups/"+devs+"/edit", formOf(tok, "name", "developers")); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/groups?done=renamed" {
		t.Fatalf("rename: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	if gs := groups(t, b); strconv.FormatInt(gs["developers"].ID, 10) != devs || gs["developers"].GroupType != 2 || gs["devs"].ID != 0 {
		t.Errorf("after the rename: %+v", gs)
	}
	mustContain(t, b.get("/admin/groups?done=renamed"), http.StatusOK, "The user group was renamed.", "<td>developers</td>")

	// Delete, after the confirmation.
	mustContain(t, b.get("/admin/groups/"+devs+"/delete"), http.StatusOK, "Delete user group developers", "This cannot be undone.")
	if a := b.do(http.MethodPost, "/admin/groups/"+devs+"/delete", formOf(tok)); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/groups?done=deleted" {
		t.Fatalf("delete: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	if gs := groups(t, b); len(gs) != 1 || gs["sso-team"].ID == 0 {
		t.Errorf("after the deletion: %+v", gs)
	}
	mustContain(t, b.get("/admin/groups/"+devs+"/delete"), http.StatusNotFound, "User group "+devs+" not found.")
	mustContain(t, b.get("/admin/groups/nope/edit"), http.StatusNotFound)
}

// TestSystemRobots: an administrator creates system robots with system permissions and
// project permissions in every project or in named ones (the robot service's refusals on the
// form), reads the secret once, disables and enables one, refreshes its secret and deletes it
// after a confirmation; a project's robot is not found here; a user who is no administrator is
// offered nothing and their forged posts change nothing.
func TestSystemRobots(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("sysbots")
	a := b.get("/admin/robots/new")
	mustContain(t, a, http.StatusOK, `id="sys-robot-list" name="system" value="robot:list"`, `id="proj-repository-pull" name="project" value="repository:pull" checked`,
		`id="scope-all" name="scope" value="all" checked`)
	tok := b.token("/admin/robots/new")
	for _, c := range []struct {
		form   url.Values
		status int
		msg    string
	}{
		{formOf(tok, "name", "ok"), http.StatusBadRequest, "Tick at least one permission."},
		{formOf(tok, "name", "Bad Name", "project", "repository:pull"), http.StatusBadRequest, "Robot name is not in lower case"},
		{formOf(tok, "name", "ok", "scope", "some", "projects", " ", "project", "repository:pull"), http.StatusBadRequest, "Name the projects"},
		{formOf(tok, "name", "ok", "scope", "some", "projects", "nothere", "project", "repository:pull"), http.StatusNotFound, "nothere"},
		{formOf(tok, "name", "ok", "system", "robot:fly"), http.StatusBadRequest, "Bad request permission: robot:fly."},
		{formOf(tok, "name", "ok", "duration", "-3", "system", "robot:list"), http.StatusBadRequest, "is not a whole number of days"},
	} {
		a := b.do(http.MethodPost, "/admin/robots", c.form)
		mustContain(t, a, c.status, c.msg, `id="form-error"`)
	}

	a = b.do(http.MethodPost, "/admin/robots", formOf(tok, "name", "ci", "description", "CI everywhere", "duration", "7",
		"system", "robot:list", "scope", "all", "project", "repository:pull", "project", "repository:push"))
	mustContain(t, a, http.StatusCreated, "robot$ci", "shown only this once", `data-copy="robot-secret"`, `href="/admin/robots"`)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the secret page's Cache-Control: %q", cc)
	}
	secret := secretRE.FindStringSubmatch(a.body)[1]
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$ci", secret)); a.status != http.StatusOK {
		t.Errorf("the robot's secret at /v2/: %d", a.status)
	}
	a = b.do(http.MethodPost, "/admin/robots", formOf(tok, "name", "one", "never", "on", "scope", "some", "projects", "sysbots, library", "project", "artifact:read"))
	mustContain(t, a, http.StatusCreated, "robot$one")
	mustContain(t, b.do(http.MethodPost, "/admin/robots", formOf(tok, "name", "ci", "system", "robot:list")), http.StatusConflict, "Robot account robot$ci already exists.")

	// What the API says of them.
	var rs []struct {
		ID          int64  `json:"id"`
		Name        string `json:"name"`
		Level       string `json:"level"`
		Duration    int64  `json:"duration"`
		Permissions []struct {
			Kind, Namespace string
			Access          []struct{ Resource, Action string }
		} `json:"permissions"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/robots?q=Level%3Dsystem&sort=name", nil, http.StatusOK)), &rs); err != nil || len(rs) != 2 {
		t.Fatalf("system robots through the API: %+v %v", rs, err)
	}
	if ci := rs[0]; ci.Name != "robot$ci" || ci.Duration != 7 || len(ci.Permissions) != 2 {
		t.Errorf("robot$ci through the API: %+v", ci)
	}
	if one := rs[1]; one.Name != "robot$one" || one.Duration != -1 || len(one.Permissions) != 2 || one.Permissions[0].Kind != "project" {
		t.Errorf("robot$one through the API: %+v", one)
	}
	id := strconv.FormatInt(rs[0].ID, 10)
	base := "/admin/robots/" + id
	a = b.get("/admin/robots")
	mustContain(t, a, http.StatusOK, "robot$ci", "CI everywhere", "System — robot: list", "All projects — repository: pull, push",
		"Project sysbots — artifact: read; Project library — artifact: read", "never", `action="`+base+`/disable"`)
	if strings.Contains(a.body, secret) {
		t.Error("the list shows the secret")
	}
	mustContain(t, b.get("/admin/robots?filter=one"), http.StatusOK, "robot$one")
	if a := b.get("/admin/robots?filter=one"); strings.Contains(a.body, "robot$ci") {
		t.Errorf("the filter one shows robot$ci")
	}

	// A project's robot is not one of these.
	b.api(http.MethodPost, "/robots", map[string]any{"name": "local", "level": "project", "duration": -1,
		"permissions": []map[string]any{{"kind": "project", "namespace": "sysbots", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}, http.StatusCreated)
	if a := b.get("/admin/robots"); strings.Contains(a.body, "robot$sysbots+local") {
		t.Error("the system robots list a project's robot")
	}
	var local []struct{ ID int64 }
	json.Unmarshal([]byte(b.api(http.MethodGet, "/robots?q=name%3Dsysbots%2Blocal", nil, http.StatusOK)), &local)
	if len(local) == 1 {
		mustContain(t, b.get("/admin/robots/"+strconv.FormatInt(local[0].ID, 10)+"/delete"), http.StatusNotFound, "There is no system robot account")
	} else {
		t.Errorf("the project robot through the API: %+v", local)
	}

	// A user who is no administrator: no page, and forged posts change nothing.
	for _, p := range []string{"/admin/robots", "/admin/robots/new", base + "/delete"} {
		if a := g.get(p); a.status != http.StatusForbidden {
			t.Errorf("GET %s as a user: %d, want 403", p, a.status)
		}
	}
	gtok := g.token("/account/password")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/admin/robots", formOf(gtok, "name", "sneaky", "project", "repository:pull")},
		{base + "/disable", formOf(gtok, "disable", "true")},
		{base + "/secret", formOf(gtok)},
		{base + "/delete", formOf(gtok)},
	} {
		mustContain(t, g.do(http.MethodPost, c.path, c.form), http.StatusForbidden)
	}
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$ci", secret)); a.status != http.StatusOK {
		t.Errorf("after the user's posts, the robot's secret: %d", a.status)
	}
	if a := b.get("/admin/robots"); strings.Contains(a.body, "sneaky") || strings.Contains(a.body, "Disabled") {
		t.Errorf("the user's posts changed the robots:\n%s", a.body)
	}

	// Disable and enable.
	if a := b.do(http.MethodPost, base+"/disable", formOf(tok, "disable", "true")); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/robots?done=disabled" {
		t.Fatalf("disable: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	mustContain(t, b.get("/admin/robots?done=disabled"), http.StatusOK, "The robot account was disabled.", "Disabled", ">Enable<")
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$ci", secret)); a.status != http.StatusUnauthorized {
		t.Errorf("a disabled robot at /v2/: %d", a.status)
	}
	if a := b.do(http.MethodPost, base+"/disable", formOf(tok, "disable", "false")); a.status != http.StatusSeeOther {
		t.Fatalf("enable: %d\n%s", a.status, a.body)
	}
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$ci", secret)); a.status != http.StatusOK {
		t.Errorf("an enabled robot at /v2/: %d", a.status)
	}
	// Its permissions stayed through the change.
	mustContain(t, b.get("/admin/robots"), http.StatusOK, "System — robot: list", "All projects — repository: pull, push")

	// A new secret: the old one stops working.
	a = b.do(http.MethodPost, base+"/secret", formOf(tok))
	mustContain(t, a, http.StatusOK, "New secret", "robot$ci")
	next := secretRE.FindStringSubmatch(a.body)[1]
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$ci", secret)); next == secret || a.status != http.StatusUnauthorized {
		t.Errorf("the old secret after a refresh: %d", a.status)
	}
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$ci", next)); a.status != http.StatusOK {
		t.Errorf("the new secret: %d", a.status)
	}

	// Delete, after the confirmation.
	mustContain(t, b.get(base+"/delete"), http.StatusOK, "Delete robot account robot$ci", `action="`+base+`/delete"`, `href="/admin/robots"`)
	if a := b.do(http.MethodPost, base+"/delete", formOf(tok)); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/robots?done=deleted" {
		t.Fatalf("delete: %d\n%s", a.status, a.body)
	}
	a = b.get("/admin/robots?done=deleted")
	mustContain(t, a, http.StatusOK, "The robot account was deleted.", "robot$one")
	if strings.Contains(a.body, "robot$ci") {
		t.Error("the deleted robot is still listed")
	}
	mustContain(t, b.get(base+"/delete"), http.StatusNotFound)
}

type apiScanner struct {
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	Disabled  bool   `json:"disabled"`
	IsDefault bool   `json:"is_default"`
	Health    string `json:"health"`
}

// scanners are the scanner registrations by name, from the API.
func scanners(t *testing.T, b *browser) map[string]apiScanner {
	t.Helper()
	var rs []apiScanner
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/scanners?page_size=100", nil, http.StatusOK)), &rs); err != nil {
		t.Fatal(err)
	}
	out := map[string]apiScanner{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

// TestScanners: an administrator adds a scanner (Berth's own adapter at /scanner, pinged
// first; an unreachable one is refused on the form), makes it the default, disables and
// enables one, deletes one after a confirmation; reads the vulnerability database's state;
// scans every artifact now and sees the run's progress, schedules scan-all daily and stops it.
// A user who is no administrator is offered nothing and their forged posts change nothing.
func TestScanners(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("scanners")
	tok := b.token("/admin/scanners")
	builtin := scanners(t, b)["Berth"]
	mustContain(t, b.get("/admin/scanners"), http.StatusOK, "<code>builtin://berth</code>", "Healthy", "Default", "built in",
		"Missing", "0 vulnerabilities", "No scan of every artifact has run yet.", "No schedule: every artifact is scanned only when started here.")

	// Add: the service's ping refuses an adapter that does not answer.
	mustContain(t, b.get("/admin/scanners/new"), http.StatusOK, `<option value="X-ScannerAdapter-API-Key">`)
	a := b.do(http.MethodPost, "/admin/scanners", formOf(tok, "name", "nowhere", "url", "http://127.0.0.1:1", "auth", ""))
	mustContain(t, a, http.StatusBadRequest, "Ping:", `value="nowhere"`, `id="form-error"`)
	mustContain(t, b.do(http.MethodPost, "/admin/scanners", formOf(tok, "name", "", "url", b.base+"/scanner")), http.StatusBadRequest, "Name is required.")
	a = b.do(http.MethodPost, "/admin/scanners", formOf(tok, "name", "Berth over HTTP", "description", "the same Berth, as an adapter",
		"url", b.base+"/scanner", "auth", "Basic", "access_credential", "admin:"+adminPassword))
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/scanners?done=created" {
		t.Fatalf("add: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	remote := scanners(t, b)["Berth over HTTP"]
	if remote.UUID == "" || remote.URL != b.base+"/scanner" || remote.IsDefault || remote.Health != "healthy" {
		t.Fatalf("the added scanner through the API: %+v", remote)
	}
	a = b.get("/admin/scanners?done=created")
	mustContain(t, a, http.StatusOK, "The scanner was added.", "Berth over HTTP", "the same Berth, as an adapter",
		`action="/admin/scanners/`+remote.UUID+`/default"`, `href="/admin/scanners/`+remote.UUID+`/delete"`)
	if strings.Contains(a.body, adminPassword) {
		t.Error("the page shows the scanner's credential")
	}
	if strings.Contains(a.body, `href="/admin/scanners/`+builtin.UUID+`/delete"`) || strings.Contains(a.body, `action="/admin/scanners/`+builtin.UUID+`/disable"`) {
		t.Error("the built-in scanner is offered for deletion or disabling")
	}
	if a := b.get("/admin/scanners?filter=over"); strings.Contains(a.body, "builtin://berth") || !strings.Contains(a.body, "Berth over HTTP") {
		t.Errorf("the filter over:\n%s", a.body)
	}

	// A user who is no administrator: no page, and forged posts change nothing.
	for _, p := range []string{"/admin/scanners", "/admin/scanners/new", "/admin/scanners/" + remote.UUID + "/delete"} {
		if a := g.get(p); a.status != http.StatusForbidden {
			t.Errorf("GET %s as a user: %d, want 403", p, a.status)
		}
	}
	gtok := g.token("/account/password")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/admin/scanners", formOf(gtok, "name", "forged", "url", b.base+"/scanner", "auth", "Basic", "access_credential", "admin:"+adminPassword)},
		{"/admin/scanners/" + remote.UUID + "/default", formOf(gtok)},
		{"/admin/scanners/" + remote.UUID + "/disable", formOf(gtok, "disable", "true")},
		{"/admin/scanners/" + remote.UUID + "/delete", formOf(gtok)},
		{"/admin/scan-all", formOf(gtok)},
		{"/admin/scan-all/schedule", formOf(gtok, "type", "Daily", "time", "03:00")},
		{"/admin/scan-all/stop", formOf(gtok)},
	} {
		mustContain(t, g.do(http.MethodPost, c.path, c.form), http.StatusForbidden)
	}
	if rs := scanners(t, b); len(rs) != 2 || rs["Berth over HTTP"].Disabled || !rs["Berth"].IsDefault {
		t.Errorf("the user's posts changed the scanners: %+v", rs)
	}
	if s := b.api(http.MethodGet, "/system/scanAll/schedule", nil, http.StatusOK); !strings.Contains(s, `"type":"None"`) {
		t.Errorf("the user's post scheduled scan-all: %s", s)
	}
	if m := b.api(http.MethodGet, "/scans/all/metrics", nil, http.StatusOK); !strings.Contains(m, `"ongoing":false`) || !strings.Contains(m, `"total":0`) || strings.Contains(m, "trigger") {
		t.Errorf("the user's post started scan-all: %s", m)
	}

	// Default, disable (refused for the default), enable.
	if a := b.do(http.MethodPost, "/admin/scanners/"+remote.UUID+"/default", formOf(tok)); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/scanners?done=default" {
		t.Fatalf("set default: %d\n%s", a.status, a.body)
	}
	if rs := scanners(t, b); !rs["Berth over HTTP"].IsDefault || rs["Berth"].IsDefault {
		t.Errorf("after set default: %+v", rs)
	}
	mustContain(t, b.do(http.MethodPost, "/admin/scanners/"+remote.UUID+"/disable", formOf(tok, "disable", "true")), http.StatusBadRequest,
		"can not be marked to deactivated", "Interrogation services")
	b.do(http.MethodPost, "/admin/scanners/"+builtin.UUID+"/default", formOf(tok))
	if a := b.do(http.MethodPost, "/admin/scanners/"+remote.UUID+"/disable", formOf(tok, "disable", "true")); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/scanners?done=disabled" {
		t.Fatalf("disable: %d\n%s", a.status, a.body)
	}
	if rs := scanners(t, b); !rs["Berth over HTTP"].Disabled || !rs["Berth"].IsDefault {
		t.Errorf("after disable: %+v", rs)
	}
	mustContain(t, b.get("/admin/scanners?done=disabled"), http.StatusOK, "The scanner was disabled.", "Disabled", ">Enable<")
	b.do(http.MethodPost, "/admin/scanners/"+remote.UUID+"/disable", formOf(tok, "disable", "false"))
	if rs := scanners(t, b); rs["Berth over HTTP"].Disabled || rs["Berth over HTTP"].Health != "healthy" {
		t.Errorf("after enable (the credential kept): %+v", rs)
	}

	// Scan all: stop before any run is the service's refusal; run now; the progress.
	mustContain(t, b.do(http.MethodPost, "/admin/scan-all/stop", formOf(tok)), http.StatusBadRequest, "No scan all job is found currently.")
	b.push("scanners/app", "v1")
	if a := b.do(http.MethodPost, "/admin/scan-all", formOf(tok)); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/scanners?done=started" {
		t.Fatalf("scan all now: %d\n%s", a.status, a.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := b.api(http.MethodGet, "/scans/all/metrics", nil, http.StatusOK)
		if strings.Contains(m, `"ongoing":false`) && strings.Contains(m, `"completed":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan-all did not end: %s", m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a = b.get("/admin/scanners")
	mustContain(t, a, http.StatusOK, "started by hand", "1 of 1 artifacts scanned", `<meter min="0" max="1" value="1">`)
	if !regexp.MustCompile(`Latest run: <strong>Success</strong>`).MatchString(a.body) {
		t.Errorf("the run is not shown as ended well:\n%s", a.body)
	}
	if a := b.do(http.MethodPost, "/admin/scan-all/stop", formOf(tok)); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/scanners?done=stopped" {
		t.Errorf("stop after the run ended: %d\n%s", a.status, a.body)
	}

	// The schedule: Daily at 03:00 is the API's cron; a cron firing every second is refused.
	if a := b.do(http.MethodPost, "/admin/scan-all/schedule", formOf(tok, "type", "Daily", "time", "03:00")); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/scanners?done=scheduled" {
		t.Fatalf("schedule: %d\n%s", a.status, a.body)
	}
	if s := b.api(http.MethodGet, "/system/scanAll/schedule", nil, http.StatusOK); !strings.Contains(s, `"type":"Daily"`) || !strings.Contains(s, `"cron":"0 0 3 * * *"`) {
		t.Errorf("the scan-all schedule through the API: %s", s)
	}
	mustContain(t, b.get("/admin/scanners?done=scheduled"), http.StatusOK, "The scan-all schedule was saved.", "Current schedule: Daily (cron 0 0 3 * * *)", `value="03:00"`)
	mustContain(t, b.do(http.MethodPost, "/admin/scan-all/schedule", formOf(tok, "type", "Custom", "cron", "* * * * * *")), http.StatusBadRequest,
		"runs more than once a minute", `value="* * * * * *"`)
	b.do(http.MethodPost, "/admin/scan-all/schedule", formOf(tok, "type", "None"))
	if s := b.api(http.MethodGet, "/system/scanAll/schedule", nil, http.StatusOK); !strings.Contains(s, `"type":"None"`) {
		t.Errorf("after None: %s", s)
	}

	// Delete, after the confirmation.
	mustContain(t, b.get("/admin/scanners/"+remote.UUID+"/delete"), http.StatusOK, "Delete scanner Berth over HTTP", "This cannot be undone.")
	if a := b.do(http.MethodPost, "/admin/scanners/"+remote.UUID+"/delete", formOf(tok)); a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/scanners?done=deleted" {
		t.Fatalf("delete: %d\n%s", a.status, a.body)
	}
	if rs := scanners(t, b); len(rs) != 1 {
		t.Errorf("after the deletion: %+v", rs)
	}
	mustContain(t, b.get("/admin/scanners/"+remote.UUID+"/delete"), http.StatusNotFound)
	// The built-in scanner cannot go: the service's refusal.
	mustContain(t, b.do(http.MethodPost, "/admin/scanners/"+builtin.UUID+"/delete", formOf(tok)), http.StatusForbidden, "immutable")
}
