package portal_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// registryPut uploads to /v2/ as admin and fails the test unless it answers 201.
func (b *browser) registryPut(method, path, contentType string, body []byte) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+"/v2/"+path, bytes.NewReader(body))
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b.t.Fatalf("%s /v2/%s: %d", method, path, res.StatusCode)
	}
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// blob uploads data to repo in one request and returns its descriptor.
func (b *browser) blob(repo, mediaType string, data []byte) map[string]any {
	b.t.Helper()
	d := digestOf(data)
	b.registryPut(http.MethodPost, repo+"/blobs/uploads/?digest="+d, "application/octet-stream", data)
	return map[string]any{"mediaType": mediaType, "digest": d, "size": len(data)}
}

// manifest pushes a manifest to repo:ref and returns its digest and size.
func (b *browser) manifest(repo, ref string, m map[string]any) (string, int) {
	b.t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		b.t.Fatal(err)
	}
	d := digestOf(raw)
	if ref == "" {
		ref = d
	}
	b.registryPut(http.MethodPut, repo+"/manifests/"+ref, m["mediaType"].(string), raw)
	return d, len(raw)
}

// image pushes an image for a platform with a build history to repo:ref ("" pushes by
// digest) and returns its digest and size.
func (b *browser) image(repo, ref, arch, variant string) (string, int) {
	b.t.Helper()
	var layer bytes.Buffer
	zw := gzip.NewWriter(&layer)
	tw := tar.NewWriter(zw)
	content := make([]byte, 512)
	rand.Read(content)
	tw.WriteHeader(&tar.Header{Name: "app.bin", Mode: 0o644, Size: int64(len(content))})
	tw.Write(content)
	tw.Close()
	zw.Close()
	l := b.blob(repo, "application/vnd.oci.image.layer.v1.tar+gzip", layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux", "variant": variant, "created": "2024-05-01T10:00:00Z", "author": "Ada <ada@example.com>",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digestOf(nil)}},
		"config": map[string]any{"Env": []string{"PATH=/usr/bin"}, "Cmd": []string{"/app.bin"}},
		"history": []map[string]any{
			{"created": "2024-05-01T09:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:app.bin in /"},
			{"created": "2024-05-01T09:30:00Z", "created_by": `/bin/sh -c #(nop) CMD ["/app.bin"]`, "empty_layer": true},
		},
	})
	c := b.blob(repo, "application/vnd.oci.image.config.v1+json", config)
	return b.manifest(repo, ref, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": c, "layers": []any{l}})
}

// signature pushes a Notation signature whose subject is the manifest dgst of size n.
func (b *browser) signature(repo, dgst string, n int) string {
	b.t.Helper()
	empty := b.blob(repo, "application/vnd.oci.empty.v1+json", []byte("{}"))
	sig := b.blob(repo, "application/jose+json", []byte(`{"payload":"signed"}`))
	d, _ := b.manifest(repo, "", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"artifactType": "application/vnd.cncf.notary.signature", "config": empty, "layers": []any{sig},
		"subject": map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": dgst, "size": n}})
	return d
}

var idRE = regexp.MustCompile(`"id":(\d+)`)

// label creates a label through the API and returns its id.
func (b *browser) label(spec map[string]any) string {
	b.t.Helper()
	b.api(http.MethodPost, "/labels", spec, http.StatusCreated)
	out := b.api(http.MethodGet, "/labels?scope="+spec["scope"].(string)+"&name="+url.QueryEscape(spec["name"].(string))+
		"&project_id="+fmt.Sprint(spec["project_id"]), nil, http.StatusOK)
	m := idRE.FindStringSubmatch(out)
	if m == nil {
		b.t.Fatalf("no label in %s", out)
	}
	return m[1]
}

// post posts a form with the CSRF token of page and fails unless it answers want.
func (b *browser) post(page, path string, form url.Values, want int) answer {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.token(page))
	a := b.do(http.MethodPost, path, form)
	if a.status != want {
		b.t.Fatalf("POST %s: %d, want %d\n%s", path, a.status, want, a.body)
	}
	return a
}

