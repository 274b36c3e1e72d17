package portal_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// api calls /api/v2.0 as admin with a JSON body, and fails the test unless it answers want.
func (b *browser) api(method, path string, body any, want int) string {
	b.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		b.t.Fatal(err)
	}
	req, err := http.NewRequest(method, b.base+"/api/v2.0"+path, strings.NewReader(string(raw)))
	if err != nil {
		b.t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	var out strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if res.StatusCode != want {
		b.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, out.String())
	}
	return out.String()
}

const guestPassword = "Guest12345"

// withGuest creates project name and a user "guest" who is a guest member of it, and returns a
// browser signed in as that user.
func (b *browser) withGuest(project string) *browser {
	b.t.Helper()
	b.api(http.MethodPost, "/projects", map[string]any{"project_name": project}, http.StatusCreated)
	b.api(http.MethodPost, "/users", map[string]any{"username": "guest", "email": "guest@example.com", "realname": "Guest", "password": guestPassword}, http.StatusCreated)
	b.api(http.MethodPost, "/projects/"+project+"/members", map[string]any{"role_id": 3, "member_user": map[string]any{"username": "guest"}}, http.StatusCreated)
	g := newBrowser(b.t, b.base)
	if a := g.login("guest", guestPassword); a.status != http.StatusSeeOther {
		b.t.Fatalf("guest login: %d\n%s", a.status, a.body)
	}
	return g
}

func mustContain(t *testing.T, a answer, status int, texts ...string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%d, want %d:\n%s", a.status, status, a.body)
	}
	for _, s := range texts {
		// Markup as it is, or text as the page escapes it.
		if !strings.Contains(a.body, s) && !strings.Contains(a.body, html.EscapeString(s)) {
			t.Fatalf("no %q in:\n%s", s, a.body)
		}
	}
	checkPage(t, a.body)
}

// TestConfiguration: the form shows and saves the project's metadata and CVE allowlist through
// the project service; the service's refusals are shown on the form; a guest is offered
// nothing and a forged post from one changes nothing.
func TestConfiguration(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("conf")
	a := b.get("/projects/conf/configuration")
	mustContain(t, a, http.StatusOK, "Automatically scan images on push", "Prevent vulnerable images from running", `href="/projects/conf/members"`, `href="/projects/conf/robots"`)
	tok := b.token("/projects/conf/configuration")
	form := url.Values{"csrf": {tok}, "auto_scan": {"on"}, "prevent_vul": {"on"}, "severity": {"high"},
		"allowlist": {"CVE-2021-44228\nCVE-2022-0001"}, "allowlist_expires": {"2030-01-31"}}
	if a := b.do(http.MethodPost, "/projects/conf/configuration", form); a.status != http.StatusSeeOther || a.header.Get("Location") != "/projects/conf/configuration?saved=1" {
		t.Fatalf("save: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	md := b.api(http.MethodGet, "/projects/conf", nil, http.StatusOK)
	for _, want := range []string{`"auto_scan":"true"`, `"prevent_vul":"true"`, `"severity":"high"`, `"public":"false"`, `"cve_id":"CVE-2022-0001"`, `"expires_at":1896134399`} {
		if !strings.Contains(md, want) {
			t.Errorf("saved project lacks %s: %s", want, md)
		}
	}
	a = b.get("/projects/conf/configuration?saved=1")
	mustContain(t, a, http.StatusOK, "The configuration was saved.", `id="auto_scan" name="auto_scan" checked`, `<option value="high" selected>`, "CVE-2022-0001", `value="2030-01-31"`)

	// The service's validation, on the form with what was typed.
	for _, c := range []struct {
		field, value, msg string
	}{
		{"severity", "extreme", `Invalid value "extreme" for metadata severity`},
		{"allowlist", "CVE-1 CVE-1", "Duplicate CVE ID in allowlist: CVE-1."},
		{"allowlist", "not<an>id", `Invalid CVE ID "not<an>id"`},
		{"allowlist_expires", "soon", "is not a date"},
	} {
		f := url.Values{"csrf": {tok}, "severity": {"low"}}
		f.Set(c.field, c.value)
		a := b.do(http.MethodPost, "/projects/conf/configuration", f)
		mustContain(t, a, http.StatusBadRequest, c.msg)
	}
	// Nothing of the refused posts was saved.
	if md := b.api(http.MethodGet, "/projects/conf", nil, http.StatusOK); !strings.Contains(md, `"severity":"high"`) {
		t.Errorf("a refused post changed the project: %s", md)
	}

	// A wrong token is refused.
	if a := b.do(http.MethodPost, "/projects/conf/configuration", url.Values{"csrf": {"forged"}}); a.status != http.StatusForbidden {
		t.Errorf("a post with a wrong token: %d", a.status)
	}

	// The guest: the project page offers no configuration tab, the configuration page is
	// refused, and a post with the guest's own valid token is refused and changes nothing.
	a = g.get("/projects/conf")
	mustContain(t, a, http.StatusOK, "conf")
	if strings.Contains(a.body, "/configuration") || strings.Contains(a.body, "Delete project") {
		t.Errorf("the guest is offered the configuration or deletion:\n%s", a.body)
	}
	if a := g.get("/projects/conf/configuration"); a.status != http.StatusForbidden {
		t.Errorf("the guest reads the configuration: %d", a.status)
	}
	gtok := g.token("/account/password")
	a = g.do(http.MethodPost, "/projects/conf/configuration", url.Values{"csrf": {gtok}, "public": {"on"}, "severity": {"none"}})
	mustContain(t, a, http.StatusForbidden, "You do not have permission to do this.")
	if md := b.api(http.MethodGet, "/projects/conf", nil, http.StatusOK); !strings.Contains(md, `"public":"false"`) || !strings.Contains(md, `"severity":"high"`) {
		t.Errorf("the guest's post changed the project: %s", md)
	}
}
