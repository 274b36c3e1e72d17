package adapter

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/scan/report"
)

const testDigest = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"

// fakeEngine scans by answering canned reports; gate, when set, holds every scan until it is
// closed.
type fakeEngine struct {
	md    report.Metadata
	mdErr error
	err   error
	gate  chan struct{}

	mu   sync.Mutex
	reqs []report.Request
}

func newFakeEngine() *fakeEngine {
	consumes := []string{report.MimeOCIImage, report.MimeDocker}
	return &fakeEngine{md: report.Metadata{
		Scanner: report.Scanner{Name: "Fake", Vendor: "Berth tests", Version: "1.0"},
		Capabilities: []report.Capability{
			{Type: CapVulnerability, ConsumesMimeTypes: consumes, ProducesMimeTypes: []string{report.MimeNative, report.MimeGeneric}},
			{Type: CapSBOM, ConsumesMimeTypes: consumes, ProducesMimeTypes: []string{report.MimeSBOM}},
		},
		Properties: map[string]string{"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"},
	}}
}

func (f *fakeEngine) Metadata(ctx context.Context) (report.Metadata, error) { return f.md, f.mdErr }

func (f *fakeEngine) Scan(ctx context.Context, req report.Request) (report.Result, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return report.Result{}, ctx.Err()
		}
	}
	if f.err != nil {
		return report.Result{}, f.err
	}
	res := report.Result{Reports: map[string][]byte{}, Log: []string{"scanned"}}
	for _, m := range req.Want {
		res.Reports[m] = fakeReport(m, req)
	}
	return res, nil
}

func (f *fakeEngine) requests() []report.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]report.Request(nil), f.reqs...)
}

func fakeReport(mime string, req report.Request) []byte {
	var v any
	switch mime {
	case report.MimeSBOM:
		v = report.SBOM{Artifact: req.Artifact, MediaType: req.SBOMMediaType, SBOM: map[string]any{"format": req.SBOMMediaType}}
	default:
		v = report.Vulnerabilities{Artifact: req.Artifact, Severity: "High", Vulnerabilities: []report.Vulnerability{
			{ID: "CVE-2024-0001", Package: "openssl", Version: "3.0.1", FixVersion: "3.0.2", Severity: "High", Links: []string{}},
		}, Scanner: report.Scanner{Name: "Fake", Vendor: "Berth tests", Version: mime}}
	}
	b, _ := json.Marshal(v)
	return b
}

// fastClient is a Client that polls without the production waits.
func fastClient(reg Registration) *Client {
	c := NewClient(reg, nil)
	c.FirstPoll = time.Millisecond
	c.minRefresh = time.Millisecond
	return c
}

func testRequest(url string, want ...string) report.Request {
	return report.Request{Registry: url, Authorization: "Basic cm9ib3Q6c2VjcmV0",
		Artifact: report.Artifact{Repository: "library/app", Digest: testDigest, Tag: "1.0", MimeType: report.MimeOCIImage},
		Want:     want}
}

// statusRecorder remembers the statuses a handler answered.
type statusRecorder struct {
	mu       sync.Mutex
	statuses []int
}

