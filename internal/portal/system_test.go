package portal_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSystemPagesGuarded: the audit log, configuration and quotas pages are linked from the
// administration index and render for an administrator; a user who is only a project guest
// gets 403 on each, sees none of the status strip's administrator parts, and a forged post
// with their own valid session and token gets 403 and changes nothing.
func TestSystemPagesGuarded(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("guarded")
	qid := quotaID(t, b, "guarded")
	mustContain(t, b.get("/admin"), http.StatusOK, `href="/admin/logs"`, `href="/admin/configuration"`, `href="/admin/quotas"`)
	for _, c := range []struct{ path, text string }{
		{"/admin/logs", "Audit log"},
		{"/admin/configuration", "Robot name prefix"},
		{"/admin/quotas", "guarded"},
		{"/admin/quotas/" + qid, "Quota of guarded"},
	} {
		mustContain(t, b.get(c.path), http.StatusOK, c.text)
	}
	for _, p := range []string{"/admin/logs", "/admin/configuration", "/admin/quotas", "/admin/quotas/" + qid} {
		if a := g.get(p); a.status != http.StatusForbidden {
			t.Errorf("GET %s as a guest: %d, want 403", p, a.status)
		}
	}
	a := g.get("/projects")
	for _, s := range []string{"/admin/logs", "/admin/configuration", "/admin/quotas", "Storage used", "Job queue"} {
		if strings.Contains(a.body, s) {
			t.Errorf("a guest is shown %q:\n%s", s, a.body)
		}
	}
	mustContain(t, a, http.StatusOK, "Database: healthy")
	before := b.api(http.MethodGet, "/configurations", nil, http.StatusOK)
	tok := g.token("/account/password")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/admin/configuration", url.Values{"token_expiration": {"5"}, "robot_name_prefix": {"bot$"}, "robot_token_duration": {"3"},
			"project_creation_restriction": {"adminonly"}, "read_only": {"on"}}},
		{"/admin/configuration/allowlist", url.Values{"allowlist": {"CVE-2021-44228"}}},
		{"/admin/quotas/" + qid, url.Values{"storage_limit": {"1"}, "storage_unit": {"MiB"}}},
		{"/admin/gc/1/stop", url.Values{}},
	} {
		c.form.Set("csrf", tok)
		if a := g.do(http.MethodPost, c.path, c.form); a.status != http.StatusForbidden {
			t.Errorf("POST %s as a guest: %d, want 403:\n%s", c.path, a.status, a.body)
		}
	}
	if after := b.api(http.MethodGet, "/configurations", nil, http.StatusOK); after != before {
		t.Errorf("a forged post changed the configuration:\n%s\n%s", before, after)
	}
	if l := b.api(http.MethodGet, "/system/CVEAllowlist", nil, http.StatusOK); strings.Contains(l, "CVE-2021-44228") {
		t.Errorf("a forged post changed the system allowlist: %s", l)
	}
	if q := b.api(http.MethodGet, "/quotas/"+qid, nil, http.StatusOK); !strings.Contains(q, `"hard":{"storage":-1}`) {
		t.Errorf("a forged post changed the quota: %s", q)
	}
}

