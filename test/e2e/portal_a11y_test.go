//go:build e2e

package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, the accessibility checker, fetched by scripts/fetch-axe.sh: test data
// only, never served by Berth.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// axeViolations runs axe-core on the loaded page and returns its serious and critical
// violations, each as "rule (impact): help — element: what fails".
const axeViolations = `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(
	r.violations.filter(v => v.impact === "serious" || v.impact === "critical").flatMap(v =>
		v.nodes.map(n => v.id + " (" + v.impact + "): " + v.help + " — " + n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\s+/g, " ")))))`

// a11yPageLimit bounds the crawl: one page of each kind is far fewer.
const a11yPageLimit = 150

// TestPortalAccessibility crawls every portal page an administrator reaches by following links
// (one page of each kind: paths that differ only in ids or digests count once; forms are not
// submitted), plus the login and not-found pages, and runs axe-core inside Chromium on each, in
// the light and the dark theme: no serious or critical violation is allowed.
func TestPortalAccessibility(t *testing.T) {
	ctx := newBrowser(t)
	srv := startServer(t, serverOptions{})
	portalContent(t, srv)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: axeSource}); err != nil {
		t.Fatal(err)
	}
	dir := t.ArtifactDir()
	w := &walk{t: t, ctx: ctx, base: srv.URL, dir: dir}

	w.step("signed in", chromedp.Navigate(srv.URL+"/login"), login(srv.User, srv.Password),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	setTheme(t, ctx, "light")
	checkLoginPage(t, ctx, srv.URL, "light")
	// The light theme is checked as the crawl goes, the dark one on a second pass, each page
	// with its screenshot.
	pages := crawlPortal(t, w, "/projects", "/no/such/page")
	t.Logf("checked %d pages in the light theme", len(pages))
	if len(pages) < 20 {
		t.Fatalf("the crawl reached only %d pages: %v", len(pages), pages)
	}
	setTheme(t, ctx, "dark")
	checkLoginPage(t, ctx, srv.URL, "dark")
	for _, p := range pages {
		w.step("dark "+p, chromedp.Navigate(srv.URL+p))
		for _, v := range runAxe(t, ctx) {
			t.Errorf("%s (dark theme): %s", p, v)
		}
	}
}

// setTheme makes the browser prefer the light or the dark colour scheme.
func setTheme(t *testing.T, ctx context.Context, theme string) {
	t.Helper()
	if err := chromedp.Do(ctx, colorScheme(theme)); err != nil {
		t.Fatal(err)
	}
}

func runAxe(t *testing.T, ctx context.Context) []string {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	raw, err := chromedp.Run(actx, chromedp.Evaluate[string](axeViolations, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	var out []string
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("axe-core's answer %q: %v", raw, err)
	}
	return out
}

// checkLoginPage runs axe-core on the login page in a browser context without a session.
func checkLoginPage(t *testing.T, browser context.Context, base, theme string) {
	t.Helper()
	lctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancel()
	if err := chromedp.Do(lctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(lctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: axeSource}); err != nil {
		t.Fatal(err)
	}
	setTheme(t, lctx, theme)
	sctx, scancel := context.WithTimeout(lctx, stepTimeout)
	defer scancel()
	if err := chromedp.Do(sctx, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("principal"))); err != nil {
		t.Fatal(err)
	}
	for _, v := range runAxe(t, lctx) {
		t.Errorf("/login (%s theme): %s", theme, v)
	}
}

// kindOf is a page's kind: its path with ids and digests blanked, so that one page of each
// kind is checked (the same list sorted or filtered is the same kind).
var (
	digestSeg = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	numberSeg = regexp.MustCompile(`/[0-9]+(/|$)`)
)

func kindOf(p string) string {
	u, err := url.Parse(p)
	if err != nil {
		return p
	}
	k := digestSeg.ReplaceAllString(u.Path, "{digest}")
	return numberSeg.ReplaceAllString(k, "/{n}$1")
}

