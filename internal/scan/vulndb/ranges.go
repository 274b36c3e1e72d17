package vulndb

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// Evaluation of affected ranges: the OSV schema's algorithm ("Evaluation", IsVulnerable):
//
//	a version is affected if it equals a listed version or lies in any range; in a range,
//	unless a limit excludes it (some limit must be above it when there are limits), the
//	events sorted by version switch it on (introduced <= v) and off (fixed <= v,
//	last_affected < v), and the last switch wins.
//
// Versions compare by the ecosystem's own rules (osv-scalibr's semantic package): ECOSYSTEM
// ranges with the ecosystem's comparator, SEMVER ranges by SemVer 2.0 precedence.
//
// Where data cannot be compared the error falls on the side of reporting: an introduced
// version that does not parse counts as "0", a fixed, last_affected or limit version that
// does not parse is left out (so the range stays open), and a range whose versions cannot be
// parsed at all for the ecosystem (an ecosystem the comparator does not know) matches only
// through the listed versions.

// parser parses versions of one range type in one ecosystem.
type parser func(string) (semantic.Version, error)

func parserFor(rangeType, ecosystem string) parser {
	if rangeType == "SEMVER" {
		return func(s string) (semantic.Version, error) { return semantic.ParseSemverVersion(s), nil }
	}
	return func(s string) (semantic.Version, error) { return semantic.Parse(s, ecosystem) }
}

// compiled is an affected entry ready to evaluate: its range events parsed once, for the many
// versions an import checks and the several packages of one source a match checks.
type compiled struct {
	ecosystem string
	ranges    []compiledRange
	versions  []string
}

type compiledRange struct {
	parse       parser
	events      []event // sorted
	limited     bool    // the range has limit events
	unboundedTo bool    // a limit is "*" or could not be parsed: no version is past the limits
	limits      []semantic.Version
}

type event struct {
	kind    byte // 'i'ntroduced, 'f'ixed, 'l'ast_affected
	zero    bool // introduced "0": before every version
	version semantic.Version
	text    string
}

func (s storedAffected) compile(ecosystem string) compiled {
	c := compiled{ecosystem: ecosystem, versions: s.Versions}
	for _, r := range s.Ranges {
		c.ranges = append(c.ranges, r.compile(parserFor(r.Type, ecosystem)))
	}
	return c
}

func (r storedRange) compile(parse parser) compiledRange {
	cr := compiledRange{parse: parse}
	for _, e := range r.Events {
		switch {
		case e.Introduced != "":
			ev := event{kind: 'i', text: e.Introduced}
			if e.Introduced == "0" {
				ev.zero = true
			} else if pv, err := parse(e.Introduced); err == nil {
				ev.version = pv
			} else {
				ev.zero = true
			}
			cr.events = append(cr.events, ev)
		case e.Fixed != "":
			if pv, err := parse(e.Fixed); err == nil {
				cr.events = append(cr.events, event{kind: 'f', version: pv, text: e.Fixed})
			}
		case e.LastAffected != "":
			if pv, err := parse(e.LastAffected); err == nil {
				cr.events = append(cr.events, event{kind: 'l', version: pv, text: e.LastAffected})
			}
		case e.Limit != "":
			cr.limited = true
			if strings.Contains(e.Limit, "*") {
				cr.unboundedTo = true
			} else if pv, err := parse(e.Limit); err == nil {
				cr.limits = append(cr.limits, pv)
			} else {
				cr.unboundedTo = true
			}
		}
	}
	// Sorted by version, "0" first; a stable sort keeps the given order of events at the same
	// version, so that [introduced 0, fixed 1, introduced 1, fixed 2] leaves 1 affected.
	sort.SliceStable(cr.events, func(i, j int) bool {
		a, b := cr.events[i], cr.events[j]
		if a.zero || b.zero {
			return a.zero && !b.zero
		}
		return less(a.version, b.version)
	})
	return cr
}

// includes reports whether version v is affected, and the lowest fixed version above it among
// the ranges that include it ("" if none). v is in the ecosystem's syntax as OSV writes it
// (see normalizeVersion).
func (c compiled) includes(v string) (bool, string) {
	affected := false
	fixed := ""
	var fixedV semantic.Version
	for _, r := range c.ranges {
		pv, err := r.parse(v)
		if err != nil {
			continue
		}
		in, f, fv := r.evaluate(pv)
		if !in {
			continue
		}
		affected = true
		if f != "" && (fixedV == nil || less(fv, fixedV)) {
			fixed, fixedV = f, fv
		}
	}
	if !affected && c.listed(v) {
		affected = true
	}
	return affected, fixed
}

// listed reports whether v is one of the listed versions: the same string, or the same
// version by the ecosystem's comparator (Debian's "0:1.2-1" is "1.2-1").
func (c compiled) listed(v string) bool {
	if len(c.versions) == 0 {
		return false
	}
	pv, err := semantic.Parse(v, c.ecosystem)
	for _, l := range c.versions {
		if l == v {
			return true
		}
		if err == nil {
			if cmp, cerr := pv.CompareStr(l); cerr == nil && cmp == 0 {
				return true
			}
		}
	}
	return false
}

// evaluate runs the schema's algorithm on one range for the parsed version v; it returns
// whether v is affected and, if so, the first fixed version above v (text and parsed).
func (r compiledRange) evaluate(v semantic.Version) (bool, string, semantic.Version) {
	if r.limited && !r.unboundedTo && !slices.ContainsFunc(r.limits, func(l semantic.Version) bool { return less(v, l) }) {
		return false, "", nil
	}
	vulnerable := false
	for _, e := range r.events {
		switch e.kind {
		case 'i':
			if e.zero || !less(v, e.version) {
				vulnerable = true
			}
		case 'f':
			if !less(v, e.version) {
				vulnerable = false
			}
		case 'l':
			if less(e.version, v) {
				vulnerable = false
			}
		}
	}
	if !vulnerable {
		return false, "", nil
	}
	for _, e := range r.events {
		if e.kind == 'f' && less(v, e.version) {
			return true, e.text, e.version
		}
	}
	return true, "", nil
}

// less reports a < b; versions that cannot be compared are not less.
func less(a, b semantic.Version) bool {
	c, err := a.Compare(b)
	return err == nil && c < 0
}

// normalizeVersion writes an installed version as OSV writes that ecosystem's versions. Go
// module versions lose their "v"; the Go toolchain's ("go1.22.1", "go1.23rc1") become the
// SemVer that the Go vulnerability database uses for stdlib ("1.22.1", "1.23.0-rc.1").
func normalizeVersion(ecosystem, name, v string) string {
	v = strings.TrimSpace(v)
	if ecosystem != "Go" {
		return v
	}
	if name == "stdlib" || name == "toolchain" {
		return goToolchainSemver(v)
	}
	return strings.TrimPrefix(v, "v")
}

var goVersionRE = regexp.MustCompile(`^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?$`)

func goToolchainSemver(v string) string {
	v, _, _ = strings.Cut(v, " ") // "go1.22.1 X:boringcrypto"
	v = strings.TrimPrefix(v, "v")
	m := goVersionRE.FindStringSubmatch(v)
	if m == nil {
		return strings.TrimPrefix(v, "go")
	}
	patch := m[3]
	if patch == "" {
		patch = "0"
	}
	out := m[1] + "." + m[2] + "." + patch
	if m[4] != "" {
		out += "-" + m[4] + "." + m[5]
	}
	return out
}
