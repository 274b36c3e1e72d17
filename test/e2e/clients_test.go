//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestClients drives berth with the real clients, each logging in with the
// admin's user name and password through the token flow, over plain HTTP.
func TestClients(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		client string
		test   func(t *testing.T, srv *server)
	}{
		{"crane push pull copy-index tag delete", "crane", testCrane},
		{"skopeo oci-layout round trip and inspect", "skopeo", testSkopeo},
		{"regctl copy and tag ls", "regctl", testRegctl},
		{"oras artifact push pull attach discover", "oras", testOras},
		{"helm chart push and pull", "helm", testHelm},
		{"cosign sign and verify", "cosign", testCosign},
		{"podman pull push pull", "podman", testPodman},
	}
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				requireClient(t, tc.client)
				tc.test(t, srv)
			})
		}
	})
}

// assertAuthStored checks that a login wrote credentials for host to a
// docker-style auth file ({"auths": {host: …}}).
func assertAuthStored(t *testing.T, path, host string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("login stored no credentials: %v", err)
	}
	var cfg struct {
		Auths map[string]json.RawMessage `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("auth file %s: %v", path, err)
	}
	for k := range cfg.Auths {
		if k == host || strings.TrimPrefix(strings.TrimPrefix(k, "http://"), "https://") == host {
			return
		}
	}
	t.Fatalf("auth file %s has no entry for %s: %s", path, host, b)
}

// assertTokenIssued checks in the server's request log that a token was
// issued (a /service/token request answered 200) since the log had length
// since. It checks nothing if the log has no request lines.
func assertTokenIssued(t *testing.T, srv *server, since int, client string) {
	t.Helper()
	logText := srv.logText()
	if !strings.Contains(logText, "path=/v2/") {
		t.Logf("the server log has no request lines: cannot check that %s obtained a token", client)
		return
	}
	if since > len(logText) {
		since = 0
	}
	for _, line := range strings.Split(logText[since:], "\n") {
		if strings.Contains(line, "path=/service/token") && (!strings.Contains(line, "status=") || strings.Contains(line, "status=200")) {
			return
		}
	}
	t.Errorf("%s logged in and pushed, but the server log shows no token issued (path=/service/token with status=200) since its login", client)
}

func testCrane(t *testing.T, srv *server) {
	env := envFor(t)
	h := srv.Host
	mark := len(srv.logText())
	run(t, "crane", "auth", "login", h, "-u", srv.User, "-p", srv.Password)
	assertAuthStored(t, filepath.Join(env.DockerConfig, "config.json"), h)

	// push a random image made from a generated tar
	tarPath := filepath.Join(env.Dir, "layer.tar")
	if err := os.WriteFile(tarPath, tarBytes(t, map[string][]byte{"hello.bin": randomBytes(t, 512<<10)}), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := h + "/library/crane:v1"
	run(t, "crane", "append", "--insecure", "-f", tarPath, "-t", ref)
	assertTokenIssued(t, srv, mark, "crane")
	digest := strings.TrimSpace(run(t, "crane", "digest", "--insecure", ref))
	if got := manifestDigest(t, srv.admin(), "library/crane", "v1"); got != digest {
		t.Fatalf("crane digest %s, registry serves %s", digest, got)
	}

	// pull it into an OCI layout
	layout := filepath.Join(env.Dir, "pulled")
	run(t, "crane", "pull", "--insecure", "--format=oci", ref, layout)
	if got := readOCILayoutDigest(t, layout, ""); got != digest {
		t.Fatalf("crane pull wrote manifest %s, want %s", got, digest)
	}

	// copy a multi-arch index built with crane index append
	admin := srv.admin()
	amd := newImage(t, "linux/amd64", randomLayer(t, 64<<10))
	arm := newImage(t, "linux/arm64", randomLayer(t, 64<<10))
	mustPushImage(t, admin, "library/crane-index", "amd64", amd)
	mustPushImage(t, admin, "library/crane-index", "arm64", arm)
	index := h + "/library/crane-index:v1"
	run(t, "crane", "index", "append", "--insecure", "-m", h+"/library/crane-index:amd64", "-m", h+"/library/crane-index:arm64", "-t", index)
	indexDigest := strings.TrimSpace(run(t, "crane", "digest", "--insecure", index))

	cp := h + "/library/crane-copy:v1"
	run(t, "crane", "copy", "--insecure", index, cp)
	if got := strings.TrimSpace(run(t, "crane", "digest", "--insecure", cp)); got != indexDigest {
		t.Fatalf("copied index has digest %s, source %s", got, indexDigest)
	}
	r := admin.do(t, http.MethodGet, "/v2/library/crane-copy/manifests/v1", nil, "Accept", manifestAccept)
	var idx struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Digest   string `json:"digest"`
			Platform struct {
				Architecture string `json:"architecture"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &idx) != nil || len(idx.Manifests) != 2 {
		t.Fatalf("GET the copied index: want 200 and an index of 2 manifests, got %s", r)
	}
	if ct := r.Header.Get("Content-Type"); ct != mtOCIIndex && ct != mtDockerList {
		t.Errorf("GET the copied index: Content-Type %q, want an index media type", ct)
	}
	want := map[string]testImage{"amd64": amd, "arm64": arm}
	for _, m := range idx.Manifests {
		img, ok := want[m.Platform.Architecture]
		if !ok || m.Digest != img.Digest {
			t.Errorf("copied index lists %s for %q; pushed amd64=%s arm64=%s", m.Digest, m.Platform.Architecture, amd.Digest, arm.Digest)
			continue
		}
		mustVerifyImage(t, admin, "library/crane-copy", m.Digest, img)
	}

	// tag, list, delete by digest: the manifest is gone
	run(t, "crane", "tag", "--insecure", cp, "v2")
	tags := strings.Fields(run(t, "crane", "ls", "--insecure", h+"/library/crane-copy"))
	if !slices.Contains(tags, "v1") || !slices.Contains(tags, "v2") {
		t.Fatalf("crane ls after crane tag: %q, want v1 and v2", tags)
	}
	run(t, "crane", "delete", "--insecure", h+"/library/crane-copy@"+indexDigest)
	mustFail(t, runOpts{}, "crane", "manifest", "--insecure", h+"/library/crane-copy@"+indexDigest)
	for _, ref := range []string{indexDigest, "v1", "v2"} {
		if r := admin.do(t, http.MethodGet, "/v2/library/crane-copy/manifests/"+ref, nil, "Accept", manifestAccept); r.Status != http.StatusNotFound {
			t.Errorf("after crane delete of %s: GET manifest %s: want 404, got %s", indexDigest, ref, r)
		}
	}
}

