//go:build e2e

package e2e

// A project's labels, policies and logs tabs, the push commands box and the global labels,
// walked in headless Chromium as the administrator and as a guest (see portal_test.go).

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// apiJSON reads an API answer as admin into out.
func apiJSON(t *testing.T, srv *server, path string, out any) {
	t.Helper()
	res := srv.admin().do(t, http.MethodGet, path, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET %s: %s", path, res)
	}
	if err := json.Unmarshal(res.Body, out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, res)
	}
}

// notice waits for the page's notice saying text: a notice of the page before is not it.
func notice(text string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "` + text + `")]`))
}

func TestPortalProjectTabs(t *testing.T) {
	ctx := newBrowser(t)
	srv := startServer(t, serverOptions{})
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s (kept with go test -artifacts)", dir)
	w := &walk{t: t, ctx: ctx, base: srv.URL, dir: dir}
	const p = "/projects/tabs"

	w.step("login", chromedp.Navigate(srv.URL+"/login"), login(srv.User, srv.Password),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	w.step("project created", createProjectInPortal(srv.URL, "tabs"))
	var proj struct {
		ID int64 `json:"project_id"`
	}
	apiJSON(t, srv, "/api/v2.0/projects/tabs", &proj)

	// The push commands, with copy buttons once copy.js has run under the page's policy.
	w.step("push commands", chromedp.WaitVisible(chromedp.CSS(`button[data-copy="push-docker"]`)))
	for id, want := range map[string]string{
		"push-docker-tag": "docker tag SOURCE_IMAGE[:TAG] " + srv.Host + "/tabs/REPOSITORY[:TAG]",
		"push-docker":     "docker push " + srv.Host + "/tabs/REPOSITORY[:TAG]",
		"push-podman":     "podman push IMAGE_ID " + srv.Host + "/tabs/REPOSITORY[:TAG]",
		"push-helm":       "helm push CHART_PACKAGE oci://" + srv.Host + "/tabs",
		"push-oras":       "oras push " + srv.Host + "/tabs/REPOSITORY:TAG FILE",
	} {
		if got := w.text("#" + id); got != want {
			t.Errorf("#%s is %q, want %q", id, got, want)
		}
	}

	// Labels: create, edit, delete after confirmation.
	labels := func() string {
		res := srv.admin().do(t, http.MethodGet, "/api/v2.0/labels?scope=p&project_id="+strconv.FormatInt(proj.ID, 10), nil)
		return string(res.Body)
	}
	w.step("labels", chromedp.Click(chromedp.CSS(`nav.tabs a[href="`+p+`/labels"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "There are no labels yet.")]`)))
	w.step("label created",
		chromedp.Click(chromedp.CSS(`details.new-label summary`)),
		chromedp.WaitVisible(chromedp.ID("label-name")),
		chromedp.SendKeys(chromedp.ID("label-name"), "release"),
		chromedp.SendKeys(chromedp.ID("label-description"), "Ready to ship"),
		chromedp.SetValue(chromedp.ID("label-color"), "#1a7f37"),
		chromedp.Click(chromedp.CSS(`form[action="`+p+`/labels"] button[type="submit"]`)),
		notice("The label was created."))
	w.at(p + "/labels?done=created")
	if l := labels(); !strings.Contains(l, `"name":"release"`) || !strings.Contains(l, `"color":"#1a7f37"`) || !strings.Contains(l, `"description":"Ready to ship"`) {
		t.Errorf("the label through the API: %s", l)
	}
	w.step("label edit form", chromedp.Click(chromedp.CSS(`a[aria-label="Edit release"]`)), chromedp.WaitVisible(chromedp.ID("label-name")))
	w.step("label edited",
		chromedp.SetValue(chromedp.ID("label-name"), "released"),
		chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)),
		notice("The label was saved."))
	w.at(p + "/labels?done=updated")
	if l := labels(); !strings.Contains(l, `"name":"released"`) {
		t.Errorf("the edited label through the API: %s", l)
	}
	w.step("label delete confirmation", chromedp.Click(chromedp.CSS(`a[aria-label="Delete released"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button.danger`)))
	w.step("label deleted", chromedp.Click(chromedp.CSS(`button.danger`)), notice("The label was deleted."))
	w.at(p + "/labels?done=deleted")
	if l := labels(); strings.TrimSpace(l) != "[]" {
		t.Errorf("labels after delete: %s", l)
	}
	w.step("label for the guest", chromedp.Click(chromedp.CSS(`details.new-label summary`)),
		chromedp.SendKeys(chromedp.ID("label-name"), "stable"),
		chromedp.Click(chromedp.CSS(`form[action="`+p+`/labels"] button[type="submit"]`)),
		notice("The label was created."))

	// Two images for the retention policy to decide about.
	for _, tag := range []string{"v1", "v2"} {
		if err := srv.admin().pushImage(context.Background(), "tabs/app", tag, randomImage(t, 4<<10)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // distinct push times
	}

	// Tag retention: a rule, a schedule, a dry run with its task and log.
	w.step("policies", chromedp.Click(chromedp.CSS(`nav.tabs a[href="`+p+`/policies"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[text()="Tag retention"]`)))
	w.step("retention rule added",
		chromedp.Click(chromedp.CSS(`section[aria-labelledby="retention"] details summary`)),
		chromedp.WaitVisible(chromedp.ID("rule-template")),
		chromedp.SetValue(chromedp.ID("rule-template"), "latestPushedK"),
		chromedp.SetValue(chromedp.ID("rule-param"), "1"),
		chromedp.Click(chromedp.CSS(`form[action="`+p+`/policies/retention/rules"] button[type="submit"]`)),
		notice("The retention rule was added."))
	w.at(p + "/policies?done=rule-added")
	if body := w.text("main"); !strings.Contains(body, "Retain the most recently pushed 1 artifacts, repositories matching **, tags matching **, including untagged artifacts") {
		t.Errorf("the rule in words: %s", body)
	}
	var md struct {
		Metadata map[string]string `json:"metadata"`
	}
	apiJSON(t, srv, "/api/v2.0/projects/tabs", &md)
	rid := md.Metadata["retention_id"]
	if rid == "" {
		t.Fatalf("no retention policy through the API: %v", md)
	}
	w.step("retention scheduled",
		chromedp.SetValue(chromedp.ID("ret-type"), "Daily"),
		chromedp.SetValue(chromedp.ID("ret-time"), "02:00"),
		chromedp.Click(chromedp.CSS(`form[action="`+p+`/policies/retention/schedule"] button[type="submit"]`)),
		notice("The retention schedule was saved."))
	w.at(p + "/policies?done=scheduled")
	var pol struct {
		Trigger struct {
			Settings map[string]string `json:"settings"`
		} `json:"trigger"`
	}
	apiJSON(t, srv, "/api/v2.0/retentions/"+rid, &pol)
	if cron := pol.Trigger.Settings["cron"]; cron != "0 0 2 * * *" {
		t.Errorf("the retention schedule through the API: %q", cron)
	}
	w.step("retention dry run", chromedp.Click(chromedp.CSS(`button[name="dry_run"][value="true"]`)), notice("A dry run was started"))
	w.at(p + "/policies?done=dryrun")
	deadline := time.Now().Add(stepTimeout)
	for {
		var execs []struct {
			Status string `json:"status"`
		}
		apiJSON(t, srv, "/api/v2.0/retentions/"+rid+"/executions", &execs)
		if len(execs) == 1 && execs[0].Status == "Success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dry run did not end: %+v", execs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.step("retention runs", chromedp.Navigate(srv.URL+p+"/policies"), chromedp.WaitVisible(chromedp.Search(`//td[text()="Success"]`)))
	w.step("retention run", chromedp.Click(chromedp.CSS(`a[href^="`+p+`/policies/retention/executions/"]`)),
		chromedp.WaitVisible(chromedp.Search(`//td[text()="tabs/app"]`)))
	if body := w.text("main"); !strings.Contains(body, "1 of 2") || !strings.Contains(body, "Yes: nothing was deleted") {
		t.Errorf("the dry run's task: %s", body)
	}
	w.step("retention task log", chromedp.Click(chromedp.CSS(`a[aria-label="Log of tabs/app"]`)), chromedp.WaitVisible(chromedp.CSS(`pre.log`)))
	if log := w.text("pre.log"); !strings.Contains(log, "v1") || !strings.Contains(log, "v2") {
		t.Errorf("the task's log: %s", log)
	}

	// Tag immutability: add, disable, delete.
	immutable := func() string {
		return string(srv.admin().do(t, http.MethodGet, "/api/v2.0/projects/tabs/immutabletagrules", nil).Body)
	}
	w.step("policies again", chromedp.Navigate(srv.URL+p+"/policies"), chromedp.WaitVisible(chromedp.Search(`//h2[text()="Tag immutability"]`)))
	w.step("immutability rule added",
		chromedp.Click(chromedp.CSS(`section[aria-labelledby="immutability"] details summary`)),
		chromedp.WaitVisible(chromedp.ID("imm-tag-pattern")),
		chromedp.SetValue(chromedp.ID("imm-tag-pattern"), "v1"),
		chromedp.Click(chromedp.CSS(`form[action="`+p+`/policies/immutable"] button[type="submit"]`)),
		notice("The immutability rule was added."))
	w.at(p + "/policies?done=immutable-added")
	if r := immutable(); !strings.Contains(r, `"pattern":"v1"`) {
		t.Errorf("the immutability rule through the API: %s", r)
	}
	w.step("immutability rule disabled", chromedp.Click(chromedp.CSS(`form[action$="/disable"][action*="/immutable/"] button`)),
		notice("The immutability rule was disabled."))
	w.at(p + "/policies?done=immutable-off")
	if r := immutable(); !strings.Contains(r, `"disabled":true`) {
		t.Errorf("the disabled rule through the API: %s", r)
	}
	w.step("immutability delete confirmation", chromedp.Click(chromedp.CSS(`a[href*="/policies/immutable/"][href$="/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button.danger`)))
	w.step("immutability rule deleted", chromedp.Click(chromedp.CSS(`button.danger`)), notice("The immutability rule was deleted."))
	if r := immutable(); strings.TrimSpace(r) != "[]" {
		t.Errorf("immutability rules after delete: %s", r)
	}

	// Logs, filtered.
	w.step("logs", chromedp.Click(chromedp.CSS(`nav.tabs a[href="`+p+`/logs"]`)),
		chromedp.WaitVisible(chromedp.Search(`//code[text()="tabs/app:v1"]`)))
	w.step("logs filtered",
		chromedp.SetValue(chromedp.ID("log-operation"), "create"),
		chromedp.SetValue(chromedp.ID("log-type"), "artifact"),
		chromedp.Click(chromedp.CSS(`form.log-filter button[type="submit"]`)),
		// Clear is offered once the filters apply.
		chromedp.WaitVisible(chromedp.CSS(`form.log-filter a[href="`+p+`/logs"]`)),
		chromedp.WaitVisible(chromedp.Search(`//code[text()="tabs/app:v2"]`)))
	w.at(p + "/logs?user=&resource=&resource_type=artifact&operation=create&from=&to=")
	w.step("logs filtered to nothing",
		chromedp.SendKeys(chromedp.ID("log-user"), "nobody"),
		chromedp.Click(chromedp.CSS(`form.log-filter button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[text()="No entry matches these filters."]`)))

	// The policies and labels in the dark theme, for the screenshots.
	w.step("dark policies", colorScheme("dark"),
		chromedp.Navigate(srv.URL+p+"/policies"), chromedp.WaitVisible(chromedp.Search(`//h2[text()="Tag retention"]`)))
	w.step("dark labels", chromedp.Navigate(srv.URL+p+"/labels"), chromedp.WaitVisible(chromedp.Search(`//span[contains(., "stable")]`)),
		colorScheme("light"))

	// Global labels, from the administration.
	w.step("global labels", chromedp.Navigate(srv.URL+"/admin"), chromedp.Click(chromedp.CSS(`main a[href="/admin/labels"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Global labels"]`)))
	w.step("global label created",
		chromedp.Click(chromedp.CSS(`details.new-label summary`)),
		chromedp.SendKeys(chromedp.ID("label-name"), "urgent"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/labels"] button[type="submit"]`)),
		notice("The label was created."))
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/labels?scope=g", nil); !strings.Contains(string(res.Body), `"name":"urgent"`) {
		t.Errorf("the global label through the API: %s", res)
	}

	projectTabsGuestWalk(t, ctx, srv, strconv.FormatInt(proj.ID, 10))
	w.step("logout", chromedp.Navigate(srv.URL+"/projects"), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)), logout())
}

