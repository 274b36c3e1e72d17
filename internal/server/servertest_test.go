package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// Helpers shared by the protocol tests: a complete Berth server (the real handler behind a real
// listener) on SQLite or PostgreSQL, request helpers with admin Basic credentials by default,
// OCI error assertions, and a check of the data directory when the server is torn down.

const (
	adminUser     = "admin"
	adminPassword = "Harbor12345"

	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtOCIConfig      = "application/vnd.oci.image.config.v1+json"
	mtOCILayer       = "application/vnd.oci.image.layer.v1.tar"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// testServer is one running Berth with its own data directory and database.
type testServer struct {
	srv     *Server
	hs      *httptest.Server
	URL     string // also the configured external URL, unless the server follows each request's
	DataDir string
	dialect string
	client  *http.Client
	cfg     config.Config
}

// newTestServer starts Berth on the given dialect ("sqlite" or "postgres"). Without a reachable
// PostgreSQL the postgres variant is skipped (failed under CI=true, see metatest). When the test
// ends the server is stopped and the data directory is checked (assertDataDir).
func newTestServer(t *testing.T, dialect string) *testServer {
	t.Helper()
	return newLoggingTestServer(t, dialect, slog.DiscardHandler)
}

// offlineConfig is the default configuration without what reaches beyond the machine: no
// test downloads the vulnerability database from the internet (tests of updates point
// vulndb_update_url at a local server). Every server a test builds starts from it.
func offlineConfig() config.Config {
	cfg := config.Default()
	cfg.VulnDBUpdateInterval = 0
	return cfg
}

// newLoggingTestServer is newTestServer with the server's log going to h.
func newLoggingTestServer(t *testing.T, dialect string, h slog.Handler) *testServer {
	t.Helper()
	cfg := offlineConfig()
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = adminPassword
	switch dialect {
	case "postgres":
		cfg.DatabaseURL = metatest.NewDatabase(t)
	case "sqlite":
	default:
		t.Fatalf("unknown dialect %q", dialect)
	}
	return startTestServer(t, cfg, dialect, h)
}

// replica starts another server on the same database and data directory, as a second replica
// behind a load balancer would run (PostgreSQL only).
func (ts *testServer) replica(t *testing.T) *testServer {
	t.Helper()
	if ts.dialect != "postgres" {
		t.Fatalf("replicas share a PostgreSQL database, not %s", ts.dialect)
	}
	return startTestServer(t, ts.cfg, ts.dialect, slog.DiscardHandler)
}

func startTestServer(t *testing.T, cfg config.Config, dialect string, h slog.Handler) *testServer {
	t.Helper()
	return startTestServerWith(t, cfg, dialect, h, serverOptions{})
}

// serverOptions vary how startTestServerWith serves.
type serverOptions struct {
	// TLS serves HTTPS with httptest's certificate (for 127.0.0.1); the test client trusts it.
	TLS bool
	// FollowRequests leaves external_url unset, so the server derives its URLs (token realm,
	// Location) from each request; otherwise external_url is the listener's URL.
	FollowRequests bool
}

func startTestServerWith(t *testing.T, cfg config.Config, dialect string, h slog.Handler, o serverOptions) *testServer {
	t.Helper()
	if cfg.VulnDBUpdateInterval > 0 && !cfg.AirGapped && cfg.VulnDBUpdateURL == config.DefaultVulnDBUpdateURL {
		t.Fatal("the test server would download the vulnerability database from the internet: set vulndb_update_url to a local server, or the interval to 0")
	}
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	if o.TLS {
		url = "https://" + hs.Listener.Addr().String()
	}
	cfg.Addr = hs.Listener.Addr().String()
	if !o.FollowRequests {
		cfg.ExternalURL = url
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := New(ctx, cfg, slog.New(h))
	if err != nil {
		hs.Close()
		t.Fatalf("server.New (%s): %v", dialect, err)
	}
	hs.Config.Handler = srv.Handler()
	if o.TLS {
		// httptest puts TLS above the listener it is given, so the JSON refusals (conn.go),
		// which must sit above TLS, are left out here; TestNetHTTPRefusalsAreJSON covers TLS
		// through Run.
		hs.StartTLS()
	} else {
		hs.Listener = jsonRefusals(hs.Listener, srv.log, 30*time.Second)
		serveRefusals(hs.Config)
		hs.Start()
	}
	ts := &testServer{
		srv:     srv,
		hs:      hs,
		URL:     url,
		DataDir: cfg.DataDir,
		dialect: dialect,
		cfg:     cfg,
		client: &http.Client{
			// The tests look at exactly what the server answers.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       time.Minute,
		},
	}
	if o.TLS {
		ts.client.Transport = hs.Client().Transport
	}
	t.Cleanup(func() {
		hs.Close()
		// GET manifest records the pull time in the background; give it a moment to land
		// before the store closes (a late write is only logged, never a failure).
		time.Sleep(20 * time.Millisecond)
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
		ts.assertDataDir(t)
	})
	return ts
}

// forEachDialect runs fn on a fresh server of each dialect, as parallel subtests.
func forEachDialect(t *testing.T, fn func(t *testing.T, ts *testServer)) {
	t.Helper()
	for _, d := range metatest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, newTestServer(t, d))
		})
	}
}

