package server

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// portalSession is a browser-like client of the portal signed in as admin.
type portalSession struct {
	t    *testing.T
	base string
	c    *http.Client
}

var portalCSRF = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

func newPortalSession(t *testing.T, ts *testServer) *portalSession {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &portalSession{t: t, base: ts.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, body := s.do(http.MethodGet, "/login", nil)
	m := portalCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login form: %s", body)
	}
	if code, body := s.do(http.MethodPost, "/login", url.Values{"csrf": {m[1]}, "principal": {adminUser}, "password": {adminPassword}}); code != http.StatusSeeOther {
		t.Fatalf("portal login: %d %s", code, body)
	}
	return s
}

func (s *portalSession) do(method, path string, form url.Values) (int, string) {
	s.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestPortalArtifactVulnerabilities: the portal's scan button scans, and the artifact page
// shows the report's vulnerabilities with the severity counts, filtered and sorted; the
// repository page shows each artifact's counts.
func TestPortalArtifactVulnerabilities(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	projAPI{ts}.create(t, map[string]any{"project_name": "sec"})
	ts.importVulnDB(t,
		osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical),
		osvRecord("DEBIAN-CVE-2024-0002", "CVE-2024-0002", "zlib", "1:1.2.13.dfsg-2", vecMedium),
	)
	dgst := ts.pushDebianImage(t, "sec/app", "v1", "openssl 3.0.11-1~deb12u1", "zlib 1:1.2.13.dfsg-1", "bash 5.2.15-2")
	s := newPortalSession(t, ts)
	page := "/projects/sec/repositories/app/artifacts/" + dgst
	code, body := s.do(http.MethodGet, page, nil)
	m := portalCSRF.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || !strings.Contains(body, `action="`+page+`/scan"`) {
		t.Fatalf("artifact page: %d\n%s", code, body)
	}
	if code, body := s.do(http.MethodPost, page+"/scan", url.Values{"csrf": {m[1]}}); code != http.StatusSeeOther {
		t.Fatalf("scan: %d\n%s", code, body)
	}
	if o := ts.waitScan(t, "sec", "app", "v1"); o.Status != "Success" {
		t.Fatalf("scan: %+v", o)
	}
	code, body = s.do(http.MethodGet, page, nil)
	for _, want := range []string{
		`<span class="sev sev-critical">1 Critical</span>`, `<span class="sev sev-medium">1 Medium</span>`, `<span class="sev sev-high">0 High</span>`, "2 in all",
		"CVE-2024-0001", "openssl", "3.0.11-1~deb12u1", "3.0.13-1~deb12u1", "9.8",
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("artifact page after the scan lacks %q: %d\n%s", want, code, body)
		}
	}
	// Most severe first by default; the filters keep what they say.
	if i, j := strings.Index(body, "CVE-2024-0001"), strings.Index(body, "CVE-2024-0002"); i < 0 || j < 0 || i > j {
		t.Errorf("the critical vulnerability is not listed first")
	}
	if _, body := s.do(http.MethodGet, page+"?severity=Medium", nil); strings.Contains(body, "CVE-2024-0001") || !strings.Contains(body, "CVE-2024-0002") {
		t.Errorf("the severity filter:\n%s", body)
	}
	if _, body := s.do(http.MethodGet, page+"?filter=nothing", nil); !strings.Contains(body, "No vulnerability matches the filters.") {
		t.Errorf("a filter matching nothing:\n%s", body)
	}
	if _, body := s.do(http.MethodGet, "/projects/sec/repositories/app", nil); !strings.Contains(body, `href="`+page+`"`) || !strings.Contains(body, "1 Critical") {
		t.Errorf("the repository page's vulnerability summary:\n%s", body)
	}
}
