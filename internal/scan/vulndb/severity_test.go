package vulndb

import (
	"encoding/json"
	"testing"
)

// TestSeverity checks the base scores against published values (NVD, FIRST's calculators)
// and the order in which severities are chosen.
func TestSeverity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		record    string
		severity  string
		v3, v2    float64
		v4        float64
		hasVector bool
	}{
		{"CVSS 3.1 critical (CVE-2021-3156 style)", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`, SeverityCritical, 9.8, 0, 0, true},
		{"CVSS 3.1 scope changed (Log4Shell)", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}]}`, SeverityCritical, 10.0, 0, 0, true},
		{"CVSS 3.1 high", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}`, SeverityHigh, 7.5, 0, 0, true},
		{"CVSS 3.1 medium", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N"}]}`, SeverityMedium, 5.3, 0, 0, true},
		{"CVSS 3.0", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H"}]}`, SeverityMedium, 5.5, 0, 0, true},
		{"CVSS 3.1 low", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]}`, SeverityLow, 1.8, 0, 0, true},
		{"CVSS 3.1 none", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"}]}`, SeverityNone, 0, 0, 0, true},
		{"CVSS 4.0 when no v3", `{"severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}`, SeverityCritical, 0, 0, 9.3, false},
		{"v3 wins over v4 and words", `{"severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N"}],"database_specific":{"severity":"CRITICAL"}}`, SeverityMedium, 5.3, 0, 9.3, true},
		{"invalid v3 vector skipped", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:X"}],"database_specific":{"severity":"LOW"}}`, SeverityLow, 0, 0, 0, false},
		{"GitHub words", `{"database_specific":{"severity":"MODERATE"}}`, SeverityMedium, 0, 0, 0, false},
		{"Ubuntu priority", `{"severity":[{"type":"Ubuntu","score":"negligible"}]}`, SeverityNegligible, 0, 0, 0, false},
		{"Debian urgency", `{"affected":[{"package":{"ecosystem":"Debian","name":"zlib"},"ecosystem_specific":{"urgency":"unimportant"}}]}`, SeverityNegligible, 0, 0, 0, false},
		{"per-package vectors", `{"affected":[{"package":{"ecosystem":"npm","name":"a"},"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}]}`, SeverityHigh, 7.5, 0, 0, true},
		{"CVSS 2 as the last resort", `{"severity":[{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}]}`, SeverityHigh, 0, 7.5, 0, false},
		{"nothing", `{"database_specific":{"severity":"untriaged"}}`, SeverityUnknown, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r osvRecord
			if err := json.Unmarshal([]byte(tt.record), &r); err != nil {
				t.Fatal(err)
			}
			s := computeSeverity(&r)
			if s.severity != tt.severity || s.v3Score != tt.v3 || s.v2Score != tt.v2 || s.v4Score != tt.v4 || (s.v3Vector != "") != tt.hasVector {
				t.Fatalf("got %+v; want severity %s, v3 %.1f, v2 %.1f, v4 %.1f", s, tt.severity, tt.v3, tt.v2, tt.v4)
			}
		})
	}
}

func TestSeverityRank(t *testing.T) {
	t.Parallel()
	order := []string{SeverityNegligible, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical, "Catastrophic"}
	prev := SeverityRank(SeverityNone)
	if SeverityRank(SeverityUnknown) != prev {
		t.Fatalf("None and Unknown rank differently: %d, %d", prev, SeverityRank(SeverityUnknown))
	}
	for _, s := range order {
		r := SeverityRank(s)
		if r <= prev {
			t.Fatalf("%s ranks %d, not above the previous %d", s, r, prev)
		}
		prev = r
	}
	if SeverityRank("HIGH") != SeverityRank("Catastrophic") {
		t.Fatal("names are case-sensitive, as in Harbor: HIGH is unrecognised")
	}
}
