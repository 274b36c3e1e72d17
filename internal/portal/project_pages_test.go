package portal_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

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

// templateEscape is text as html/template writes it.
func templateEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

func mustContain(t *testing.T, a answer, status int, texts ...string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%d, want %d:\n%s", a.status, status, a.body)
	}
	for _, s := range texts {
		// Markup as it is, or text as the page escapes it.
		if !strings.Contains(a.body, s) && !strings.Contains(a.body, html.EscapeString(s)) && !strings.Contains(a.body, templateEscape(s)) {
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

var secretRE = regexp.MustCompile(`<code id="robot-secret" class="secret">([^<]+)</code>`)

// TestRobots: create a robot with push and pull, its secret shown once and working with the
// registry; disable, enable, refresh, delete; the service's validation on the form; a guest
// sees the list but no form, and a forged post from one changes nothing.
func TestRobots(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("bots")
	mustContain(t, b.get("/projects/bots/robots"), http.StatusOK, "This project has no robot accounts.", `href="/projects/bots/robots/new"`)
	a := b.get("/projects/bots/robots/new")
	mustContain(t, a, http.StatusOK, `id="perm-repository-push" name="access" value="repository:push" checked`, `id="perm-repository-pull" name="access" value="repository:pull" checked`, `value="artifact:delete"`)
	tok := b.token("/projects/bots/robots/new")

	// The service's refusals, on the form.
	for _, c := range []struct {
		form   url.Values
		status int
		msg    string
	}{
		{url.Values{"name": {"Bad Name"}, "access": {"repository:pull"}}, http.StatusBadRequest, "Robot name is not in lower case or contains illegal characters."},
		{url.Values{"name": {"ok"}}, http.StatusBadRequest, "Tick at least one permission."},
		{url.Values{"name": {"ok"}, "access": {"repository:fly"}}, http.StatusBadRequest, "Bad request permission: repository:fly."},
		{url.Values{"name": {"ok"}, "duration": {"0"}, "access": {"repository:pull"}}, http.StatusBadRequest, "is not a whole number of days"},
	} {
		c.form.Set("csrf", tok)
		mustContain(t, b.do(http.MethodPost, "/projects/bots/robots", c.form), c.status, c.msg)
	}

	a = b.do(http.MethodPost, "/projects/bots/robots", url.Values{"csrf": {tok}, "name": {"ci-pipeline"}, "description": {"CI"}, "duration": {"7"}, "access": {"repository:push", "repository:pull"}})
	mustContain(t, a, http.StatusCreated, "robot$bots+ci-pipeline", "shown only this once", `data-copy="robot-secret"`)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the secret page's Cache-Control: %q", cc)
	}
	m := secretRE.FindStringSubmatch(a.body)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", a.body)
	}
	secret := m[1]
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$bots+ci-pipeline", secret)); a.status != http.StatusOK {
		t.Errorf("the robot's secret at /v2/: %d", a.status)
	}
	// A name taken: the service's conflict on the form.
	a = b.do(http.MethodPost, "/projects/bots/robots", url.Values{"csrf": {tok}, "name": {"ci-pipeline"}, "never": {"on"}, "access": {"repository:pull"}})
	mustContain(t, a, http.StatusConflict, "Robot account robot$bots+ci-pipeline already exists.")

	a = b.get("/projects/bots/robots")
	mustContain(t, a, http.StatusOK, "robot$bots+ci-pipeline", "repository: push, pull", "Enabled")
	if strings.Contains(a.body, secret) {
		t.Error("the list shows the secret")
	}
	id := regexp.MustCompile(`/projects/bots/robots/(\d+)/disable`).FindStringSubmatch(a.body)[1]
	base := "/projects/bots/robots/" + id

	// The guest sees the robots, and nothing to change them with; forged posts are refused.
	a = g.get("/projects/bots/robots")
	mustContain(t, a, http.StatusOK, "robot$bots+ci-pipeline")
	if strings.Contains(a.body, "<form method=\"post\" action=\"/projects/bots/robots") || strings.Contains(a.body, "/robots/new") || strings.Contains(a.body, "/delete") {
		t.Errorf("the guest is offered robot forms:\n%s", a.body)
	}
	if a := g.get("/projects/bots/robots/new"); a.status != http.StatusForbidden {
		t.Errorf("the guest's new robot form: %d", a.status)
	}
	gtok := g.token("/projects/bots/robots")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/projects/bots/robots", url.Values{"name": {"sneaky"}, "access": {"repository:pull"}}},
		{base + "/disable", url.Values{"disable": {"true"}}},
		{base + "/secret", nil},
		{base + "/delete", nil},
	} {
		if c.form == nil {
			c.form = url.Values{}
		}
		c.form.Set("csrf", gtok)
		a := g.do(http.MethodPost, c.path, c.form)
		mustContain(t, a, http.StatusForbidden)
	}
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$bots+ci-pipeline", secret)); a.status != http.StatusOK {
		t.Errorf("after the guest's posts, the robot's secret: %d", a.status)
	}
	if a := b.get("/projects/bots/robots"); strings.Contains(a.body, "sneaky") || strings.Contains(a.body, "Disabled") {
		t.Errorf("the guest's posts changed the robots:\n%s", a.body)
	}

	// Disable and enable.
	if a := b.do(http.MethodPost, base+"/disable", url.Values{"csrf": {tok}, "disable": {"true"}}); a.status != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", a.status, a.body)
	}
	mustContain(t, b.get("/projects/bots/robots?done=disabled"), http.StatusOK, "The robot account was disabled.", "Disabled", ">Enable<")
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$bots+ci-pipeline", secret)); a.status != http.StatusUnauthorized {
		t.Errorf("a disabled robot at /v2/: %d", a.status)
	}
	if a := b.do(http.MethodPost, base+"/disable", url.Values{"csrf": {tok}, "disable": {"false"}}); a.status != http.StatusSeeOther {
		t.Fatalf("enable: %d\n%s", a.status, a.body)
	}
	// A new secret: the old one stops working.
	a = b.do(http.MethodPost, base+"/secret", url.Values{"csrf": {tok}})
	mustContain(t, a, http.StatusOK, "New secret", "robot$bots+ci-pipeline")
	next := secretRE.FindStringSubmatch(a.body)[1]
	if next == secret {
		t.Error("the refreshed secret is the old one")
	}
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$bots+ci-pipeline", secret)); a.status != http.StatusUnauthorized {
		t.Errorf("the old secret after a refresh: %d", a.status)
	}
	if a := b.do(http.MethodGet, "/v2/", nil, "Authorization", basic("robot$bots+ci-pipeline", next)); a.status != http.StatusOK {
		t.Errorf("the new secret: %d", a.status)
	}
	// Delete, after confirmation; a wrong token first.
	mustContain(t, b.get(base+"/delete"), http.StatusOK, "Delete robot account robot$bots+ci-pipeline")
	if a := b.do(http.MethodPost, base+"/delete", url.Values{"csrf": {"forged"}}); a.status != http.StatusForbidden {
		t.Errorf("delete with a wrong token: %d", a.status)
	}
	if a := b.do(http.MethodPost, base+"/delete", url.Values{"csrf": {tok}}); a.status != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", a.status, a.body)
	}
	mustContain(t, b.get("/projects/bots/robots?done=deleted"), http.StatusOK, "The robot account was deleted.", "This project has no robot accounts.")
	// A robot of another project is not found under this one.
	if a := b.get("/projects/library/robots/" + id + "/delete"); a.status != http.StatusNotFound {
		t.Errorf("a robot under another project: %d", a.status)
	}
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// push uploads a small random image to repo:tag as admin through /v2/ and returns its digest.
func (b *browser) push(repo, tag string) string {
	b.t.Helper()
	blob := func(data []byte) string {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
		req, _ := http.NewRequest(http.MethodPost, b.base+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(data))
		req.SetBasicAuth("admin", adminPassword)
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			b.t.Fatalf("blob upload: %d", res.StatusCode)
		}
		return d
	}
	var layer bytes.Buffer
	zw := gzip.NewWriter(&layer)
	tw := tar.NewWriter(zw)
	content := make([]byte, 1024)
	rand.Read(content)
	tw.WriteHeader(&tar.Header{Name: "data.bin", Mode: 0o644, Size: int64(len(content))})
	tw.Write(content)
	tw.Close()
	zw.Close()
	layerDigest := blob(layer.Bytes())
	diffID := fmt.Sprintf("sha256:%x", sha256.Sum256(nil))
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + diffID + `"]},"config":{}}`)
	configDigest := blob(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config":      map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers":      []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest, "size": layer.Len()}},
		"annotations": map[string]string{"org.opencontainers.image.source": "https://example.com/app"},
	})
	req, _ := http.NewRequest(http.MethodPut, b.base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(manifest))
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b.t.Fatalf("manifest push: %d", res.StatusCode)
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(manifest))
}

