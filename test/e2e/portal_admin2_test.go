//go:build e2e

package e2e

// The system administration pages in a real browser: the audit log with its filters, the
// system configuration and CVE allowlist, the quotas, stopping a garbage collection, and the
// status strip. Each change made in the browser is checked through the API.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestPortalAdminSystem(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	srv := startServer(t, serverOptions{})
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s (kept with go test -artifacts)", dir)
	w := &walk{t: t, ctx: ctx, base: srv.URL, dir: dir}
	api := func(method, path, body string) httpResult {
		t.Helper()
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		return srv.admin().do(t, method, "/api/v2.0"+path, b, "Content-Type", "application/json")
	}

	w.step("login", chromedp.Navigate(srv.URL+"/login"), login(srv.User, srv.Password),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	w.step("project created", createProjectInPortal(srv.URL, "auditedproject"))

	// The status strip: storage used and the job queue, for an administrator.
	if s := w.text("footer.status"); !strings.Contains(s, "Storage used:") || !strings.Contains(s, "Job queue: healthy") {
		t.Errorf("the status strip says %q", s)
	}

	// The audit log: wait for the entry, then filter for it.
	deadline := time.Now().Add(stepTimeout)
	for !strings.Contains(string(api(http.MethodGet, "/audit-logs?q=resource%3Dauditedproject", "").Body), "auditedproject") {
		if time.Now().After(deadline) {
			t.Fatal("no audit entry for the new project")
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.step("audit log", chromedp.Navigate(srv.URL+"/admin"), chromedp.Click(chromedp.CSS(`main a[href="/admin/logs"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Audit log"]`)))
	w.step("audit log filtered",
		chromedp.SetValue(chromedp.ID("log-type"), "project"),
		chromedp.SetValue(chromedp.ID("log-operation"), "create"),
		chromedp.SendKeys(chromedp.ID("log-resource"), "audited"),
		chromedp.Click(chromedp.CSS(`form.log-filter button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.Search(`//td[text()="auditedproject"]`)))
	w.at("/admin/logs?user=&resource=audited&resource_type=project&operation=create&from=&to=")

	// The system configuration.
	w.step("configuration", chromedp.Navigate(srv.URL+"/admin"), chromedp.Click(chromedp.CSS(`main a[href="/admin/configuration"]`)),
		chromedp.WaitVisible(chromedp.ID("token_expiration")))
	w.step("configuration saved",
		chromedp.SetValue(chromedp.ID("token_expiration"), "90"),
		chromedp.SetValue(chromedp.ID("project_creation_restriction"), "adminonly"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/configuration"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/configuration?done=saved")
	if cfg := string(api(http.MethodGet, "/configurations", "").Body); !strings.Contains(cfg, `"token_expiration":{"value":90`) ||
		!strings.Contains(cfg, `"project_creation_restriction":{"value":"adminonly"`) {
		t.Errorf("the configuration through the API: %s", cfg)
	}
	w.step("system allowlist saved",
		chromedp.SendKeys(chromedp.ID("sys-allowlist"), "CVE-2021-44228"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/configuration/allowlist"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/configuration?done=allowlist")
	if l := string(api(http.MethodGet, "/system/CVEAllowlist", "").Body); !strings.Contains(l, `"cve_id":"CVE-2021-44228"`) {
		t.Errorf("the system allowlist through the API: %s", l)
	}

	// Quotas: the new project's limit, set to 2 GiB.
	w.step("quotas", chromedp.Navigate(srv.URL+"/admin"), chromedp.Click(chromedp.CSS(`main a[href="/admin/quotas"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/projects/auditedproject"]`)))
	w.step("quota form", chromedp.Click(chromedp.CSS(`a[aria-label="Edit the quota of auditedproject"]`)),
		chromedp.WaitVisible(chromedp.ID("storage_limit")))
	w.step("quota saved",
		chromedp.SetValue(chromedp.ID("storage_limit"), "2"),
		chromedp.SetValue(chromedp.ID("storage_unit"), "GiB"),
		chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/quotas?done=saved")
	if q := string(api(http.MethodGet, "/quotas?reference=project", "").Body); !strings.Contains(q, `"hard":{"storage":2147483648}`) {
		t.Errorf("the quota through the API: %s", q)
	}

	// A collection that waits (its queue paused) is stopped from the history.
	if r := api(http.MethodPut, "/jobservice/queues/GARBAGE_COLLECTION", `{"action":"pause"}`); r.Status != http.StatusOK {
		t.Fatalf("pause the GC queue: %s", r)
	}
	w.step("gc waiting", chromedp.Navigate(srv.URL+"/admin/gc"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/gc/run"] button[value="false"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/stop"] button`)))
	w.step("gc stopped", chromedp.Click(chromedp.CSS(`form[action$="/stop"] button`)),
		chromedp.WaitVisible(chromedp.Search(`//td[text()="Stopped"]`)))
	w.at("/admin/gc?done=stopping")
	if h := string(api(http.MethodGet, "/system/gc", "").Body); !strings.Contains(h, `"job_status":"Stopped"`) {
		t.Errorf("the history through the API: %s", h)
	}
	api(http.MethodPut, "/jobservice/queues/GARBAGE_COLLECTION", `{"action":"resume"}`)

	// The pages on a phone, in the dark theme.
	w.step("phone dark theme", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), colorScheme("dark"),
		chromedp.Navigate(srv.URL+"/admin/logs"), chromedp.WaitVisible(chromedp.ID("log-user")))
	w.step("phone quotas", chromedp.Navigate(srv.URL+"/admin/quotas"), chromedp.WaitVisible(chromedp.CSS(`main table`)))
	w.step("phone configuration", chromedp.Navigate(srv.URL+"/admin/configuration"), chromedp.WaitVisible(chromedp.ID("token_expiration")))
	w.step("desktop again", chromedp.ResetViewport(), colorScheme(""),
		chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Administration"]`)))

	w.step("logged out", logout())
}