func (s *statusRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		s.statuses = append(s.statuses, rec.Code)
		s.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

func (s *statusRecorder) saw(code int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.statuses {
		if c == code {
			return true
		}
	}
	return false
}

func TestClientServerRoundTrip(t *testing.T) {
	t.Parallel()
	creds := func(ctx context.Context, name, secret string) bool { return name == "scanner" && secret == "s3cret" }
	for _, tc := range []struct {
		auth, credential string
	}{
		{AuthBasic, "scanner:s3cret"},
		{AuthBearer, "scanner:s3cret"},
		{AuthBearer, base64.StdEncoding.EncodeToString([]byte("scanner:s3cret"))},
		{AuthAPIKey, "scanner:s3cret"},
	} {
		t.Run(tc.auth, func(t *testing.T) {
			t.Parallel()
			eng := newFakeEngine()
			eng.gate = make(chan struct{})
			srv := NewServer(eng, CredentialAuth(creds), nil)
			srv.RefreshAfter = 0
			defer srv.Close()
			var rec statusRecorder
			hs := httptest.NewServer(rec.wrap(srv))
			defer hs.Close()

			c := fastClient(Registration{Name: "remote", URL: hs.URL + "/", Auth: tc.auth, AccessCredential: tc.credential})
			md, err := c.Metadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if md.Scanner != eng.md.Scanner || len(md.Capabilities) != 2 || md.Capabilities[1].Type != CapSBOM ||
				md.Properties["harbor.scanner-adapter/scanner-type"] != "os-package-vulnerability" {
				t.Errorf("metadata %+v", md)
			}

			req := testRequest("https://registry.example.com", report.MimeNative, report.MimeGeneric, report.MimeSBOM)
			req.SBOMMediaType = report.MediaCDX
			go func() {
				// The scan ends only once the client has polled it while it ran (a 302), however
				// slow the machine; the deadline only keeps a broken client from hanging the test.
				for deadline := time.Now().Add(30 * time.Second); !rec.saw(http.StatusFound) && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				close(eng.gate)
			}()
			res, err := c.Scan(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.saw(http.StatusFound) {
				t.Error("the client never polled a running scan (no 302)")
			}
			got := eng.requests()
			if len(got) != 1 {
				t.Fatalf("engine got %d requests", len(got))
			}
			g := got[0]
			if g.Registry != req.Registry || g.Authorization != req.Authorization || g.Artifact != req.Artifact ||
				g.SBOMMediaType != report.MediaCDX || strings.Join(g.Want, ",") != strings.Join(req.Want, ",") {
				t.Errorf("engine request %+v, want %+v", g, req)
			}
			for _, m := range req.Want {
				if !bytes.Equal(bytes.TrimSpace(res.Reports[m]), fakeReport(m, g)) {
					t.Errorf("report %s: %s", m, res.Reports[m])
				}
			}
			if len(res.Log) < 3 {
				t.Errorf("log %q", res.Log)
			}
			for _, l := range res.Log {
				if strings.Contains(l, "s3cret") || strings.Contains(l, tc.credential) {
					t.Errorf("log line shows the credential: %q", l)
				}
			}
		})
	}
}

func TestClientWrongCredentials(t *testing.T) {
	t.Parallel()
	srv := NewServer(newFakeEngine(), CredentialAuth(func(context.Context, string, string) bool { return false }), nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	_, err := fastClient(Registration{Name: "remote", URL: hs.URL, Auth: AuthBasic, AccessCredential: "a:b"}).Metadata(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("err %v, want a 401 with the adapter's message", err)
	}
}

// scripted is an adapter whose answers the test writes; report answers the report polls.
type scripted struct {
	metadata func(w http.ResponseWriter)
	scan     func(w http.ResponseWriter)
	report   func(w http.ResponseWriter, r *http.Request)
}

func (s scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/v1/metadata" && s.metadata != nil:
		s.metadata(w)
	case r.URL.Path == "/api/v1/metadata":
		w.Header().Set("Content-Type", MimeMetadata10)
		wm := wireMetadata{Scanner: report.Scanner{Name: "Scripted", Vendor: "tests", Version: "0"},
			Capabilities: []wireCapability{{ConsumesMimeTypes: []string{report.MimeOCIImage}, ProducesMimeTypes: []string{report.MimeNative, report.MimeRaw}}}}
		json.NewEncoder(w).Encode(wm)
	case r.URL.Path == "/api/v1/scan" && s.scan != nil:
		s.scan(w)
	case r.URL.Path == "/api/v1/scan":
		w.Header().Set("Content-Type", MimeScanResponse)
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"id":"42"}`))
	case r.URL.Path == "/api/v1/scan/42/report" && s.report != nil:
		s.report(w, r)
	default:
		http.NotFound(w, r)
	}
}

func TestClientFailuresAreCleanErrors(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + closed.Addr().String()
	closed.Close()

	html := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<html><body>Welcome to nginx!</body></html>"))
	}
	cases := []struct {
		name    string
		adapter http.Handler // nil: the adapter is down
		want    []string
		max     int64
	}{
		{name: "adapter down", want: []string{"GET /metadata", "connection refused"}},
		{name: "HTML instead of metadata", adapter: scripted{metadata: html}, want: []string{"GET /metadata", "text/html", "not JSON"}},
		{name: "truncated metadata", adapter: scripted{metadata: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"scanner":{"name":"x"`))
		}}, want: []string{"truncated JSON"}},
		{name: "metadata without capabilities", adapter: scripted{metadata: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"scanner":{"name":"x"},"capabilities":[]}`))
		}}, want: []string{"no capability"}},
		{name: "scan refused with the spec's error", adapter: scripted{scan: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", MimeError)
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"error":{"message":"artifact.digest is missing"}}`))
		}}, want: []string{"POST /scan", "422", "artifact.digest is missing"}},
		{name: "scan failed behind a proxy", adapter: scripted{scan: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>502</html>"))
		}}, want: []string{"502 Bad Gateway", "text/html"}},
		{name: "scan answer without id", adapter: scripted{scan: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", MimeScanResponse)
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte(`{}`))
		}}, want: []string{"no scan request id"}},
		{name: "report failed", adapter: scripted{report: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", MimeError)
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":{"message":"pull library/app: unauthorized"}}`))
		}}, want: []string{"500 Internal Server Error", "pull library/app: unauthorized"}},
		{name: "report unknown", adapter: scripted{report: func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}}, want: []string{"404", "does not know scan request 42"}},
		{name: "report in the wrong content type", adapter: scripted{report: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(`{"vulnerabilities":[]}`))
		}}, want: []string{"came as a text/plain"}},
		{name: "report of the wrong shape", adapter: scripted{report: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", r.Header.Get("Accept"))
			w.Write([]byte(`{"vulnerabilities":"none"}`))
		}}, want: []string{"does not parse", "vulnerabilities is a JSON string"}},
		{name: "report too large", max: 1 << 10, adapter: scripted{report: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", r.Header.Get("Accept"))
			w.Write([]byte(`{"vulnerabilities":[],"pad":"` + strings.Repeat("x", 2<<10) + `"}`))
		}}, want: []string{"larger than"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := downURL
			if tc.adapter != nil {
				hs := httptest.NewServer(tc.adapter)
				defer hs.Close()
				u = hs.URL
			}
			c := fastClient(Registration{Name: "trivy", URL: u, Auth: AuthBearer, AccessCredential: "t0ken-secret"})
			if tc.max > 0 {
				c.MaxResponse = tc.max
			}
			_, err := c.Scan(context.Background(), testRequest("https://registry.example.com", report.MimeNative))
			if err == nil {
				t.Fatal("scan succeeded")
			}
			msg := err.Error()
			for _, w := range append(tc.want, `scanner "trivy" at `+u) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "t0ken-secret") || strings.Contains(msg, "<html") || strings.Contains(msg, "\n") {
				t.Errorf("error %q shows a secret, markup or several lines", msg)
			}
		})
	}
}