// quotaID is the id of a project's quota, from the API.
func quotaID(t *testing.T, b *browser, project string) string {
	t.Helper()
	var qs []struct {
		ID  int64          `json:"id"`
		Ref map[string]any `json:"ref"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/quotas?page_size=100", nil, http.StatusOK)), &qs); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Ref["name"] == project {
			return strconv.FormatInt(q.ID, 10)
		}
	}
	t.Fatalf("no quota of %s in %+v", project, qs)
	return ""
}

// TestAuditLogPage: the audit log shows every entry, newest first, and each filter (user,
// resource, resource type, operation, time range) and the paging narrow it as the service
// does.
func TestAuditLogPage(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	b.api(http.MethodPost, "/projects", map[string]any{"project_name": "audited"}, http.StatusCreated)
	b.api(http.MethodPost, "/users", map[string]any{"username": "carol", "email": "carol@example.com", "realname": "Carol", "password": "Carol12345"}, http.StatusCreated)
	// Entries are written from the event stream: wait for both.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var es []struct{}
		if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/audit-logs", nil, http.StatusOK)), &es); err != nil {
			t.Fatal(err)
		}
		if len(es) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit entries did not arrive: %d", len(es))
		}
		time.Sleep(50 * time.Millisecond)
	}
	all := b.get("/admin/logs")
	mustContain(t, all, http.StatusOK, "<td>audited</td>", "<td>carol</td>", `<option value="project">project</option>`, `<option value="create">create</option>`)
	if strings.Index(all.body, "<td>carol</td>") > strings.Index(all.body, "<td>audited</td>") {
		t.Errorf("the newest entry (user carol) is not first:\n%s", all.body)
	}
	today := time.Now().UTC().Format("2006-01-02")
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	for _, c := range []struct {
		query     string
		want, not []string
	}{
		{"resource_type=project", []string{"<td>audited</td>"}, []string{"<td>carol</td>"}},
		{"resource_type=user&operation=create", []string{"<td>carol</td>"}, []string{"<td>audited</td>"}},
		{"operation=delete", []string{"No entry matches these filters."}, []string{"<td>audited</td>"}},
		{"resource=AUDIT", []string{"<td>audited</td>"}, []string{"<td>carol</td>"}},
		{"user=adm&resource=car", []string{"<td>carol</td>"}, []string{"<td>audited</td>"}},
		{"user=nobody", []string{"No entry matches these filters."}, nil},
		{"from=" + today + "&to=" + today, []string{"<td>audited</td>", "<td>carol</td>"}, nil},
		{"to=" + yesterday, []string{"No entry matches these filters."}, []string{"<td>carol</td>"}},
		{"sort=op_time&page_size=1", []string{"<td>audited</td>", "1–1 of 2", `href="/admin/logs?page=2&amp;page_size=1&amp;sort=op_time"`}, []string{"<td>carol</td>"}},
		{"resource_type=user&page_size=1&page=1", []string{`selected>user</option>`}, nil},
	} {
		t.Run(c.query, func(t *testing.T) {
			a := b.get("/admin/logs?" + c.query)
			mustContain(t, a, http.StatusOK, c.want...)
			for _, s := range c.not {
				if strings.Contains(a.body, s) {
					t.Errorf("%q shows %q", c.query, s)
				}
			}
		})
	}
	// The filters are kept by the pager's and the sort's links.
	mustContain(t, b.get("/admin/logs?user=admin&page_size=1"), http.StatusOK, `href="/admin/logs?page=2&amp;page_size=1&amp;user=admin"`)
	mustContain(t, b.get("/admin/logs?from=yesterday"), http.StatusBadRequest, "is not a date")
	mustContain(t, b.get("/admin/logs?sort=bogus"), http.StatusBadRequest, "cannot be sorted by")
}

// TestSystemConfigurationPage: the form shows and saves the configuration through the
// settings service (refusals shown on the form with what was typed); read-only mode can be
// turned off from the page while every other change is refused; the system CVE allowlist is
// saved as the API reads it.
func TestSystemConfigurationPage(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	tok := b.token("/admin/configuration")
	mustContain(t, b.get("/admin/configuration"), http.StatusOK, `id="auth-mode">db_auth<`, `name="token_expiration" value="30"`,
		`name="robot_name_prefix" value="robot$"`, `value="everyone" selected`)
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {tok}, "token_expiration": {"45"}, "robot_name_prefix": {"bot$"}, "robot_token_duration": {"7"},
			"project_creation_restriction": {"adminonly"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	a := b.do(http.MethodPost, "/admin/configuration", form())
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/configuration?done=saved" {
		t.Fatalf("save: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	var cfg map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/configurations", nil, http.StatusOK)), &cfg); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"token_expiration": 45.0, "robot_name_prefix": "bot$", "robot_token_duration": 7.0,
		"project_creation_restriction": "adminonly", "read_only": false} {
		if cfg[k].Value != want {
			t.Errorf("%s through the API: %v, want %v", k, cfg[k].Value, want)
		}
	}
	mustContain(t, b.get("/admin/configuration?done=saved"), http.StatusOK, "The configuration was saved.", `name="token_expiration" value="45"`,
		`value="adminonly" selected`)
	// Refusals: the service's words, and the form keeps what was typed.
	for _, c := range []struct {
		form url.Values
		text []string
	}{
		{form("robot_name_prefix", "bot"), []string{"name_prefix \"bot\" is invalid", `value="bot"`}},
		{form("token_expiration", "0"), []string{"oken_expiration must be between 1 and"}},
		{form("robot_token_duration", "soon"), []string{"The robot token duration \"soon\" is not a whole number."}},
		{form("project_creation_restriction", "nobody"), []string{"roject_creation_restriction must be"}},
	} {
		mustContain(t, b.do(http.MethodPost, "/admin/configuration", c.form), http.StatusBadRequest, c.text...)
	}
	// Read-only mode: other changes are refused, turning it off is not.
	if a := b.do(http.MethodPost, "/admin/configuration", form("read_only", "on")); a.status != http.StatusSeeOther {
		t.Fatalf("read-only on: %d\n%s", a.status, a.body)
	}
	mustContain(t, b.get("/admin/configuration"), http.StatusOK, `name="read_only" checked`)
	mustContain(t, b.do(http.MethodPost, "/admin/configuration/allowlist", url.Values{"csrf": {tok}, "allowlist": {"CVE-2021-44228"}}),
		http.StatusForbidden, "read only mode")
	if a := b.do(http.MethodPost, "/admin/configuration", form()); a.status != http.StatusSeeOther {
		t.Fatalf("read-only off: %d\n%s", a.status, a.body)
	}
	// The system CVE allowlist.
	a = b.do(http.MethodPost, "/admin/configuration/allowlist", url.Values{"csrf": {tok}, "allowlist": {"CVE-2021-44228\r\nGHSA-jfh8-c2jp-5v3q"}, "allowlist_expires": {"2030-01-31"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/configuration?done=allowlist" {
		t.Fatalf("allowlist: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	var al struct {
		ExpiresAt int64 `json:"expires_at"`
		Items     []struct {
			CVEID string `json:"cve_id"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/system/CVEAllowlist", nil, http.StatusOK)), &al); err != nil {
		t.Fatal(err)
	}
	if len(al.Items) != 2 || al.Items[0].CVEID != "CVE-2021-44228" || al.Items[1].CVEID != "GHSA-jfh8-c2jp-5v3q" ||
		time.Unix(al.ExpiresAt, 0).UTC().Format("2006-01-02 15:04:05") != "2030-01-31 23:59:59" {
		t.Errorf("the allowlist through the API: %+v", al)
	}
	mustContain(t, b.get("/admin/configuration?done=allowlist"), http.StatusOK, "The system CVE allowlist was saved.", "CVE-2021-44228\nGHSA-jfh8-c2jp-5v3q", `value="2030-01-31"`)
	mustContain(t, b.do(http.MethodPost, "/admin/configuration/allowlist", url.Values{"csrf": {tok}, "allowlist": {"bad!"}}),
		http.StatusBadRequest, "Invalid CVE ID", "bad!")
	mustContain(t, b.do(http.MethodPost, "/admin/configuration/allowlist", url.Values{"csrf": {tok}, "allowlist": {"CVE-1"}, "allowlist_expires": {"soon"}}),
		http.StatusBadRequest, "is not a date")
}