// Request options: headers as given; an "Authorization" key (even empty) replaces the default
// admin Basic credentials; "Host" is the Host the request names (the connection still goes to
// the test server).

func anonymous() http.Header { return http.Header{"Authorization": {""}} }

func basicAuth(user, password string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, password)
	return http.Header{"Authorization": {r.Header.Get("Authorization")}}
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// hdr returns a copy of h with the extra key/value pairs set.
func hdr(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// do sends a request to the server. path is taken verbatim as the request target (path and
// query), so Go never cleans or re-encodes it. The response body is read completely and
// replaced by an in-memory copy. Every /v2 response must carry Docker-Distribution-API-Version.
func (ts *testServer) do(t *testing.T, method, path string, headers http.Header, body []byte) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	return ts.doReader(t, method, path, headers, rd)
}

// doReader is do with a body of unknown length when rd is not a *bytes.Reader (sent chunked).
func (ts *testServer) doReader(t *testing.T, method, path string, headers http.Header, rd io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+"/", rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	target, query, _ := strings.Cut(path, "?")
	// An opaque URL is sent as the request target exactly as written.
	req.URL.Opaque = target
	req.URL.RawQuery = query
	if rd != nil {
		if _, ok := rd.(*bytes.Reader); !ok {
			req.ContentLength = -1
		}
	}
	if _, ok := headers["Authorization"]; !ok {
		req.SetBasicAuth(adminUser, adminPassword)
	}
	if h := headers.Get("Host"); h != "" {
		req.Host = h // the client sends req.Host, never a Host header field
	}
	for k, vs := range headers {
		for _, v := range vs {
			if v != "" {
				req.Header.Add(k, v)
			}
		}
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	recordAPIResponse(t, method, target, resp, b)
	if strings.HasPrefix(target, "/v2") {
		if got := resp.Header.Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
			t.Errorf("%s %s: status %d, Docker-Distribution-API-Version = %q, want registry/2.0", method, path, resp.StatusCode, got)
		}
	}
	return resp
}

// respBody returns the (buffered) response body.
func respBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

// expectStatus fails the test unless the response has the given status.
func expectStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %.500s", resp.Request.Method, resp.Request.URL.Opaque, resp.StatusCode, want, respBody(t, resp))
	}
}

// ociError is one entry of the distribution-spec error body.
type ociError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail"`
}

