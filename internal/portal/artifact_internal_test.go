package portal

import (
	"net/http/httptest"
	"testing"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan"
)

// TestVulnPage: the vulnerability table's filters, sorts and pages.
func TestVulnPage(t *testing.T) {
	all := []scan.VulnRef{
		{ID: "CVE-3", Severity: "Low", Package: "zlib", Version: "1"},
		{ID: "CVE-1", Severity: "Critical", Package: "openssl", Version: "1", Fix: "2", Score: 9.8},
		{ID: "CVE-2", Severity: "High", Package: "curl", Version: "1", Score: 7.5},
		{ID: "CVE-4", Severity: "High", Package: "openssl", Version: "1", Fix: "3", Score: 8.1},
		{ID: "CVE-5", Severity: "Medium", Package: "bash", Version: "1"},
	}
	ids := func(rows []vulnRow) (out []string) {
		for _, r := range rows {
			out = append(out, r.ID)
		}
		return out
	}
	for _, c := range []struct {
		query    string
		severity string
		fixable  bool
		want     []string
		total    int
	}{
		{"", "", false, []string{"CVE-1", "CVE-2", "CVE-4", "CVE-5", "CVE-3"}, 5},
		{"sort=-severity", "", false, []string{"CVE-3", "CVE-5", "CVE-2", "CVE-4", "CVE-1"}, 5},
		{"sort=score", "", false, []string{"CVE-1", "CVE-4", "CVE-2", "CVE-5", "CVE-3"}, 5},
		{"", "High", false, []string{"CVE-2", "CVE-4"}, 2},
		{"", "", true, []string{"CVE-1", "CVE-4"}, 2},
		{"filter=openssl", "", false, []string{"CVE-1", "CVE-4"}, 2},
		{"page_size=2&page=2", "", false, []string{"CVE-4", "CVE-5"}, 5},
		{"page_size=2&page=9", "", false, nil, 5},
	} {
		_, l, err := parseListing(httptest.NewRequest("GET", "/x?"+c.query, nil), vulnSortKeys)
		if err != nil {
			t.Fatal(err)
		}
		rows, n := vulnPage(all, &l, c.severity, c.fixable)
		if got := ids(rows); n != c.total || len(got) != len(c.want) || (len(got) > 0 && !equal(got, c.want)) {
			t.Errorf("%q severity %q fixable %v: %v of %d, want %v of %d", c.query, c.severity, c.fixable, got, n, c.want, c.total)
		}
	}
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestCountsOf: the summary bar shows critical to low always, the others when found.
func TestCountsOf(t *testing.T) {
	vc := countsOf(meta.ScanReport{Status: meta.StatusSuccess, Summary: `{"total":4,"summary":{"Critical":1,"High":2,"Unknown":1}}`})
	var got []string
	for _, c := range vc.Counts {
		got = append(got, c.Class+":"+itoa(c.N))
	}
	want := []string{"sev-critical:1", "sev-high:2", "sev-medium:0", "sev-low:0", "sev-unknown:1"}
	if vc.Total != 4 || !equal(got, want) {
		t.Errorf("counts %v of %d, want %v of 4", got, vc.Total, want)
	}
	if vc := countsOf(meta.ScanReport{Status: meta.StatusRunning}); vc.Status != meta.StatusRunning || vc.Counts != nil {
		t.Errorf("a running scan: %+v", vc)
	}
}

func TestSplitArtifact(t *testing.T) {
	for _, c := range []struct{ path, repo, dgst string }{
		{"app/artifacts/sha256:abc", "app", "sha256:abc"},
		{"team/app/artifacts/sha256:abc", "team/app", "sha256:abc"},
		{"x/artifacts/y/artifacts/sha256:abc", "x/artifacts/y", "sha256:abc"},
		{"x/artifacts/y", "", ""},
		{"artifacts/sha256:abc", "", ""},
		{"app", "", ""},
	} {
		repo, dgst, ok := splitArtifact(c.path)
		if repo != c.repo || dgst != c.dgst || ok != (c.repo != "") {
			t.Errorf("%q: %q %q %v", c.path, repo, dgst, ok)
		}
	}
}