func TestClientRefusesWhatTheScannerCannotDo(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(scripted{})
	defer hs.Close()
	c := fastClient(Registration{URL: hs.URL})
	for _, tc := range []struct {
		req  report.Request
		want string
	}{
		{testRequest("https://r.example.com", report.MimeSBOM), "does not produce " + report.MimeSBOM},
		{testRequest("", report.MimeNative), "needs the registry URL"},
		{testRequest("https://r.example.com", "application/zip"), "not a report type"},
	} {
		if _, err := c.Scan(context.Background(), tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("scan %v: err %v, want %q", tc.req.Want, err, tc.want)
		}
	}
	// The raw report is vendor-specific: anything goes.
	raw := scripted{report: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("vendor report"))
	}}
	hs2 := httptest.NewServer(raw)
	defer hs2.Close()
	res, err := fastClient(Registration{URL: hs2.URL}).Scan(context.Background(), testRequest("https://r.example.com", report.MimeRaw))
	if err != nil || string(res.Reports[report.MimeRaw]) != "vendor report" {
		t.Fatalf("raw report: %q, %v", res.Reports[report.MimeRaw], err)
	}
}

func TestClientSlowAdapter(t *testing.T) {
	t.Parallel()
	var polls sync.WaitGroup
	polls.Add(1)
	var once sync.Once
	slow := scripted{report: func(w http.ResponseWriter, r *http.Request) {
		once.Do(polls.Done)
		w.Header().Set("Refresh-After", "1")
		w.WriteHeader(http.StatusFound)
	}}
	hs := httptest.NewServer(slow)
	defer hs.Close()

	t.Run("deadline", func(t *testing.T) {
		c := NewClient(Registration{Name: "slow", URL: hs.URL}, nil)
		c.FirstPoll = time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Scan(ctx, testRequest("https://r.example.com", report.MimeNative))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "gave up after") {
			t.Fatalf("err %v, want the deadline", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("returned after %s", d)
		}
	})
	t.Run("own timeout", func(t *testing.T) {
		c := NewClient(Registration{Name: "slow", URL: hs.URL}, nil)
		c.FirstPoll = time.Millisecond
		c.Timeout = 200 * time.Millisecond
		if _, err := c.Scan(context.Background(), testRequest("https://r.example.com", report.MimeNative)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want the scan timeout", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		c := NewClient(Registration{Name: "slow", URL: hs.URL}, nil)
		c.FirstPoll = time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		go func() { polls.Wait(); cancel() }()
		_, err := c.Scan(ctx, testRequest("https://r.example.com", report.MimeNative))
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "scan cancelled") {
			t.Fatalf("err %v, want cancelled", err)
		}
	})
	t.Run("hanging adapter", func(t *testing.T) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer hang.Close()
		defer close(release)
		c := NewClient(Registration{URL: hang.URL}, nil)
		c.RequestTimeout = 100 * time.Millisecond
		_, err := c.Metadata(context.Background())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want the request timeout", err)
		}
	})
}

