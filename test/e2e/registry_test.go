//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Media types used by the generated images.
const (
	mtOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mtOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mtOCILayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtDockerV2    = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList  = "application/vnd.docker.distribution.manifest.list.v2+json"
)

var manifestAccept = strings.Join([]string{mtOCIManifest, mtOCIIndex, mtDockerV2, mtDockerList}, ", ")

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func digestHex(d string) string { return strings.TrimPrefix(d, "sha256:") }

// ---------------------------------------------------------------------------
// Generated content

// blob is content with its media type and digest.
type blob struct {
	MediaType string
	Data      []byte
	Digest    string
}

func newBlob(mediaType string, data []byte) blob {
	return blob{MediaType: mediaType, Data: data, Digest: sha256Digest(data)}
}

func (b blob) descriptor() map[string]any {
	return map[string]any{"mediaType": b.MediaType, "digest": b.Digest, "size": len(b.Data)}
}

// layer is a gzipped tar layer and the digest of its uncompressed tar.
type layer struct {
	blob
	DiffID string
}

// testImage is a single-platform OCI image.
type testImage struct {
	Config   blob
	Layers   []layer
	Manifest []byte
	Digest   string
}

// Blobs are the config and the layers, in push order.
func (img testImage) Blobs() []blob {
	out := []blob{}
	for _, l := range img.Layers {
		out = append(out, l.blob)
	}
	return append(out, img.Config)
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// tarBytes builds a tar archive with the given files, deterministically.
func tarBytes(t testing.TB, files map[string][]byte) []byte {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newLayer gzips a tar into a layer.
func newLayer(t testing.TB, tarData []byte) layer {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(tarData); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return layer{blob: newBlob(mtOCILayerGz, buf.Bytes()), DiffID: sha256Digest(tarData)}
}

// randomLayer is a layer with one file of size random bytes.
func randomLayer(t testing.TB, size int) layer {
	return newLayer(t, tarBytes(t, map[string][]byte{
		"e2e/" + randomHex(4) + ".bin": randomBytes(t, size),
	}))
}

// newImage builds an OCI image manifest for the layers; platform is "os/arch".
func newImage(t testing.TB, platform string, layers ...layer) testImage {
	osName, arch, _ := strings.Cut(platform, "/")
	diffIDs := []string{}
	for _, l := range layers {
		diffIDs = append(diffIDs, l.DiffID)
	}
	cfg, err := json.Marshal(map[string]any{
		"architecture": arch,
		"os":           osName,
		"created":      time.Now().UTC().Format(time.RFC3339Nano),
		"config":       map[string]any{"Cmd": []string{"/bin/true"}, "Labels": map[string]string{"e2e": randomHex(8)}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		t.Fatal(err)
	}
	img := testImage{Config: newBlob(mtOCIConfig, cfg), Layers: layers}
	descs := []any{}
	for _, l := range layers {
		descs = append(descs, l.descriptor())
	}
	img.Manifest, err = json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mtOCIManifest,
		"config":        img.Config.descriptor(),
		"layers":        descs,
	})
	if err != nil {
		t.Fatal(err)
	}
	img.Digest = sha256Digest(img.Manifest)
	return img
}

// randomImage is a linux/amd64 image with one random layer of size bytes.
func randomImage(t testing.TB, size int) testImage {
	return newImage(t, "linux/amd64", randomLayer(t, size))
}

// writeOCILayout writes img as an OCI image layout in dir, tagged tag.
func writeOCILayout(t testing.TB, dir, tag string, img testImage) {
	t.Helper()
	write := func(path string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range append(img.Blobs(), newBlob(mtOCIManifest, img.Manifest)) {
		write(filepath.Join(dir, "blobs", "sha256", digestHex(b.Digest)), b.Data)
	}
	write(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mtOCIIndex,
		"manifests": []any{map[string]any{
			"mediaType":   mtOCIManifest,
			"digest":      img.Digest,
			"size":        len(img.Manifest),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": tag},
		}},
	})
	write(filepath.Join(dir, "index.json"), index)
}

// readOCILayoutDigest returns the digest of the manifest tagged tag in an OCI layout.
func readOCILayoutDigest(t testing.TB, dir, tag string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("%s/index.json: %v\n%s", dir, err, b)
	}
	for _, m := range idx.Manifests {
		if tag == "" || m.Annotations["org.opencontainers.image.ref.name"] == tag {
			return m.Digest
		}
	}
	t.Fatalf("%s/index.json has no manifest tagged %q:\n%s", dir, tag, b)
	return ""
}

// ---------------------------------------------------------------------------
// Raw HTTP

// regClient talks HTTP to a server with Basic auth, a bearer token, or nothing.
type regClient struct {
	base        string
	client      *http.Client // nil: httpClient
	user, pass  string
	bearer      string
	description string
}

func (s *server) admin() *regClient {
	return &regClient{base: s.URL, client: s.client, user: s.User, pass: s.Password, description: "Basic " + s.User}
}

func (s *server) anonymous() *regClient {
	return &regClient{base: s.URL, client: s.client, description: "anonymous"}
}

func (s *server) withBasic(user, pass string) *regClient {
	return &regClient{base: s.URL, client: s.client, user: user, pass: pass, description: "Basic " + user}
}

func (s *server) withBearer(token string) *regClient {
	return &regClient{base: s.URL, client: s.client, bearer: token, description: "Bearer token"}
}

// httpResult is a response read in full.
type httpResult struct {
	Method, URL string
	Auth        string
	Status      int
	Header      http.Header
	Body        []byte
}

func (r httpResult) String() string {
	body := string(r.Body)
	if len(body) > 600 {
		body = body[:600] + "…"
	}
	h := []string{}
	for _, k := range []string{"Content-Type", "Docker-Content-Digest", "Location", "Range", "Www-Authenticate", "Oci-Subject"} {
		if v := r.Header.Get(k); v != "" {
			h = append(h, k+": "+v)
		}
	}
	return fmt.Sprintf("%d %s (%s %s as %s) [%s] %s", r.Status, http.StatusText(r.Status), r.Method, r.URL, r.Auth, strings.Join(h, "; "), body)
}

// resolve turns a path or a (possibly relative) Location into a URL.
func (c *regClient) resolve(ref string) (string, error) {
	base, err := url.Parse(c.base)
	if err != nil {
		return "", err
	}
	u, err := base.Parse(ref)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// send does one request; headers are name, value pairs.
func (c *regClient) send(ctx context.Context, method, ref string, body []byte, headers ...string) (httpResult, error) {
	u, err := c.resolve(ref)
	if err != nil {
		return httpResult{}, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return httpResult{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	switch {
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pass)
	}
	hc := c.client
	if hc == nil {
		hc = httpClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return httpResult{}, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpResult{}, fmt.Errorf("%s %s: reading body: %w", method, u, err)
	}
	return httpResult{Method: method, URL: u, Auth: c.description, Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// do is send that fails the test on a transport error.
func (c *regClient) do(t testing.TB, method, ref string, body []byte, headers ...string) httpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := c.send(ctx, method, ref, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withDigest appends ?digest= (or &digest=) to an upload location.
func withDigest(loc, digest string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + url.QueryEscape(digest)
}

// pushBlob uploads a blob with POST then a monolithic PUT.
func (c *regClient) pushBlob(ctx context.Context, repo string, b blob) error {
	r, err := c.send(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusAccepted {
		return fmt.Errorf("start upload: want 202, got %s", r)
	}
	loc := r.Header.Get("Location")
	if loc == "" {
		return fmt.Errorf("start upload: 202 without Location: %s", r)
	}
	r, err = c.send(ctx, http.MethodPut, withDigest(loc, b.Digest), b.Data,
		"Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	if r.Status != http.StatusCreated {
		return fmt.Errorf("finish upload of %s (%d bytes): want 201, got %s", b.Digest, len(b.Data), r)
	}
	return nil
}

// pushManifest puts a manifest under ref (a tag or a digest).
func (c *regClient) pushManifest(ctx context.Context, repo, ref, mediaType string, manifest []byte) error {
	r, err := c.send(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, manifest, "Content-Type", mediaType)
	if err != nil {
		return err
	}
	if r.Status != http.StatusCreated {
		return fmt.Errorf("put manifest %s:%s: want 201, got %s", repo, ref, r)
	}
	want := sha256Digest(manifest)
	if got := r.Header.Get("Docker-Content-Digest"); got != "" && got != want {
		return fmt.Errorf("put manifest %s:%s: Docker-Content-Digest %s, want %s", repo, ref, got, want)
	}
	return nil
}

// pushImage uploads the blobs and the manifest of img, tagged tag.
func (c *regClient) pushImage(ctx context.Context, repo, tag string, img testImage) error {
	for _, b := range img.Blobs() {
		if err := c.pushBlob(ctx, repo, b); err != nil {
			return fmt.Errorf("push %s:%s: %w", repo, tag, err)
		}
	}
	return c.pushManifest(ctx, repo, tag, mtOCIManifest, img.Manifest)
}

// verifyImage pulls repo:ref and checks the manifest bytes and every blob.
func (c *regClient) verifyImage(ctx context.Context, repo, ref string, img testImage) error {
	r, err := c.send(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil, "Accept", manifestAccept)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("get manifest %s:%s: want 200, got %s", repo, ref, r)
	}
	if got := sha256Digest(r.Body); got != img.Digest {
		return fmt.Errorf("get manifest %s:%s: body has digest %s, pushed %s", repo, ref, got, img.Digest)
	}
	if got := r.Header.Get("Docker-Content-Digest"); got != img.Digest {
		return fmt.Errorf("get manifest %s:%s: Docker-Content-Digest %q, want %s", repo, ref, got, img.Digest)
	}
	for _, b := range img.Blobs() {
		r, err := c.send(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+b.Digest, nil)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK {
			return fmt.Errorf("get blob %s@%s: want 200, got %s", repo, b.Digest, r)
		}
		if got := sha256Digest(r.Body); got != b.Digest {
			return fmt.Errorf("get blob %s@%s: content has digest %s (%d bytes, want %d)", repo, b.Digest, got, len(r.Body), len(b.Data))
		}
	}
	return nil
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustPushImage(t testing.TB, c *regClient, repo, tag string, img testImage) {
	t.Helper()
	if err := c.pushImage(testCtx(t), repo, tag, img); err != nil {
		t.Fatal(err)
	}
}

func mustVerifyImage(t testing.TB, c *regClient, repo, ref string, img testImage) {
	t.Helper()
	if err := c.verifyImage(testCtx(t), repo, ref, img); err != nil {
		t.Fatal(err)
	}
}

// manifestDigest returns the digest the server reports for repo:ref (HEAD, then GET).
func manifestDigest(t testing.TB, c *regClient, repo, ref string) string {
	t.Helper()
	r := c.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil, "Accept", manifestAccept)
	if r.Status != http.StatusOK {
		t.Fatalf("get manifest %s:%s: want 200, got %s", repo, ref, r)
	}
	d := sha256Digest(r.Body)
	if h := r.Header.Get("Docker-Content-Digest"); h != "" && h != d {
		t.Fatalf("get manifest %s:%s: Docker-Content-Digest %s but the body hashes to %s", repo, ref, h, d)
	}
	return d
}

// tagList returns GET /v2/<repo>/tags/list.
func tagList(t testing.TB, c *regClient, repo string) []string {
	t.Helper()
	r := c.do(t, http.MethodGet, "/v2/"+repo+"/tags/list", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("tag list of %s: want 200, got %s", repo, r)
	}
	var tl struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(r.Body, &tl); err != nil {
		t.Fatalf("tag list of %s: %v: %s", repo, err, r)
	}
	return tl.Tags
}

// ---------------------------------------------------------------------------
// Token auth

// challenge is a parsed WWW-Authenticate header.
type challenge struct {
	Scheme string
	Params map[string]string
}

// parseChallenge parses `Bearer realm="…",service="…",scope="…"`.
func parseChallenge(h string) (challenge, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	c := challenge{Scheme: scheme, Params: map[string]string{}}
	for {
		rest = strings.TrimLeft(rest, " ,")
		if rest == "" {
			return c, nil
		}
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			return c, fmt.Errorf("malformed challenge %q", h)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(v, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				b.WriteByte(v[i])
			}
			if i >= len(v) {
				return c, fmt.Errorf("unterminated quote in challenge %q", h)
			}
			c.Params[k] = b.String()
			rest = v[i+1:]
		} else {
			val, after, _ := strings.Cut(v, ",")
			c.Params[k] = strings.TrimSpace(val)
			rest = after
		}
	}
}

// fetchToken asks the token service for scope; user "" means anonymous.
// It returns the response and the token (empty unless 200).
func fetchToken(t testing.TB, s *server, user, pass, scope string) (httpResult, string) {
	t.Helper()
	c := s.anonymous()
	if user != "" {
		c = s.withBasic(user, pass)
	}
	q := url.Values{"service": {"harbor-registry"}}
	if scope != "" {
		q.Set("scope", scope)
	}
	r := c.do(t, http.MethodGet, "/service/token?"+q.Encode(), nil)
	if r.Status != http.StatusOK {
		return r, ""
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.Body, &tok); err != nil {
		t.Fatalf("token response is not JSON: %v: %s", err, r)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	if tok.Token == "" {
		t.Fatalf("token response without token or access_token: %s", r)
	}
	return r, tok.Token
}
