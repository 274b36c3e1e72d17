//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScanAndPullGate is the scanning walkthrough with the real binary and a real client: the
// OSV database imported offline with `berth vulndb import`, a Debian image pushed into a
// project that scans on push and blocks High vulnerabilities, crane refused with Harbor's
// message, the CVE exempted through the allowlist, crane let through.
func TestScanAndPullGate(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		c := srv.admin()
		importOSV(t, srv, "DEBIAN-CVE-2024-0101", `{"schema_version":"1.6.0","id":"DEBIAN-CVE-2024-0101","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-0101"],
			"summary":"openssl flaw","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}],
			"affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`)

		r := c.do(t, http.MethodPost, "/api/v2.0/projects", []byte(`{"project_name":"gated","metadata":{"public":"false","auto_scan":"true","prevent_vul":"true","severity":"high"}}`),
			"Content-Type", "application/json")
		if r.Status != http.StatusCreated {
			t.Fatalf("create project: %s", r)
		}
		mustPushImage(t, c, "gated/app", "v1", opensslImage(t))

		// Scanned on push; the report says why.
		deadline := time.Now().Add(2 * time.Minute)
		for {
			r := c.do(t, http.MethodGet, "/api/v2.0/projects/gated/repositories/app/artifacts/v1?with_scan_overview=true", nil)
			var a struct {
				ScanOverview map[string]struct {
					Status   string `json:"scan_status"`
					Severity string `json:"severity"`
				} `json:"scan_overview"`
			}
			json.Unmarshal(r.Body, &a)
			o := a.ScanOverview["application/vnd.security.vulnerability.report; version=1.1"]
			if o.Status == "Success" {
				if o.Severity != "Critical" { // CVSS 9.1
					t.Fatalf("overview: %s", r)
				}
				break
			}
			if o.Status == "Error" || time.Now().After(deadline) {
				t.Fatalf("scan on push: %s", r)
			}
			time.Sleep(200 * time.Millisecond)
		}

		env := envFor(t)
		ref := srv.Host + "/gated/app:v1"
		run(t, "crane", "auth", "login", srv.Host, "-u", srv.User, "-p", srv.Password)
		res := mustFail(t, runOpts{}, "crane", "pull", "--insecure", "--format=oci", ref, filepath.Join(env.Dir, "refused"))
		if !strings.Contains(res.String(), "cannot be pulled due to configured policy") || !strings.Contains(res.String(), "CVE-2024-0101") {
			t.Fatalf("crane pull of a gated image: %s", res)
		}
		r = c.do(t, http.MethodPut, "/api/v2.0/system/CVEAllowlist", []byte(`{"items":[{"cve_id":"CVE-2024-0101"}]}`), "Content-Type", "application/json")
		if r.Status != http.StatusOK {
			t.Fatalf("allowlist: %s", r)
		}
		run(t, "crane", "pull", "--insecure", "--format=oci", ref, filepath.Join(env.Dir, "allowed"))
		if _, err := os.Stat(filepath.Join(env.Dir, "allowed", "index.json")); err != nil {
			t.Fatal(fmt.Errorf("crane pull wrote no layout: %w", err))
		}
	})
}

// TestRecipeVulnerabilityScanning follows RECIPE.md's "Vulnerability Scanning" with its curl
// commands as written (only the host is this server's): a project that scans on push and
// prevents Critical vulnerabilities, the manual scan and the results through curl with Basic
// auth, a refused pull with Harbor's message, and a pull allowed once the CVE is allowlisted.
func TestRecipeVulnerabilityScanning(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})
		c := srv.admin()
		// An OSV record written for this test: Debian 12's openssl, fixed in 3.0.13-1~deb12u1.
		importOSV(t, srv, "DEBIAN-CVE-2024-0102", `{"schema_version":"1.6.0","id":"DEBIAN-CVE-2024-0102","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-0102"],
			"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
			"affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`)
		// Project settings: scan on push; prevent vulnerable images from running (Critical).
		r := c.do(t, http.MethodPost, "/api/v2.0/projects", []byte(`{"project_name":"myproject","metadata":{"auto_scan":"true","prevent_vul":"true","severity":"critical"}}`),
			"Content-Type", "application/json")
		if r.Status != http.StatusCreated {
			t.Fatalf("create project: %s", r)
		}
		img := opensslImage(t)
		mustPushImage(t, c, "myproject/myapp", "v1", img)

		curl := func(cmd string) string {
			t.Helper()
			cmd = strings.ReplaceAll(cmd, "https://registry.example.com", srv.URL)
			cmd = strings.ReplaceAll(cmd, "admin:password", srv.User+":"+srv.Password)
			out, err := exec.Command("sh", "-c", cmd+` -s -w '\n%{http_code}'`).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
			return string(out)
		}
		out := curl(`curl -X POST "https://registry.example.com/api/v2.0/projects/myproject/repositories/myapp/artifacts/v1/scan" \
  -H "Authorization: Basic $(echo -n admin:password | base64)"`)
		if !strings.HasSuffix(strings.TrimSpace(out), "202") {
			t.Fatalf("manual scan: %s", out)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			out = curl(`curl "https://registry.example.com/api/v2.0/projects/myproject/repositories/myapp/artifacts/v1/additions/vulnerabilities" \
  -H "Authorization: Basic $(echo -n admin:password | base64)"`)
			if strings.Contains(out, "CVE-2024-0102") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("scan results: %s", out)
			}
			time.Sleep(200 * time.Millisecond)
		}
		r = c.do(t, http.MethodGet, "/v2/myproject/myapp/manifests/v1", nil, "Accept", manifestAccept)
		if r.Status != http.StatusPreconditionFailed || !strings.Contains(string(r.Body), "PROJECTPOLICYVIOLATION") ||
			!strings.Contains(string(r.Body), `Prevent images with vulnerability severity of \"Critical\" or higher from running.`) {
			t.Fatalf("pull of a vulnerable image: %s", r)
		}
		r = c.do(t, http.MethodPut, "/api/v2.0/system/CVEAllowlist", []byte(`{"items":[{"cve_id":"CVE-2024-0102"}]}`), "Content-Type", "application/json")
		if r.Status != http.StatusOK {
			t.Fatalf("allowlist: %s", r)
		}
		mustVerifyImage(t, c, "myproject/myapp", "v1", img)
	})
}

// importOSV imports one OSV record (id, JSON) into the server's database offline, with
// `berth vulndb import`.
func importOSV(t *testing.T, srv *server, id, record string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := berth(t, srv.env, "", "vulndb", "import", dir, "--data-dir", srv.DataDir); err != nil {
		t.Fatalf("berth vulndb import: %v\n%s", err, out)
	}
}

// opensslImage is a Debian 12 image whose dpkg database lists libssl3 3.0.11-1~deb12u1, built
// from the openssl source package.
func opensslImage(t *testing.T) testImage {
	t.Helper()
	status := "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u1\nDescription: ssl\n\n"
	return newImage(t, "linux/amd64", newLayer(t, tarBytes(t, map[string][]byte{
		"etc/os-release":      []byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
		"var/lib/dpkg/status": []byte(status),
	})))
}