// TestArtifact: the repository page links its artifacts; the artifact page shows the overview,
// offers the scan to those who may scan, and shows the report once the scan has run; a guest's
// forged scan is refused.
func TestArtifact(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("arts")
	dgst := b.push("arts/team/app", "v1")
	page := "/projects/arts/repositories/team/app/artifacts/" + dgst
	a := b.get("/projects/arts/repositories/team/app")
	mustContain(t, a, http.StatusOK, `href="`+page+`"`, "Not scanned")
	a = b.get(page)
	mustContain(t, a, http.StatusOK, dgst, "application/vnd.oci.image.manifest.v1+json", "org.opencontainers.image.source", "https://example.com/app",
		`<span class="tag">v1</span>`, "This artifact has not been scanned.", `action="`+page+`/scan"`)
	if a := b.get(page + "?severity=Extreme"); a.status != http.StatusBadRequest {
		t.Errorf("an unknown severity filter: %d", a.status)
	}
	if a := b.get("/projects/arts/repositories/team/app/artifacts/sha256:" + strings.Repeat("0", 64)); a.status != http.StatusNotFound {
		t.Errorf("an unknown digest: %d", a.status)
	}

	// The guest reads the artifact, is offered no scan, and a forged one is refused.
	a = g.get(page)
	mustContain(t, a, http.StatusOK, dgst, "This artifact has not been scanned.")
	if strings.Contains(a.body, "/scan") {
		t.Errorf("the guest is offered the scan:\n%s", a.body)
	}
	mustContain(t, g.do(http.MethodPost, page+"/scan", url.Values{"csrf": {g.token(page)}}), http.StatusForbidden)
	if a := b.get(page); !strings.Contains(a.body, "This artifact has not been scanned.") {
		t.Errorf("the guest's forged scan started one:\n%s", a.body)
	}
	if a := b.do(http.MethodPost, page+"/scan", url.Values{"csrf": {"forged"}}); a.status != http.StatusForbidden {
		t.Errorf("a scan with a wrong token: %d", a.status)
	}

	// The scan, and its outcome on the page: without a vulnerability database (this server
	// has none) the scan fails, and the page says why. Reports with vulnerabilities are shown
	// in internal/server's TestPortalArtifactVulnerabilities.
	a = b.do(http.MethodPost, page+"/scan", url.Values{"csrf": {b.token(page)}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != page+"?scan=requested" {
		t.Fatalf("scan: %d %s\n%s", a.status, a.header.Get("Location"), a.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a = b.get(page)
		if strings.Contains(a.body, "The scan failed.") || strings.Contains(a.body, `class="vulnbar"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report after 30 s:\n%s", a.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustContain(t, a, http.StatusOK, "The scan failed. No vulnerability database")
	mustContain(t, b.get("/projects/arts/repositories/team/app"), http.StatusOK, "<td>Scan failed</td>")
}
