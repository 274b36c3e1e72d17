package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berthreg/berth/internal/meta"
)

// The OSV schema (https://ossf.github.io/osv-schema/, version 1.7), the fields Berth reads.
// Unknown fields are ignored, as the schema asks of clients ("a client that knows how to read
// version 1.2.0 can process data identifying as schema version 1.3.0 by ignoring any
// unexpected fields").

type osvRecord struct {
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published"`
	Withdrawn        string          `json:"withdrawn"`
	Aliases          []string        `json:"aliases"`
	Upstream         []string        `json:"upstream"`
	Summary          string          `json:"summary"`
	Details          string          `json:"details"`
	Severity         []osvSeverity   `json:"severity"`
	Affected         []osvAffected   `json:"affected"`
	References       []osvReference  `json:"references"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Severity          []osvSeverity   `json:"severity"`
	Ranges            []osvRange      `json:"ranges"`
	Versions          []string        `json:"versions"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  json.RawMessage `json:"database_specific"`
}

type osvRange struct {
	Type   string     `json:"type"`
	Events []osvEvent `json:"events"`
}

// osvEvent holds one of its fields; the schema forbids more than one per event.
type osvEvent struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

type osvReference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// storedAffected is what vulndb_affected.ranges holds: the ranges the matcher can evaluate
// (SEMVER and ECOSYSTEM; GIT ranges need the repository's commit graph) and the listed versions
// those ranges do not already cover.
type storedAffected struct {
	Ranges   []storedRange `json:"ranges,omitempty"`
	Versions []string      `json:"versions,omitempty"`
}

type storedRange struct {
	Type   string     `json:"type"`
	Events []osvEvent `json:"events"`
}

// maxDetails bounds the stored description. A few records carry tens of kilobytes of details
// (whole advisories); reports show the start, and the links lead to the rest.
const maxDetails = 8 << 10

// errWithdrawn marks a withdrawn record: valid, and skipped.
var errWithdrawn = errors.New("withdrawn")

// converted is one record as rows, and the base ecosystems it affects.
type converted struct {
	vuln       meta.Vuln
	affected   []meta.VulnAffected
	ecosystems []string
}

// parseRecord decodes one OSV JSON document. A document that is not a JSON object of the
// schema's types, or has no id, is malformed; a withdrawn record returns errWithdrawn.
func parseRecord(data []byte) (converted, error) {
	var r osvRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return converted{}, fmt.Errorf("not an OSV record: %w", err)
	}
	r.ID = strings.TrimSpace(r.ID)
	if r.ID == "" {
		return converted{}, errors.New("not an OSV record: no id")
	}
	if r.Withdrawn != "" {
		return converted{}, errWithdrawn
	}
	sev := computeSeverity(&r)
	c := converted{vuln: meta.Vuln{
		ID:          r.ID,
		Modified:    parseTime(r.Modified),
		Published:   parseTime(r.Published),
		Summary:     strings.TrimSpace(r.Summary),
		Details:     truncate(strings.TrimSpace(r.Details), maxDetails),
		Aliases:     r.Aliases,
		Upstream:    r.Upstream,
		CVE:         displayCVE(r.ID, r.Aliases, r.Upstream),
		Severity:    sev.severity,
		CVSS3Vector: sev.v3Vector,
		CVSS3Score:  sev.v3Score,
		CVSS2Vector: sev.v2Vector,
		CVSS2Score:  sev.v2Score,
		CVSS4Vector: sev.v4Vector,
		CVSS4Score:  sev.v4Score,
		References:  referenceURLs(r.References),
		CWEIDs:      cweIDs(r.DatabaseSpecific),
	}}
	seen := map[string]bool{}
	for _, a := range r.Affected {
		row, ok := affectedRow(r.ID, a)
		if !ok {
			continue
		}
		c.affected = append(c.affected, row)
		if !seen[row.Ecosystem] {
			seen[row.Ecosystem] = true
			c.ecosystems = append(c.ecosystems, row.Ecosystem)
		}
	}
	return c, nil
}