func TestRefreshAfterIsClamped(t *testing.T) {
	t.Parallel()
	c := NewClient(Registration{URL: "http://x"}, nil)
	for v, want := range map[string]time.Duration{"": defaultRefresh, "x": defaultRefresh, "0": time.Second, "-5": time.Second,
		"3": 3 * time.Second, "3600": time.Minute} {
		if got := c.refreshAfter(v); got != want {
			t.Errorf("Refresh-After %q: wait %s, want %s", v, got, want)
		}
	}
}

// serverCall sends one request to an adapter server and decodes an error body if any.
func serverCall(t *testing.T, h http.Handler, method, path, accept, body string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var e errorResponse
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != MimeError {
			t.Errorf("%s %s: %d with Content-Type %q, want %q", method, path, rec.Code, ct, MimeError)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Message == "" {
			t.Errorf("%s %s: %d without the spec's error body: %s", method, path, rec.Code, rec.Body)
		}
	}
	return rec, e.Error.Message
}

func scanBody(registry, repo, dgst, caps string) string {
	s := fmt.Sprintf(`{"registry":{"url":%q,"authorization":"Basic eDp5"},"artifact":{"repository":%q,"digest":%q,"mime_type":%q}`,
		registry, repo, dgst, report.MimeOCIImage)
	if caps != "" {
		s += `,"enabled_capabilities":` + caps
	}
	return s + "}"
}

