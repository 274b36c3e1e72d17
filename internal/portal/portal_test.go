package portal_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/server"
)

const adminPassword = "Harbor12345"

// browser is a test client of a whole Berth server: it keeps cookies and does not follow
// redirects, so that each answer can be checked.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newServer(t *testing.T) *browser {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = adminPassword
	cfg.VulnDBUpdateInterval = 0
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return newBrowser(t, ts.URL)
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, header ...string) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(raw)}
}

func (b *browser) get(path string) answer { b.t.Helper(); return b.do(http.MethodGet, path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// token is the CSRF token of the first form on the page at path.
func (b *browser) token(path string) string {
	b.t.Helper()
	a := b.get(path)
	m := csrfRE.FindStringSubmatch(a.body)
	if m == nil {
		b.t.Fatalf("GET %s: no form with a CSRF token in %d %s", path, a.status, a.body)
	}
	return m[1]
}

func (b *browser) login(user, password string) answer {
	b.t.Helper()
	return b.do(http.MethodPost, "/login", url.Values{"csrf": {b.token("/login")}, "principal": {user}, "password": {password}})
}

func (b *browser) signedIn() *browser {
	b.t.Helper()
	if a := b.login("admin", adminPassword); a.status != http.StatusSeeOther || a.header.Get("Location") != "/projects" {
		b.t.Fatalf("login: %d %s", a.status, a.header.Get("Location"))
	}
	return b
}

// TestPagesRender: every page renders for a signed-in administrator, as valid HTML with no
// inline script or style (the page policy allows neither), a label for every control, and the
// right status.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	for _, c := range []struct {
		path   string
		status int
		text   string
	}{
		{"/projects", http.StatusOK, "library"},
		{"/projects?sort=-name&filter=lib", http.StatusOK, "library"},
		{"/projects/new", http.StatusOK, "New project"},
		{"/projects/library", http.StatusOK, "This project has no repositories yet."},
		{"/projects/library/delete", http.StatusOK, "This cannot be undone."},
		{"/account", http.StatusOK, "CLI secret"},
		{"/account/password", http.StatusOK, "Repeat the new password"},
		{"/no/such/page", http.StatusNotFound, "There is no page at /no/such/page."},
		{"/projects/nothere", http.StatusNotFound, "Project nothere not found."},
		{"/projects?sort=owner_id", http.StatusBadRequest, "cannot be sorted by"},
		{"/projects?page=0", http.StatusBadRequest, "page number"},
	} {
		t.Run(c.path, func(t *testing.T) {
			a := b.get(c.path)
			if a.status != c.status || !strings.Contains(a.body, html.EscapeString(c.text)) {
				t.Fatalf("GET %s: %d, want %d with %q:\n%s", c.path, a.status, c.status, c.text, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			checkPage(t, a.body)
		})
	}
	// Anonymous callers see the login form, and are sent to it from pages that need a user.
	anon := newBrowser(t, b.base)
	checkPage(t, anon.get("/login").body)
	if a := anon.get("/account"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/login?next=%2Faccount" {
		t.Errorf("GET /account anonymously: %d to %q", a.status, a.header.Get("Location"))
	}
}

// checkPage fails on inline scripts and styles, and on controls without a label.
func checkPage(t *testing.T, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	var controls []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		attr := map[string]string{}
		for _, a := range n.Attr {
			attr[a.Key] = a.Val
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s %s=%q>: inline style or script", n.Data, a.Key, a.Val)
			}
		}
		switch n.Data {
		case "script":
			if n.FirstChild != nil || attr["src"] == "" {
				t.Errorf("an inline <script>")
			}
		case "style":
			t.Errorf("an inline <style>")
		case "label":
			labels[attr["for"]] = true
		case "input", "select", "textarea":
			if typ := attr["type"]; typ != "hidden" && attr["hidden"] == "" && !hasKey(n, "hidden") {
				controls = append(controls, attr["id"])
			}
		}
	}
	for _, id := range controls {
		if id == "" || !labels[id] {
			t.Errorf("a control without a label (id %q)", id)
		}
	}
}