func testSkopeo(t *testing.T, srv *server) {
	env := envFor(t)
	h := srv.Host
	mark := len(srv.logText())
	run(t, "skopeo", "login", "--tls-verify=false", "-u", srv.User, "-p", srv.Password, h)
	assertAuthStored(t, env.AuthFile, h)

	img := randomImage(t, 256<<10)
	src := filepath.Join(env.Dir, "src")
	writeOCILayout(t, src, "v1", img)
	dst := "docker://" + h + "/library/skopeo:v1"
	run(t, "skopeo", "copy", "--dest-tls-verify=false", "oci:"+src+":v1", dst)
	assertTokenIssued(t, srv, mark, "skopeo")
	if got := manifestDigest(t, srv.admin(), "library/skopeo", "v1"); got != img.Digest {
		t.Fatalf("skopeo copy oci:→registry stored manifest %s, layout has %s", got, img.Digest)
	}
	mustVerifyImage(t, srv.admin(), "library/skopeo", "v1", img)

	back := filepath.Join(env.Dir, "back")
	run(t, "skopeo", "copy", "--src-tls-verify=false", dst, "oci:"+back+":v1")
	if got := readOCILayoutDigest(t, back, "v1"); got != img.Digest {
		t.Fatalf("skopeo copy registry→oci: wrote manifest %s, want %s", got, img.Digest)
	}

	var info struct {
		Digest string `json:"Digest"`
		Layers []string
	}
	out := run(t, "skopeo", "inspect", "--tls-verify=false", dst)
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("skopeo inspect output: %v\n%s", err, out)
	}
	if info.Digest != img.Digest || len(info.Layers) != 1 || info.Layers[0] != img.Layers[0].Digest {
		t.Fatalf("skopeo inspect: digest %s layers %v; want %s [%s]", info.Digest, info.Layers, img.Digest, img.Layers[0].Digest)
	}
}