func TestServerValidatesScanRequests(t *testing.T) {
	t.Parallel()
	vulnOnly := newFakeEngine()
	vulnOnly.md.Capabilities = vulnOnly.md.Capabilities[:1]
	srv := NewServer(vulnOnly, nil, nil)
	defer srv.Close()
	ok := "https://registry.example.com"
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"not JSON", `registry=x`, http.StatusBadRequest, "invalid JSON"},
		{"truncated", `{"registry":{"url":`, http.StatusBadRequest, "truncated JSON"},
		{"wrong type", `{"registry":{"url":5}}`, http.StatusBadRequest, "registry.url is a JSON number"},
		{"no registry", scanBody("", "library/app", testDigest, ""), http.StatusUnprocessableEntity, "registry.url"},
		{"registry not a URL", scanBody("registry.example.com", "library/app", testDigest, ""), http.StatusUnprocessableEntity, "registry.url"},
		{"no repository", scanBody(ok, "", testDigest, ""), http.StatusUnprocessableEntity, "artifact.repository is required"},
		{"a NUL in the repository", strings.Replace(scanBody(ok, "library/app", testDigest, ""), "library/app", `library/app\u0000`, 1), http.StatusBadRequest, "NUL"},
		{"invalid UTF-8", strings.Replace(scanBody(ok, "library/app", testDigest, ""), "library/app", "library/app\xff", 1), http.StatusBadRequest, "not valid UTF-8"},
		{"bad digest", scanBody(ok, "library/app", "sha256:zz", ""), http.StatusUnprocessableEntity, "artifact.digest"},
		{"bad capability", scanBody(ok, "library/app", testDigest, `[{"type":"malware"}]`), http.StatusUnprocessableEntity, `"malware"`},
		{"bad SBOM format", scanBody(ok, "library/app", testDigest, `[{"type":"sbom","parameters":{"sbom_media_types":["text/csv"]}}]`),
			http.StatusUnprocessableEntity, `"text/csv"`},
		{"no SBOM capability", scanBody(ok, "library/app", testDigest, `[{"type":"sbom"}]`), http.StatusNotImplemented, "no sbom capability"},
		{"report type not produced", scanBody(ok, "library/app", testDigest, `[{"type":"vulnerability","produces_mime_types":["`+report.MimeRaw+`"]}]`),
			http.StatusNotImplemented, "does not produce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, msg := serverCall(t, srv, http.MethodPost, "/api/v1/scan", "", tc.body)
			if rec.Code != tc.status || !strings.Contains(msg, tc.msg) {
				t.Errorf("%d %q, want %d with %q", rec.Code, msg, tc.status, tc.msg)
			}
		})
	}
	if got := vulnOnly.requests(); len(got) != 0 {
		t.Errorf("invalid requests reached the engine: %+v", got)
	}
}

// scanNow posts a scan and returns its id.
func scanNow(t *testing.T, h http.Handler, caps string) string {
	t.Helper()
	rec, msg := serverCall(t, h, http.MethodPost, "/api/v1/scan", "", scanBody("https://registry.example.com", "library/app", testDigest, caps))
	if rec.Code != http.StatusAccepted || rec.Header().Get("Content-Type") != MimeScanResponse {
		t.Fatalf("POST /scan: %d %s %q", rec.Code, rec.Header().Get("Content-Type"), msg)
	}
	var sr scanResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &sr); err != nil || sr.ID == "" {
		t.Fatalf("POST /scan answered %s", rec.Body)
	}
	return sr.ID
}