func hasKey(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// TestFormsNeedTheSessionsToken: a post without the session's CSRF token, or without a
// session, is refused with 403 and changes nothing; with it, it acts.
func TestFormsNeedTheSessionsToken(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	for _, c := range []struct {
		name string
		who  *browser
		csrf string
	}{
		{"no token", b, ""},
		{"a wrong token", b, "forged"},
		{"no session", newBrowser(t, b.base), b.token("/projects/new")},
	} {
		a := c.who.do(http.MethodPost, "/projects", url.Values{"csrf": {c.csrf}, "name": {"forged"}})
		if a.status != http.StatusForbidden || !strings.Contains(a.body, "nothing was changed") {
			t.Errorf("%s: %d, want 403 saying nothing was changed:\n%s", c.name, a.status, a.body)
		}
		checkPage(t, a.body)
	}
	if a := b.get("/projects/forged"); a.status != http.StatusNotFound {
		t.Fatalf("a project was created by a refused post: %d", a.status)
	}
	tok := b.token("/projects/new")
	if a := b.do(http.MethodPost, "/projects", url.Values{"csrf": {tok}, "name": {"real"}}); a.status != http.StatusSeeOther || a.header.Get("Location") != "/projects/real" {
		t.Fatalf("create with the token: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	// The service's validation message, on the form.
	a := b.do(http.MethodPost, "/projects", url.Values{"csrf": {tok}, "name": {"real"}})
	if a.status != http.StatusConflict || !strings.Contains(a.body, "The project named real already exists.") {
		t.Errorf("a taken name: %d\n%s", a.status, a.body)
	}
	// Deleting goes through the same check.
	if a := b.do(http.MethodPost, "/projects/real/delete", url.Values{"csrf": {"x"}}); a.status != http.StatusForbidden {
		t.Errorf("delete with a wrong token: %d", a.status)
	}
	if a := b.do(http.MethodPost, "/projects/real/delete", url.Values{"csrf": {tok}}); a.status != http.StatusSeeOther {
		t.Errorf("delete with the token: %d\n%s", a.status, a.body)
	}
	// Logging out needs the token too, and ends the session.
	if a := b.do(http.MethodPost, "/logout", url.Values{"csrf": {tok}}); a.status != http.StatusSeeOther {
		t.Errorf("logout: %d", a.status)
	}
	if a := b.get("/projects/new"); a.status != http.StatusSeeOther {
		t.Errorf("after logout: %d, want a redirect to the login page", a.status)
	}
}

// TestLoginErrors: the login form says what went wrong, keeps only local next paths, and
// reports the throttle's lockout with Retry-After.
func TestLoginErrors(t *testing.T) {
	t.Parallel()
	b := newServer(t)
	if a := b.do(http.MethodPost, "/login", url.Values{"principal": {"admin"}, "password": {adminPassword}}); a.status != http.StatusForbidden {
		t.Errorf("a login post without the form's token: %d, want 403", a.status)
	}
	for _, c := range []struct{ next, to string }{
		{"/projects/library", "/projects/library"},
		{"//evil.example/x", "/projects"},
		{"https://evil.example/", "/projects"},
		{`/\evil.example`, "/projects"},
	} {
		nb := newBrowser(t, b.base)
		tok := nb.token("/login?next=" + url.QueryEscape(c.next))
		a := nb.do(http.MethodPost, "/login", url.Values{"csrf": {tok}, "principal": {"admin"}, "password": {adminPassword}, "next": {c.next}})
		if a.status != http.StatusSeeOther || a.header.Get("Location") != c.to {
			t.Errorf("login with next=%q: %d to %q, want %q", c.next, a.status, a.header.Get("Location"), c.to)
		}
	}
	a := b.login("admin", "wrong")
	if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "Invalid user name, e-mail address or password.") {
		t.Fatalf("a wrong password: %d\n%s", a.status, a.body)
	}
	checkPage(t, a.body)
	for range 10 {
		if a = b.login("admin", "wrong"); a.status == http.StatusTooManyRequests {
			break
		}
	}
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "try again in") {
		t.Errorf("repeated wrong passwords: %d, Retry-After %q\n%s", a.status, a.header.Get("Retry-After"), a.body)
	}
}

// TestChangePassword: the user service's rules, and the session that made the change stays.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	tok := b.token("/account/password")
	for _, c := range []struct {
		old, next, repeat string
		status            int
		msg               string
	}{
		{adminPassword, "Abcdefg1x", "Abcdefg1y", http.StatusBadRequest, "differ"},
		{"wrong", "Abcdefg1x", "Abcdefg1x", http.StatusForbidden, "Current password is incorrect."},
		{adminPassword, "short", "short", http.StatusBadRequest, "The password or secret must be longer"},
	} {
		a := b.do(http.MethodPost, "/account/password", url.Values{"csrf": {tok}, "old_password": {c.old}, "new_password": {c.next}, "repeat_password": {c.repeat}})
		if a.status != c.status || !strings.Contains(a.body, html.EscapeString(c.msg)) {
			t.Errorf("change %q to %q/%q: %d, want %d with %q\n%s", c.old, c.next, c.repeat, a.status, c.status, c.msg, a.body)
		}
	}
	a := b.do(http.MethodPost, "/account/password", url.Values{"csrf": {tok}, "old_password": {adminPassword}, "new_password": {"Abcdefg1x"}, "repeat_password": {"Abcdefg1x"}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("change: %d\n%s", a.status, a.body)
	}
	if a := b.get("/account?changed=password"); a.status != http.StatusOK || !strings.Contains(a.body, "Your password was changed.") {
		t.Errorf("after the change: %d", a.status)
	}
}

// TestStaticAssets: a hashed URL is cached for a year, others revalidate with the ETag; text
// is gzipped for clients that take it.
func TestStaticAssets(t *testing.T) {
	t.Parallel()
	b := newServer(t)
	m := regexp.MustCompile(`href="(/static/portal\.css\?v=([0-9a-f]+))"`).FindStringSubmatch(b.get("/login").body)
	if m == nil {
		t.Fatal("the login page links no hashed stylesheet")
	}
	a := b.do(http.MethodGet, m[1], nil, "Accept-Encoding", "gzip")
	if a.status != http.StatusOK || a.header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		a.header.Get("ETag") != `"`+m[2]+`"` || a.header.Get("Content-Encoding") != "gzip" || a.header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("GET %s: %d %v", m[1], a.status, a.header)
	}
	if a := b.do(http.MethodGet, "/static/portal.css", nil, "If-None-Match", `"`+m[2]+`"`); a.status != http.StatusNotModified {
		t.Errorf("revalidation: %d", a.status)
	}
	a = b.do(http.MethodGet, "/static/portal.css", nil, "Accept-Encoding", "identity")
	if a.header.Get("Cache-Control") != "no-cache" || a.header.Get("Content-Encoding") != "" || !strings.Contains(a.body, "prefers-color-scheme: dark") {
		t.Errorf("unhashed GET: %v", a.header)
	}
	if a := b.get("/static/nothing.js"); a.status != http.StatusNotFound {
		t.Errorf("a missing asset: %d", a.status)
	}
}

