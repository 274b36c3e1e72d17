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

// projectID is the id of a project, through the API.
func (b *browser) projectID(name string) string {
	b.t.Helper()
	var p struct {
		ID int64 `json:"project_id"`
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/projects/"+name, nil, http.StatusOK)), &p); err != nil {
		b.t.Fatal(err)
	}
	return strconv.FormatInt(p.ID, 10)
}

// labelsOf is the labels of a scope through the API, as name=colour=description.
func (b *browser) labelsOf(query string) []string {
	b.t.Helper()
	var ls []struct {
		Name, Color, Description string
	}
	if err := json.Unmarshal([]byte(b.api(http.MethodGet, "/labels?"+query, nil, http.StatusOK)), &ls); err != nil {
		b.t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Name+"="+l.Color+"="+l.Description)
	}
	return out
}

var labelIDRE = regexp.MustCompile(`/labels/(\d+)/edit`)

// TestLabels: a project's labels and the global labels, with the same pages: create, edit and
// delete through the label service, its refusals on the form; a guest sees the labels but no
// control, and a forged post from one is refused and changes nothing.
func TestLabels(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("lab")
	pq := "scope=p&project_id=" + b.projectID("lab")
	for _, c := range []struct {
		name  string
		base  string
		query string
	}{
		{"project", "/projects/lab/labels", pq},
		{"global", "/admin/labels", "scope=g"},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := c.base
			mustContain(t, b.get(base), http.StatusOK, "There are no labels yet.", `action="`+base+`"`, `id="label-color" name="color" value="#0b5cad"`)
			tok := b.token(base)
			for _, r := range []struct {
				form   url.Values
				status int
				msg    string
			}{
				{url.Values{"name": {""}, "color": {"#ff0000"}}, http.StatusBadRequest, "Name is required."},
				{url.Values{"name": {"bug"}, "color": {"red"}}, http.StatusBadRequest, `Invalid color "red": want #RRGGBB.`},
			} {
				r.form.Set("csrf", tok)
				a := b.do(http.MethodPost, base, r.form)
				mustContain(t, a, r.status, r.msg)
			}
			if a := b.do(http.MethodPost, base, url.Values{"csrf": {tok}, "name": {"bug"}, "description": {"Something is wrong"}, "color": {"#ff0000"}}); a.status != http.StatusSeeOther || a.header.Get("Location") != base+"?done=created" {
				t.Fatalf("create: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
			}
			if got := b.labelsOf(c.query); len(got) != 1 || got[0] != "bug=#ff0000=Something is wrong" {
				t.Fatalf("labels through the API after create: %v", got)
			}
			mustContain(t, b.do(http.MethodPost, base, url.Values{"csrf": {tok}, "name": {"bug"}, "color": {"#00ff00"}}), http.StatusConflict, "Label bug already exists.")
			a := b.get(base + "?done=created")
			mustContain(t, a, http.StatusOK, "The label was created.", "bug", "Something is wrong", `fill="#ff0000"`, "<code>#ff0000</code>")
			m := labelIDRE.FindStringSubmatch(a.body)
			if m == nil {
				t.Fatalf("no edit link:\n%s", a.body)
			}
			item := base + "/" + m[1]
			mustContain(t, b.get(item+"/edit"), http.StatusOK, "Edit label bug", `value="#ff0000"`, `action="`+item+`"`)
			mustContain(t, b.do(http.MethodPost, item, url.Values{"csrf": {tok}, "name": {"bug"}, "color": {"#12"}}), http.StatusBadRequest, "Invalid color")
			if a := b.do(http.MethodPost, item, url.Values{"csrf": {tok}, "name": {"defect"}, "description": {"Fix me"}, "color": {"#00aa00"}}); a.status != http.StatusSeeOther || a.header.Get("Location") != base+"?done=updated" {
				t.Fatalf("update: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
			}
			if got := b.labelsOf(c.query); len(got) != 1 || got[0] != "defect=#00aa00=Fix me" {
				t.Fatalf("labels through the API after update: %v", got)
			}

			// The guest reads the labels and is offered nothing; forged posts are refused.
			a = g.get(base)
			mustContain(t, a, http.StatusOK, "defect", "Fix me")
			if strings.Contains(a.body, `method="post" action="`+base) || strings.Contains(a.body, "/edit") || strings.Contains(a.body, "/delete") {
				t.Errorf("the guest is offered label controls:\n%s", a.body)
			}
			for _, p := range []string{item + "/edit", item + "/delete"} {
				if a := g.get(p); a.status != http.StatusForbidden {
					t.Errorf("the guest's GET %s: %d", p, a.status)
				}
			}
			gtok := g.token("/account/password")
			for _, f := range []struct {
				path string
				form url.Values
			}{
				{base, url.Values{"name": {"sneaky"}, "color": {"#000000"}}},
				{item, url.Values{"name": {"renamed"}, "color": {"#000000"}}},
				{item + "/delete", url.Values{}},
			} {
				f.form.Set("csrf", gtok)
				mustContain(t, g.do(http.MethodPost, f.path, f.form), http.StatusForbidden, "You do not have permission to do this.")
			}
			if got := b.labelsOf(c.query); len(got) != 1 || got[0] != "defect=#00aa00=Fix me" {
				t.Fatalf("labels after the guest's posts: %v", got)
			}

			// Delete, after confirmation.
			mustContain(t, b.get(item+"/delete"), http.StatusOK, "Delete label defect", `action="`+item+`/delete"`)
			if a := b.do(http.MethodPost, item+"/delete", url.Values{"csrf": {tok}}); a.status != http.StatusSeeOther || a.header.Get("Location") != base+"?done=deleted" {
				t.Fatalf("delete: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
			}
			if got := b.labelsOf(c.query); len(got) != 0 {
				t.Fatalf("labels after delete: %v", got)
			}
			mustContain(t, b.get(base+"?done=deleted"), http.StatusOK, "The label was deleted.", "There are no labels yet.")
		})
	}

	// A label is found only under its own scope.
	b.api(http.MethodPost, "/labels", map[string]any{"name": "global", "scope": "g"}, http.StatusCreated)
	a := b.get("/admin/labels")
	m := labelIDRE.FindStringSubmatch(a.body)
	if m == nil {
		t.Fatalf("no global label:\n%s", a.body)
	}
	if a := b.get("/projects/lab/labels/" + m[1] + "/edit"); a.status != http.StatusNotFound {
		t.Errorf("a global label under a project: %d", a.status)
	}
	// The administration links the global labels; the guest's does not, nor its tab bar.
	mustContain(t, b.get("/admin"), http.StatusOK, `href="/admin/labels"`)
	if a := g.get("/admin"); a.status != http.StatusForbidden {
		t.Errorf("the guest's administration: %d", a.status)
	}
	mustContain(t, g.get("/projects/lab"), http.StatusOK, `href="/projects/lab/labels"`)
	// Sorted and filtered.
	b.api(http.MethodPost, "/labels", map[string]any{"name": "alpha", "scope": "g"}, http.StatusCreated)
	a = b.get("/admin/labels?sort=-name")
	if i, j := strings.Index(a.body, "global</span>"), strings.Index(a.body, "alpha</span>"); i < 0 || j < 0 || i > j {
		t.Errorf("sorted by name descending, global should come before alpha:\n%s", a.body)
	}
	a = b.get("/admin/labels?filter=alp")
	mustContain(t, a, http.StatusOK, "alpha")
	if strings.Contains(a.body, "global</span>") {
		t.Errorf("the filter alp shows global:\n%s", a.body)
	}
}

// TestProjectLogs: the project's audit entries, newest first, with Harbor's filters; a guest
// gets no Logs tab and is refused the page.
func TestProjectLogs(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("audited")
	b.push("audited/app", "v1")
	// Entries arrive from the event stream.
	deadline := time.Now().Add(10 * time.Second)
	var a answer
	for {
		a = b.get("/projects/audited/logs")
		if strings.Contains(a.body, "<code>audited/app:v1</code>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no entry for the push:\n%s", a.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustContain(t, a, http.StatusOK, "<td>admin</td>", "<td>artifact</td>", "<td>create</td>", `aria-current="page">Logs`)
	// Newest first: the project's creation comes after the push.
	if i, j := strings.Index(a.body, "<code>audited/app:v1</code>"), strings.Index(a.body, "<code>audited</code>"); j >= 0 && i > j {
		t.Errorf("entries are not newest first:\n%s", a.body)
	}
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"user=adm&operation=create&resource_type=artifact", true},
		{"resource=app%3Av1", true},
		{"user=nobody", false},
		{"operation=delete", false},
		{"resource_type=robot", false},
		{"from=2000-01-01&to=2000-01-02", false},
		{"from=2000-01-01", true},
		{"to=" + time.Now().UTC().Format("2006-01-02"), true},
	} {
		a := b.get("/projects/audited/logs?" + c.query)
		if a.status != http.StatusOK {
			t.Fatalf("%s: %d\n%s", c.query, a.status, a.body)
		}
		if got := strings.Contains(a.body, "<code>audited/app:v1</code>"); got != c.want {
			t.Errorf("%s: shows the push %v, want %v", c.query, got, c.want)
		}
		if !c.want && !strings.Contains(a.body, "No entry matches these filters.") {
			t.Errorf("%s: no word that nothing matched", c.query)
		}
	}
	// The filters are kept by the sort links.
	mustContain(t, b.get("/projects/audited/logs?operation=create"), http.StatusOK, `href="/projects/audited/logs?operation=create&amp;sort=username"`)
	mustContain(t, b.get("/projects/audited/logs?from=yesterday"), http.StatusBadRequest, `The date "yesterday" is not a date`)
	mustContain(t, b.get("/projects/audited/logs?sort=secret"), http.StatusBadRequest, "cannot be sorted by")

	a = g.get("/projects/audited")
	if strings.Contains(a.body, "/logs") {
		t.Errorf("the guest is offered the logs:\n%s", a.body)
	}
	if a := g.get("/projects/audited/logs"); a.status != http.StatusForbidden {
		t.Errorf("the guest's logs: %d", a.status)
	}
}

// TestPushCommands: the project page shows the push commands for this registry and project,
// with copy buttons, to those who may push; not to a guest.
func TestPushCommands(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("shipit")
	host := strings.TrimPrefix(b.base, "http://")
	a := b.get("/projects/shipit")
	mustContain(t, a, http.StatusOK, "Push commands",
		`<code id="push-docker-tag" class="command">docker tag SOURCE_IMAGE[:TAG] `+host+`/shipit/REPOSITORY[:TAG]</code>`,
		`<code id="push-docker" class="command">docker push `+host+`/shipit/REPOSITORY[:TAG]</code>`,
		`<code id="push-podman" class="command">podman push IMAGE_ID `+host+`/shipit/REPOSITORY[:TAG]</code>`,
		`<code id="push-helm" class="command">helm push CHART_PACKAGE oci://`+host+`/shipit</code>`,
		`<code id="push-oras" class="command">oras push `+host+`/shipit/REPOSITORY:TAG FILE</code>`,
		`data-copy="push-docker"`, `<script src="/static/copy.js?v=`)
	a = g.get("/projects/shipit")
	mustContain(t, a, http.StatusOK, "shipit")
	if strings.Contains(a.body, "Push commands") || strings.Contains(a.body, "docker push") || strings.Contains(a.body, "copy.js") {
		t.Errorf("the guest is shown the push commands:\n%s", a.body)
	}
}