// TestQuotasPage: every project's quota with its use, largest use first, filtered and sorted
// by name; an administrator changes a limit (-1: none) as the API then reads it.
func TestQuotasPage(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	b.api(http.MethodPost, "/projects", map[string]any{"project_name": "big", "storage_limit": 1 << 30}, http.StatusCreated)
	b.api(http.MethodPost, "/projects", map[string]any{"project_name": "small"}, http.StatusCreated)
	b.push("big/app", "v1")
	var used struct {
		Used map[string]int64 `json:"used"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/quotas/"+quotaID(t, b, "big"), nil, http.StatusOK)), &used); err != nil || used.Used["storage"] <= 0 {
		t.Fatalf("big's use: %+v %v", used, err)
	}
	a := b.get("/admin/quotas")
	// The status strip's storage is the projects' quota use: big's alone.
	mustContain(t, a, http.StatusOK, `href="/projects/big"`, `href="/projects/small"`, "1.0 GiB", "<meter", `aria-sort="descending"`,
		"<span>Storage used: "+humanBytes(used.Used["storage"])+"</span>")
	if strings.Index(a.body, `href="/projects/big"`) > strings.Index(a.body, `href="/projects/small"`) {
		t.Errorf("the largest use is not first:\n%s", a.body)
	}
	a = b.get("/admin/quotas?filter=SMA")
	mustContain(t, a, http.StatusOK, `href="/projects/small"`)
	if strings.Contains(a.body, `href="/projects/big"`) {
		t.Errorf("the filter shows big:\n%s", a.body)
	}
	a = b.get("/admin/quotas?sort=name")
	if strings.Index(a.body, `href="/projects/big"`) > strings.Index(a.body, `href="/projects/library"`) {
		t.Errorf("not sorted by name:\n%s", a.body)
	}
	mustContain(t, b.get("/admin/quotas?page_size=1"), http.StatusOK, "1–1 of 3", "Next page")
	id := quotaID(t, b, "big")
	mustContain(t, b.get("/admin/quotas/"+id), http.StatusOK, "Quota of big", `name="storage_limit" value="1"`, "<option selected>GiB</option>")
	tok := b.token("/admin/quotas/" + id)
	hard := func() string {
		var q struct {
			Hard map[string]int64 `json:"hard"`
		}
		if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/quotas/"+id, nil, http.StatusOK)), &q); err != nil {
			t.Fatal(err)
		}
		return strconv.FormatInt(q.Hard["storage"], 10)
	}
	for _, c := range []struct{ limit, unit, want string }{{"512", "MiB", "536870912"}, {"-1", "GiB", "-1"}, {"2", "TiB", "2199023255552"}} {
		a := b.do(http.MethodPost, "/admin/quotas/"+id, url.Values{"csrf": {tok}, "storage_limit": {c.limit}, "storage_unit": {c.unit}})
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/quotas?done=saved" {
			t.Fatalf("save %s %s: %d\n%s", c.limit, c.unit, a.status, a.body)
		}
		if got := hard(); got != c.want {
			t.Errorf("%s %s: the API reads %s, want %s", c.limit, c.unit, got, c.want)
		}
	}
	mustContain(t, b.get("/admin/quotas?done=saved"), http.StatusOK, "The quota was saved.", "2.0 TiB")
	mustContain(t, b.do(http.MethodPost, "/admin/quotas/"+id, url.Values{"csrf": {tok}, "storage_limit": {"lots"}, "storage_unit": {"GiB"}}),
		http.StatusBadRequest, "is not a whole number", `value="lots"`)
	mustContain(t, b.do(http.MethodPost, "/admin/quotas/"+id, url.Values{"csrf": {tok}, "storage_limit": {"0"}, "storage_unit": {"GiB"}}), http.StatusBadRequest)
	if got := hard(); got != "2199023255552" {
		t.Errorf("a refused limit changed the quota to %s", got)
	}
	mustContain(t, b.get("/admin/quotas/99999"), http.StatusNotFound)
}

// TestGCStopAndStatusStrip: with the garbage collection queue paused a collection waits; a
// guest's forged stop is refused; the status strip says the queue is paused, the history
// offers Stop, and Stop ends the run as stopped, as PUT /system/gc/{id} does.
func TestGCStopAndStatusStrip(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	mustContain(t, b.get("/projects"), http.StatusOK, "Storage used: ", `<span class="health-healthy">Job queue: healthy, 0 jobs waiting</span>`)
	b.api(http.MethodPut, "/jobservice/queues/GARBAGE_COLLECTION", map[string]any{"action": "pause"}, http.StatusOK)
	tok := b.token("/admin/gc")
	if a := b.do(http.MethodPost, "/admin/gc/run", url.Values{"csrf": {tok}, "dry_run": {"false"}}); a.status != http.StatusSeeOther {
		t.Fatalf("run: %d\n%s", a.status, a.body)
	}
	var runs []struct {
		ID        int64  `json:"id"`
		JobStatus string `json:"job_status"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/system/gc", nil, http.StatusOK)), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v %v", runs, err)
	}
	id := strconv.FormatInt(runs[0].ID, 10)
	// A guest's forged stop, with their own session and token, is refused and stops nothing.
	g := b.withGuest("stopper")
	if a := g.do(http.MethodPost, "/admin/gc/"+id+"/stop", url.Values{"csrf": {g.token("/account/password")}}); a.status != http.StatusForbidden {
		t.Errorf("a guest's stop: %d, want 403", a.status)
	}
	if s := b.api(http.MethodGet, "/system/gc/"+id, nil, http.StatusOK); !strings.Contains(s, `"job_status":"Pending"`) {
		t.Errorf("after a guest's stop: %s", s)
	}
	// The strip is kept a few seconds: wait for it to show the pause.
	deadline := time.Now().Add(15 * time.Second)
	for a := b.get("/admin/gc"); !strings.Contains(a.body, "Job queue: paused"); a = b.get("/admin/gc") {
		if time.Now().After(deadline) {
			t.Fatalf("the strip does not show the paused queue:\n%s", a.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	mustContain(t, b.get("/admin/gc"), http.StatusOK, `action="/admin/gc/`+id+`/stop"`, "Stop run "+id, `class="health-unhealthy">Job queue: paused`)
	a := b.do(http.MethodPost, "/admin/gc/"+id+"/stop", url.Values{"csrf": {tok}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/admin/gc?done=stopping" {
		t.Fatalf("stop: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	if s := b.api(http.MethodGet, "/system/gc/"+id, nil, http.StatusOK); !strings.Contains(s, `"job_status":"Stopped"`) {
		t.Errorf("after stop: %s", s)
	}
	a = b.get("/admin/gc?done=stopping")
	mustContain(t, a, http.StatusOK, "The collection was asked to stop")
	if strings.Contains(a.body, "/stop\"") {
		t.Errorf("a stopped run still offers Stop:\n%s", a.body)
	}
	mustContain(t, b.do(http.MethodPost, "/admin/gc/99999/stop", url.Values{"csrf": {tok}}), http.StatusNotFound)
}

// humanBytes is a size as the portal shows it (binary units, one decimal).
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(1024), 0
	for m := n / 1024; m >= 1024 && exp < 4; m /= 1024 {
		div *= 1024
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTP"[exp]) + "iB"
}