// TestPagesCompressedAndTokensMasked: a browser that takes gzip gets pages compressed; the
// CSRF token in the forms is written differently on every page (so compression cannot give it
// away) and every one of its writings is accepted, while a tampered one is refused.
func TestPagesCompressedAndTokensMasked(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	a := b.do(http.MethodGet, "/projects", nil, "Accept-Encoding", "gzip")
	if a.status != http.StatusOK || a.header.Get("Content-Encoding") != "gzip" || !strings.Contains(a.header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("page for a gzip client: %d, headers %v", a.status, a.header)
	}
	zr, err := gzip.NewReader(strings.NewReader(a.body))
	if err != nil {
		t.Fatal(err)
	}
	html, err := io.ReadAll(zr)
	if err != nil || !strings.Contains(string(html), "<h1>Projects</h1>") {
		t.Fatalf("the compressed page: %v\n%.300s", err, html)
	}
	if plain := b.get("/projects"); plain.header.Get("Content-Encoding") != "" || !strings.Contains(plain.body, "<h1>Projects</h1>") {
		t.Fatalf("page for a client without gzip: headers %v", plain.header)
	}

	first, second := b.token("/account"), b.token("/account")
	if first == second {
		t.Fatalf("the same CSRF token twice: %q", first)
	}
	// One character of the token's second half (the token XORed with the pad) changed; the
	// last character is left alone, as base64 ignores some of its bits.
	tampered := []byte(first)
	if i := len(tampered) * 3 / 4; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	for i, c := range []struct {
		name, token string
		want        int
	}{
		{"a tampered token", string(tampered), http.StatusForbidden},
		{"no token", "", http.StatusForbidden},
		{"the first page's token", first, http.StatusSeeOther},
		{"the second page's token", second, http.StatusSeeOther},
	} {
		form := url.Values{"csrf": {c.token}, "name": {fmt.Sprintf("masked-%d", i)}}
		if got := b.do(http.MethodPost, "/projects", form); got.status != c.want {
			t.Errorf("new project with %s: %d, want %d", c.name, got.status, c.want)
		}
	}
}
