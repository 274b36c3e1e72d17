package vulndb

import (
	"testing"
)

func rng(typ string, events ...osvEvent) storedRange { return storedRange{Type: typ, Events: events} }
func intro(v string) osvEvent                        { return osvEvent{Introduced: v} }
func fixed(v string) osvEvent                        { return osvEvent{Fixed: v} }
func lastAffected(v string) osvEvent                 { return osvEvent{LastAffected: v} }
func limit(v string) osvEvent                        { return osvEvent{Limit: v} }

// TestRangeEvaluation follows the OSV schema's evaluation algorithm case by case.
func TestRangeEvaluation(t *testing.T) {
	t.Parallel()
	twoBranches := storedAffected{Ranges: []storedRange{rng("SEMVER", intro("1.0.0"), fixed("1.0.2"), intro("3.0.0"), fixed("3.2.5"))}}
	unsorted := storedAffected{Ranges: []storedRange{rng("SEMVER", intro("3.0.0"), fixed("3.2.5"), intro("1.0.0"), fixed("1.0.2"))}}
	contiguous := storedAffected{Ranges: []storedRange{rng("SEMVER", intro("0"), fixed("1.0.0"), intro("1.0.0"), fixed("2.0.0"))}}
	debian := storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"), fixed("3.0.11-1~deb12u2"))}}
	tests := []struct {
		name      string
		affected  storedAffected
		ecosystem string
		version   string
		want      bool
		wantFixed string
	}{
		{"every version", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("0"))}}, "npm", "99.0.0", true, ""},
		{"before fixed", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("0"), fixed("1.0.2"))}}, "npm", "1.0.1", true, "1.0.2"},
		{"at fixed", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("0"), fixed("1.0.2"))}}, "npm", "1.0.2", false, ""},
		{"prerelease before fixed", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("0"), fixed("1.0.2"))}}, "npm", "1.0.2-rc.1", true, "1.0.2"},
		{"first branch", twoBranches, "npm", "1.0.1", true, "1.0.2"},
		{"between branches", twoBranches, "npm", "2.0.0", false, ""},
		{"second branch", twoBranches, "npm", "3.1.0", true, "3.2.5"},
		{"before introduced", twoBranches, "npm", "0.9.0", false, ""},
		{"events sorted before evaluation", unsorted, "npm", "1.0.1", true, "1.0.2"},
		{"events sorted, between", unsorted, "npm", "2.0.0", false, ""},
		{"contiguous ranges at the boundary", contiguous, "npm", "1.0.0", true, "2.0.0"},
		{"last_affected included", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"), lastAffected("2.1.214"))}}, "Maven", "2.1.214", true, ""},
		{"after last_affected", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"), lastAffected("2.1.214"))}}, "Maven", "2.1.215", false, ""},
		{"below limit", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("1.0.0"), limit("1.5.0"))}}, "Go", "1.4.9", true, ""},
		{"at limit", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("1.0.0"), limit("1.5.0"))}}, "Go", "1.5.0", false, ""},
		{"limit infinity", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("1.0.0"), limit("*"))}}, "Go", "9.0.0", true, ""},
		{"one of several limits", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("1.0.0"), limit("1.5.0"), limit("2.5.0"))}}, "Go", "2.0.0", true, ""},
		{"debian tilde sorts first", debian, "Debian", "3.0.11-1~deb12u1", true, "3.0.11-1~deb12u2"},
		{"debian fixed", debian, "Debian", "3.0.11-1~deb12u2", false, ""},
		{"debian later upstream", debian, "Debian", "3.0.11-1", false, ""},
		{"debian epoch", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"), fixed("1:1.2.13.dfsg-2"))}}, "Debian", "1.2.99-1", true, "1:1.2.13.dfsg-2"},
		{"alpine revision", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"), fixed("1.36.1-r16"))}}, "Alpine", "1.36.1-r15", true, "1.36.1-r16"},
		{"pypi pre-release", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("2.0"), fixed("2.1"))}}, "PyPI", "2.1rc1", true, "2.1"},
		{"pypi equal by normalisation", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"), fixed("2.1"))}}, "PyPI", "2.1.0", false, ""},
		{"maven qualifier", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("2.0-beta9"), fixed("2.3.1"))}}, "Maven", "2.0", true, "2.3.1"},
		{"rubygems", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"), fixed("1.16.5"))}}, "RubyGems", "1.16.4", true, "1.16.5"},
		{"lowest fixed of several ranges", storedAffected{Ranges: []storedRange{
			rng("SEMVER", intro("0"), fixed("1.5.0")), rng("SEMVER", intro("0"), fixed("1.2.0"))}}, "npm", "1.1.0", true, "1.2.0"},
		{"listed version", storedAffected{Versions: []string{"1.0.0", "1.0.1"}}, "PyPI", "1.0.1", true, ""},
		{"listed version, equal by comparator", storedAffected{Versions: []string{"1.0"}}, "PyPI", "1.0.0", true, ""},
		{"not listed", storedAffected{Versions: []string{"1.0.0", "1.0.1"}}, "PyPI", "1.0.2", false, ""},
		{"listed outside the ranges", storedAffected{Ranges: []storedRange{rng("SEMVER", intro("0"), fixed("1.0.0"))}, Versions: []string{"2.0.0"}}, "npm", "2.0.0", true, ""},
		{"unknown ecosystem: versions only", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"))}, Versions: []string{"v1"}}, "GitHub Actions", "v1", true, ""},
		{"unknown ecosystem: range not evaluated", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("0"))}}, "GitHub Actions", "v2", false, ""},
		{"unparsable introduced counts as 0", storedAffected{Ranges: []storedRange{rng("ECOSYSTEM", intro("not a version!"), fixed("1.2.3-r0"))}}, "Alpine", "1.0.0-r0", true, "1.2.3-r0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotFixed := tt.affected.compile(tt.ecosystem).includes(tt.version)
			if got != tt.want || gotFixed != tt.wantFixed {
				t.Fatalf("includes(%s, %q) = %v, %q; want %v, %q", tt.ecosystem, tt.version, got, gotFixed, tt.want, tt.wantFixed)
			}
		})
	}
}

