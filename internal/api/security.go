package api

import (
	"net/http"

	"github.com/berthreg/berth/internal/scan"
)

// The security hub (swagger tag "securityhub"), answered from the scan service.

type dangerousCVE struct {
	CVEID    string  `json:"cve_id"`
	Severity string  `json:"severity"`
	Score    float64 `json:"cvss_score_v3"`
	Desc     string  `json:"desc"`
	Package  string  `json:"package"`
	Version  string  `json:"version"`
}

type dangerousArtifact struct {
	ProjectID      int64  `json:"project_id"`
	RepositoryName string `json:"repository_name"`
	Digest         string `json:"digest"`
	Critical       int    `json:"critical_cnt"`
	High           int    `json:"high_cnt"`
	Medium         int    `json:"medium_cnt"`
}

// securitySummary answers Harbor's SecuritySummary. The lists of dangerous CVEs and artifacts
// are there only when asked for (with_dangerous_cve, with_dangerous_artifact; false by
// default), as Harbor leaves them out otherwise.
func (h *Handler) securitySummary(c *call) error {
	var opt scan.SummaryOptions
	var err error
	if opt.DangerousCVEs, err = boolParam(c, "with_dangerous_cve", false); err != nil {
		return err
	}
	if opt.DangerousArtifacts, err = boolParam(c, "with_dangerous_artifact", false); err != nil {
		return err
	}
	s, err := h.Scan.SecuritySummary(c.r.Context(), opt)
	if err != nil {
		return err
	}
	out := map[string]any{
		"critical_cnt": s.Counts["Critical"], "high_cnt": s.Counts["High"], "medium_cnt": s.Counts["Medium"], "low_cnt": s.Counts["Low"],
		"none_cnt": s.Counts["None"], "unknown_cnt": s.Counts["Unknown"] + s.Counts["Negligible"], "total_vuls": s.Total,
		"scanned_cnt": s.Scanned, "total_artifact": s.Artifacts, "fixable_cnt": s.Fixable,
	}
	if opt.DangerousCVEs {
		cves := make([]dangerousCVE, len(s.DangerousCVEs))
		for i, v := range s.DangerousCVEs {
			cves[i] = dangerousCVE{CVEID: v.ID, Severity: v.Severity, Score: v.Score, Desc: v.Description, Package: v.Package, Version: v.Version}
		}
		out["dangerous_cves"] = cves
	}
	if opt.DangerousArtifacts {
		arts := make([]dangerousArtifact, len(s.DangerousArtifacts))
		for i, a := range s.DangerousArtifacts {
			arts[i] = dangerousArtifact{ProjectID: a.ProjectID, RepositoryName: a.Repository, Digest: a.Digest,
				Critical: a.Critical, High: a.High, Medium: a.Medium}
		}
		out["dangerous_artifacts"] = arts
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

type vulnItemJSON struct {
	ProjectID      int64    `json:"project_id"`
	RepositoryName string   `json:"repository_name"`
	Digest         string   `json:"digest"`
	Tags           []string `json:"tags"`
	CVEID          string   `json:"cve_id"`
	Severity       string   `json:"severity"`
	Status         string   `json:"status"`
	Score          float64  `json:"cvss_v3_score"`
	Package        string   `json:"package"`
	Version        string   `json:"version"`
	FixedVersion   string   `json:"fixed_version"`
	Desc           string   `json:"desc"`
	Links          []string `json:"links"`
}

// securityVulnerabilities answers Harbor's list of VulnerabilityItem; each row's tags are the
// artifact's when with_tag is true (false by default), else empty.
func (h *Handler) securityVulnerabilities(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	withTag, err := boolParam(c, "with_tag", false)
	if err != nil {
		return err
	}
	vs, total, err := h.Scan.Vulnerabilities(c.r.Context(), lq, withTag)
	if err != nil {
		return err
	}
	out := make([]vulnItemJSON, len(vs))
	for i, v := range vs {
		tags := v.Tags
		if tags == nil {
			tags = []string{}
		}
		out[i] = vulnItemJSON{ProjectID: v.ProjectID, RepositoryName: v.Repository, Digest: v.Digest, Tags: tags,
			CVEID: v.ID, Severity: v.Severity, Score: v.Score, Package: v.Package, Version: v.Version,
			FixedVersion: v.FixedVersion, Desc: v.Description, Links: v.Links}
		if out[i].Links == nil {
			out[i].Links = []string{}
		}
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