// TestRepositoryPage: the repository page shows each artifact's tags, size, labels as
// chips, a signed badge, an index's platforms and the pull command; the description is
// rendered from markdown without raw HTML or dangerous links and edited through the
// repository service.
func TestRepositoryPage(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("shop")
	img, n := b.image("shop/team/app", "v1", "amd64", "")
	sig := b.signature("shop/team/app", img, n)
	amd, amdN := b.image("shop/team/app", "", "amd64", "")
	arm, armN := b.image("shop/team/app", "", "arm64", "v8")
	index, _ := b.manifest("shop/team/app", "multi", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{
			map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": amdN, "platform": map[string]any{"os": "linux", "architecture": "amd64"}},
			map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": armN, "platform": map[string]any{"os": "linux", "architecture": "arm64", "variant": "v8"}},
		}})
	pid := mustAtoi(t, b.projectID("shop"))
	red := b.label(map[string]any{"name": "release", "color": "#C92100", "scope": "p", "project_id": pid})
	b.label(map[string]any{"name": "qa-passed", "color": "#00ff00", "scope": "g"})
	b.api(http.MethodPost, "/projects/shop/repositories/team%252Fapp/artifacts/"+img+"/labels", map[string]any{"id": mustAtoi(t, red)}, http.StatusOK)

	page := "/projects/shop/repositories/team/app"
	a := b.get(page)
	host := strings.TrimPrefix(b.base, "http://")
	mustContain(t, a, http.StatusOK,
		`href="`+page+`/artifacts/`+img+`"`, `<span class="tag">v1</span>`, `<span class="tag">multi</span>`,
		`fill="#C92100"`, ">release</span>",
		`<span class="badge signed">Signed</span>`,
		"linux/amd64", "linux/arm64/v8", `href="`+page+`/artifacts/`+arm+`"`,
		"docker pull "+host+"/shop/team/app@"+img,
		"This repository has no description.", "Edit description", `href="`+page+`/-/delete"`,
		`action="`+page+`/artifacts/`+img+`/tags"`, `href="`+page+`/artifacts/`+img+`/tags/v1/delete"`,
		`action="`+page+`/artifacts/`+img+`/labels/`+red+`/delete"`, ">qa-passed (global)</option>",
		`href="`+page+`/artifacts/`+img+`/delete"`, `data-copy="pull-0"`)
	// Only the index is signed; the signature and the index's children are no rows of their own.
	if c := strings.Count(a.body, `class="badge signed"`); c != 1 {
		t.Errorf("%d signed badges, want 1", c)
	}
	if strings.Contains(a.body, `<code title="`+sig+`"`) || strings.Contains(a.body, `docker pull `+host+`/shop/team/app@`+amd) {
		t.Errorf("the signature or an index child has a row of its own:\n%s", a.body)
	}
	if !strings.Contains(a.body, "docker pull "+host+"/shop/team/app@"+index) {
		t.Errorf("no row for the index")
	}
	// The filter keeps the sort and matches tags.
	a = b.get(page + "?filter=mul")
	mustContain(t, a, http.StatusOK, `<span class="tag">multi</span>`)
	if strings.Contains(a.body, `<span class="tag">v1</span>`) {
		t.Errorf("the tag filter kept v1")
	}

	// The description: markdown, safely.
	desc := "# Shop app\n\nSee [the docs](https://example.com/docs) and **read** them.\n\n" +
		"<script>alert(1)</script>\n\n[click](javascript:alert(2))\n\n<img src=x onerror=alert(3)>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	a = b.post(page, page+"/-/description", url.Values{"description": {desc}}, http.StatusSeeOther)
	if loc := a.header.Get("Location"); loc != page+"?done=described" {
		t.Fatalf("after saving the description: %q", loc)
	}
	if got := b.api(http.MethodGet, "/projects/shop/repositories/team%252Fapp", nil, http.StatusOK); !strings.Contains(got, `"description":"# Shop app`) {
		t.Fatalf("the description was not saved: %s", got)
	}
	a = b.get(page + "?done=described")
	mustContain(t, a, http.StatusOK, "The description was saved.", "<h1>Shop app</h1>", `<a href="https://example.com/docs">the docs</a>`,
		"<strong>read</strong>", "<td>1</td>")
	rendered := a.body[strings.Index(a.body, `<div class="markdown">`):]
	rendered = rendered[:strings.Index(rendered, "</div>")]
	for _, bad := range []string{"<script", "alert", "javascript:", "onerror", "<img"} {
		if strings.Contains(rendered, bad) {
			t.Errorf("the rendered description lets %q through:\n%s", bad, rendered)
		}
	}
	// The form shows the source, escaped.
	if !strings.Contains(a.body, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(a.body, "<script>alert") {
		t.Errorf("the description's source in the form:\n%s", a.body)
	}

	// The guest sees the page, the description and the artifacts, and no control.
	a = g.get(page)
	mustContain(t, a, http.StatusOK, "<h1>Shop app</h1>", `<span class="tag">v1</span>`, "docker pull "+host+"/shop/team/app@"+img)
	for _, ctl := range []string{"Edit description", "/-/delete", "/tags\"", "/delete\"", "/labels", "/scan", `method="post" action="/projects/shop`} {
		if strings.Contains(a.body, ctl) {
			t.Errorf("the guest is offered %q", ctl)
		}
	}
	// An anonymous visitor reads a public project's repository and artifact, and is offered nothing.
	pub, _ := b.image("library/pub", "v1", "amd64", "")
	anon := newBrowser(t, b.base)
	for _, p := range []string{"/projects/library/repositories/pub", "/projects/library/repositories/pub/artifacts/" + pub} {
		a := anon.get(p)
		mustContain(t, a, http.StatusOK, `<span class="tag">v1</span>`)
		if strings.Contains(a.body, `method="post"`) || strings.Contains(a.body, "/delete") {
			t.Errorf("GET %s anonymously offers a form:\n%s", p, a.body)
		}
	}
	if a := anon.do(http.MethodPost, "/projects/library/repositories/pub/-/delete", url.Values{}); a.status != http.StatusForbidden {
		t.Errorf("an anonymous post: %d", a.status)
	}

	gtok := g.token("/account/password")
	mustContain(t, g.do(http.MethodPost, page+"/-/description", url.Values{"csrf": {gtok}, "description": {"pwned"}}), http.StatusForbidden, "You do not have permission to do this.")
	if got := b.api(http.MethodGet, "/projects/shop/repositories/team%252Fapp", nil, http.StatusOK); strings.Contains(got, "pwned") {
		t.Errorf("the guest's post changed the description: %s", got)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestArtifactActions: tags and labels are added and removed, and an artifact and the
// repository deleted after a confirmation, each through its service (checked through the
// API); a guest is offered none of it and each of its forged posts is refused with 403 and
// changes nothing.
func TestArtifactActions(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("acts")
	img, _ := b.image("acts/app", "v1", "amd64", "")
	other, _ := b.image("acts/app", "v2", "amd64", "")
	pid := mustAtoi(t, b.projectID("acts"))
	proj := b.label(map[string]any{"name": "team-a", "color": "#0000ff", "scope": "p", "project_id": pid})
	global := b.label(map[string]any{"name": "approved", "scope": "g"})
	repo := "/projects/acts/repositories/app"
	art := repo + "/artifacts/" + img
	apiArt := "/projects/acts/repositories/app/artifacts/" + img
	apiOf := func() string {
		return b.api(http.MethodGet, apiArt+"?with_label=true&with_tag=true", nil, http.StatusOK)
	}

	// The guest first: it reads the artifact but is offered nothing, and its posts change nothing.
	a := g.get(art)
	mustContain(t, a, http.StatusOK, img, `<span class="tag">v1</span>`)
	for _, ctl := range []string{`method="post"` + ` action="` + art, "/delete", "Add tag", "Add label", "Generate SBOM"} {
		if strings.Contains(a.body, ctl) {
			t.Errorf("the guest is offered %q", ctl)
		}
	}
	for _, path := range []string{art + "/delete", art + "/tags/v1/delete", repo + "/-/delete"} {
		mustContain(t, g.get(path), http.StatusForbidden, "You do not have permission to do this.")
	}
	gtok := g.token("/account/password")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{art + "/tags", url.Values{"tag": {"sneaky"}}},
		{art + "/tags/v1/delete", nil},
		{art + "/labels", url.Values{"label": {global}}},
		{art + "/delete", nil},
		{art + "/scan", url.Values{"scan_type": {"sbom"}}},
		{repo + "/-/delete", nil},
		{repo + "/-/description", url.Values{"description": {"x"}}},
	} {
		if c.form == nil {
			c.form = url.Values{}
		}
		c.form.Set("csrf", gtok)
		mustContain(t, g.do(http.MethodPost, c.path, c.form), http.StatusForbidden, "You do not have permission to do this.")
	}
	if got := apiOf(); strings.Contains(got, "sneaky") || !strings.Contains(got, `"name":"v1"`) || strings.Contains(got, `"name":"approved"`) {
		t.Errorf("the guest's posts changed the artifact: %s", got)
	}
	if got := b.api(http.MethodGet, "/projects/acts/repositories/app/artifacts/"+img+"/additions/sbom", nil, http.StatusNotFound); !strings.Contains(got, "not available") {
		t.Errorf("the guest's post requested an SBOM: %s", got)
	}

	// Add a tag; the service's refusals in words.
	a = b.post(art, art+"/tags", url.Values{"tag": {"stable"}}, http.StatusSeeOther)
	if loc := a.header.Get("Location"); loc != art+"?done=tagged" {
		t.Errorf("after tagging: %q", loc)
	}
	if got := apiOf(); !strings.Contains(got, `"name":"stable"`) {
		t.Errorf("the tag was not added: %s", got)
	}
	mustContain(t, b.get(art+"?done=tagged"), http.StatusOK, "The tag was added.", `<span class="tag">stable</span>`)
	mustContain(t, b.post(art, art+"/tags", url.Values{"tag": {"stable"}}, http.StatusConflict), http.StatusConflict, "Tag stable already exists under the repository acts/app.")
	// The refusal is shown on the artifact's page, with what was typed.
	mustContain(t, b.post(art, art+"/tags", url.Values{"tag": {"-bad"}}, http.StatusBadRequest), http.StatusBadRequest,
		`<p class="error" role="alert" id="form-error">Invalid tag name`, `value="-bad"`, "<h2 id=\"layers\">Layers</h2>")
	mustContain(t, b.post(art, art+"/labels", url.Values{"label": {"x"}}, http.StatusBadRequest), http.StatusBadRequest, "Choose a label to add.")
	// From the repository page, back to it.
	a = b.post(repo, art+"/tags", url.Values{"tag": {"latest"}, "back": {"repository"}}, http.StatusSeeOther)
	if loc := a.header.Get("Location"); loc != repo+"?done=tagged" {
		t.Errorf("after tagging from the repository page: %q", loc)
	}

	// Remove a tag, after a confirmation.
	mustContain(t, b.get(art+"/tags/stable/delete"), http.StatusOK, "Remove tag stable", `action="`+art+`/tags/stable/delete"`)
	b.post(art, art+"/tags/stable/delete", nil, http.StatusSeeOther)
	if got := apiOf(); strings.Contains(got, `"name":"stable"`) || !strings.Contains(got, `"name":"latest"`) {
		t.Errorf("the tag was not removed: %s", got)
	}
	mustContain(t, b.post(art, art+"/tags/nosuch/delete", nil, http.StatusNotFound), http.StatusNotFound, "Tag nosuch not found")

	// Labels: the project's and the global ones are offered; add, then remove.
	a = b.get(art)
	mustContain(t, a, http.StatusOK, `<option value="`+proj+`">team-a</option>`, `<option value="`+global+`">approved (global)</option>`)
	for _, id := range []string{proj, global} {
		b.post(art, art+"/labels", url.Values{"label": {id}}, http.StatusSeeOther)
	}
	if got := apiOf(); !strings.Contains(got, `"name":"team-a"`) || !strings.Contains(got, `"name":"approved"`) {
		t.Errorf("the labels were not added: %s", got)
	}
	a = b.get(art + "?done=labelled")
	mustContain(t, a, http.StatusOK, "The label was added.", `fill="#0000ff"`, ">team-a</span>", ">approved</span>", `action="`+art+`/labels/`+proj+`/delete"`)
	if strings.Contains(a.body, `<option value="`+proj+`">`) {
		t.Errorf("a label the artifact has is offered again")
	}
	mustContain(t, b.post(art, art+"/labels", url.Values{"label": {proj}}, http.StatusConflict), http.StatusConflict, "is already added")
	b.post(art, art+"/labels/"+proj+"/delete", nil, http.StatusSeeOther)
	if got := apiOf(); strings.Contains(got, `"name":"team-a"`) || !strings.Contains(got, `"name":"approved"`) {
		t.Errorf("the label was not removed: %s", got)
	}

	// Delete the artifact, after a confirmation.
	mustContain(t, b.get(art+"/delete"), http.StatusOK, "Delete artifact", "This cannot be undone.", `action="`+art+`/delete"`)
	a = b.post(art, art+"/delete", nil, http.StatusSeeOther)
	if loc := a.header.Get("Location"); loc != repo+"?done=deleted" {
		t.Errorf("after deleting: %q", loc)
	}
	b.api(http.MethodGet, apiArt, nil, http.StatusNotFound)
	mustContain(t, b.get(repo+"?done=deleted"), http.StatusOK, "The artifact was deleted.", `<span class="tag">v2</span>`)
	if a := b.get(art); a.status != http.StatusNotFound {
		t.Errorf("the deleted artifact's page: %d", a.status)
	}

	// Delete the repository, after a confirmation.
	mustContain(t, b.get(repo+"/-/delete"), http.StatusOK, "Delete repository acts/app", `action="`+repo+`/-/delete"`)
	a = b.post(repo, repo+"/-/delete", nil, http.StatusSeeOther)
	if loc := a.header.Get("Location"); loc != "/projects/acts?deleted=acts%2Fapp" {
		t.Errorf("after deleting the repository: %q", loc)
	}
	b.api(http.MethodGet, "/projects/acts/repositories/app", nil, http.StatusNotFound)
	mustContain(t, b.get("/projects/acts?deleted=acts%2Fapp"), http.StatusOK, "The repository acts/app was deleted.")
	b.api(http.MethodGet, "/projects/acts/repositories/app/artifacts/"+other, nil, http.StatusNotFound)

	// An immutable tag: removing it, deleting its artifact or its repository is refused, and the
	// confirmation page says why.
	locked, _ := b.image("acts/locked", "v1", "amd64", "")
	b.api(http.MethodPost, "/projects/acts/immutabletagrules", map[string]any{
		"disabled": false, "action": "immutable", "template": "immutable_template", "params": map[string]any{},
		"tag_selectors":   []map[string]string{{"kind": "doublestar", "decoration": "matches", "pattern": "v1", "extras": `{"untagged":false}`}},
		"scope_selectors": map[string]any{"repository": []map[string]string{{"kind": "doublestar", "decoration": "repoMatches", "pattern": "locked"}}},
	}, http.StatusCreated)
	lrepo := "/projects/acts/repositories/locked"
	lart := lrepo + "/artifacts/" + locked
	for _, path := range []string{lart + "/tags/v1/delete", lart + "/delete", lrepo + "/-/delete"} {
		a := b.post(lart, path, nil, http.StatusPreconditionFailed)
		mustContain(t, a, http.StatusPreconditionFailed, "configured as immutable", `class="error" role="alert"`)
		if strings.Contains(a.body, `<button type="submit" class="danger">`) {
			t.Errorf("POST %s refused still offers the deletion:\n%s", path, a.body)
		}
	}
	if got := b.api(http.MethodGet, "/projects/acts/repositories/locked/artifacts/"+locked, nil, http.StatusOK); !strings.Contains(got, `"name":"v1"`) {
		t.Errorf("the immutable tag is gone: %s", got)
	}

	// Paths that name nothing.
	for _, p := range []string{repo + "/-/nothing", "/projects/acts/repositories/-/delete", art + "/nothing", "/projects/acts/repositories/x/sha256:abc"} {
		if a := b.get(p); a.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, a.status)
		}
	}
}

