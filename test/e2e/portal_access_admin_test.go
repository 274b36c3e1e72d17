//go:build e2e

package e2e

// The administration's user groups, system robot accounts and interrogation services in a
// real browser, as an administrator and as a user who is none.

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

func TestPortalAccessAdmin(t *testing.T) {
	ctx := newBrowser(t)
	srv := startServer(t, serverOptions{})
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s (kept with go test -artifacts)", dir)
	w := &walk{t: t, ctx: ctx, base: srv.URL, dir: dir}
	api := func(method, path, body string) string {
		t.Helper()
		var raw []byte
		var hdr []string
		if body != "" {
			raw, hdr = []byte(body), []string{"Content-Type", "application/json"}
		}
		res := srv.admin().do(t, method, "/api/v2.0"+path, raw, hdr...)
		if res.Status >= 300 {
			t.Fatalf("%s %s: %s", method, path, res)
		}
		return string(res.Body)
	}

	// axe-core checks each page of the walk, in the light and the dark theme.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: axeSource}); err != nil {
		t.Fatal(err)
	}
	checkA11y := func(what string) {
		t.Helper()
		for _, theme := range []string{"dark", "light"} {
			setTheme(t, ctx, theme)
			for _, v := range runAxe(t, ctx) {
				t.Errorf("%s (%s theme): %s", what, theme, v)
			}
		}
	}

	w.step("admin login", chromedp.Navigate(srv.URL+"/login"), login(srv.User, srv.Password),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	w.step("administration", chromedp.Click(chromedp.CSS(`header a[href="/admin"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/admin/scanners"]`)))

	// User groups: create, rename, delete.
	w.step("user groups", chromedp.Click(chromedp.CSS(`main a[href="/admin/groups"]`)), chromedp.WaitVisible(chromedp.ID("group-name")))
	w.step("group created",
		chromedp.SendKeys(chromedp.ID("group-name"), "platform"),
		chromedp.SetValue(chromedp.ID("group-type"), "3"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/groups"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/groups?done=created")
	checkA11y("the user groups")
	if gs := api(http.MethodGet, "/usergroups", ""); !strings.Contains(gs, `"group_name":"platform"`) || !strings.Contains(gs, `"group_type":3`) {
		t.Errorf("the group through the API: %s", gs)
	}
	w.step("group rename form", chromedp.Click(chromedp.CSS(`a[href$="/edit"]`)), chromedp.WaitVisible(chromedp.ID("group-name")))
	checkA11y("the group rename form")
	w.step("group renamed",
		chromedp.Clear(chromedp.ID("group-name")),
		chromedp.SendKeys(chromedp.ID("group-name"), "platform-team"),
		chromedp.Click(chromedp.CSS(`form[action$="/edit"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.Search(`//td[text()="platform-team"]`)))
	w.at("/admin/groups?done=renamed")
	w.step("group delete confirmation", chromedp.Click(chromedp.CSS(`main a[href$="/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/delete"] button.danger`)))
	checkA11y("the group delete confirmation")
	w.step("group deleted", chromedp.Click(chromedp.CSS(`form[action$="/delete"] button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/groups?done=deleted")
	if gs := strings.TrimSpace(api(http.MethodGet, "/usergroups", "")); gs != "[]" {
		t.Errorf("after the deletion, the groups through the API: %s", gs)
	}

	// A system robot: created with a system permission and pull and push everywhere; its
	// secret, read from the page, logs in; disabled; deleted.
	w.step("system robots", chromedp.Navigate(srv.URL+"/admin"), chromedp.Click(chromedp.CSS(`main a[href="/admin/robots"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/robots/new"]`)))
	w.step("new system robot form", chromedp.Click(chromedp.CSS(`a[href="/admin/robots/new"]`)), chromedp.WaitVisible(chromedp.ID("name")))
	checkA11y("the new system robot form")
	for _, id := range []string{"proj-repository-pull", "proj-repository-push", "scope-all"} {
		if !w.checked(id) {
			t.Errorf("the new system robot form does not tick %s", id)
		}
	}
	w.step("system robot created",
		chromedp.SendKeys(chromedp.ID("name"), "deployer"),
		chromedp.Click(chromedp.ID("sys-project-list")),
		chromedp.Click(chromedp.CSS(`form[action="/admin/robots"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("robot-secret")),
		chromedp.WaitVisible(chromedp.CSS(`button[data-copy="robot-secret"]`)))
	name, secret := w.text("#robot-name"), w.text("#robot-secret")
	checkA11y("the system robot secret")
	if name != "robot$deployer" || len(secret) < 8 {
		t.Fatalf("the created robot is %q with secret %q", name, secret)
	}
	robotV2 := func() int {
		res := srv.anonymous().do(t, http.MethodGet, "/v2/", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(name+":"+secret)))
		return res.Status
	}
	if s := robotV2(); s != http.StatusOK {
		t.Errorf("the system robot's secret at /v2/: %d", s)
	}
	w.step("system robot in the list", chromedp.Click(chromedp.CSS(`main a[href="/admin/robots"]`)),
		chromedp.WaitVisible(chromedp.Search(`//code[text()="robot$deployer"]`)))
	checkA11y("the system robots")
	if body := w.text("main"); !strings.Contains(body, "System — project: list") || !strings.Contains(body, "All projects — repository: pull, push") {
		t.Errorf("the system robot's permissions in the list: %s", body)
	}
	w.step("system robot disabled", chromedp.Click(chromedp.CSS(`form[action$="/disable"] button`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@class="badge" and text()="Disabled"]`)))
	if s := robotV2(); s != http.StatusUnauthorized {
		t.Errorf("the disabled system robot at /v2/: %d", s)
	}
	w.step("system robot delete confirmation", chromedp.Click(chromedp.CSS(`main a[href$="/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/delete"] button.danger`)))
	checkA11y("the system robot delete confirmation")
	w.step("system robot deleted", chromedp.Click(chromedp.CSS(`form[action$="/delete"] button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/robots?done=deleted")

	// Interrogation services: the scanners and the database's state, scan all now, a daily
	// schedule.
	w.step("interrogation services", chromedp.Navigate(srv.URL+"/admin"), chromedp.Click(chromedp.CSS(`main a[href="/admin/scanners"]`)),
		chromedp.WaitVisible(chromedp.ID("vulndb-state")))
	if body := w.text("main"); !strings.Contains(body, "builtin://berth") || !strings.Contains(body, "Healthy") {
		t.Errorf("the scanners: %s", body)
	}
	w.step("scan all started", chromedp.Click(chromedp.CSS(`form[action="/admin/scan-all"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/scanners?done=started")
	deadline := time.Now().Add(stepTimeout)
	for {
		m := api(http.MethodGet, "/scans/all/metrics", "")
		if strings.Contains(m, `"ongoing":false`) && strings.Contains(m, `"trigger"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan all did not end: %s", m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.step("scan all ended", chromedp.Navigate(srv.URL+"/admin/scanners"), chromedp.WaitVisible(chromedp.Search(`//strong[text()="Success"]`)))
	checkA11y("the interrogation services")
	w.step("new scanner form", chromedp.Click(chromedp.CSS(`a[href="/admin/scanners/new"]`)), chromedp.WaitVisible(chromedp.ID("url")))
	checkA11y("the new scanner form")
	// A second scanner (this Berth's own adapter), for its row's actions and its deletion.
	api(http.MethodPost, "/scanners", `{"name":"Berth over HTTP","url":"`+srv.URL+`/scanner","auth":"Basic","access_credential":"`+srv.User+":"+srv.Password+`"}`)
	w.step("second scanner", chromedp.Navigate(srv.URL+"/admin/scanners"), chromedp.WaitVisible(chromedp.Search(`//td[contains(., "Berth over HTTP")]`)))
	checkA11y("the interrogation services with a second scanner")
	w.step("scanner delete confirmation", chromedp.Click(chromedp.CSS(`main a[href$="/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/delete"] button.danger`)))
	checkA11y("the scanner delete confirmation")
	w.step("scanner deleted", chromedp.Click(chromedp.CSS(`form[action$="/delete"] button.danger`)), chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/scanners?done=deleted")
	if rs := api(http.MethodGet, "/scanners", ""); strings.Contains(rs, "Berth over HTTP") {
		t.Errorf("the deleted scanner through the API: %s", rs)
	}
	w.step("scan all scheduled daily",
		chromedp.SetValue(chromedp.ID("scan-type"), "Daily"),
		chromedp.SetValue(chromedp.ID("scan-time"), "02:00"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/scan-all/schedule"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at("/admin/scanners?done=scheduled")
	if s := api(http.MethodGet, "/system/scanAll/schedule", ""); !strings.Contains(s, `"type":"Daily"`) || !strings.Contains(s, `"cron":"0 0 2 * * *"`) {
		t.Errorf("the scan-all schedule through the API: %s", s)
	}
	w.step("admin logout", logout())

	// A user who is no administrator: no Administration entry, 403 on the pages, and a forged
	// post with their own session and token changes nothing.
	password := newPassword("Plain")
	api(http.MethodPost, "/users", `{"username":"plain","email":"plain@example.com","realname":"Plain","password":"`+password+`"}`)
	w.step("user login", login("plain", password), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	if w.present(`header a[href="/admin"]`) {
		t.Error("a user who is no administrator is offered the administration")
	}
	for _, p := range []string{"/admin/groups", "/admin/robots", "/admin/scanners"} {
		w.step("user refused "+p, chromedp.Navigate(srv.URL+p), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Forbidden"]`)))
		if w.present(`main form[method="post"]`) {
			t.Errorf("the user is offered a form on %s", p)
		}
	}
	w.step("user account", chromedp.Navigate(srv.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
	token := w.value(`form[action="/logout"] input[name="csrf"]`)
	got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	sid := ""
	for _, c := range got.Cookies {
		if c.Name == "sid" {
			sid = c.Value
		}
	}
	for _, post := range []struct {
		path string
		form url.Values
	}{
		{"/admin/scan-all/schedule", url.Values{"csrf": {token}, "type": {"None"}}},
		{"/admin/groups", url.Values{"csrf": {token}, "name": {"forged"}, "type": {"2"}}},
	} {
		res := srv.anonymous().do(t, http.MethodPost, post.path, []byte(post.form.Encode()),
			"Content-Type", "application/x-www-form-urlencoded", "Cookie", "sid="+sid)
		if res.Status != http.StatusForbidden || !strings.Contains(string(res.Body), "You do not have permission") {
			t.Errorf("the user's forged post to %s: %s, want 403", post.path, res)
		}
	}
	if s := api(http.MethodGet, "/system/scanAll/schedule", ""); !strings.Contains(s, `"type":"Daily"`) {
		t.Errorf("the user's forged post changed the scan-all schedule: %s", s)
	}
	if gs := strings.TrimSpace(api(http.MethodGet, "/usergroups", "")); gs != "[]" {
		t.Errorf("the user's forged post created a group: %s", gs)
	}
	w.step("user logout", chromedp.Navigate(srv.URL+"/projects"), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)), logout())
}