// affectedRow turns an affected[] entry into its row; false when it names no package or
// leaves nothing to match (only GIT ranges and no versions).
func affectedRow(id string, a osvAffected) (meta.VulnAffected, bool) {
	eco, name := strings.TrimSpace(a.Package.Ecosystem), strings.TrimSpace(a.Package.Name)
	if eco == "" || name == "" {
		return meta.VulnAffected{}, false
	}
	base, suffix, _ := strings.Cut(eco, ":")
	var s storedAffected
	for _, r := range a.Ranges {
		if (r.Type == "SEMVER" || r.Type == "ECOSYSTEM") && len(r.Events) > 0 {
			s.Ranges = append(s.Ranges, storedRange{Type: r.Type, Events: r.Events})
		}
	}
	// The ranges are a compact form of the versions list (osv.dev expands every range it can
	// into versions): keep only the versions they do not cover, which is the same answer in
	// a fraction of the space.
	ranges := storedAffected{Ranges: s.Ranges}.compile(base)
	for _, v := range a.Versions {
		if v == "" {
			continue
		}
		if in, _ := ranges.includes(v); in {
			continue
		}
		s.Versions = append(s.Versions, v)
	}
	if len(s.Ranges) == 0 && len(s.Versions) == 0 {
		return meta.VulnAffected{}, false
	}
	b, _ := json.Marshal(s)
	return meta.VulnAffected{VulnID: id, Ecosystem: base, Suffix: suffix, Name: normalizeName(base, name), Ranges: string(b)}, true
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// displayCVE picks the CVE id a report shows for a vulnerability (Harbor lists vulnerabilities
// by CVE id): the id itself when it is one, else the first CVE among the aliases, else among
// the upstream ids (DEBIAN-CVE-…, ALPINE-CVE-… records name their CVE there).
func displayCVE(id string, aliases, upstream []string) string {
	if isCVE(id) {
		return id
	}
	for _, list := range [][]string{aliases, upstream} {
		for _, a := range list {
			if isCVE(a) {
				return a
			}
		}
	}
	return ""
}

var cveRE = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

func isCVE(s string) bool { return cveRE.MatchString(s) }

func referenceURLs(refs []osvReference) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range refs {
		u := strings.TrimSpace(r.URL)
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// cweIDs reads database_specific.cwe_ids, where the GitHub advisory database (and others
// following it) lists the weaknesses.
func cweIDs(dbSpecific json.RawMessage) []string {
	var ds struct {
		CWEIDs []any `json:"cwe_ids"`
	}
	if len(dbSpecific) == 0 || json.Unmarshal(dbSpecific, &ds) != nil {
		return nil
	}
	var out []string
	for _, v := range ds.CWEIDs {
		if s, ok := v.(string); ok && strings.HasPrefix(strings.ToUpper(s), "CWE-") {
			out = append(out, strings.ToUpper(s))
		}
	}
	return out
}

// truncate shortens s to at most n bytes on a character boundary, preferring the end of a
// paragraph, line or word in the last quarter, and marks the cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = " …"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	head := s[:cut]
	for _, sep := range []string{"\n\n", "\n", " "} {
		if i := strings.LastIndex(head, sep); i >= cut*3/4 {
			head = head[:i]
			break
		}
	}
	return strings.TrimRight(head, " \n\t") + mark
}

// normalizeName is a package name as stored and looked up. PyPI names compare after PEP 503
// normalisation (the schema says OSV's are normalised; installed metadata often is not);
// NuGet and Packagist names are case-insensitive. Every other ecosystem compares exactly (npm
// names are case-sensitive; Maven's are "groupId:artifactId").
func normalizeName(ecosystem, name string) string {
	name = strings.TrimSpace(name)
	switch ecosystem {
	case "PyPI":
		return pep503RE.ReplaceAllString(strings.ToLower(name), "-")
	case "NuGet", "Packagist":
		return strings.ToLower(name)
	}
	return name
}

var pep503RE = regexp.MustCompile(`[-_.]+`)
