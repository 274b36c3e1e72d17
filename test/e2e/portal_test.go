//go:build e2e

package e2e

// The web portal in a real browser: headless Chromium from Debian's chromium package, driven
// with chromedp, walks the portal as a person would, and saves a screenshot per step in the
// test's artifact directory (kept with go test -artifacts; its path is logged).

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile. The flags keep it off the network
// beyond the server under test: the machines that run these tests have no other.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		skipOrFail(t, "no Chromium at %s: install Debian's chromium package (scripts/install-clients.sh, or apt-get install chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first call starts the browser, which lives as long as that call's context: no
	// timeout on this one; each step has its own (walk.step).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// stepTimeout bounds one step of the walk.
const stepTimeout = 30 * time.Second

// walk runs the browser's steps, each with a screenshot under dir.
type walk struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	n    int
}

// step runs actions, then saves a screenshot named after the step.
func (w *walk) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(tctx, chromedp.Location())
		body, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("main")))
		w.t.Fatalf("step %q: %v\nat %s: %s", name, err, loc, body)
	}
	w.n++
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		w.t.Fatalf("screenshot of %q: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, stepFile(w.n, name)), png, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// stepFile names a step's screenshot: 03-project-created.png.
func stepFile(n int, name string) string {
	return fmt.Sprintf("%02d-%s.png", n, strings.NewReplacer(" ", "-", "/", "-").Replace(strings.ToLower(name)))
}

// at checks the browser's path (and query) after a step.
func (w *walk) at(want string) {
	w.t.Helper()
	loc, err := chromedp.Run(w.ctx, chromedp.Location())
	if err != nil {
		w.t.Fatal(err)
	}
	if got := strings.TrimPrefix(loc, w.base); got != want {
		w.t.Fatalf("at %s, want %s", got, want)
	}
}

// text returns the text of the first element matching sel.
func (w *walk) text(sel string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		w.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// checked says whether the checkbox with id is ticked.
func (w *walk) checked(id string) bool {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, stepTimeout)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.JavascriptAttribute[bool](chromedp.ID(id), "checked"))
	if err != nil {
		w.t.Fatalf("checked of #%s: %v", id, err)
	}
	return b
}

// value is the value of the first control matching sel.
func (w *walk) value(sel string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		w.t.Fatalf("value of %s: %v", sel, err)
	}
	return s
}