// waitDone polls a report until the scan is no longer running.
func waitDone(t *testing.T, h http.Handler, id, accept string) *httptest.ResponseRecorder {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		rec, _ := serverCall(t, h, http.MethodGet, "/api/v1/scan/"+id+"/report", accept, "")
		if rec.Code != http.StatusFound {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatal("the scan never finished")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerReports(t *testing.T) {
	t.Parallel()
	eng := newFakeEngine()
	eng.gate = make(chan struct{})
	srv := NewServer(eng, nil, nil)
	defer srv.Close()

	rec, _ := serverCall(t, srv, http.MethodGet, "/api/v1/metadata", MimeMetadata10, "")
	var wm wireMetadata
	if err := json.Unmarshal(rec.Body.Bytes(), &wm); rec.Code != 200 || err != nil || rec.Header().Get("Content-Type") != MimeMetadata10 {
		t.Fatalf("metadata: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if wm.Capabilities[1].Type != CapSBOM || fmt.Sprint(wm.Capabilities[1].AdditionalAttributes["sbom_media_types"]) != fmt.Sprint(sbomMediaTypes) {
		t.Errorf("SBOM capability %+v", wm.Capabilities[1])
	}

	// Without enabled_capabilities a request asks for the vulnerability reports.
	id := scanNow(t, srv, "")
	rec, _ = serverCall(t, srv, http.MethodGet, "/api/v1/scan/"+id+"/report", report.MimeGeneric, "")
	if rec.Code != http.StatusFound || rec.Header().Get("Refresh-After") != "5" {
		t.Errorf("running scan: %d, Refresh-After %q; want 302 and 5", rec.Code, rec.Header().Get("Refresh-After"))
	}
	sbomID := scanNow(t, srv, `[{"type":"sbom","produces_mime_types":["`+report.MimeSBOM+`"],"parameters":{"sbom_media_types":["`+report.MediaCDX+`"]}}]`)
	close(eng.gate)

	for _, mime := range []string{report.MimeGeneric, report.MimeNative, "application/vnd.security.vulnerability.report;version=1.1, */*;q=0.1"} {
		rec := waitDone(t, srv, id, mime)
		want := strings.Split(mime, ",")[0]
		if want == "application/vnd.security.vulnerability.report;version=1.1" {
			want = report.MimeGeneric
		}
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != want || !bytes.Equal(rec.Body.Bytes(), fakeReport(want, eng.requests()[0])) {
			t.Errorf("Accept %s: %d %s %s", mime, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	waitDone(t, srv, sbomID, report.MimeSBOM) // the SBOM scan ends on its own time too
	for _, tc := range []struct {
		id, accept, query string
		status            int
		msg               string
	}{
		{id, report.MimeSBOM, "?sbom_media_type=" + url.QueryEscape(report.MediaSPDX), http.StatusBadRequest, "did not ask for"},
		{id, "application/x-unknown", "", http.StatusNotImplemented, "produces no application/x-unknown"},
		{sbomID, report.MimeSBOM, "", http.StatusBadRequest, "needs ?sbom_media_type="},
		{sbomID, report.MimeSBOM, "?sbom_media_type=" + url.QueryEscape(report.MediaSPDX), http.StatusBadRequest, "produced its SBOM in " + report.MediaCDX},
		{"no-such-id", report.MimeNative, "", http.StatusNotFound, "no scan request"},
	} {
		rec, msg := serverCall(t, srv, http.MethodGet, "/api/v1/scan/"+tc.id+"/report"+tc.query, tc.accept, "")
		if rec.Code != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %s%s: %d %q, want %d with %q", tc.id, tc.accept, tc.query, rec.Code, msg, tc.status, tc.msg)
		}
	}
	rec, _ = serverCall(t, srv, http.MethodGet, "/api/v1/scan/"+sbomID+"/report?sbom_media_type="+url.QueryEscape(report.MediaCDX), report.MimeSBOM, "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != report.MimeSBOM {
		t.Errorf("SBOM report: %d %s", rec.Code, rec.Body)
	}
	if rec, _ := serverCall(t, srv, http.MethodDelete, "/api/v1/scan", "", ""); rec.Code != http.StatusNotFound {
		t.Errorf("DELETE /scan: %d", rec.Code)
	}
}

func TestServerScanFailure(t *testing.T) {
	t.Parallel()
	eng := newFakeEngine()
	eng.err = errors.New("pull library/app@sha256:6c3c…: 401 Unauthorized")
	srv := NewServer(eng, nil, nil)
	defer srv.Close()
	id := scanNow(t, srv, "")
	rec := waitDone(t, srv, id, report.MimeNative)
	var e errorResponse
	json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code != http.StatusInternalServerError || e.Error.Message != eng.err.Error() {
		t.Errorf("failed scan: %d %s", rec.Code, rec.Body)
	}
	// And through the client, the message reaches the scan log.
	hs := httptest.NewServer(srv)
	defer hs.Close()
	_, err := fastClient(Registration{Name: "berth", URL: hs.URL}).Scan(context.Background(), testRequest("https://r.example.com", report.MimeNative))
	if err == nil || !strings.Contains(err.Error(), eng.err.Error()) {
		t.Errorf("client error %v", err)
	}
}

func TestServerForgetsResults(t *testing.T) {
	t.Parallel()
	srv := NewServer(newFakeEngine(), nil, nil)
	defer srv.Close()
	var mu sync.Mutex
	clock := time.Unix(1_700_000_000, 0)
	srv.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	srv.MaxResults = 2

	first := scanNow(t, srv, "")
	if rec := waitDone(t, srv, first, report.MimeNative); rec.Code != http.StatusOK {
		t.Fatalf("first report: %d", rec.Code)
	}
	advance(59 * time.Minute)
	if rec := waitDone(t, srv, first, report.MimeNative); rec.Code != http.StatusOK {
		t.Fatalf("report within the hour: %d", rec.Code)
	}
	advance(2 * time.Minute)
	if rec := waitDone(t, srv, first, report.MimeNative); rec.Code != http.StatusNotFound {
		t.Fatalf("report after the hour: %d, want 404", rec.Code)
	}

	// The cap: a third finished scan pushes the oldest out.
	ids := []string{scanNow(t, srv, ""), scanNow(t, srv, ""), scanNow(t, srv, "")}
	for _, id := range ids {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			srv.mu.Lock()
			j := srv.jobs[id]
			done := j == nil || j.state == "done"
			srv.mu.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("scan never finished")
			}
		}
	}
	kept := 0
	for _, id := range ids {
		if rec, _ := serverCall(t, srv, http.MethodGet, "/api/v1/scan/"+id+"/report", report.MimeNative, ""); rec.Code == http.StatusOK {
			kept++
		}
	}
	if kept != 2 {
		t.Errorf("%d results kept, want 2", kept)
	}
}

func TestServerQueueIsBounded(t *testing.T) {
	t.Parallel()
	eng := newFakeEngine()
	eng.gate = make(chan struct{})
	srv := NewServer(eng, nil, nil)
	srv.Workers, srv.QueueLimit = 1, 1
	defer srv.Close()
	running := scanNow(t, srv, "")
	for deadline := time.Now().Add(5 * time.Second); len(eng.requests()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first scan never started")
		}
	}
	waiting := scanNow(t, srv, "")
	rec, msg := serverCall(t, srv, http.MethodPost, "/api/v1/scan", "", scanBody("https://r.example.com", "library/app", testDigest, ""))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(msg, "retry later") {
		t.Fatalf("third scan: %d %q, want 503", rec.Code, msg)
	}
	close(eng.gate)
	for _, id := range []string{running, waiting} {
		if rec := waitDone(t, srv, id, report.MimeNative); rec.Code != http.StatusOK {
			t.Errorf("scan %s: %d", id, rec.Code)
		}
	}
	scanNow(t, srv, "") // room again
}

func TestServerAuth(t *testing.T) {
	t.Parallel()
	check := func(_ context.Context, name, secret string) bool {
		return name == "robot$scanner" && secret == "Secret123"
	}
	srv := NewServer(newFakeEngine(), CredentialAuth(check), nil)
	defer srv.Close()
	b64 := base64.StdEncoding.EncodeToString([]byte("robot$scanner:Secret123"))
	for _, tc := range []struct {
		header, value string
		ok            bool
	}{
		{"Authorization", "Basic " + b64, true},
		{"Authorization", "Bearer robot$scanner:Secret123", true},
		{"Authorization", "Bearer " + b64, true},
		{AuthAPIKey, "robot$scanner:Secret123", true},
		{"", "", false},
		{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("robot$scanner:wrong")), false},
		{"Authorization", "Bearer not-base64!", false},
		{AuthAPIKey, "robot$scanner", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/metadata", nil)
		if tc.header != "" {
			r.Header.Set(tc.header, tc.value)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		if (rec.Code == http.StatusOK) != tc.ok || (!tc.ok && (rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "")) {
			t.Errorf("%s: %s → %d", tc.header, tc.value, rec.Code)
		}
	}
}

func TestRegistrationValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reg  Registration
		want string // "" valid
	}{
		{Registration{URL: "http://trivy:8080"}, ""},
		{Registration{URL: "https://trivy.example.com/adapter", Auth: AuthBasic, AccessCredential: "u:p"}, ""},
		{Registration{URL: "https://t", Auth: AuthBearer, AccessCredential: "tok"}, ""},
		{Registration{URL: "https://t", Auth: AuthAPIKey, AccessCredential: "key"}, ""},
		{Registration{URL: "trivy:8080"}, "url"},
		{Registration{URL: "ftp://trivy"}, "url"},
		{Registration{URL: BuiltinURL}, "url"},
		{Registration{URL: "https://u:p@trivy"}, "not in the URL"},
		{Registration{URL: "https://t?x=1"}, "no query"},
		{Registration{URL: "https://t", Auth: AuthBasic, AccessCredential: "nocolon"}, "user:password"},
		{Registration{URL: "https://t", Auth: AuthBearer}, "access_credential is required"},
		{Registration{URL: "https://t", Auth: "Digest", AccessCredential: "x"}, "not supported"},
	} {
		err := tc.reg.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.reg, err, tc.want)
		}
		if err != nil && tc.reg.AccessCredential != "" && strings.Contains(err.Error(), tc.reg.AccessCredential) && tc.reg.AccessCredential != "x" {
			t.Errorf("error %q shows the credential", err)
		}
	}
}