func testRegctl(t *testing.T, srv *server) {
	h := srv.Host
	img := randomImage(t, 128<<10)
	mustPushImage(t, srv.admin(), "library/regctl-src", "v1", img)

	// --skip-check: like Harbor, berth refuses an anonymous token request
	// without a scope (the ping regctl would do before it has credentials).
	run(t, "regctl", "registry", "set", "--skip-check", "--tls", "disabled", h)
	mark := len(srv.logText())
	run(t, "regctl", "registry", "login", h, "-u", srv.User, "-p", srv.Password)
	run(t, "regctl", "image", "copy", h+"/library/regctl-src:v1", h+"/library/regctl:v1")
	assertTokenIssued(t, srv, mark, "regctl")
	mustVerifyImage(t, srv.admin(), "library/regctl", "v1", img)
	if tags := strings.Fields(run(t, "regctl", "tag", "ls", h+"/library/regctl")); !slices.Equal(tags, []string{"v1"}) {
		t.Fatalf("regctl tag ls: %q, want [v1]", tags)
	}
	if got := strings.TrimSpace(run(t, "regctl", "image", "digest", h+"/library/regctl:v1")); got != img.Digest {
		t.Fatalf("regctl image digest: %s, want %s", got, img.Digest)
	}
}

func testOras(t *testing.T, srv *server) {
	env := envFor(t)
	h := srv.Host
	mark := len(srv.logText())
	run(t, "oras", "login", "--plain-http", "-u", srv.User, "-p", srv.Password, h)
	assertAuthStored(t, filepath.Join(env.DockerConfig, "config.json"), h)

	content := append([]byte("berth e2e artifact\n"), randomBytes(t, 4096)...)
	if err := os.WriteFile(filepath.Join(env.Dir, "artifact.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := h + "/library/oras:v1"
	const artifactType = "application/vnd.berth.e2e.artifact"
	run(t, "oras", "push", "--plain-http", "--artifact-type", artifactType, ref, "artifact.bin:application/octet-stream")
	assertTokenIssued(t, srv, mark, "oras")

	admin := srv.admin()
	r := admin.do(t, http.MethodGet, "/v2/library/oras/manifests/v1", nil, "Accept", manifestAccept)
	var m struct {
		ArtifactType string `json:"artifactType"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &m) != nil || m.ArtifactType != artifactType {
		t.Fatalf("GET the oras manifest: want 200 with artifactType %s, got %s", artifactType, r)
	}
	subject := sha256Digest(r.Body)

	out := filepath.Join(env.Dir, "out")
	run(t, "oras", "pull", "--plain-http", "-o", out, ref)
	got, err := os.ReadFile(filepath.Join(out, "artifact.bin"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("oras pull: artifact.bin differs from what was pushed (err %v, %d bytes, want %d)", err, len(got), len(content))
	}

	const sbomType = "application/vnd.berth.e2e.sbom"
	if err := os.WriteFile(filepath.Join(env.Dir, "sbom.json"), []byte(`{"spdxVersion":"SPDX-2.3","name":"e2e"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "oras", "attach", "--plain-http", "--artifact-type", sbomType, ref, "sbom.json:application/spdx+json")
	if disc := run(t, "oras", "discover", "--plain-http", "--format", "json", ref); !strings.Contains(disc, sbomType) {
		t.Fatalf("oras discover does not list the attached %s:\n%s", sbomType, disc)
	}

	// The referrers API itself lists it, and oras did not need the
	// tag-schema fallback (sha256-<hex> tag) to record it.
	r = admin.do(t, http.MethodGet, "/v2/library/oras/referrers/"+subject, nil)
	var refs struct {
		Manifests []struct {
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &refs) != nil {
		t.Fatalf("GET referrers of %s: want 200 with an image index, got %s", subject, r)
	}
	if len(refs.Manifests) != 1 || refs.Manifests[0].ArtifactType != sbomType {
		t.Errorf("GET referrers of %s: want one %s, got %s", subject, sbomType, r)
	}
	if tags := tagList(t, admin, "library/oras"); slices.Contains(tags, "sha256-"+digestHex(subject)) {
		t.Errorf("oras fell back to the referrers tag schema (tags %q): the manifest PUT with a subject did not answer OCI-Subject", tags)
	}
}

func testHelm(t *testing.T, srv *server) {
	env := envFor(t)
	h := srv.Host
	mark := len(srv.logText())
	mustRun(t, runOpts{Stdin: srv.Password + "\n"}, "helm", "registry", "login", h, "--plain-http", "-u", srv.User, "--password-stdin")
	assertAuthStored(t, env.HelmRegistry, h)

	run(t, "helm", "create", "berthe2e")
	run(t, "helm", "package", "berthe2e", "-d", env.Dir)
	pkg := filepath.Join(env.Dir, "berthe2e-0.1.0.tgz")
	run(t, "helm", "push", pkg, "oci://"+h+"/library", "--plain-http")
	assertTokenIssued(t, srv, mark, "helm")

	pulled := filepath.Join(env.Dir, "pulled")
	if err := os.MkdirAll(pulled, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "helm", "pull", "oci://"+h+"/library/berthe2e", "--version", "0.1.0", "--plain-http", "-d", pulled)
	a, err1 := os.ReadFile(pkg)
	b, err2 := os.ReadFile(filepath.Join(pulled, "berthe2e-0.1.0.tgz"))
	if err1 != nil || err2 != nil || sha256Digest(a) != sha256Digest(b) {
		t.Fatalf("helm pull: chart %s differs from the pushed %s (%v %v)", sha256Digest(b), sha256Digest(a), err1, err2)
	}
	if tags := tagList(t, srv.admin(), "library/berthe2e"); !slices.Contains(tags, "0.1.0") {
		t.Fatalf("tags of library/berthe2e after helm push: %q, want 0.1.0", tags)
	}
}

func testCosign(t *testing.T, srv *server) {
	h := srv.Host
	img := randomImage(t, 64<<10)
	mustPushImage(t, srv.admin(), "library/cosign", "v1", img)
	ref := h + "/library/cosign@" + img.Digest
	pw := runOpts{Env: []string{"COSIGN_PASSWORD=e2e-key-password"}}
	insecure := []string{"--allow-http-registry", "--allow-insecure-registry"}

	mark := len(srv.logText())
	run(t, "cosign", "login", h, "-u", srv.User, "-p", srv.Password)
	mustRun(t, pw, "cosign", "generate-key-pair")
	mustRun(t, pw, "cosign", append([]string{"sign", "--yes", "--key", "cosign.key", "--tlog-upload=false"}, append(insecure, ref)...)...)
	assertTokenIssued(t, srv, mark, "cosign")
	mustRun(t, pw, "cosign", append([]string{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true"}, append(insecure, ref)...)...)

	// A key that did not sign must not verify.
	other := t.TempDir()
	mustRun(t, runOpts{Dir: other, Env: pw.Env}, "cosign", "generate-key-pair")
	mustFail(t, pw, "cosign", append([]string{"verify", "--key", filepath.Join(other, "cosign.pub"), "--insecure-ignore-tlog=true"}, append(insecure, ref)...)...)
}

func testPodman(t *testing.T, srv *server) {
	env := envFor(t)
	h := srv.Host
	img := randomImage(t, 128<<10)
	mustPushImage(t, srv.admin(), "library/podman-src", "v1", img)
	src := h + "/library/podman-src:v1"
	dst := h + "/library/podman:v2"
	t.Cleanup(func() {
		runWith(t, runOpts{}, "podman", "rmi", "--force", "--ignore", src, dst)
	})

	mark := len(srv.logText())
	run(t, "podman", "login", "--tls-verify=false", "-u", srv.User, "-p", srv.Password, h)
	assertAuthStored(t, env.AuthFile, h)
	run(t, "podman", "pull", "--tls-verify=false", src)
	run(t, "podman", "tag", src, dst)
	run(t, "podman", "push", "--tls-verify=false", dst)
	assertTokenIssued(t, srv, mark, "podman")
	run(t, "podman", "rmi", "--force", src, dst)
	run(t, "podman", "pull", "--tls-verify=false", dst)

	// podman may rewrite the manifest, but the image (its config) is the same.
	r := srv.admin().do(t, http.MethodGet, "/v2/library/podman/manifests/v2", nil, "Accept", manifestAccept)
	var m struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &m) != nil {
		t.Fatalf("GET the podman-pushed manifest: want 200, got %s", r)
	}
	if m.Config.Digest != img.Config.Digest {
		t.Errorf("podman push stored config %s, the image has %s", m.Config.Digest, img.Config.Digest)
	}
	id := strings.TrimSpace(run(t, "podman", "image", "inspect", "--format", "{{.Id}}", dst))
	if "sha256:"+id != img.Config.Digest {
		t.Errorf("podman pulled image id %s, want %s", id, img.Config.Digest)
	}
}
