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

// retentionPolicy is the project's retention policy through the API, and its id ("" without
// one).
func (b *browser) retentionPolicy(project string) (string, map[string]any) {
	b.t.Helper()
	var p struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/projects/"+project, nil, http.StatusOK)), &p); err != nil {
		b.t.Fatal(err)
	}
	id := p.Metadata["retention_id"]
	if id == "" {
		return "", nil
	}
	var pol map[string]any
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/retentions/"+id, nil, http.StatusOK)), &pol); err != nil {
		b.t.Fatal(err)
	}
	return id, pol
}

// rulesJSON is a policy's rules as JSON, for substring checks.
func rulesJSON(t *testing.T, pol map[string]any) string {
	t.Helper()
	raw, err := json.Marshal(pol["rules"])
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func cronOf(pol map[string]any) string {
	tr, _ := pol["trigger"].(map[string]any)
	st, _ := tr["settings"].(map[string]any)
	s, _ := st["cron"].(string)
	return s
}

// TestRetentionPolicy: rules added in words, refused with the service's words, disabled and
// deleted; the schedule's presets; dry runs and runs with their tasks, counts and logs; all
// checked through the API.
func TestRetentionPolicy(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("pol")
	const page = "/projects/pol/policies"
	a := b.get(page)
	mustContain(t, a, http.StatusOK, "This project has no retention policy", "This project has no immutability rules",
		`<option value="latestPushedK" selected>Retain the most recently pushed # artifacts</option>`, `<option value="always">Retain always</option>`,
		`aria-current="page">Policies`)
	if strings.Contains(a.body, `action="`+page+`/retention/run"`) {
		t.Error("Run now is offered without a policy")
	}
	tok := b.token(page)
	rule := func(kv ...string) url.Values {
		f := url.Values{"csrf": {tok}, "template": {"latestPushedK"}, "param": {"3"}, "repo_decoration": {"repoMatches"}, "repo_pattern": {"**"},
			"tag_decoration": {"matches"}, "tag_pattern": {"**"}, "untagged": {"on"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	if a := b.do(http.MethodPost, page+"/retention/rules", rule()); a.status != http.StatusSeeOther || a.header.Get("Location") != page+"?done=rule-added" {
		t.Fatalf("add a rule: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	id, pol := b.retentionPolicy("pol")
	if rules := rulesJSON(t, pol); id == "" || !strings.Contains(rules, `"template":"latestPushedK"`) || !strings.Contains(rules, `"params":{"latestPushedK":3}`) ||
		!strings.Contains(rules, `"extras":"{\"untagged\":true}"`) || !strings.Contains(rules, `"decoration":"repoMatches","kind":"doublestar","pattern":"**"`) {
		t.Fatalf("the policy through the API: %s %v", id, pol)
	}
	mustContain(t, b.get(page+"?done=rule-added"), http.StatusOK, "The retention rule was added.",
		"Retain the most recently pushed 3 artifacts, repositories matching **, tags matching **, including untagged artifacts")

	// The service's refusals, on the page with what was typed.
	for _, c := range []struct {
		form   url.Values
		status int
		msg    string
	}{
		{rule("param", "x"), http.StatusBadRequest, `"x" is not a whole number`},
		{rule("template", "nope"), http.StatusBadRequest, `unknown template "nope"`},
		{rule("repo_pattern", ""), http.StatusBadRequest, "pattern is required"},
		{rule("tag_decoration", "sideways"), http.StatusBadRequest, `unknown decoration "sideways"`},
		{rule(), http.StatusConflict, "is the same rule as"},
	} {
		mustContain(t, b.do(http.MethodPost, page+"/retention/rules", c.form), c.status, c.msg, `id="rule-error"`)
	}
	if a := b.do(http.MethodPost, page+"/retention/rules", rule("template", "nDaysSinceLastPull", "param", "7", "repo_decoration", "repoExcludes",
		"repo_pattern", "tmp/**", "tag_decoration", "excludes", "tag_pattern", "v1.*", "untagged", "")); a.status != http.StatusSeeOther {
		t.Fatalf("add a second rule: %d\n%s", a.status, a.body)
	}
	a = b.get(page)
	mustContain(t, a, http.StatusOK, "Retain pulled within the last 7 days, repositories excluding tmp/**, tags excluding v1.*</td>")
	// Disable the second rule, then delete the first after confirmation.
	if a := b.do(http.MethodPost, page+"/retention/rules/2/disable", url.Values{"csrf": {tok}, "disable": {"true"}}); a.status != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", a.status, a.body)
	}
	if _, pol := b.retentionPolicy("pol"); !strings.Contains(rulesJSON(t, pol), `"disabled":true`) {
		t.Errorf("the rule is not disabled: %v", pol)
	}
	mustContain(t, b.get(page+"?done=rule-disabled"), http.StatusOK, "The retention rule was disabled.", `<span class="badge">Disabled</span>`)
	b.do(http.MethodPost, page+"/retention/rules/2/disable", url.Values{"csrf": {tok}, "disable": {"false"}})
	mustContain(t, b.get(page+"/retention/rules/1/delete"), http.StatusOK, "Delete retention rule 1", "Retain the most recently pushed 3 artifacts")
	if a := b.do(http.MethodPost, page+"/retention/rules/1/delete", url.Values{"csrf": {tok}}); a.status != http.StatusSeeOther || a.header.Get("Location") != page+"?done=rule-deleted" {
		t.Fatalf("delete a rule: %d\n%s", a.status, a.body)
	}
	if _, pol := b.retentionPolicy("pol"); strings.Contains(rulesJSON(t, pol), "latestPushedK") || !strings.Contains(rulesJSON(t, pol), "nDaysSinceLastPull") ||
		strings.Contains(rulesJSON(t, pol), `"disabled":true`) {
		t.Errorf("after deleting rule 1: %v", pol)
	}
	if a := b.get(page + "/retention/rules/9/delete"); a.status != http.StatusNotFound {
		t.Errorf("an unknown rule: %d", a.status)
	}

	// The schedule's presets, stored as the cron the API shows.
	for _, c := range []struct {
		form url.Values
		cron string
		word string
	}{
		{url.Values{"type": {"Daily"}, "time": {"02:00"}}, "0 0 2 * * *", "Daily (cron 0 0 2 * * *)"},
		{url.Values{"type": {"Weekly"}, "time": {"03:30"}, "day": {"1"}}, "0 30 3 * * 1", "Weekly (cron 0 30 3 * * 1)"},
		{url.Values{"type": {"Hourly"}}, "0 0 * * * *", "Hourly (cron 0 0 * * * *)"},
		{url.Values{"type": {"Custom"}, "cron": {"0 15 4 1 * *"}}, "0 15 4 1 * *", "Custom (cron 0 15 4 1 * *)"},
		{url.Values{"type": {"None"}}, "", "None: the policy runs only when started here."},
	} {
		c.form.Set("csrf", tok)
		if a := b.do(http.MethodPost, page+"/retention/schedule", c.form); a.status != http.StatusSeeOther {
			t.Fatalf("schedule %v: %d\n%s", c.form, a.status, a.body)
		}
		if _, pol := b.retentionPolicy("pol"); cronOf(pol) != c.cron {
			t.Errorf("schedule %v: the API's cron is %q, want %q", c.form, cronOf(pol), c.cron)
		}
		mustContain(t, b.get(page), http.StatusOK, c.word)
	}
	mustContain(t, b.do(http.MethodPost, page+"/retention/schedule", url.Values{"csrf": {tok}, "type": {"Custom"}, "cron": {"every day"}}), http.StatusBadRequest,
		"has 2 fields, want 6", `value="every day"`, `id="schedule-error"`)

	// A dry run, then a run: their tasks with the counts the API gives, and their logs.
	b.push("pol/app", "v1")
	b.push("pol/app", "v2")
	for i, dry := range []string{"true", "false"} {
		a := b.do(http.MethodPost, page+"/retention/run", url.Values{"csrf": {tok}, "dry_run": {dry}})
		want := map[string]string{"true": "dryrun", "false": "started"}[dry]
		if a.status != http.StatusSeeOther || a.header.Get("Location") != page+"?done="+want {
			t.Fatalf("run dry=%s: %d %s\n%s", dry, a.status, a.header.Get("Location"), a.body)
		}
		var execs []struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
			DryRun bool   `json:"dry_run"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/retentions/"+id+"/executions", nil, http.StatusOK)), &execs); err != nil {
				t.Fatal(err)
			}
			if len(execs) == i+1 && execs[0].Status == "Success" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run dry=%s did not end: %+v", dry, execs)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if execs[0].DryRun != (dry == "true") {
			t.Errorf("run dry=%s: the API's dry_run is %v", dry, execs[0].DryRun)
		}
		eid := itoa64(execs[0].ID)
		a = b.get(page)
		mustContain(t, a, http.StatusOK, `href="`+page+`/retention/executions/`+eid+`"`, "<td>Success</td>")
		var tasks []struct {
			ID         int64  `json:"id"`
			Repository string `json:"repository"`
			Total      int    `json:"total"`
			Retained   int    `json:"retained"`
		}
		if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/retentions/"+id+"/executions/"+eid+"/tasks", nil, http.StatusOK)), &tasks); err != nil {
			t.Fatal(err)
		}
		if len(tasks) != 1 {
			t.Fatalf("tasks of run %s: %+v", eid, tasks)
		}
		run := page + "/retention/executions/" + eid
		a = b.get(run)
		mustContain(t, a, http.StatusOK, "Retention run "+eid, "<td>"+tasks[0].Repository+"</td>",
			"<td>"+itoa64(int64(tasks[0].Retained))+" of "+itoa64(int64(tasks[0].Total))+"</td>", map[string]string{"true": "Yes: nothing was deleted", "false": "<dd>No</dd>"}[dry])
		logPage := run + "/tasks/" + itoa64(tasks[0].ID)
		log := b.api(http.MethodGet, "/retentions/"+id+"/executions/"+eid+"/tasks/"+itoa64(tasks[0].ID), nil, http.StatusOK)
		mustContain(t, b.get(logPage), http.StatusOK, `<pre class="log">`, strings.TrimSpace(strings.SplitN(log, "\n", 2)[0]))
		// Filtered by repository.
		a = b.get(run + "?filter=nothing")
		mustContain(t, a, http.StatusOK, "No repository matches")
	}
	if a := b.get(page + "/retention/executions/999999"); a.status != http.StatusNotFound {
		t.Errorf("an unknown run: %d", a.status)
	}

	// The guest: no Policies tab, the page refused, every forged post refused, nothing changed.
	_, before := b.retentionPolicy("pol")
	a = g.get("/projects/pol")
	if strings.Contains(a.body, "/policies") {
		t.Errorf("the guest is offered the policies:\n%s", a.body)
	}
	for _, p := range []string{page, page + "/retention/executions/1", page + "/retention/rules/1/delete"} {
		if a := g.get(p); a.status != http.StatusForbidden {
			t.Errorf("the guest's GET %s: %d", p, a.status)
		}
	}
	gtok := g.token("/account/password")
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{page + "/retention/rules", rule("csrf", gtok, "param", "1")},
		{page + "/retention/rules/1/disable", url.Values{"disable": {"true"}}},
		{page + "/retention/rules/1/delete", url.Values{}},
		{page + "/retention/schedule", url.Values{"type": {"Hourly"}}},
		{page + "/retention/run", url.Values{"dry_run": {"false"}}},
	} {
		f.form.Set("csrf", gtok)
		mustContain(t, g.do(http.MethodPost, f.path, f.form), http.StatusForbidden, "You do not have permission to do this.")
	}
	_, after := b.retentionPolicy("pol")
	if rulesJSON(t, before) != rulesJSON(t, after) || cronOf(before) != cronOf(after) {
		t.Errorf("the guest's posts changed the policy: %v → %v", before, after)
	}
	var execs []any
	json.Unmarshal([]byte(b.api(http.MethodGet, "/retentions/"+id+"/executions", nil, http.StatusOK)), &execs)
	if len(execs) != 2 {
		t.Errorf("after the guest's posts, %d runs, want 2", len(execs))
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

var immutableIDRE = regexp.MustCompile(`/policies/immutable/(\d+)/delete`)

// TestImmutabilityRules: add (with the service's refusals), disable, enable and delete rules,
// checked through the API; a developer sees retention but not immutability; a guest is refused
// and a forged post from one changes nothing.
func TestImmutabilityRules(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("imm")
	const page = "/projects/imm/policies"
	tok := b.token(page)
	rulesOf := func() string { return b.api(http.MethodGet, "/projects/imm/immutabletagrules", nil, http.StatusOK) }
	form := func(kv ...string) url.Values {
		f := url.Values{"csrf": {tok}, "repo_decoration": {"repoMatches"}, "repo_pattern": {"**"}, "tag_decoration": {"matches"}, "tag_pattern": {"v1"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	if a := b.do(http.MethodPost, page+"/immutable", form()); a.status != http.StatusSeeOther || a.header.Get("Location") != page+"?done=immutable-added" {
		t.Fatalf("add: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	if r := rulesOf(); !strings.Contains(r, `"decoration":"matches","pattern":"v1"`) || !strings.Contains(r, `"disabled":false`) {
		t.Fatalf("the rule through the API: %s", r)
	}
	for _, c := range []struct {
		form   url.Values
		status int
		msg    string
	}{
		{form(), http.StatusConflict, "An immutable tag rule with the same selectors already exists in project imm."},
		{form("tag_pattern", "[v1"), http.StatusBadRequest, "is not a valid doublestar pattern"},
		{form("repo_pattern", ""), http.StatusBadRequest, "pattern is required"},
	} {
		mustContain(t, b.do(http.MethodPost, page+"/immutable", c.form), c.status, c.msg, `id="immutable-error"`)
	}
	a := b.get(page + "?done=immutable-added")
	mustContain(t, a, http.StatusOK, "The immutability rule was added.", "<td>repositories matching **, tags matching v1</td>", "<td>Enabled</td>")
	m := immutableIDRE.FindStringSubmatch(a.body)
	if m == nil {
		t.Fatalf("no delete link:\n%s", a.body)
	}
	rule := page + "/immutable/" + m[1]
	if a := b.do(http.MethodPost, rule+"/disable", url.Values{"csrf": {tok}, "disable": {"true"}}); a.status != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", a.status, a.body)
	}
	if r := rulesOf(); !strings.Contains(r, `"disabled":true`) {
		t.Errorf("after disable: %s", r)
	}
	mustContain(t, b.get(page+"?done=immutable-off"), http.StatusOK, "The immutability rule was disabled.", `<span class="badge">Disabled</span>`)
	b.do(http.MethodPost, rule+"/disable", url.Values{"csrf": {tok}, "disable": {"false"}})
	if r := rulesOf(); !strings.Contains(r, `"disabled":false`) {
		t.Errorf("after enable: %s", r)
	}

	// A developer manages retention but does not see immutability.
	b.api(http.MethodPost, "/users", map[string]any{"username": "dev", "email": "dev@example.com", "realname": "Dev", "password": "Dev12345x"}, http.StatusCreated)
	b.api(http.MethodPost, "/projects/imm/members", map[string]any{"role_id": 2, "member_user": map[string]any{"username": "dev"}}, http.StatusCreated)
	d := newBrowser(t, b.base)
	if a := d.login("dev", "Dev12345x"); a.status != http.StatusSeeOther {
		t.Fatalf("dev login: %d", a.status)
	}
	a = d.get(page)
	mustContain(t, a, http.StatusOK, "Tag retention", `action="`+page+`/retention/rules"`)
	if strings.Contains(a.body, "Tag immutability") || strings.Contains(a.body, "/immutable") {
		t.Errorf("the developer is shown immutability:\n%s", a.body)
	}
	mustContain(t, d.do(http.MethodPost, rule+"/delete", url.Values{"csrf": {d.token(page)}}), http.StatusForbidden)

	// The guest.
	if a := g.get(page); a.status != http.StatusForbidden {
		t.Errorf("the guest's policies: %d", a.status)
	}
	if a := g.get(rule + "/delete"); a.status != http.StatusForbidden {
		t.Errorf("the guest's delete form: %d", a.status)
	}
	gtok := g.token("/account/password")
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{page + "/immutable", form("tag_pattern", "v2")},
		{rule + "/disable", url.Values{"disable": {"true"}}},
		{rule + "/delete", url.Values{}},
	} {
		f.form.Set("csrf", gtok)
		mustContain(t, g.do(http.MethodPost, f.path, f.form), http.StatusForbidden, "You do not have permission to do this.")
	}
	if r := rulesOf(); strings.Count(r, `"id"`) != 1 || !strings.Contains(r, `"disabled":false`) {
		t.Errorf("after the guest's posts: %s", r)
	}

	// Delete, after confirmation.
	mustContain(t, b.get(rule+"/delete"), http.StatusOK, "Delete immutability rule "+m[1], "repositories matching **, tags matching v1")
	if a := b.do(http.MethodPost, rule+"/delete", url.Values{"csrf": {tok}}); a.status != http.StatusSeeOther || a.header.Get("Location") != page+"?done=immutable-deleted" {
		t.Fatalf("delete: %d\n%s", a.status, a.body)
	}
	if r := rulesOf(); strings.TrimSpace(r) != "[]" {
		t.Errorf("after delete: %s", r)
	}
	mustContain(t, b.get(page+"?done=immutable-deleted"), http.StatusOK, "The immutability rule was deleted.", "This project has no immutability rules")
}
