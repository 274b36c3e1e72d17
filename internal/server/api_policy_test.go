package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta/metatest"
)

// A change of a project's vulnerability policy — prevent_vul, severity, the project's CVE
// allowlist and whether it reuses the system's, the system's allowlist — applies to the next
// pull: at once on the replica that made it, and on another replica as soon as the database
// announces it, however recently either remembered the old policy.

// policyStep is a change of policy and what a pull of the vulnerable image answers after it.
type policyStep struct {
	name   string
	path   string // PUT target
	body   string
	status int
}

// policySteps walk a project (by id) holding an image with one critical (CVE-2024-0001) and
// one medium (CVE-2024-0002) vulnerability through policy changes; each step's pull follows
// the one before, so the policy before the change is always freshly remembered.
func policySteps(pid int64) []policyStep {
	project := fmt.Sprintf("/api/v2.0/projects/%d", pid)
	return []policyStep{
		{"prevent_vul at low", project, `{"metadata":{"prevent_vul":"true","severity":"low"}}`, http.StatusPreconditionFailed},
		{"prevent_vul off", project, `{"metadata":{"prevent_vul":"false"}}`, http.StatusOK},
		{"prevent_vul at critical", project, `{"metadata":{"prevent_vul":"true","severity":"critical"}}`, http.StatusPreconditionFailed},
		{"system allowlist exempts the critical one", "/api/v2.0/system/CVEAllowlist", `{"items":[{"cve_id":"CVE-2024-0001"}]}`, http.StatusOK},
		{"severity lowered to medium", project, `{"metadata":{"severity":"medium"}}`, http.StatusPreconditionFailed},
		{"system allowlist exempts both", "/api/v2.0/system/CVEAllowlist", `{"items":[{"cve_id":"CVE-2024-0001"},{"cve_id":"CVE-2024-0002"}]}`, http.StatusOK},
		{"the project's own (empty) allowlist", project, `{"metadata":{"reuse_sys_cve_allowlist":"false"}}`, http.StatusPreconditionFailed},
		{"the project's allowlist exempts both", project, `{"cve_allowlist":{"items":[{"cve_id":"CVE-2024-0001"},{"cve_id":"CVE-2024-0002"}]}}`, http.StatusOK},
		{"the project's allowlist exempts one", project, `{"cve_allowlist":{"items":[{"cve_id":"CVE-2024-0002"}]}}`, http.StatusPreconditionFailed},
		{"the system's allowlist again", project, `{"metadata":{"reuse_sys_cve_allowlist":"true"}}`, http.StatusOK},
		{"system allowlist emptied", "/api/v2.0/system/CVEAllowlist", `{"items":[]}`, http.StatusPreconditionFailed},
		{"prevent_vul off again", project, `{"metadata":{"prevent_vul":"false"}}`, http.StatusOK},
	}
}

// policyImage sets up a project "pol" with a scanned image (pol/app:v1) holding one critical
// and one medium vulnerability, and returns the project's id.
func policyImage(t *testing.T, ts *testServer) int64 {
	t.Helper()
	pid := projAPI{ts}.create(t, map[string]any{"project_name": "pol", "metadata": map[string]string{"public": "false"}})
	ts.importVulnDB(t,
		osvRecord("DEBIAN-CVE-2024-0001", "CVE-2024-0001", "openssl", "3.0.13-1~deb12u1", vecCritical),
		osvRecord("DEBIAN-CVE-2024-0002", "CVE-2024-0002", "zlib", "1:1.2.13.dfsg-2", vecMedium),
	)
	ts.pushDebianImage(t, "pol/app", "v1", "openssl 3.0.11-1~deb12u1", "zlib 1:1.2.13.dfsg-1")
	expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects/pol/repositories/app/artifacts/v1/scan", nil, nil), http.StatusAccepted)
	if o := ts.waitScan(t, "pol", "app", "v1"); o.Status != "Success" || o.Summary.Total != 2 {
		t.Fatalf("scan of pol/app:v1: %+v", o)
	}
	return pid
}

// pullStatus pulls pol/app:v1 and returns the status, checking the gate's error body on a 412.
func pullStatus(t *testing.T, ts *testServer) int {
	t.Helper()
	resp := ts.do(t, http.MethodGet, "/v2/pol/app/manifests/v1", hdr(nil, "Accept", mtOCIManifest), nil)
	if resp.StatusCode == http.StatusPreconditionFailed {
		assertOCIError(t, resp, http.StatusPreconditionFailed, "PROJECTPOLICYVIOLATION")
	}
	return resp.StatusCode
}

func TestPolicyChangeAppliesAtOnce(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		pid := policyImage(t, ts)
		if got := pullStatus(t, ts); got != http.StatusOK {
			t.Fatalf("pull before any policy: %d", got)
		}
		for _, s := range policySteps(pid) {
			expectStatus(t, ts.do(t, http.MethodPut, s.path, nil, []byte(s.body)), http.StatusOK)
			for range 2 { // the second answer may come from memory
				if got := pullStatus(t, ts); got != s.status {
					t.Fatalf("%s: pull right after the change: %d, want %d", s.name, got, s.status)
				}
			}
		}
	})
}

func TestPolicyChangeReachesOtherReplicas(t *testing.T) {
	t.Parallel()
	a := newTestServer(t, "postgres")
	b := a.replica(t)
	pid := policyImage(t, a)
	metatest.WaitListening(t, b.srv.db)
	if got := pullStatus(t, b); got != http.StatusOK {
		t.Fatalf("pull from the other replica before any policy: %d", got)
	}
	for _, s := range policySteps(pid) {
		// b remembers the policy before the change (the previous step's pulls); a makes the
		// change; b must hear of it from the database, not wait for its memory to expire.
		g := b.srv.scan.PolicyGeneration()
		expectStatus(t, a.do(t, http.MethodPut, s.path, nil, []byte(s.body)), http.StatusOK)
		deadline := time.Now().Add(15 * time.Second)
		for b.srv.scan.PolicyGeneration() == g {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the other replica never heard of the change", s.name)
			}
			time.Sleep(2 * time.Millisecond)
		}
		for range 2 {
			if got := pullStatus(t, b); got != s.status {
				t.Fatalf("%s: pull from the other replica once it heard of the change: %d, want %d", s.name, got, s.status)
			}
		}
		if got := pullStatus(t, a); got != s.status {
			t.Fatalf("%s: pull from the replica that made the change: %d, want %d", s.name, got, s.status)
		}
	}
}
