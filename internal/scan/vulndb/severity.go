package vulndb

import (
	"encoding/json"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Severities as Harbor names them (HARBOR-NOTES §f).
const (
	SeverityNone       = "None"
	SeverityUnknown    = "Unknown"
	SeverityNegligible = "Negligible"
	SeverityLow        = "Low"
	SeverityMedium     = "Medium"
	SeverityHigh       = "High"
	SeverityCritical   = "Critical"
)

// SeverityRank orders severities as Harbor does for the pull gate and report summaries: None
// and Unknown 0 < Negligible 1 < Low 2 < Medium 3 < High 4 < Critical 5. A severity it does
// not recognise (names are case-sensitive, as in Harbor) ranks above all of them, so that an
// unexpected value blocks rather than passes.
func SeverityRank(s string) int {
	switch s {
	case SeverityNone, SeverityUnknown:
		return 0
	case SeverityNegligible:
		return 1
	case SeverityLow:
		return 2
	case SeverityMedium:
		return 3
	case SeverityHigh:
		return 4
	case SeverityCritical:
		return 5
	}
	return 99
}

// severityOfScore maps a CVSS base score to its qualitative rating (CVSS v3.1 and v4.0
// specifications, "Qualitative Severity Rating Scale").
func severityOfScore(score float64) string {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score >= 0.1:
		return SeverityLow
	}
	return SeverityNone
}

type severityInfo struct {
	severity           string
	v3Vector, v2Vector string
	v3Score, v2Score   float64
	v4Vector           string
	v4Score            float64
}

// computeSeverity rates a record: from its CVSS v3.x vector's base score, else its CVSS v4.0
// vector's score, else the rating its database gives in words (an "Ubuntu" severity entry,
// database_specific.severity as the GitHub advisory database writes it, or a Debian-style
// urgency), else its CVSS v2 vector's score, else Unknown. The record's severity[] is used; a
// record that rates each package instead (affected[].severity, which the schema allows only
// when the top level has none) is rated from all of those, the first valid vector of each
// version winning. The vectors and scores are kept for reports (Harbor's preferred_cvss).
func computeSeverity(r *osvRecord) severityInfo {
	entries := r.Severity
	if len(entries) == 0 {
		for _, a := range r.Affected {
			entries = append(entries, a.Severity...)
		}
	}
	var s severityInfo
	var words string
	for _, e := range entries {
		vec := strings.TrimSpace(e.Score)
		switch e.Type {
		case "CVSS_V3":
			if s.v3Vector == "" {
				if score, ok := cvss3Score(vec); ok {
					s.v3Vector, s.v3Score = vec, score
				}
			}
		case "CVSS_V4":
			if s.v4Vector == "" {
				if v, err := gocvss40.ParseVector(vec); err == nil {
					s.v4Vector, s.v4Score = vec, v.Score()
				}
			}
		case "CVSS_V2":
			if s.v2Vector == "" {
				if v, err := gocvss20.ParseVector(strings.TrimPrefix(strings.Trim(vec, "()"), "CVSS:2.0/")); err == nil {
					s.v2Vector, s.v2Score = vec, v.BaseScore()
				}
			}
		case "Ubuntu":
			if words == "" {
				words = severityOfWords(vec)
			}
		}
	}
	if words == "" {
		words = databaseSeverity(r)
	}
	switch {
	case s.v3Vector != "":
		s.severity = severityOfScore(s.v3Score)
	case s.v4Vector != "":
		s.severity = severityOfScore(s.v4Score)
	case words != "":
		s.severity = words
	case s.v2Vector != "":
		s.severity = severityOfScore(s.v2Score)
	default:
		s.severity = SeverityUnknown
	}
	return s
}

func cvss3Score(vec string) (float64, bool) {
	switch {
	case strings.HasPrefix(vec, "CVSS:3.1/"):
		v, err := gocvss31.ParseVector(vec)
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	case strings.HasPrefix(vec, "CVSS:3.0/"):
		v, err := gocvss30.ParseVector(vec)
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	}
	return 0, false
}

// databaseSeverity reads a rating in words from database_specific (GitHub: "severity":
// "MODERATE"), or from an affected entry's ecosystem_specific or database_specific ("severity"
// or "urgency", as Debian's tracker words it).
func databaseSeverity(r *osvRecord) string {
	blocks := []json.RawMessage{r.DatabaseSpecific}
	for _, a := range r.Affected {
		blocks = append(blocks, a.EcosystemSpecific, a.DatabaseSpecific)
	}
	for _, b := range blocks {
		if len(b) == 0 {
			continue
		}
		var ds struct {
			Severity any `json:"severity"`
			Urgency  any `json:"urgency"`
		}
		if json.Unmarshal(b, &ds) != nil {
			continue
		}
		for _, v := range []any{ds.Severity, ds.Urgency} {
			if s, ok := v.(string); ok {
				if sev := severityOfWords(s); sev != "" {
					return sev
				}
			}
		}
	}
	return ""
}

// severityOfWords maps the ratings databases write in words: GitHub (LOW, MODERATE, HIGH,
// CRITICAL), Ubuntu priorities (negligible … critical), Debian urgencies (unimportant, low,
// medium, high), Red Hat impacts (important). Words that rate nothing ("untriaged", "not yet
// assigned") give "".
func severityOfWords(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return SeverityCritical
	case "high", "important":
		return SeverityHigh
	case "moderate", "medium":
		return SeverityMedium
	case "low":
		return SeverityLow
	case "negligible", "unimportant":
		return SeverityNegligible
	}
	return ""
}