// decodeErrors decodes {"errors":[...]} strictly: no other top-level fields.
func decodeErrors(t *testing.T, resp *http.Response) []ociError {
	t.Helper()
	var doc struct {
		Errors []ociError `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(respBody(t, resp)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s %s: status %d: error body is not {\"errors\":[...]}: %v; body: %.500s",
			resp.Request.Method, resp.Request.URL.Opaque, resp.StatusCode, err, respBody(t, resp))
	}
	return doc.Errors
}

// assertOCIError checks status, Content-Type: application/json and an error body whose first
// entry has the code. HEAD responses have no body, so only status and headers are checked.
func assertOCIError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	where := resp.Request.Method + " " + resp.Request.URL.Opaque
	if resp.Request.URL.RawQuery != "" {
		where += "?" + resp.Request.URL.RawQuery
	}
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d (%s); body: %.500s", where, resp.StatusCode, status, code, respBody(t, resp))
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		t.Errorf("%s: error Content-Type %q, want application/json", where, ct)
	}
	if resp.Request.Method == http.MethodHead {
		return
	}
	errs := decodeErrors(t, resp)
	if len(errs) == 0 {
		t.Errorf("%s: error body has no errors", where)
		return
	}
	if errs[0].Code != code {
		t.Errorf("%s: error code %q (%s), want %q", where, errs[0].Code, errs[0].Message, code)
	}
	for _, e := range errs {
		if e.Code == "" || e.Message == "" {
			t.Errorf("%s: error entry without code or message: %+v", where, e)
		}
	}
}

// assertClientError checks for some 4xx answered with an OCI error body (never a 5xx, never a
// redirect, never an HTML or plain-text page).
func assertClientError(t *testing.T, resp *http.Response) {
	t.Helper()
	where := resp.Request.Method + " " + resp.Request.URL.Opaque
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Errorf("%s: status %d, want a 4xx with an OCI error body (Location %q); body: %.300s",
			where, resp.StatusCode, resp.Header.Get("Location"), respBody(t, resp))
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: status %d with Content-Type %q, want application/json", where, resp.StatusCode, ct)
		return
	}
	if resp.Request.Method != http.MethodHead {
		if errs := decodeErrors(t, resp); len(errs) == 0 || errs[0].Code == "" {
			t.Errorf("%s: status %d without an error code", where, resp.StatusCode)
		}
	}
}

// Content helpers.

var uniq atomic.Int64

// randomBytes returns n bytes no other call returns.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// uniqueSuffix returns a short suffix unique within the test binary.
func uniqueSuffix() string {
	return fmt.Sprintf("%d%s", uniq.Add(1), hex.EncodeToString(randomBytes(3)))
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func sha512Digest(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512:" + hex.EncodeToString(s[:])
}

// pushBlob uploads data monolithically (POST ?digest=) and returns its sha256 digest.
func (ts *testServer) pushBlob(t *testing.T, repo string, data []byte) string {
	t.Helper()
	d := sha256Digest(data)
	resp := ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d, hdr(nil, "Content-Type", "application/octet-stream"), data)
	expectStatus(t, resp, http.StatusCreated)
	if got := resp.Header.Get("Docker-Content-Digest"); got != d {
		t.Fatalf("push blob: Docker-Content-Digest %q, want %q", got, d)
	}
	return d
}

// pushManifest PUTs a manifest and returns the digest the server reports.
func (ts *testServer) pushManifest(t *testing.T, repo, ref, mediaType string, body []byte) string {
	t.Helper()
	resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, hdr(nil, "Content-Type", mediaType), body)
	expectStatus(t, resp, http.StatusCreated)
	d := resp.Header.Get("Docker-Content-Digest")
	if d != sha256Digest(body) {
		t.Fatalf("push manifest %s:%s: Docker-Content-Digest %q, want %q", repo, ref, d, sha256Digest(body))
	}
	return d
}

// tDescriptor is an OCI content descriptor.
type tDescriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Platform     map[string]string `json:"platform,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type tManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *tDescriptor      `json:"config,omitempty"`
	Layers        []tDescriptor     `json:"layers,omitempty"`
	Manifests     []tDescriptor     `json:"manifests,omitempty"`
	Subject       *tDescriptor      `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// imageManifest uploads a fresh config and layer to repo and returns an image manifest of the
// given media type (OCI or Docker v2) referencing them. Nothing is pushed as a manifest.
func (ts *testServer) imageManifest(t *testing.T, repo, mediaType string) tManifest {
	t.Helper()
	cfgMT, layerMT := mtOCIConfig, mtOCILayer
	if mediaType == mtDockerManifest {
		cfgMT, layerMT = mtDockerConfig, mtDockerLayer
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"id":"` + uniqueSuffix() + `"}`)
	layer := randomBytes(64)
	return tManifest{
		SchemaVersion: 2,
		MediaType:     mediaType,
		Config:        &tDescriptor{MediaType: cfgMT, Digest: ts.pushBlob(t, repo, cfg), Size: int64(len(cfg))},
		Layers:        []tDescriptor{{MediaType: layerMT, Digest: ts.pushBlob(t, repo, layer), Size: int64(len(layer))}},
	}
}

// pushImage pushes an image manifest under ref and returns its body and digest.
func (ts *testServer) pushImage(t *testing.T, repo, ref, mediaType string) ([]byte, string) {
	t.Helper()
	b := mustJSON(t, ts.imageManifest(t, repo, mediaType))
	return b, ts.pushManifest(t, repo, ref, mediaType, b)
}

// token fetches a registry token from /service/token for the scopes, with the given
// credentials (anonymous() for none).
func (ts *testServer) token(t *testing.T, auth http.Header, scopes ...string) string {
	t.Helper()
	q := "service=" + TokenService
	for _, s := range scopes {
		q += "&scope=" + s
	}
	resp := ts.do(t, http.MethodGet, "/service/token?"+q, auth, nil)
	expectStatus(t, resp, http.StatusOK)
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(respBody(t, resp), &tr); err != nil || tr.Token == "" {
		t.Fatalf("token response %q: %v", respBody(t, resp), err)
	}
	return tr.Token
}

