package inventory

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHeavyweightImports keeps this package from pulling in whole scanners: osv-scalibr's
// root package and plugin lists import every extractor and detector (hundreds of modules),
// and Trivy, Syft and Grype are scanners of their own. spdx/tools-golang is not needed: the
// SPDX document is written with encoding/json.
func TestNoHeavyweightImports(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not available")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	exact := map[string]bool{
		"github.com/google/osv-scalibr":                           true,
		"github.com/google/osv-scalibr/plugin/list":               true,
		"github.com/google/osv-scalibr/extractor/filesystem/list": true,
		"github.com/google/osv-scalibr/extractor/standalone/list": true,
		"github.com/google/osv-scalibr/detector/list":             true,
		"github.com/google/osv-scalibr/enricher/enricherlist":     true,
		"github.com/google/osv-scalibr/annotator/list":            true,
	}
	prefixes := []string{
		"github.com/aquasecurity/trivy",
		"github.com/anchore/syft",
		"github.com/anchore/grype",
		"github.com/spdx/tools-golang",
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		if exact[d] {
			t.Errorf("forbidden import %s", d)
		}
		for _, p := range prefixes {
			if d == p || strings.HasPrefix(d, p+"/") {
				t.Errorf("forbidden import %s", d)
			}
		}
	}
	t.Logf("%d packages in go list -deps", len(deps))
}