// crawlPortal follows the portal's links from start, breadth first, runs axe-core on each page
// it reaches, and returns one path of each page kind. Only links to this server are followed
// (never another host), never the static assets.
func crawlPortal(t *testing.T, w *walk, start ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range start {
		seen[kindOf(p)] = true
	}
	queue := slices.Clone(start)
	var pages []string
	for len(queue) > 0 && len(pages) < a11yPageLimit {
		p := queue[0]
		queue = queue[1:]
		ctx, cancel := context.WithTimeout(w.ctx, stepTimeout)
		err := chromedp.Do(ctx, chromedp.Navigate(w.base+p))
		var links []string
		if err == nil {
			links, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`document.contentType === "text/html" ? [...document.querySelectorAll("a[href]")].map(a => a.href) : null`))
		}
		cancel()
		if err != nil {
			t.Fatalf("crawl %s: %v", p, err)
		}
		if links == nil {
			continue // not a page: a download
		}
		pages = append(pages, p)
		for _, v := range runAxe(t, w.ctx) {
			t.Errorf("%s (light theme): %s", p, v)
		}
		for _, l := range links {
			u, err := url.Parse(l)
			if err != nil || !strings.HasPrefix(l, w.base+"/") || strings.HasPrefix(u.Path, "/static/") {
				continue
			}
			u.Fragment = ""
			rel := strings.TrimPrefix(u.String(), w.base)
			if k := kindOf(rel); !seen[k] {
				seen[k] = true
				queue = append(queue, rel)
			}
		}
	}
	return pages
}

// portalContent fills the server with what the portal's pages show: a project that scans on
// push with a scanned image holding a known advisory, a robot account, a guest member, a
// second user, a finished garbage collection.
func portalContent(t *testing.T, srv *server) {
	t.Helper()
	c := srv.admin()
	importOSV(t, srv, "GHSA-69ch-w2m2-3vjp", goTextAdvisory)
	password := newPassword("Visitor")
	for _, req := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/v2.0/projects", `{"project_name":"myproject","metadata":{"auto_scan":"true","prevent_vul":"true","severity":"high"}}`},
		{http.MethodPost, "/api/v2.0/users", `{"username":"visitor","email":"visitor@example.com","realname":"Visitor","password":"` + password + `"}`},
		{http.MethodPost, "/api/v2.0/projects/myproject/members", `{"role_id":3,"member_user":{"username":"visitor"}}`},
		{http.MethodPost, "/api/v2.0/robots", `{"name":"ci-pipeline","level":"project","duration":30,"permissions":[{"kind":"project","namespace":"myproject","access":[{"resource":"repository","action":"push"},{"resource":"repository","action":"pull"}]}]}`},
		{http.MethodPost, "/api/v2.0/system/gc/schedule", `{"schedule":{"type":"Manual"},"parameters":{"delete_untagged":true}}`},
	} {
		if res := c.do(t, req.method, req.path, []byte(req.body), "Content-Type", "application/json"); res.Status != http.StatusCreated {
			t.Fatalf("%s %s: %s", req.method, req.path, res)
		}
	}
	mustPushImage(t, c, "myproject/app", "v1", goTextImage(t))
	mustPushImage(t, c, "myproject/tools", "latest", randomImage(t, 4<<10))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res := c.do(t, http.MethodGet, "/api/v2.0/projects/myproject/repositories/app/artifacts/v1?with_scan_overview=true", nil)
		if strings.Contains(string(res.Body), `"scan_status":"Success"`) {
			break
		}
		if time.Now().After(deadline) || strings.Contains(string(res.Body), `"scan_status":"Error"`) {
			t.Fatalf("scan on push: %s", res)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for {
		res := c.do(t, http.MethodGet, "/api/v2.0/system/gc", nil)
		if strings.Contains(string(res.Body), `"job_status":"Success"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("garbage collection did not end: %s", res))
		}
		time.Sleep(300 * time.Millisecond)
	}
}