// Storage checks.

func (ts *testServer) blobPath(d string) string {
	alg, h, _ := strings.Cut(d, ":")
	return filepath.Join(ts.DataDir, "storage", "blobs", alg, h[:2], h)
}

// assertNoBlobFile fails if the blob store holds a file for digest d.
func (ts *testServer) assertNoBlobFile(t *testing.T, d string) {
	t.Helper()
	if _, err := os.Stat(ts.blobPath(d)); err == nil {
		t.Errorf("blob file for %s exists in storage", d)
	} else if !os.IsNotExist(err) {
		t.Errorf("stat blob file for %s: %v", d, err)
	}
}

// assertNoUploadHolds fails if any upload session's data equals content (a session that
// should have been discarded).
func (ts *testServer) assertNoUploadHolds(t *testing.T, content []byte) {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join(ts.DataDir, "storage", "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range dirs {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(ts.DataDir, "storage", "uploads", e.Name(), "data"))
		if err == nil && len(b) > 0 && bytes.Equal(b, content) {
			t.Errorf("upload session %s still holds the refused content", e.Name())
		}
	}
}

func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func validUploadID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// assertDataDir walks the data directory: every file must be in an expected place (the SQLite
// database and its WAL files, committed blobs, upload session data, store temp files), and
// every committed blob must hash to its name, so a partial or corrupt blob cannot hide. It is
// safe to call while the server runs (runV2Cases does after each case) and runs once more
// when the server is torn down.
func (ts *testServer) assertDataDir(t *testing.T) {
	t.Helper()
	hexLen := map[string]int{"sha256": 64, "sha512": 128}
	newHash := map[string]func() hash.Hash{"sha256": sha256.New, "sha512": sha512.New}
	err := filepath.WalkDir(ts.DataDir, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // an upload session or temp file removed while walking
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(ts.DataDir, p)
		rel = filepath.ToSlash(rel)
		parts := strings.Split(rel, "/")
		if e.IsDir() {
			if rel == "tmp" {
				return nil // the scan scratch area: anything left in it is reported below
			}
			ok := rel == "." || rel == "storage" || rel == "storage/blobs" || rel == "storage/uploads" ||
				(len(parts) == 3 && parts[1] == "blobs" && hexLen[parts[2]] > 0) ||
				(len(parts) == 4 && parts[1] == "blobs" && hexLen[parts[2]] > 0 && validHex(parts[3], 2)) ||
				(len(parts) == 3 && parts[1] == "uploads" && validUploadID(parts[2])) ||
				rel == "vulndb" || (len(parts) == 2 && parts[0] == "vulndb") // downloaded archives, per ecosystem
			if !ok || (parts[0] != "storage" && parts[0] != "vulndb" && rel != ".") {
				t.Errorf("unexpected directory in data dir: %s", rel)
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			t.Errorf("unexpected non-regular file in data dir: %s (%v)", rel, e.Type())
			return nil
		}
		switch {
		case len(parts) == 1 && ts.dialect == "sqlite" && (rel == "berth.db" || rel == "berth.db-wal" || rel == "berth.db-shm" || rel == "berth.db-journal"):
		case len(parts) == 3 && parts[0] == "storage" && parts[1] == "uploads" && strings.HasPrefix(parts[2], ".tmp-"):
		case len(parts) == 4 && parts[0] == "storage" && parts[1] == "uploads" && validUploadID(parts[2]) && parts[3] == "data":
		case len(parts) == 3 && parts[0] == "vulndb" && parts[2] == "state.json":
		case len(parts) == 3 && parts[0] == "vulndb" && strings.HasSuffix(parts[2], ".zip") && validHex(strings.TrimSuffix(parts[2], ".zip"), 64):
		case len(parts) == 5 && parts[0] == "storage" && parts[1] == "blobs":
			alg, prefix, name := parts[2], parts[3], parts[4]
			if hexLen[alg] == 0 || !validHex(name, hexLen[alg]) || prefix != name[:2] {
				t.Errorf("misplaced or misnamed blob file: %s", rel)
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err // committed blobs are never removed while the server runs
			}
			h := newHash[alg]()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != name {
				t.Errorf("blob file %s holds content with %s %s: partial or corrupt blob", rel, alg, got)
			}
		default:
			t.Errorf("unexpected file in data dir: %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Errorf("walk data dir: %v", err)
	}
}