func TestEngines(t *testing.T) {
	t.Parallel()
	builtin := newFakeEngine()
	e := &Engines{Builtin: builtin}
	if got := e.Engine(Registration{URL: BuiltinURL}); got != report.Engine(builtin) {
		t.Errorf("built-in registration → %T", got)
	}
	if _, ok := e.Engine(Registration{URL: "http://trivy:8080"}).(*Client); !ok {
		t.Error("external registration is not served by a Client")
	}
	var none *Engines
	if _, err := none.Engine(Registration{URL: BuiltinURL}).Metadata(context.Background()); !errors.Is(err, ErrBuiltinUnavailable) {
		t.Errorf("no built-in engine: %v", err)
	}
}

// Harbor's client decodes report bodies itself; make sure the server's reports are the
// engine's bytes, whatever their size.
func TestServerServesLargeReports(t *testing.T) {
	t.Parallel()
	eng := newFakeEngine()
	big := bytes.Repeat([]byte("x"), 3<<20)
	srv := NewServer(reportsOf(eng, map[string][]byte{report.MimeNative: append(append([]byte(`{"vulnerabilities":[],"pad":"`), big...), '"', '}')}), nil, nil)
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	res, err := fastClient(Registration{URL: hs.URL}).Scan(context.Background(), testRequest("https://r.example.com", report.MimeNative))
	if err != nil || len(res.Reports[report.MimeNative]) < len(big) {
		t.Fatalf("large report: %d bytes, %v", len(res.Reports[report.MimeNative]), err)
	}
}

type fixedReports struct {
	*fakeEngine
	reports map[string][]byte
}

func reportsOf(f *fakeEngine, r map[string][]byte) report.Engine { return fixedReports{f, r} }

func (f fixedReports) Scan(ctx context.Context, req report.Request) (report.Result, error) {
	return report.Result{Reports: f.reports}, nil
}
