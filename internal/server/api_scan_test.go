package server

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/scan/vulndb"
)

// Vulnerability scanning end to end: a Debian image with a vulnerable package, an offline OSV
// database, scans on demand and on push, Harbor's reports and overviews, the pull gate with
// allowlists, re-matching when a new database arrives, scan-all, SBOMs and the security hub.

const mimeGeneric = "application/vnd.security.vulnerability.report; version=1.1"
const mimeNative = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"

// debianLayer is a layer with Debian 12's os-release and a dpkg database listing pkgs
// ("name version" pairs, source = name).
func debianLayer(t *testing.T, pkgs ...string) []byte {
	t.Helper()
	var status strings.Builder
	for _, p := range pkgs {
		name, version, _ := strings.Cut(p, " ")
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 100\n"+
			"Maintainer: Debian <debian@example.org>\nArchitecture: amd64\nSource: %s\nVersion: %s\nDescription: %s\n\n", name, name, version, name)
	}
	return debianLayerWithStatus(t, status.String())
}

// debianLayerWithStatus is a Debian 12 layer whose dpkg database is status, as given.
func debianLayerWithStatus(t *testing.T, status string) []byte {
	t.Helper()
	files := map[string]string{
		"etc/os-release":       "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n",
		"var/lib/dpkg/status":  status,
		"usr/share/doc/readme": "hello",
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range []string{"etc/os-release", "usr/share/doc/readme", "var/lib/dpkg/status"} {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// pushDebianImage pushes an image whose one layer holds the packages; it returns the digest.
func (ts *testServer) pushDebianImage(t *testing.T, repo, tag string, pkgs ...string) string {
	t.Helper()
	layer := debianLayer(t, pkgs...)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("0", 64) + `"]},"id":"` + uniqueSuffix() + `"}`)
	m := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &tDescriptor{MediaType: mtOCIConfig, Digest: ts.pushBlob(t, repo, cfg), Size: int64(len(cfg))},
		Layers: []tDescriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: ts.pushBlob(t, repo, layer), Size: int64(len(layer))}}}
	return ts.pushManifest(t, repo, tag, mtOCIManifest, mustJSON(t, m))
}

// osvRecord is a Debian 12 advisory on a source package, fixed in a version.
func osvRecord(id, alias, pkg, fixed, vector string) string {
	return fmt.Sprintf(`{"schema_version":"1.6.0","id":%q,"modified":"2024-01-01T00:00:00Z","published":"2024-01-01T00:00:00Z",
		"aliases":[%q],"summary":"%s in %s","details":"A flaw in %s.",
		"severity":[{"type":"CVSS_V3","score":%q}],
		"affected":[{"package":{"ecosystem":"Debian:12","name":%q},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}],
		"references":[{"type":"ADVISORY","url":"https://security-tracker.debian.org/tracker/%s"}]}`,
		id, alias, id, pkg, pkg, vector, pkg, fixed, alias)
}

const (
	vecCritical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" // 9.8
	vecMedium   = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N" // 5.4
)

