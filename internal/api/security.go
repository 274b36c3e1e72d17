package api

import (
	"net/http"
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

func (h *Handler) securitySummary(c *call) error {
	s, err := h.Scan.SecuritySummary(c.r.Context())
	if err != nil {
		return err
	}
	cves := make([]dangerousCVE, len(s.DangerousCVEs))
	for i, v := range s.DangerousCVEs {
		cves[i] = dangerousCVE{CVEID: v.ID, Severity: v.Severity, Score: v.Score, Desc: v.Description, Package: v.Package, Version: v.Version}
	}
	arts := make([]dangerousArtifact, len(s.DangerousArtifacts))
	for i, a := range s.DangerousArtifacts {
		arts[i] = dangerousArtifact{ProjectID: a.ProjectID, RepositoryName: a.Repository, Digest: a.Digest,
			Critical: a.Critical, High: a.High, Medium: a.Medium}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"critical_cnt": s.Counts["Critical"], "high_cnt": s.Counts["High"], "medium_cnt": s.Counts["Medium"], "low_cnt": s.Counts["Low"],
		"none_cnt": s.Counts["None"], "unknown_cnt": s.Counts["Unknown"] + s.Counts["Negligible"], "total_vuls": s.Total,
		"scanned_cnt": s.Scanned, "total_artifact": s.Artifacts, "fixable_cnt": s.Fixable,
		"dangerous_cves": cves, "dangerous_artifacts": arts,
	})
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

func (h *Handler) securityVulnerabilities(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	vs, total, err := h.Scan.Vulnerabilities(c.r.Context(), lq)
	if err != nil {
		return err
	}
	out := make([]vulnItemJSON, len(vs))
	for i, v := range vs {
		out[i] = vulnItemJSON{ProjectID: v.ProjectID, RepositoryName: v.Repository, Digest: v.Digest, Tags: []string{},
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
