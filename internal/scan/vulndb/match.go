package vulndb

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan/inventory"
)

// Finding is one vulnerability of one installed package.
type Finding struct {
	// ID is the OSV id (CVE-…, GHSA-…, DEBIAN-CVE-…, GO-…).
	ID string `json:"id"`
	// CVE is the CVE id to show where Harbor shows CVE ids: ID when it is one, else the first
	// CVE among its aliases or upstream ids; "" when it has none (show ID then).
	CVE     string   `json:"cve,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
	// Package is the installed package that matched, as the inventory lists it.
	Package inventory.Package `json:"package"`
	// FixedVersion is the lowest fixed version above the installed one; "" when no fix is
	// known (or the version was matched from an explicit list).
	FixedVersion string `json:"fixed_version,omitempty"`
	// Severity is one of the Severity constants.
	Severity string `json:"severity"`
	// CVSS base scores and vectors; a score is meaningful when its vector is set.
	CVSSv3Score  float64 `json:"cvss_v3_score,omitempty"`
	CVSSv3Vector string  `json:"cvss_v3_vector,omitempty"`
	CVSSv2Score  float64 `json:"cvss_v2_score,omitempty"`
	CVSSv2Vector string  `json:"cvss_v2_vector,omitempty"`
	CVSSv4Score  float64 `json:"cvss_v4_score,omitempty"`
	CVSSv4Vector string  `json:"cvss_v4_vector,omitempty"`
	Summary      string  `json:"summary,omitempty"`
	// Description is the record's details (shortened when very long), or its summary.
	Description string   `json:"description,omitempty"`
	Links       []string `json:"links,omitempty"`
	CWEIDs      []string `json:"cwe_ids,omitempty"`
	// Generation is the database generation the finding comes from.
	Generation int64 `json:"generation"`
}

// FindingSet is the outcome of matching one inventory against one generation.
type FindingSet struct {
	Generation int64     `json:"generation"`
	Findings   []Finding `json:"findings"`
}

// Match matches installed packages against the current generation: MatchSet's findings.
// ErrNoDatabase if nothing was imported yet.
func (d *DB) Match(ctx context.Context, pkgs []inventory.Package) ([]Finding, error) {
	set, err := d.MatchSet(ctx, pkgs)
	return set.Findings, err
}

// MatchSet matches installed packages against the current generation and says which
// generation that was, also when nothing matched. Findings come one per vulnerability and
// package, ordered by package name, version and ecosystem, then vulnerability id.
//
// Packages are looked up by ecosystem and name: the base ecosystem must be equal; an OSV
// entry with a release ("Debian:12", "Alpine:v3.19", "Ubuntu:22.04:LTS") applies to packages
// of that release only, one without ("Debian", "Go", "npm") to every release. Maven,
// Packagist and VSCode entries may name a repository after the ':' instead of a release; they
// apply whatever the repository. The name is the package's SourceName in the ecosystems whose
// advisories name source packages (Debian and Ubuntu source packages, Alpine origins), else its
// Name — the RPM family's advisories list binary packages — normalised as normalizeName says;
// the Go toolchain is "stdlib". Where advisories name source packages, the version compared is
// the source package's when the inventory has it.
func (d *DB) MatchSet(ctx context.Context, pkgs []inventory.Package) (FindingSet, error) {
	// A generation read while an import switches and purges could lose rows half-way: match,
	// then check the generation is still current (its rows are deleted only after the switch),
	// and start over with the new one otherwise.
	for attempt := 0; ; attempt++ {
		gen, err := d.Generation(ctx)
		if err != nil {
			return FindingSet{}, err
		}
		if gen == 0 {
			return FindingSet{Findings: []Finding{}}, ErrNoDatabase
		}
		findings, err := d.match(ctx, gen, pkgs)
		if err != nil {
			return FindingSet{}, err
		}
		now, err := d.Generation(ctx)
		if err != nil {
			return FindingSet{}, err
		}
		if now == gen || attempt == 3 {
			return FindingSet{Generation: gen, Findings: findings}, nil
		}
	}
}

// lookup is a group of packages looked up together: same base ecosystem and release.
type lookup struct {
	ecosystem string
	suffix    string
	anySuffix bool
	major     string // Red Hat: the release a package's CPE-suffixed records must name
}

// candidate is a package to match, with its lookup name and version in OSV's syntax.
type candidate struct {
	pkg     inventory.Package
	name    string
	version string
}

// hit is a (vulnerability, package) pair found so far.
type hit struct {
	vuln  string
	pkg   int
	fixed string
	fixV  semantic.Version
}

func (d *DB) match(ctx context.Context, gen int64, pkgs []inventory.Package) ([]Finding, error) {
	var cands []candidate
	groups := map[lookup]map[string][]int{} // lookup -> name -> candidates
	seen := map[[3]string]bool{}
	for _, p := range pkgs {
		key := [3]string{p.Ecosystem, p.Name, p.Version}
		if seen[key] || p.Ecosystem == "" || p.Name == "" || p.Version == "" {
			continue
		}
		seen[key] = true
		base, suffix, _ := strings.Cut(p.Ecosystem, ":")
		name := p.Name
		if p.SourceName != "" && bySourceName(base) {
			name = p.SourceName
		}
		name = normalizeName(base, name)
		l := lookup{ecosystem: base, suffix: suffix, anySuffix: repositorySuffix(base)}
		if base == "Red Hat" {
			// Red Hat records carry a CPE after the ':' ("enterprise_linux:9::appstream");
			// a package says only its major release. Fetch them all, keep that release's.
			l.anySuffix, l.major = true, suffix
		}
		if l.anySuffix {
			l.suffix = ""
		}
		if groups[l] == nil {
			groups[l] = map[string][]int{}
		}
		groups[l][name] = append(groups[l][name], len(cands))
		version := p.Version
		if p.SourceVersion != "" && bySourceName(base) {
			version = p.SourceVersion
		}
		cands = append(cands, candidate{pkg: p, name: name, version: normalizeVersion(base, name, version)})
	}

	type hitKey struct {
		vuln string
		pkg  int
	}
	hits := map[hitKey]*hit{}
	var order []hitKey
	for l, byName := range groups {
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		sort.Strings(names)
		var suffixes []string
		if !l.anySuffix {
			suffixes = []string{"", l.suffix}
		}
		rows, err := d.store.VulnAffectedByNames(ctx, gen, l.ecosystem, suffixes, names)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if l.ecosystem == "Red Hat" && l.major != "" && cpeMajor(row.Suffix) != "" && cpeMajor(row.Suffix) != l.major {
				continue // an advisory for another Red Hat Enterprise Linux release
			}
			var s storedAffected
			if err := json.Unmarshal([]byte(row.Ranges), &s); err != nil {
				return nil, fmt.Errorf("vulnerability %s: stored ranges: %w", row.VulnID, err)
			}
			c := s.compile(l.ecosystem)
			for _, ci := range byName[row.Name] {
				in, fixed := c.includes(cands[ci].version)
				if !in {
					continue
				}
				k := hitKey{row.VulnID, ci}
				h := hits[k]
				if h == nil {
					h = &hit{vuln: row.VulnID, pkg: ci}
					hits[k] = h
					order = append(order, k)
				}
				h.addFixed(l.ecosystem, fixed)
			}
		}
	}

	ids := make([]string, 0, len(hits))
	idSeen := map[string]bool{}
	for _, k := range order {
		if !idSeen[k.vuln] {
			idSeen[k.vuln] = true
			ids = append(ids, k.vuln)
		}
	}
	vulns, err := d.store.VulnsByID(ctx, gen, ids)
	if err != nil {
		return nil, err
	}
	findings := make([]Finding, 0, len(hits))
	for _, k := range order {
		h := hits[k]
		v, ok := vulns[h.vuln]
		if !ok {
			continue // purged under us: MatchSet starts over
		}
		findings = append(findings, newFinding(v, cands[h.pkg].pkg, h.fixed, gen))
	}
	sort.Slice(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		if a.Package.Name != b.Package.Name {
			return a.Package.Name < b.Package.Name
		}
		if a.Package.Version != b.Package.Version {
			return a.Package.Version < b.Package.Version
		}
		if a.Package.Ecosystem != b.Package.Ecosystem {
			return a.Package.Ecosystem < b.Package.Ecosystem
		}
		return a.ID < b.ID
	})
	return findings, nil
}

// addFixed keeps the lowest fixed version seen for the pair (the first one, when versions
// cannot be compared).
func (h *hit) addFixed(ecosystem, fixed string) {
	if fixed == "" {
		return
	}
	fv, err := semantic.Parse(fixed, ecosystem)
	if err != nil {
		fv = nil
	}
	switch {
	case h.fixed == "":
		h.fixed, h.fixV = fixed, fv
	case fv != nil && h.fixV != nil && less(fv, h.fixV):
		h.fixed, h.fixV = fixed, fv
	}
}

// bySourceName reports whether an ecosystem's advisories name source packages rather than the
// binary packages installed.
func bySourceName(ecosystem string) bool {
	switch ecosystem {
	case "Debian", "Ubuntu", "Alpine":
		return true
	}
	return false
}

// cpeMajor returns the major release a Red Hat ecosystem suffix names: "9" for
// "enterprise_linux:9::appstream" and "rhel_eus:9.2::baseos"; "" if it names none.
func cpeMajor(suffix string) string {
	for _, part := range strings.Split(suffix, ":") {
		if part != "" && part[0] >= '0' && part[0] <= '9' {
			major, _, _ := strings.Cut(part, ".")
			return major
		}
	}
	return ""
}

// repositorySuffix reports whether an ecosystem's ':' suffix names a package repository rather
// than a release (OSV schema: Maven, Packagist and VSCode "might optionally have a
// :<REMOTE-REPO-URL> suffix").
func repositorySuffix(ecosystem string) bool {
	switch ecosystem {
	case "Maven", "Packagist", "VSCode":
		return true
	}
	return false
}

func newFinding(v meta.Vuln, pkg inventory.Package, fixed string, gen int64) Finding {
	desc := v.Details
	if desc == "" {
		desc = v.Summary
	}
	return Finding{
		ID:           v.ID,
		CVE:          v.CVE,
		Aliases:      v.Aliases,
		Package:      pkg,
		FixedVersion: fixed,
		Severity:     v.Severity,
		CVSSv3Score:  v.CVSS3Score,
		CVSSv3Vector: v.CVSS3Vector,
		CVSSv2Score:  v.CVSS2Score,
		CVSSv2Vector: v.CVSS2Vector,
		CVSSv4Score:  v.CVSS4Score,
		CVSSv4Vector: v.CVSS4Vector,
		Summary:      v.Summary,
		Description:  desc,
		Links:        v.References,
		CWEIDs:       v.CWEIDs,
		Generation:   gen,
	}
}