// TestArtifactDetails: the artifact page shows the image's config, layers and build history,
// an index's platforms, the referrers linked to their pages, and the SBOM once generated,
// with its packages and a download.
func TestArtifactDetails(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("det")
	img, n := b.image("det/app", "v1", "amd64", "")
	sig := b.signature("det/app", img, n)
	arm, armN := b.image("det/app", "", "arm64", "v8")
	index, _ := b.manifest("det/app", "multi", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": armN,
			"platform": map[string]any{"os": "linux", "architecture": "arm64", "variant": "v8"}}}})
	// cosign's legacy signature: a manifest tagged sha256-<hex>.sig beside its subject.
	cosignCfg := b.blob("det/app", "application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"","os":""}`))
	cosignSig := b.blob("det/app", "application/vnd.dev.cosign.simplesigning.v1+json", []byte(`{"critical":{}}`))
	cosign, _ := b.manifest("det/app", "sha256-"+strings.TrimPrefix(img, "sha256:")+".sig", map[string]any{"schemaVersion": 2,
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cosignCfg, "layers": []any{cosignSig}})
	repo := "/projects/det/repositories/app"
	art := repo + "/artifacts/" + img
	// On the repository page, the signatures are no rows of their own.
	a := b.get(repo)
	mustContain(t, a, http.StatusOK, `<span class="badge signed">Signed</span>`, `href="`+art+`"`)
	if strings.Contains(a.body, `href="`+repo+`/artifacts/`+cosign+`"`) || strings.Contains(a.body, `href="`+repo+`/artifacts/`+sig+`"`) {
		t.Errorf("a signature has a row of its own:\n%s", a.body)
	}

	a = b.get(art)
	mustContain(t, a, http.StatusOK,
		"Signature (cosign)", `href="`+repo+`/artifacts/`+cosign+`"`,
		"linux/amd64", "2024-05-01 10:00 UTC", "Ada &lt;ada@example.com&gt;", `&#34;Cmd&#34;`,
		"application/vnd.oci.image.layer.v1.tar+gzip", "(config)",
		"Build history", "/bin/sh -c #(nop) ADD file:app.bin in /", "2024-05-01 09:00 UTC", "Empty layer",
		"Signature (Notation)", `href="`+repo+`/artifacts/`+sig+`"`, "application/vnd.cncf.notary.signature",
		`<span class="badge signed">Signed</span>`,
		"This artifact has no SBOM.", "Generate SBOM")
	// The signature's own page, linked from the referrers.
	mustContain(t, b.get(repo+"/artifacts/"+sig), http.StatusOK, sig, "application/jose+json")
	// The index: its platforms, linked.
	mustContain(t, b.get(repo+"/artifacts/"+index), http.StatusOK, "Platforms", "linux/arm64/v8", `href="`+repo+`/artifacts/`+arm+`"`)

	// The SBOM, generated from the page.
	b.post(art, art+"/scan", url.Values{"scan_type": {"sbom"}}, http.StatusSeeOther)
	deadline := time.Now().Add(60 * time.Second)
	for {
		a = b.get(art)
		if strings.Contains(a.body, "Download the SBOM") || strings.Contains(a.body, "The scan failed.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SBOM after 60 s:\n%s", a.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustContain(t, a, http.StatusOK, "Download the SBOM", `href="`+art+`/sbom"`, "application/spdx+json", "Packages of the SBOM")
	dl := b.get(art + "/sbom")
	if dl.status != http.StatusOK || dl.header.Get("Content-Type") != "application/spdx+json" ||
		!strings.HasPrefix(dl.header.Get("Content-Disposition"), "attachment;") || !strings.Contains(dl.body, `"spdxVersion"`) {
		t.Fatalf("the SBOM download: %d %v\n%s", dl.status, dl.header, dl.body)
	}
	var doc struct {
		Packages []struct{ Name string } `json:"packages"`
	}
	if err := json.Unmarshal([]byte(dl.body), &doc); err != nil || len(doc.Packages) == 0 {
		t.Fatalf("the SBOM document: %v %s", err, dl.body)
	}
	for _, p := range doc.Packages {
		if !strings.Contains(a.body, templateEscape(p.Name)) {
			t.Errorf("the SBOM table lacks package %q", p.Name)
		}
	}
	// The guest reads the SBOM, and may not generate one.
	mustContain(t, g.get(art), http.StatusOK, "Download the SBOM")
	if strings.Contains(g.get(art).body, "Generate SBOM") {
		t.Error("the guest is offered the SBOM generation")
	}
	if a := g.get(art + "/sbom"); a.status != http.StatusOK {
		t.Errorf("the guest's SBOM download: %d", a.status)
	}
	if a := b.get(art + "?sbom_page=0"); a.status != http.StatusBadRequest {
		t.Errorf("sbom_page=0: %d", a.status)
	}
	if a := b.get(repo + "/artifacts/" + sig + "/sbom"); a.status != http.StatusNotFound {
		t.Errorf("the SBOM of an artifact without one: %d", a.status)
	}
}