func TestNormalizeNameAndVersion(t *testing.T) {
	t.Parallel()
	names := []struct{ eco, in, want string }{
		{"PyPI", "Flask_CORS", "flask-cors"},
		{"PyPI", "zope.interface", "zope-interface"},
		{"PyPI", "a-_.b", "a-b"},
		{"npm", "Semver", "Semver"},
		{"Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"},
		{"NuGet", "Newtonsoft.Json", "newtonsoft.json"},
		{"Debian", "openssl", "openssl"},
	}
	for _, n := range names {
		if got := normalizeName(n.eco, n.in); got != n.want {
			t.Errorf("normalizeName(%s, %q) = %q, want %q", n.eco, n.in, got, n.want)
		}
	}
	versions := []struct{ eco, name, in, want string }{
		{"Go", "stdlib", "go1.22.1", "1.22.1"},
		{"Go", "stdlib", "go1.21", "1.21.0"},
		{"Go", "stdlib", "go1.23rc1", "1.23.0-rc.1"},
		{"Go", "stdlib", "go1.20beta2", "1.20.0-beta.2"},
		{"Go", "stdlib", "go1.22.1 X:boringcrypto", "1.22.1"},
		{"Go", "stdlib", "1.22.1", "1.22.1"},
		{"Go", "golang.org/x/net", "v0.6.0", "0.6.0"},
		{"Debian", "openssl", "3.0.11-1~deb12u1", "3.0.11-1~deb12u1"},
	}
	for _, v := range versions {
		if got := normalizeVersion(v.eco, v.name, v.in); got != v.want {
			t.Errorf("normalizeVersion(%s, %s, %q) = %q, want %q", v.eco, v.name, v.in, got, v.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	if got := truncate("short", 10); got != "short" {
		t.Fatalf("short text changed: %q", got)
	}
	long := "First paragraph is long enough.\n\nSecond paragraph goes on"
	if got := truncate(long, 40); got != "First paragraph is long enough. …" {
		t.Fatalf("cut at paragraph: %q", got)
	}
	words := "alpha beta gamma delta epsilon zeta eta theta"
	if got := truncate(words, 24); got != "alpha beta gamma …" {
		t.Fatalf("cut at word: %q", got)
	}
	runes := "ééééééééééééééééééééé" // 2 bytes each, no spaces
	got := truncate(runes, 11)
	if len(got) > 11 || got != "ééé …" {
		t.Fatalf("cut inside a character: %q (%d bytes)", got, len(got))
	}
}

// TestVersionsCoveredByRangesAreNotStored checks the import keeps only listed versions the
// ranges do not already cover, and drops GIT ranges.
func TestVersionsCoveredByRangesAreNotStored(t *testing.T) {
	t.Parallel()
	var a osvAffected
	a.Package.Ecosystem, a.Package.Name = "Debian:12", "openssl"
	a.Ranges = []osvRange{
		{Type: "GIT", Events: []osvEvent{intro("0"), fixed("abc")}},
		{Type: "ECOSYSTEM", Events: []osvEvent{intro("0"), fixed("3.0.11-1~deb12u2")}},
	}
	a.Versions = []string{"3.0.9-1", "3.0.11-1~deb12u1", "3.0.11-1"}
	row, ok := affectedRow("DSA-5532-1", a)
	want := `{"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}],"versions":["3.0.11-1"]}`
	if !ok || row.Ecosystem != "Debian" || row.Suffix != "12" || row.Name != "openssl" || row.Ranges != want {
		t.Fatalf("row = %+v, %v; want ranges %s", row, ok, want)
	}
	a.Ranges = a.Ranges[:1]
	a.Versions = nil
	if _, ok := affectedRow("X", a); ok {
		t.Fatal("an entry with only GIT ranges was kept")
	}
}