// importVulnDB imports OSV records as a new generation.
func (ts *testServer) importVulnDB(t *testing.T, records ...string) {
	t.Helper()
	dir := t.TempDir()
	for i, r := range records {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%d.json", i)), []byte(r), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ts.srv.scan.VulnDB.Import(context.Background(), []string{dir}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

type tOverview struct {
	ReportID  string `json:"report_id"`
	Status    string `json:"scan_status"`
	Severity  string `json:"severity"`
	StartTime string `json:"start_time"`
	Summary   struct {
		Total   int            `json:"total"`
		Fixable int            `json:"fixable"`
		Summary map[string]int `json:"summary"`
	} `json:"summary"`
	Scanner struct {
		Name string `json:"name"`
	} `json:"scanner"`
}

// overview waits for the artifact's scan to end and returns its overview.
func (ts *testServer) waitScan(t *testing.T, project, repo, ref string) tOverview {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp := ts.do(t, http.MethodGet, fmt.Sprintf("/api/v2.0/projects/%s/repositories/%s/artifacts/%s?with_scan_overview=true", project, repo, ref), nil, nil)
		expectStatus(t, resp, http.StatusOK)
		var a struct {
			ScanOverview map[string]tOverview `json:"scan_overview"`
		}
		if err := json.Unmarshal(respBody(t, resp), &a); err != nil {
			t.Fatal(err)
		}
		if o, ok := a.ScanOverview[mimeGeneric]; ok && (o.Status == "Success" || o.Status == "Error" || o.Status == "Stopped") {
			if o.Status == "Error" {
				log := ts.do(t, http.MethodGet, fmt.Sprintf("/api/v2.0/projects/%s/repositories/%s/artifacts/%s/scan/%s/log", project, repo, ref, o.ReportID), nil, nil)
				t.Logf("scan of %s/%s:%s failed; log:\n%s", project, repo, ref, respBody(t, log))
			}
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan of %s/%s:%s did not end: %+v", project, repo, ref, a.ScanOverview)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestScanReportsAndPullGate(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		pid := a.create(t, map[string]any{"project_name": "sec", "metadata": map[string]string{"public": "false"}})
		ts.importVulnDB(t,
			osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical),
			osvRecord("DEBIAN-CVE-2024-0002", "CVE-2024-0002", "zlib", "1:1.2.13.dfsg-2", vecMedium),
		)
		vulnerable := ts.pushDebianImage(t, "sec/app", "v1", "openssl 3.0.11-1~deb12u1", "zlib 1:1.2.13.dfsg-1", "bash 5.2.15-2")
		clean := ts.pushDebianImage(t, "sec/app", "v2", "openssl 3.0.13-1~deb12u1", "zlib 1:1.2.13.dfsg-2")

		// Unscanned: no overview, and the vulnerabilities addition has no report.
		resp := ts.do(t, http.MethodGet, "/api/v2.0/projects/sec/repositories/app/artifacts/v1/additions/vulnerabilities", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if got := strings.TrimSpace(string(respBody(t, resp))); got != "{}" {
			t.Fatalf("vulnerabilities of an unscanned image: %s", got)
		}

		for _, ref := range []string{"v1", "v2"} {
			expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/sec/repositories/app/artifacts/"+ref+"/scan", nil, nil), http.StatusAccepted)
		}
		o := ts.waitScan(t, "sec", "app", "v1")
		if o.Status != "Success" || o.Severity != "Critical" || o.Summary.Total != 2 || o.Summary.Fixable != 2 ||
			o.Summary.Summary["Critical"] != 1 || o.Summary.Summary["Medium"] != 1 || o.Scanner.Name != "Berth" {
			t.Fatalf("overview of v1: %+v", o)
		}
		if o2 := ts.waitScan(t, "sec", "app", "v2"); o2.Status != "Success" || o2.Summary.Total != 0 || o2.Severity != "None" {
			t.Fatalf("overview of v2: %+v", o2)
		}

		// The report in both versions.
		for _, mime := range []string{mimeGeneric, mimeNative} {
			resp := ts.do(t, http.MethodGet, "/api/v2.0/projects/sec/repositories/app/artifacts/v1/additions/vulnerabilities", hdr(nil, "X-Accept-Vulnerabilities", mime), nil)
			expectStatus(t, resp, http.StatusOK)
			var reports map[string]struct {
				Severity        string `json:"severity"`
				Vulnerabilities []struct {
					ID, Package, Version, FixVersion, Severity string
					Fix                                        string `json:"fix_version"`
					Links                                      []string
					PreferredCVSS                              struct {
						ScoreV3 float64 `json:"score_v3"`
					} `json:"preferred_cvss"`
				} `json:"vulnerabilities"`
			}
			if err := json.Unmarshal(respBody(t, resp), &reports); err != nil {
				t.Fatal(err)
			}
			r, ok := reports[mime]
			if !ok || len(r.Vulnerabilities) != 2 || r.Severity != "Critical" {
				t.Fatalf("report as %s: %+v", mime, reports)
			}
			v := r.Vulnerabilities[0]
			if v.ID != "CVE-2024-0001" || v.Package != "openssl" || v.Version != "3.0.11-1~deb12u1" || v.Fix != "3.0.13-1~deb12u1" ||
				v.Severity != "Critical" || v.PreferredCVSS.ScoreV3 != 9.8 || len(v.Links) == 0 {
				t.Errorf("first vulnerability: %+v", v)
			}
		}
		// The scan log.
		resp = ts.do(t, http.MethodGet, "/api/v2.0/projects/sec/repositories/app/artifacts/v1/scan/"+o.ReportID+"/log", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if log := string(respBody(t, resp)); !strings.Contains(log, "3 packages") || !strings.Contains(log, "2 vulnerabilities") {
			t.Errorf("scan log:\n%s", log)
		}
		expectAPIError(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/sec/repositories/app/artifacts/v1/scan/nope/log", nil, nil), http.StatusNotFound, "NOT_FOUND")

		// The pull gate.
		setMeta := func(md map[string]string) {
			t.Helper()
			expectStatus(t, ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/projects/%d", pid), nil, mustJSON(t, map[string]any{"metadata": md})), http.StatusOK)
		}
		pull := func(ref string) *http.Response {
			return ts.do(t, http.MethodGet, "/v2/sec/app/manifests/"+ref, hdr(nil, "Accept", mtOCIManifest), nil)
		}
		setMeta(map[string]string{"prevent_vul": "true", "severity": "high"})
		resp = pull("v1")
		assertOCIError(t, resp, http.StatusPreconditionFailed, "PROJECTPOLICYVIOLATION")
		msg := decodeErrors(t, ts.do(t, http.MethodGet, "/v2/sec/app/manifests/"+vulnerable, nil, nil))[0].Message
		want := `current image with 1 vulnerability cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of "High" or higher from running.' To continue with pull, please contact your project administrator to exempt matched vulnerabilities through configuring the CVE allowlist.`
		if !strings.HasPrefix(msg, want) || !strings.Contains(msg, "CVE-2024-0001") {
			t.Fatalf("gate message %q", msg)
		}
		expectStatus(t, pull("v2"), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodHead, "/v2/sec/app/manifests/v1", nil, nil), http.StatusOK)
		// Medium and above: both vulnerabilities block.
		setMeta(map[string]string{"prevent_vul": "true", "severity": "medium"})
		if msg := decodeErrors(t, pull("v1"))[0].Message; !strings.HasPrefix(msg, "current image with 2 vulnerabilities") {
			t.Fatalf("gate at medium: %q", msg)
		}
		// The system allowlist exempts by id or alias.
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/CVEAllowlist", nil, []byte(`{"items":[{"cve_id":"CVE-2024-0001"},{"cve_id":"DEBIAN-CVE-2024-0002"}]}`)), http.StatusOK)
		expectStatus(t, pull("v1"), http.StatusOK)
		// The project's own list when it does not reuse the system's; an expired list exempts nothing.
		setMeta(map[string]string{"prevent_vul": "true", "severity": "medium", "reuse_sys_cve_allowlist": "false"})
		assertOCIError(t, pull("v1"), http.StatusPreconditionFailed, "PROJECTPOLICYVIOLATION")
		expectStatus(t, ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/projects/%d", pid), nil,
			[]byte(`{"cve_allowlist":{"items":[{"cve_id":"CVE-2024-0001"},{"cve_id":"CVE-2024-0002"}],"expires_at":1}}`)), http.StatusOK)
		assertOCIError(t, pull("v1"), http.StatusPreconditionFailed, "PROJECTPOLICYVIOLATION")
		expectStatus(t, ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/projects/%d", pid), nil,
			[]byte(`{"cve_allowlist":{"items":[{"cve_id":"CVE-2024-0001"},{"cve_id":"CVE-2024-0002"}]}}`)), http.StatusOK)
		expectStatus(t, pull("v1"), http.StatusOK)

		// An unscanned image is refused with Harbor's text.
		ts.pushDebianImage(t, "sec/app", "v3", "bash 5.2.15-2")
		if msg := decodeErrors(t, pull("v3"))[0].Message; !strings.HasPrefix(msg, "current image without vulnerability scanning cannot be pulled") {
			t.Fatalf("unscanned: %q", msg)
		}
		setMeta(map[string]string{"prevent_vul": "false"})
		expectStatus(t, pull("v3"), http.StatusOK)

		// A new database re-matches the stored inventory: v2 becomes vulnerable without a rescan.
		ts.importVulnDB(t,
			osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical),
			osvRecord("DEBIAN-CVE-2024-0003", "CVE-2024-0003", "openssl", "3.0.14-1~deb12u1", vecMedium),
		)
		deadline := time.Now().Add(time.Minute)
		for {
			o := ts.waitScan(t, "sec", "app", "v2")
			if o.Summary.Total == 1 && o.Severity == "Medium" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("v2 after the new database: %+v", o)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if o := ts.waitScan(t, "sec", "app", "v1"); o.Summary.Total != 2 || o.Summary.Summary["Critical"] != 1 || o.Summary.Summary["Medium"] != 1 {
			t.Fatalf("v1 after the new database: %+v", o)
		}
		_ = clean
	})
}

func TestScanOnPushScanAllSBOMAndSecurityHub(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		a.create(t, map[string]any{"project_name": "auto", "metadata": map[string]string{"auto_scan": "true"}})
		ts.importVulnDB(t, osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
		ts.pushDebianImage(t, "auto/app", "v1", "openssl 3.0.11-1~deb12u1")
		if o := ts.waitScan(t, "auto", "app", "v1"); o.Status != "Success" || o.Summary.Total != 1 {
			t.Fatalf("scan on push: %+v", o)
		}
		// library does not scan on push; scan-all scans it.
		ts.pushDebianImage(t, "library/other", "v1", "openssl 3.0.11-1~deb12u1", "zlib 1:1.2.13.dfsg-1")
		resp := ts.do(t, http.MethodPost, "/api/v2.0/system/scanAll/schedule", nil, []byte(`{"schedule":{"type":"Manual"}}`))
		expectStatus(t, resp, http.StatusCreated)
		deadline := time.Now().Add(time.Minute)
		for {
			var m struct {
				Total, Completed int
				Ongoing          bool
				Metrics          map[string]int
				Trigger          string
			}
			resp := ts.do(t, http.MethodGet, "/api/v2.0/scans/all/metrics", nil, nil)
			expectStatus(t, resp, http.StatusOK)
			json.Unmarshal(respBody(t, resp), &m)
			if !m.Ongoing && m.Total == 2 && m.Completed == 2 {
				if m.Metrics["Success"] != 2 || m.Trigger != "Manual" {
					t.Fatalf("scan-all metrics: %+v", m)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("scan-all did not finish: %+v", m)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if o := ts.waitScan(t, "library", "other", "v1"); o.Summary.Total != 1 {
			t.Fatalf("scanned by scan-all: %+v", o)
		}
		// Schedules validate like GC's.
		expectAPIError(t, ts.do(t, http.MethodPut, "/api/v2.0/system/scanAll/schedule", nil, []byte(`{"schedule":{"type":"Custom","cron":"bad"}}`)), http.StatusBadRequest, "BAD_REQUEST")
		expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/system/scanAll/schedule", nil, []byte(`{"schedule":{"type":"Daily","cron":"0 0 3 * * *"}}`)), http.StatusOK)
		resp = ts.do(t, http.MethodGet, "/api/v2.0/system/scanAll/schedule", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if !strings.Contains(string(respBody(t, resp)), `"cron":"0 0 3 * * *"`) {
			t.Fatalf("scan-all schedule: %s", respBody(t, resp))
		}

		// An SBOM.
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/auto/repositories/app/artifacts/v1/scan", nil, []byte(`{"scan_type":"sbom"}`)), http.StatusAccepted)
		deadline = time.Now().Add(time.Minute)
		for {
			resp := ts.do(t, http.MethodGet, "/api/v2.0/projects/auto/repositories/app/artifacts/v1?with_sbom_overview=true", nil, nil)
			var art struct {
				SBOMOverview struct {
					Status string `json:"scan_status"`
				} `json:"sbom_overview"`
			}
			json.Unmarshal(respBody(t, resp), &art)
			if art.SBOMOverview.Status == "Success" {
				break
			}
			if time.Now().After(deadline) || art.SBOMOverview.Status == "Error" {
				t.Fatalf("sbom: %s", respBody(t, resp))
			}
			time.Sleep(50 * time.Millisecond)
		}
		// …stored as an accessory of the image, once however often it is generated.
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/auto/repositories/app/artifacts/v1/scan", nil, []byte(`{"scan_type":"sbom"}`)), http.StatusAccepted)
		deadline = time.Now().Add(time.Minute)
		for {
			resp := ts.do(t, http.MethodGet, "/api/v2.0/projects/auto/repositories/app/artifacts/v1?with_sbom_overview=true&with_accessory=true", nil, nil)
			var art struct {
				SBOMOverview struct {
					Status string `json:"scan_status"`
					Digest string `json:"sbom_digest"`
				} `json:"sbom_overview"`
				Accessories []struct {
					Type   string `json:"type"`
					Digest string `json:"digest"`
				} `json:"accessories"`
			}
			json.Unmarshal(respBody(t, resp), &art)
			if art.SBOMOverview.Status == "Success" && len(art.Accessories) == 1 {
				if art.Accessories[0].Type != "sbom.harbor" || art.Accessories[0].Digest != art.SBOMOverview.Digest {
					t.Fatalf("sbom accessory: %s", respBody(t, resp))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sbom accessory: %s", respBody(t, resp))
			}
			time.Sleep(50 * time.Millisecond)
		}
		resp = ts.do(t, http.MethodGet, "/api/v2.0/projects/auto/repositories/app/artifacts/v1/additions/sbom", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if body := string(respBody(t, resp)); !strings.Contains(body, `"spdxVersion"`) || !strings.Contains(body, "pkg:deb/debian/openssl") {
			t.Fatalf("sbom document: %.600s", body)
		}
		resp = ts.do(t, http.MethodGet, "/api/v2.0/projects/auto/repositories/app/artifacts/v1/additions/sbom", hdr(nil, "Accept", "application/vnd.cyclonedx+json"), nil)
		expectStatus(t, resp, http.StatusOK)
		if body := string(respBody(t, resp)); resp.Header.Get("Content-Type") != "application/vnd.cyclonedx+json" ||
			!strings.Contains(body, `"bomFormat"`) || !strings.Contains(body, "pkg:deb/debian/openssl") {
			t.Fatalf("CycloneDX sbom (%s): %.600s", resp.Header.Get("Content-Type"), body)
		}

		// The security hub.
		resp = ts.do(t, http.MethodGet, "/api/v2.0/security/summary?with_dangerous_cve=true", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		var sum struct {
			Critical  int `json:"critical_cnt"`
			Total     int `json:"total_vuls"`
			Scanned   int `json:"scanned_cnt"`
			Artifacts int `json:"total_artifact"`
			CVEs      []struct {
				ID string `json:"cve_id"`
			} `json:"dangerous_cves"`
		}
		json.Unmarshal(respBody(t, resp), &sum)
		if sum.Critical != 2 || sum.Total != 2 || sum.Scanned != 2 || sum.Artifacts != 2 || len(sum.CVEs) != 1 || sum.CVEs[0].ID != "CVE-2024-0001" {
			t.Fatalf("security summary: %s", respBody(t, resp))
		}
		resp = ts.do(t, http.MethodGet, "/api/v2.0/security/vul?q=repository_name%3Dlibrary%2Fother&page_size=10", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		var vulns []struct {
			CVE, Repo string
		}
		json.Unmarshal(respBody(t, resp), &vulns)
		if resp.Header.Get("X-Total-Count") != "1" || len(vulns) != 1 {
			t.Fatalf("security vulnerabilities: %s", respBody(t, resp))
		}
		_, user := a.user(t, "secuser")
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/security/summary", user, nil), http.StatusForbidden)
	})
}

// TestVulnDBBundlePushedIsImported pushes an OSV bundle (a zip of OSV JSON, as osv.dev serves
// all.zip) as an OCI artifact into the configured repository: it becomes the database, and
// stored reports are re-matched against it.
func TestVulnDBBundlePushedIsImported(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		ts.srv.scan.VulnDBRepository = "library/osv"
		ts.importVulnDB(t, osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
		ts.pushDebianImage(t, "library/app", "v1", "openssl 3.0.11-1~deb12u1", "zlib 1:1.2.13.dfsg-1")
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/library/repositories/app/artifacts/v1/scan", nil, nil), http.StatusAccepted)
		if o := ts.waitScan(t, "library", "app", "v1"); o.Summary.Total != 1 {
			t.Fatalf("before the bundle: %+v", o)
		}
		gen, _ := ts.srv.scan.VulnDB.Generation(context.Background())

		var zbuf bytes.Buffer
		zw := zip.NewWriter(&zbuf)
		for i, rec := range []string{
			osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical),
			osvRecord("DEBIAN-CVE-2024-0002", "CVE-2024-0002", "zlib", "1:1.2.13.dfsg-2", vecMedium),
		} {
			w, _ := zw.Create(fmt.Sprintf("DEBIAN-%d.json", i))
			w.Write([]byte(rec))
		}
		zw.Close()
		empty := []byte("{}")
		bundle := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest, ArtifactType: "application/vnd.osv.bundle",
			Config: &tDescriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: ts.pushBlob(t, "library/osv", empty), Size: 2},
			Layers: []tDescriptor{{MediaType: "application/zip", Digest: ts.pushBlob(t, "library/osv", zbuf.Bytes()), Size: int64(zbuf.Len())}}}
		ts.pushManifest(t, "library/osv", "latest", mtOCIManifest, mustJSON(t, bundle))

		deadline := time.Now().Add(time.Minute)
		for {
			o := ts.waitScan(t, "library", "app", "v1")
			if o.Summary.Total == 2 {
				break
			}
			if time.Now().After(deadline) {
				now, _ := ts.srv.scan.VulnDB.Generation(context.Background())
				t.Fatalf("after pushing the bundle (generation %d → %d): %+v", gen, now, o)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestScanFaultsAndIndexes: a corrupt layer or a path escape ends that scan in Error with the
// reason in its log, the server and other scans carry on, the scratch area is left empty, and
// a retry scans again; an index is scanned through its platform images.
func TestScanFaultsAndIndexes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		ts.importVulnDB(t, osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
		pushWithLayer := func(repo, tag string, layer []byte) string {
			cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"id":"` + uniqueSuffix() + `"}`)
			m := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
				Config: &tDescriptor{MediaType: mtOCIConfig, Digest: ts.pushBlob(t, repo, cfg), Size: int64(len(cfg))},
				Layers: []tDescriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: ts.pushBlob(t, repo, layer), Size: int64(len(layer))}}}
			return ts.pushManifest(t, repo, tag, mtOCIManifest, mustJSON(t, m))
		}
		good := debianLayer(t, "openssl 3.0.11-1~deb12u1")
		corrupt := append([]byte(nil), good...)
		corrupt[len(corrupt)/2] ^= 0xff // the gzip checksum no longer holds
		pushWithLayer("library/faults", "corrupt", corrupt)
		var escape bytes.Buffer
		zw := gzip.NewWriter(&escape)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: "../../etc/evil", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg})
		tw.Write([]byte("evil"))
		tw.Close()
		zw.Close()
		pushWithLayer("library/faults", "escape", escape.Bytes())
		pushWithLayer("library/faults", "baddb", debianLayerWithStatus(t,
			"Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nthis line has no colon\nDescription: x\n\n"))
		// Issue 14: a status database of one paragraph repeated, which compresses to almost
		// nothing and listed more packages than the scanner could hold.
		pushWithLayer("library/faults", "toomany", debianLayerWithStatus(t,
			strings.Repeat("Package: a\nStatus: install ok installed\nVersion: 1\n\n", 50_001)))
		ts.pushDebianImage(t, "library/faults", "fine", "openssl 3.0.11-1~deb12u1")

		for _, tag := range []string{"corrupt", "escape", "baddb", "toomany", "fine"} {
			expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/library/repositories/faults/artifacts/"+tag+"/scan", nil, nil), http.StatusAccepted)
		}
		if o := ts.waitScan(t, "library", "faults", "fine"); o.Status != "Success" || o.Summary.Total != 1 {
			t.Fatalf("a good image next to broken ones: %+v", o)
		}
		for tag, want := range map[string]string{"corrupt": "read archive", "escape": "unsafe path", "baddb": "malformed package database /var/lib/dpkg/status",
			"toomany": "inventory limit exceeded: /var/lib/dpkg/status holds more than 50000 packages (MaxFilePackages)"} {
			o := ts.waitScan(t, "library", "faults", tag)
			if o.Status != "Error" {
				t.Fatalf("%s: %+v", tag, o)
			}
			log := string(respBody(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/library/repositories/faults/artifacts/"+tag+"/scan/"+o.ReportID+"/log", nil, nil)))
			if !strings.Contains(log, want) {
				t.Errorf("%s: the log does not say why (%q):\n%s", tag, want, log)
			}
		}
		if _, err := os.Stat(filepath.Join(ts.DataDir, "..", "etc", "evil")); err == nil {
			t.Fatal("the escape wrote outside the scratch directory")
		}
		// A failed scan can be asked for again.
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/library/repositories/faults/artifacts/corrupt/scan", nil, nil), http.StatusAccepted)
		if o := ts.waitScan(t, "library", "faults", "corrupt"); o.Status != "Error" {
			t.Fatalf("rescan of a corrupt image: %+v", o)
		}
		// Something that is not an image cannot be scanned.
		empty := []byte("{}")
		sig := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest, ArtifactType: "application/vnd.example.thing",
			Config: &tDescriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: ts.pushBlob(t, "library/faults", empty), Size: 2},
			Layers: []tDescriptor{{MediaType: "application/octet-stream", Digest: ts.pushBlob(t, "library/faults", []byte("x")), Size: 1}}}
		ts.pushManifest(t, "library/faults", "thing", mtOCIManifest, mustJSON(t, sig))
		expectAPIError(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/library/repositories/faults/artifacts/thing/scan", nil, nil), http.StatusBadRequest, "BAD_REQUEST")

		// An index: its platform images are read, the report merges them.
		amd := ts.pushDebianImage(t, "library/multi", "amd64", "openssl 3.0.11-1~deb12u1")
		arm := ts.pushDebianImage(t, "library/multi", "arm64", "openssl 3.0.12-1~deb12u1", "bash 5.2.15-2")
		size := func(d string) int64 {
			return int64(len(respBody(t, ts.do(t, http.MethodGet, "/v2/library/multi/manifests/"+d, hdr(nil, "Accept", mtOCIManifest), nil))))
		}
		idx := tManifest{SchemaVersion: 2, MediaType: mtOCIIndex, Manifests: []tDescriptor{
			{MediaType: mtOCIManifest, Digest: amd, Size: size(amd), Platform: map[string]string{"os": "linux", "architecture": "amd64"}},
			{MediaType: mtOCIManifest, Digest: arm, Size: size(arm), Platform: map[string]string{"os": "linux", "architecture": "arm64"}},
		}}
		ts.pushManifest(t, "library/multi", "v1", mtOCIIndex, mustJSON(t, idx))
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/library/repositories/multi/artifacts/v1/scan", nil, nil), http.StatusAccepted)
		if o := ts.waitScan(t, "library", "multi", "v1"); o.Status != "Success" || o.Summary.Total != 2 {
			t.Fatalf("index: %+v", o)
		}
		resp := ts.do(t, http.MethodGet, "/api/v2.0/projects/library/repositories/multi/artifacts/v1/additions/vulnerabilities", nil, nil)
		if body := string(respBody(t, resp)); !strings.Contains(body, amd) || !strings.Contains(body, arm) {
			t.Fatalf("index report does not name the platform images: %.800s", body)
		}
		entries, _ := os.ReadDir(filepath.Join(ts.DataDir, "tmp"))
		if len(entries) != 0 {
			t.Fatalf("scratch area not empty: %v", entries)
		}
	})
}

// TestScanRealGoVulnDB scans with real advisories: the Go vulnerability database as the module
// proxy serves it (thousands of GO-*.json OSV files), and a Go program built against
// golang.org/x/text v0.3.7 pushed as an image through /v2/. GO-2022-1059 (CVE-2022-32149,
// fixed in 0.3.8) is found; GO-2021-0113 (fixed in 0.3.7) is not. No counts are asserted: they
// change with the toolchain and the database.
func TestScanRealGoVulnDB(t *testing.T) {
	if raceDetector {
		t.Skip("it builds a Go program and imports thousands of advisories, minutes under the race detector for nothing concurrent; go test without -race runs it")
	}
	t.Parallel()
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GONOSUMDB=*", "GOSUMDB=off", "CGO_ENABLED=0")
	goCmd := func(dir string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	var dl struct{ Dir string }
	if err := json.Unmarshal(goCmd(t.TempDir(), "mod", "download", "-json", "golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018"), &dl); err != nil || dl.Dir == "" {
		t.Fatalf("go mod download golang.org/x/vulndb: %v", err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/textuser\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.7\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.Make(\"en-US\")) }\n"), 0o644)
	goCmd(src, "build", "-o", "textuser", ".")
	bin, err := os.ReadFile(filepath.Join(src, "textuser"))
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	zw := gzip.NewWriter(&layer)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "usr/local/bin/textuser", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg})
	tw.Write(bin)
	tw.Close()
	zw.Close()

	forEachDialect(t, func(t *testing.T, ts *testServer) {
		if _, err := ts.srv.scan.VulnDB.Import(context.Background(), []string{filepath.Join(dl.Dir, "data", "osv")}, vulndb.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		m := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
			Config: &tDescriptor{MediaType: mtOCIConfig, Digest: ts.pushBlob(t, "library/gotext", cfg), Size: int64(len(cfg))},
			Layers: []tDescriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: ts.pushBlob(t, "library/gotext", layer.Bytes()), Size: int64(layer.Len())}}}
		ts.pushManifest(t, "library/gotext", "v1", mtOCIManifest, mustJSON(t, m))
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/library/repositories/gotext/artifacts/v1/scan", nil, nil), http.StatusAccepted)
		if o := ts.waitScan(t, "library", "gotext", "v1"); o.Status != "Success" {
			t.Fatalf("scan: %+v", o)
		}
		resp := ts.do(t, http.MethodGet, "/api/v2.0/projects/library/repositories/gotext/artifacts/v1/additions/vulnerabilities", nil, nil)
		var reports map[string]struct {
			Vulnerabilities []struct {
				ID               string         `json:"id"`
				Package          string         `json:"package"`
				Version          string         `json:"version"`
				FixVersion       string         `json:"fix_version"`
				VendorAttributes map[string]any `json:"vendor_attributes"`
			} `json:"vulnerabilities"`
		}
		if err := json.Unmarshal(respBody(t, resp), &reports); err != nil {
			t.Fatal(err)
		}
		osvIDs := map[string]bool{}
		for _, v := range reports[mimeGeneric].Vulnerabilities {
			id, _ := v.VendorAttributes["osv_id"].(string)
			osvIDs[id] = true
			if id == "GO-2022-1059" && (v.ID != "CVE-2022-32149" || v.Package != "golang.org/x/text" || v.Version != "0.3.7" || v.FixVersion != "0.3.8") {
				t.Errorf("GO-2022-1059 reported as %+v", v)
			}
		}
		if !osvIDs["GO-2022-1059"] || osvIDs["GO-2021-0113"] {
			t.Fatalf("want GO-2022-1059 and not GO-2021-0113; found %v", osvIDs)
		}
	})
}

// TestStopScanThatIsNotRunning: stopping a scan that has ended, or a scan-all that has ended,
// is accepted (202) and changes nothing, as in Harbor; only what never ran is refused with a
// 400 in Harbor's words.
func TestStopScanThatIsNotRunning(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		ts.importVulnDB(t, osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
		project := "stopidle" + uniqueSuffix()
		projAPI{ts}.create(t, map[string]any{"project_name": project})
		ts.pushDebianImage(t, project+"/app", "scanned", "openssl 3.0.11-1~deb12u1")
		ts.pushDebianImage(t, project+"/app", "never", "openssl 3.0.11-1~deb12u1")
		art := func(ref string) string {
			return apiBase + "/projects/" + project + "/repositories/app/artifacts/" + ref
		}
		expectStatus(t, ts.do(t, http.MethodPost, art("scanned")+"/scan", nil, nil), http.StatusAccepted)
		ended := ts.waitScan(t, project, "app", "scanned")
		if ended.Status != "Success" {
			t.Fatalf("scan: %+v", ended)
		}
		cases := []struct {
			name, path, body string
			status           int
			inMessage        string // of a 400
		}{
			{"a scan that has ended", art("scanned") + "/scan/stop", "", http.StatusAccepted, ""},
			{"a vulnerability scan that has ended", art("scanned") + "/scan/stop", `{"scan_type":"vulnerability"}`, http.StatusAccepted, ""},
			{"an artifact never scanned", art("never") + "/scan/stop", "", http.StatusBadRequest, "no scan job for artifact digest=sha256:"},
			{"an SBOM never generated", art("scanned") + "/scan/stop", `{"scan_type":"sbom"}`, http.StatusBadRequest, "no scan job for artifact digest=sha256:"},
			{"an unknown scan type", art("scanned") + "/scan/stop", `{"scan_type":"malware"}`, http.StatusBadRequest, "malware"},
			{"an unknown artifact", art("nosuch") + "/scan/stop", "", http.StatusNotFound, ""},
			{"a scan-all that never ran", apiBase + "/system/scanAll/stop", "", http.StatusBadRequest, "no scan all job is found currently"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var body []byte
				if c.body != "" {
					body = []byte(c.body)
				}
				resp := ts.do(t, http.MethodPost, c.path, nil, body)
				switch c.status {
				case http.StatusAccepted:
					expectStatus(t, resp, c.status)
				case http.StatusNotFound:
					expectAPIError(t, resp, c.status, "NOT_FOUND")
				default:
					if msg := artErr(t, resp, c.status, "BAD_REQUEST"); !strings.Contains(msg, c.inMessage) {
						t.Errorf("message %q lacks %q", msg, c.inMessage)
					}
				}
			})
		}
		if o := ts.waitScan(t, project, "app", "scanned"); o.Status != "Success" || o.ReportID != ended.ReportID {
			t.Errorf("the ended scan after stop requests: %+v, was %+v", o, ended)
		}

		// A scan-all that has ended: its stop is accepted and it stays as it ended.
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/system/scanAll/schedule", nil, []byte(`{"schedule":{"type":"Manual"}}`)), http.StatusCreated)
		type metrics struct {
			Ongoing   bool  `json:"ongoing"`
			Total     int64 `json:"total"`
			Completed int64 `json:"completed"`
		}
		var before metrics
		deadline := time.Now().Add(time.Minute)
		for {
			before = metrics{}
			json.Unmarshal(respBody(t, ts.do(t, http.MethodGet, apiBase+"/scans/all/metrics", nil, nil)), &before)
			if !before.Ongoing {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("scan-all did not end")
			}
			time.Sleep(50 * time.Millisecond)
		}
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/system/scanAll/stop", nil, nil), http.StatusAccepted)
		var after metrics
		json.Unmarshal(respBody(t, ts.do(t, http.MethodGet, apiBase+"/scans/all/metrics", nil, nil)), &after)
		if after != before || after.Total != 2 || after.Completed != 2 {
			t.Errorf("scan-all metrics after a stop of the ended run: %+v, were %+v", after, before)
		}
	})
}

// TestSecurityHubOptionalParts: the security summary has its lists of dangerous CVEs and
// artifacts only when asked for (with_dangerous_cve, with_dangerous_artifact; both false by
// default, as in Harbor), and the vulnerability list has each row's tags only with with_tag.
func TestSecurityHubOptionalParts(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		ts.importVulnDB(t, osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical))
		project := "hub" + uniqueSuffix()
		projAPI{ts}.create(t, map[string]any{"project_name": project})
		arts := apiBase + "/projects/" + project + "/repositories/app/artifacts/"
		digests := map[string]string{}
		for _, tag := range []string{"v1", "v2", "gone"} {
			digests[tag] = ts.pushDebianImage(t, project+"/app", tag, "openssl 3.0.11-1~deb12u1")
			expectStatus(t, ts.do(t, http.MethodPost, arts+tag+"/scan", nil, nil), http.StatusAccepted)
			if o := ts.waitScan(t, project, "app", tag); o.Status != "Success" {
				t.Fatalf("scan of %s: %+v", tag, o)
			}
		}
		// v1's artifact gets a second tag; "gone" loses its only one.
		expectStatus(t, ts.do(t, http.MethodPost, arts+"v1/tags", nil, []byte(`{"name":"stable"}`)), http.StatusCreated)
		expectStatus(t, ts.do(t, http.MethodDelete, arts+"gone/tags/gone", nil, nil), http.StatusOK)

		for _, c := range []struct {
			name, query    string
			cves, artifact bool
		}{
			{"by default", "", false, false},
			{"both false", "?with_dangerous_cve=false&with_dangerous_artifact=false", false, false},
			{"CVEs", "?with_dangerous_cve=true", true, false},
			{"artifacts", "?with_dangerous_artifact=true", false, true},
			{"both", "?with_dangerous_cve=true&with_dangerous_artifact=1", true, true},
		} {
			t.Run("summary "+c.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodGet, apiBase+"/security/summary"+c.query, nil, nil)
				expectStatus(t, resp, http.StatusOK)
				body := respBody(t, resp)
				var sum map[string]json.RawMessage
				if err := json.Unmarshal(body, &sum); err != nil {
					t.Fatal(err)
				}
				if string(sum["critical_cnt"]) != "3" || string(sum["scanned_cnt"]) != "3" || string(sum["total_vuls"]) != "3" {
					t.Errorf("counts: %s", body)
				}
				cves, hasCVEs := sum["dangerous_cves"]
				artifacts, hasArtifacts := sum["dangerous_artifacts"]
				if hasCVEs != c.cves || hasArtifacts != c.artifact {
					t.Fatalf("dangerous_cves present %t, dangerous_artifacts present %t; want %t, %t: %s", hasCVEs, hasArtifacts, c.cves, c.artifact, body)
				}
				var list []map[string]any
				if hasCVEs {
					if err := json.Unmarshal(cves, &list); err != nil || len(list) != 1 || list[0]["cve_id"] != "CVE-2024-0001" {
						t.Errorf("dangerous_cves %s (%v)", cves, err)
					}
				}
				if hasArtifacts {
					if err := json.Unmarshal(artifacts, &list); err != nil || len(list) != 3 || list[0]["critical_cnt"] != float64(1) {
						t.Errorf("dangerous_artifacts %s (%v)", artifacts, err)
					}
				}
			})
		}

		for _, c := range []struct {
			name, query string
			want        map[string][]string // tags by digest
		}{
			{"without tags by default", "", map[string][]string{digests["v1"]: {}, digests["v2"]: {}, digests["gone"]: {}}},
			{"without tags when not asked", "&with_tag=false", map[string][]string{digests["v1"]: {}, digests["v2"]: {}, digests["gone"]: {}}},
			{"with tags", "&with_tag=true", map[string][]string{digests["v1"]: {"stable", "v1"}, digests["v2"]: {"v2"}, digests["gone"]: {}}},
			{"one page with tags", "&with_tag=true&q=digest%3D" + digests["v1"], map[string][]string{digests["v1"]: {"stable", "v1"}}},
		} {
			t.Run("vulnerabilities "+c.name, func(t *testing.T) {
				resp := ts.do(t, http.MethodGet, apiBase+"/security/vul?page_size=10"+c.query, nil, nil)
				expectStatus(t, resp, http.StatusOK)
				body := respBody(t, resp)
				var rows []struct {
					Digest string    `json:"digest"`
					Tags   *[]string `json:"tags"`
				}
				if err := json.Unmarshal(body, &rows); err != nil {
					t.Fatal(err)
				}
				if len(rows) != len(c.want) {
					t.Fatalf("%d rows, want %d: %s", len(rows), len(c.want), body)
				}
				for _, r := range rows {
					want, ok := c.want[r.Digest]
					if !ok || r.Tags == nil || !slices.Equal(*r.Tags, want) {
						t.Errorf("row of %s: tags %v, want %v", r.Digest, r.Tags, want)
					}
				}
			})
		}

		for _, q := range []string{"/security/summary?with_dangerous_cve=maybe", "/security/summary?with_dangerous_artifact=2", "/security/vul?with_tag=yes"} {
			expectAPIError(t, ts.do(t, http.MethodGet, apiBase+q, nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		}
	})
}