// reloadUntil loads url again and again until something on it matches sel (what the server
// does on its own time, such as a scan, shows on the next load), then takes the step's
// screenshot.
func (w *walk) reloadUntil(name, url, sel string, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(w.ctx, stepTimeout)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		cancel()
		if err != nil {
			w.t.Fatalf("step %q: load %s: %v", name, url, err)
		}
		if w.present(sel) {
			break
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("step %q: %s does not show %s after %s: %s", name, url, sel, timeout, w.text("main"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	w.step(name)
}

// present says whether anything on the page matches sel.
func (w *walk) present(sel string) bool {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, stepTimeout)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
	if err != nil {
		w.t.Fatalf("query %s: %v", sel, err)
	}
	return n > 0
}

// guestWalk adds a user as a guest of myproject and, in a browser context of its own, checks
// that nothing that changes the project is offered to them and that a forged post with their
// own valid CSRF token is refused and changes nothing.
func guestWalk(t *testing.T, browser context.Context, srv *server) {
	t.Helper()
	password := newPassword("Guest")
	for _, c := range []struct{ path, body string }{
		{"/api/v2.0/users", `{"username":"visitor","email":"visitor@example.com","realname":"Visitor","password":"` + password + `"}`},
		{"/api/v2.0/projects/myproject/members", `{"role_id":3,"member_user":{"username":"visitor"}}`},
	} {
		if res := srv.admin().do(t, http.MethodPost, c.path, []byte(c.body), "Content-Type", "application/json"); res.Status != http.StatusCreated {
			t.Fatalf("POST %s: %s", c.path, res)
		}
	}
	gctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancel()
	if err := chromedp.Do(gctx); err != nil {
		t.Fatalf("a fresh browser context: %v", err)
	}
	w := &walk{t: t, ctx: gctx, base: srv.URL, dir: t.ArtifactDir(), n: 50}
	w.step("guest login", chromedp.Navigate(srv.URL+"/login"), login("visitor", password),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	w.step("guest project page", chromedp.Navigate(srv.URL+"/projects/myproject"),
		chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)))
	for _, sel := range []string{
		`a[href="/projects/myproject/configuration"]`, `a[href="/projects/myproject/delete"]`,
		`form[action^="/projects/myproject/"]`,
	} {
		if w.present(sel) {
			t.Errorf("the guest is offered %s", sel)
		}
	}
	for _, page := range []string{"members", "robots"} {
		w.step("guest "+page, chromedp.Navigate(srv.URL+"/projects/myproject/"+page),
			chromedp.WaitVisible(chromedp.CSS(`nav.tabs a[aria-current="page"]`)))
		if w.present(`main form[method="post"]`) || w.present(`a[href$="/delete"]`) || w.present(`a[href$="/new"]`) {
			t.Errorf("the guest is offered a form or a deletion on the %s page", page)
		}
	}
	if body := w.text("main"); !strings.Contains(body, "robot$myproject+ci-pipeline") {
		t.Errorf("the guest does not see the project's robot: %s", body)
	}
	w.step("guest refused the configuration", chromedp.Navigate(srv.URL+"/projects/myproject/configuration"),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Forbidden"]`)))
	if w.present(`#auto_scan`) {
		t.Error("the guest is offered the configuration form")
	}
	// A forged post: the guest's own session and valid token, from a page they can read.
	w.step("guest account", chromedp.Navigate(srv.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
	token := w.value(`form[action="/logout"] input[name="csrf"]`)
	got, err := chromedp.Call(gctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	sid := ""
	for _, c := range got.Cookies {
		if c.Name == "sid" {
			sid = c.Value
		}
	}
	form := url.Values{"csrf": {token}, "public": {"on"}, "severity": {"none"}}
	res := srv.anonymous().do(t, http.MethodPost, "/projects/myproject/configuration", []byte(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Cookie", "sid="+sid)
	if res.Status != http.StatusForbidden || !strings.Contains(string(res.Body), "You do not have permission") {
		t.Errorf("the guest's forged configuration post: %s, want 403", res)
	}
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/projects/myproject", nil); !strings.Contains(string(res.Body), `"public":"false"`) ||
		!strings.Contains(string(res.Body), `"severity":"high"`) {
		t.Errorf("myproject after the guest's forged post: %s", res)
	}
	w.step("guest logout", chromedp.Navigate(srv.URL+"/projects"), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)), logout())
}

// adminWalk goes through the administration as the signed-in administrator: schedules
// garbage collection daily at 02:00, runs it now and reads the run's log, creates a user, and
// searches for myproject from the header.
func adminWalk(t *testing.T, w *walk, srv *server) {
	t.Helper()
	w.step("administration", chromedp.Navigate(srv.URL+"/projects"), chromedp.Click(chromedp.CSS(`header a[href="/admin"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Administration"]`)))
	w.step("garbage collection", chromedp.Click(chromedp.CSS(`main a[href="/admin/gc"]`)), chromedp.WaitVisible(chromedp.ID("gc-type")))
	w.step("gc scheduled daily",
		chromedp.SetValue(chromedp.ID("gc-type"), "Daily"),
		chromedp.SetValue(chromedp.ID("gc-time"), "02:00"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/gc/schedule"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/gc?done=scheduled")
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/system/gc/schedule", nil); !strings.Contains(string(res.Body), `"type":"Daily"`) ||
		!strings.Contains(string(res.Body), `"cron":"0 0 2 * * *"`) {
		t.Errorf("the GC schedule through the API: %s, want Daily at 0 0 2 * * *", res)
	}
	w.step("gc started", chromedp.Click(chromedp.CSS(`form[action="/admin/gc/run"] button[value="false"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href$="/log"]`)))
	w.at("/admin/gc?done=started")
	// Wait for the run to end, then see it in the history and read its log.
	deadline := time.Now().Add(stepTimeout)
	for {
		res := srv.admin().do(t, http.MethodGet, "/api/v2.0/system/gc", nil)
		if strings.Contains(string(res.Body), `"job_status":"Success"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("garbage collection did not end: %s", res)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.step("gc history", chromedp.Navigate(srv.URL+"/admin/gc"), chromedp.WaitVisible(chromedp.Search(`//td[text()="Success"]`)))
	w.step("gc log", chromedp.Click(chromedp.CSS(`a[href$="/log"]`)), chromedp.WaitVisible(chromedp.CSS(`pre.log`)))
	if log := w.text("pre.log"); log == "" {
		t.Error("the run's log is empty")
	}
	// A user, created through the form.
	w.step("users", chromedp.Navigate(srv.URL+"/admin"), chromedp.Click(chromedp.CSS(`main a[href="/admin/users"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/users/new"]`)))
	password := newPassword("Portal")
	w.step("new user form", chromedp.Click(chromedp.CSS(`a[href="/admin/users/new"]`)), chromedp.WaitVisible(chromedp.ID("username")))
	w.step("user created",
		chromedp.SendKeys(chromedp.ID("username"), "portaluser"),
		chromedp.SendKeys(chromedp.ID("email"), "portaluser@example.com"),
		chromedp.SendKeys(chromedp.ID("realname"), "Portal User"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("repeat_password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/admin/users"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/users?done=created")
	if body := w.text("main"); !strings.Contains(body, "portaluser@example.com") {
		t.Errorf("the new user is not in the list: %s", body)
	}
	// Search from the header.
	w.step("search", chromedp.SendKeys(chromedp.ID("site-search"), "myproject"),
		chromedp.Click(chromedp.CSS(`form.search button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/projects/myproject"]`)))
	w.at("/search?q=myproject")
}

// login fills the login form and submits it.
func login(user, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.ID("principal")),
		chromedp.SendKeys(chromedp.ID("principal"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
}

// logout submits the header's log-out form.
func logout() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("principal")),
	)
}

// createProjectInPortal fills and submits the new-project form.
func createProjectInPortal(base, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/projects"),
		chromedp.Click(chromedp.CSS(`a[href="/projects/new"]`)),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.Click(chromedp.CSS(`form[action="/projects"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="`+name+`"]`)),
	)
}

func TestPortal(t *testing.T) {
	ctx := newBrowser(t)
	srv := startServer(t, serverOptions{})
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s (kept with go test -artifacts)", dir)
	w := &walk{t: t, ctx: ctx, base: srv.URL, dir: dir}

	w.step("login page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("principal")))
	w.at("/login")

	w.step("wrong password", login(srv.User, "not-"+srv.Password), chromedp.WaitVisible(chromedp.ID("login-error")))
	if msg := w.text("#login-error"); !strings.Contains(msg, "Invalid") {
		t.Errorf("a wrong password says %q", msg)
	}
	w.step("projects after login", chromedp.Navigate(srv.URL+"/login"), login(srv.User, srv.Password),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	w.at("/projects")

	w.step("project created", createProjectInPortal(srv.URL, "myproject"))
	w.at("/projects/myproject")
	if access := w.text(".summary dd"); access != "Private" {
		t.Errorf("myproject, created with public unticked, is %q", access)
	}

	w.step("project in the list", chromedp.Navigate(srv.URL+"/projects"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/projects/myproject"]`)))
	w.step("project page", chromedp.Click(chromedp.CSS(`a[href="/projects/myproject"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[text()="Repositories"]`)))
	w.at("/projects/myproject")

	// The project's configuration: scan on push, and the vulnerability gate at High.
	w.step("configuration", chromedp.Click(chromedp.CSS(`nav.tabs a[href="/projects/myproject/configuration"]`)),
		chromedp.WaitVisible(chromedp.ID("auto_scan")))
	w.step("configuration saved",
		chromedp.Click(chromedp.ID("auto_scan")),
		chromedp.Click(chromedp.ID("prevent_vul")),
		chromedp.SetValue(chromedp.ID("severity"), "high"),
		chromedp.Click(chromedp.CSS(`form[action="/projects/myproject/configuration"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/projects/myproject/configuration?saved=1")
	w.step("configuration after reload", chromedp.Navigate(srv.URL+"/projects/myproject/configuration"),
		chromedp.WaitVisible(chromedp.ID("auto_scan")))
	for _, id := range []string{"auto_scan", "prevent_vul"} {
		if !w.checked(id) {
			t.Errorf("after saving and reloading, %s is not ticked", id)
		}
	}
	if w.checked("public") {
		t.Error("after saving, myproject is public")
	}
	if sev := w.value("#severity"); sev != "high" {
		t.Errorf("after saving and reloading, the severity is %q", sev)
	}
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/projects/myproject", nil); !strings.Contains(string(res.Body), `"prevent_vul":"true"`) ||
		!strings.Contains(string(res.Body), `"severity":"high"`) || !strings.Contains(string(res.Body), `"auto_scan":"true"`) {
		t.Errorf("myproject through the API after the configuration was saved: %s", res)
	}

	// A robot account with push and pull; its secret, read from the page, pushes an image.
	w.step("robot accounts", chromedp.Click(chromedp.CSS(`nav.tabs a[href="/projects/myproject/robots"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/projects/myproject/robots/new"]`)))
	w.step("new robot form", chromedp.Click(chromedp.CSS(`a[href="/projects/myproject/robots/new"]`)),
		chromedp.WaitVisible(chromedp.ID("name")))
	for _, id := range []string{"perm-repository-push", "perm-repository-pull"} {
		if !w.checked(id) {
			t.Errorf("the new robot form does not tick %s", id)
		}
	}
	w.step("robot created",
		chromedp.SendKeys(chromedp.ID("name"), "ci-pipeline"),
		chromedp.SendKeys(chromedp.ID("description"), "CI pushes"),
		chromedp.Click(chromedp.CSS(`form[action="/projects/myproject/robots"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("robot-secret")),
		// The copy button appears once its script has run under the page's policy.
		chromedp.WaitVisible(chromedp.CSS(`button[data-copy="robot-secret"]`)))
	robotName, robotSecret := w.text("#robot-name"), w.text("#robot-secret")
	if robotName != "robot$myproject+ci-pipeline" || len(robotSecret) < 8 {
		t.Fatalf("the created robot is %q with secret %q", robotName, robotSecret)
	}
	// The robot pushes a Go program built against a golang.org/x/text with a known advisory;
	// the project scans it on push.
	requireClient(t, "crane")
	importOSV(t, srv, "GHSA-69ch-w2m2-3vjp", goTextAdvisory)
	run(t, "crane", "auth", "login", srv.Host, "-u", robotName, "-p", robotSecret)
	layout := filepath.Join(envFor(t).Dir, "app-layout")
	writeOCILayout(t, layout, "v1", goTextImage(t))
	ref := srv.Host + "/myproject/app:v1"
	run(t, "crane", "push", "--insecure", layout, ref)
	w.step("robot in the list", chromedp.Navigate(srv.URL+"/projects/myproject/robots"),
		chromedp.WaitVisible(chromedp.Search(`//code[text()="robot$myproject+ci-pipeline"]`)))
	w.step("pushed repository", chromedp.Navigate(srv.URL+"/projects/myproject"),
		chromedp.Click(chromedp.CSS(`a[href="/projects/myproject/repositories/app"]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@class="tag" and text()="v1"]`)))
	w.reloadUntil("scan result on the repository page", srv.URL+"/projects/myproject/repositories/app", "p.vulnbar", 2*time.Minute)
	if bar := w.text("p.vulnbar"); !strings.Contains(bar, "1 High") {
		t.Errorf("the repository page's vulnerability summary: %q, want 1 High", bar)
	}
	w.step("artifact page", chromedp.Click(chromedp.CSS(`a[href^="/projects/myproject/repositories/app/artifacts/sha256:"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[text()="Vulnerabilities"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/scan"] button`)))
	if tags := w.text("dl.overview"); !strings.Contains(tags, "v1") || !strings.Contains(tags, "application/vnd.oci.image.manifest.v1+json") {
		t.Errorf("the artifact page's overview: %q", tags)
	}
	if vulns := w.text("table.vulns"); !strings.Contains(vulns, "CVE-2022-32149") || !strings.Contains(vulns, "golang.org/x/text") ||
		!strings.Contains(vulns, "0.3.8") || !strings.Contains(vulns, "High") {
		t.Errorf("the artifact page's vulnerabilities: %q, want CVE-2022-32149 in golang.org/x/text, High, fixed in 0.3.8", vulns)
	}

	// The gate refuses the pull; the CVE allowlisted in the project's configuration lets it through.
	pulled := filepath.Join(envFor(t).Dir, "pulled")
	refused := mustFail(t, runOpts{}, "crane", "pull", "--insecure", "--format=oci", ref, pulled)
	if !strings.Contains(refused.String(), "cannot be pulled due to configured policy") || !strings.Contains(refused.String(), "CVE-2022-32149") {
		t.Fatalf("crane pull of the vulnerable image: %s", refused)
	}
	w.step("allowlist form", chromedp.Navigate(srv.URL+"/projects/myproject/configuration"), chromedp.WaitVisible(chromedp.ID("allowlist")))
	if w.checked("reuse_sys_cve_allowlist") {
		w.step("project's own allowlist", chromedp.Click(chromedp.ID("reuse_sys_cve_allowlist")))
	}
	w.step("CVE allowlisted",
		chromedp.SendKeys(chromedp.ID("allowlist"), "CVE-2022-32149"),
		chromedp.Click(chromedp.CSS(`form[action="/projects/myproject/configuration"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	run(t, "crane", "pull", "--insecure", "--format=oci", ref, pulled)
	if _, err := os.Stat(filepath.Join(pulled, "index.json")); err != nil {
		t.Fatalf("crane pull after the allowlist wrote no layout: %v", err)
	}

	// Change the password, log out, log in with the new one.
	next := newPassword("Portal")
	w.step("change password form", chromedp.Click(chromedp.CSS(`a[href="/account/password"]`)),
		chromedp.WaitVisible(chromedp.ID("old_password")))
	w.step("password changed",
		chromedp.SendKeys(chromedp.ID("old_password"), srv.Password),
		chromedp.SendKeys(chromedp.ID("new_password"), next),
		chromedp.SendKeys(chromedp.ID("repeat_password"), next),
		chromedp.Click(chromedp.CSS(`form[action="/account/password"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/account?changed=password")
	w.step("logged out", logout())
	w.step("old password refused", login(srv.User, srv.Password), chromedp.WaitVisible(chromedp.ID("login-error")))
	w.step("logged in with the new password", chromedp.Navigate(srv.URL+"/login"), login(srv.User, next),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	srv.Password = next

	// A second project, created and deleted.
	w.step("second project", createProjectInPortal(srv.URL, "scratch"))
	w.step("delete confirmation", chromedp.Click(chromedp.CSS(`a[href="/projects/scratch/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/projects/scratch/delete"] button`)))
	w.step("project deleted", chromedp.Click(chromedp.CSS(`form[action="/projects/scratch/delete"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/projects?deleted=scratch")
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/projects/scratch", nil); res.Status != http.StatusNotFound {
		t.Errorf("the deleted project through the API: %s, want 404", res)
	}

	// Forged posts: the browser's own session cookie without the form's CSRF token, and no
	// session at all. Both are refused with 403 and the project stays.
	got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	cookies := got.Cookies
	sid := ""
	for _, c := range cookies {
		if c.Name == "sid" {
			sid = c.Value
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("session cookie: HttpOnly %v, SameSite %q; want HttpOnly, Lax", c.HTTPOnly, c.SameSite)
			}
		}
	}
	if sid == "" {
		t.Fatalf("no session cookie in the browser: %v", cookies)
	}
	for _, forged := range []struct {
		name    string
		headers []string
	}{
		{"with the session, without its token", []string{"Cookie", "sid=" + sid}},
		{"without a session", nil},
	} {
		headers := append([]string{"Content-Type", "application/x-www-form-urlencoded"}, forged.headers...)
		res := srv.anonymous().do(t, http.MethodPost, "/projects/myproject/delete", []byte("csrf=forged"), headers...)
		if res.Status != http.StatusForbidden || !strings.Contains(string(res.Body), "nothing was changed") {
			t.Errorf("forged delete %s: %s, want 403 with the reason", forged.name, res)
		}
	}
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/projects/myproject", nil); res.Status != http.StatusOK {
		t.Errorf("myproject after forged deletes: %s, want 200", res)
	}

	adminWalk(t, w, srv)
	guestWalk(t, ctx, srv)

	w.step("final logout", chromedp.Navigate(srv.URL+"/projects"), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)), logout())
	w.at("/login")
}

// colorScheme emulates the system's colour scheme ("dark" or "light"; "" for the browser's own).
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		p := emulation.SetEmulatedMediaParams{}
		if scheme != "" {
			p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, p)
		return err
	})
}