// projectTabsGuestWalk: a guest of the project sees its labels without a control, no push
// commands, no policies or logs, and a forged post with their own token is refused.
func projectTabsGuestWalk(t *testing.T, browser context.Context, srv *server, projectID string) {
	t.Helper()
	password := newPassword("Guest")
	for _, c := range []struct{ path, body string }{
		{"/api/v2.0/users", `{"username":"onlooker","email":"onlooker@example.com","realname":"Onlooker","password":"` + password + `"}`},
		{"/api/v2.0/projects/tabs/members", `{"role_id":3,"member_user":{"username":"onlooker"}}`},
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
	const p = "/projects/tabs"
	w.step("guest login", chromedp.Navigate(srv.URL+"/login"), login("onlooker", password),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	w.step("guest project", chromedp.Navigate(srv.URL+p), chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)))
	for _, sel := range []string{`section.push-commands`, `a[href="` + p + `/policies"]`, `a[href="` + p + `/logs"]`} {
		if w.present(sel) {
			t.Errorf("the guest is offered %s", sel)
		}
	}
	w.step("guest labels", chromedp.Click(chromedp.CSS(`nav.tabs a[href="`+p+`/labels"]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[contains(., "stable")]`)))
	if w.present(`details.new-label`) || w.present(`main form[method="post"]`) || w.present(`a[href$="/edit"]`) || w.present(`a[href$="/delete"]`) {
		t.Error("the guest is offered label controls")
	}
	w.step("guest refused the policies", chromedp.Navigate(srv.URL+p+"/policies"),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Forbidden"]`)))
	w.step("guest refused the logs", chromedp.Navigate(srv.URL+p+"/logs"),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Forbidden"]`)))
	// A forged post with the guest's own session and valid token.
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
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{p + "/labels", url.Values{"name": {"sneaky"}, "color": {"#000000"}}},
		{p + "/policies/immutable", url.Values{"repo_decoration": {"repoMatches"}, "repo_pattern": {"**"}, "tag_decoration": {"matches"}, "tag_pattern": {"**"}}},
		{p + "/policies/retention/run", url.Values{"dry_run": {"false"}}},
	} {
		f.form.Set("csrf", token)
		res := srv.anonymous().do(t, http.MethodPost, f.path, []byte(f.form.Encode()),
			"Content-Type", "application/x-www-form-urlencoded", "Cookie", "sid="+sid)
		if res.Status != http.StatusForbidden || !strings.Contains(string(res.Body), "You do not have permission") {
			t.Errorf("the guest's forged post to %s: %s, want 403", f.path, res)
		}
	}
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/labels?scope=p&project_id="+projectID, nil); strings.Contains(string(res.Body), "sneaky") {
		t.Errorf("the guest's forged post created a label: %s", res)
	}
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/projects/tabs/immutabletagrules", nil); strings.TrimSpace(string(res.Body)) != "[]" {
		t.Errorf("the guest's forged post created an immutability rule: %s", res)
	}
	w.step("guest logout", chromedp.Navigate(srv.URL+"/projects"), chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)), logout())
}
