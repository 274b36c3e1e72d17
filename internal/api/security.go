package api

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/report"
)

// The security hub: vulnerabilities over every scanned artifact, from the stored report
// summaries of the default scanner, read page by page.

// eachSummary calls fn for every successful vulnerability report of the default scanner whose
// artifact still exists.
func (h *Handler) eachSummary(c *call, fn func(r meta.ScanReport, sum scan.Summary) error) error {
	sc, err := h.Scan.Scanners.ForProject(c.r.Context(), 0)
	if err != nil {
		return err
	}
	after := ""
	for {
		batch, err := h.DB.ScanSummaries(c.r.Context(), sc.UUID, report.MimeGeneric, after, 500)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, r := range batch {
			after = r.ID
			var sum scan.Summary
			if json.Unmarshal([]byte(r.Summary), &sum) != nil {
				continue
			}
			if err := fn(r, sum); err != nil {
				return err
			}
		}
	}
}

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

func (h *Handler) projectIDOf(c *call, repo string, cache map[string]int64) int64 {
	name, err := registry.ValidateRepository(repo)
	if err != nil {
		return 0
	}
	if id, ok := cache[name]; ok {
		return id
	}
	var id int64
	if p, err := h.DB.LookupProject(c.r.Context(), name); err == nil {
		id = p.ID
	}
	cache[name] = id
	return id
}

func (h *Handler) securitySummary(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResSecurityHub, rbac.ActRead); err != nil {
		return err
	}
	counts := map[string]int{}
	var total, scanned, fixable int
	cves := map[string]dangerousCVE{}
	var arts []dangerousArtifact
	projects := map[string]int64{}
	err := h.eachSummary(c, func(r meta.ScanReport, sum scan.Summary) error {
		scanned++
		total += sum.Total
		fixable += sum.Fixable
		for k, v := range sum.Counts {
			counts[k] += v
		}
		for _, v := range sum.Vulns {
			if v.Severity == "Critical" {
				if cur, ok := cves[v.ID]; !ok || v.Score > cur.Score {
					cves[v.ID] = dangerousCVE{CVEID: v.ID, Severity: v.Severity, Score: v.Score, Desc: v.Desc, Package: v.Package, Version: v.Version}
				}
			}
		}
		if sum.Counts["Critical"]+sum.Counts["High"] > 0 {
			arts = append(arts, dangerousArtifact{ProjectID: h.projectIDOf(c, r.Repository, projects), RepositoryName: r.Repository,
				Digest: r.Digest, Critical: sum.Counts["Critical"], High: sum.Counts["High"], Medium: sum.Counts["Medium"]})
			sort.Slice(arts, func(i, j int) bool {
				if arts[i].Critical != arts[j].Critical {
					return arts[i].Critical > arts[j].Critical
				}
				return arts[i].High > arts[j].High
			})
			if len(arts) > 5 {
				arts = arts[:5]
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	all, err := h.DB.CountScannableArtifacts(c.r.Context())
	if err != nil {
		return err
	}
	top := make([]dangerousCVE, 0, len(cves))
	for _, v := range cves {
		top = append(top, v)
	}
	sort.Slice(top, func(i, j int) bool {
		if top[i].Score != top[j].Score {
			return top[i].Score > top[j].Score
		}
		return top[i].CVEID < top[j].CVEID
	})
	if len(top) > 5 {
		top = top[:5]
	}
	if arts == nil {
		arts = []dangerousArtifact{}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"critical_cnt": counts["Critical"], "high_cnt": counts["High"], "medium_cnt": counts["Medium"], "low_cnt": counts["Low"],
		"none_cnt": counts["None"], "unknown_cnt": counts["Unknown"] + counts["Negligible"], "total_vuls": total,
		"scanned_cnt": scanned, "total_artifact": all, "fixable_cnt": fixable,
		"dangerous_cves": top, "dangerous_artifacts": arts,
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
	if err := h.authorizeSystem(c, rbac.ResSecurityHub, rbac.ActList); err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	match := func(v vulnItemJSON) bool { return true }
	for _, f := range lq.Filters {
		f := f
		prev := match
		var test func(v vulnItemJSON) bool
		value := ""
		if len(f.Values) > 0 {
			value = f.Values[0]
		}
		switch f.Key {
		case "cve_id":
			test = func(v vulnItemJSON) bool { return v.CVEID == value }
		case "severity":
			test = func(v vulnItemJSON) bool { return v.Severity == value }
		case "repository_name":
			test = func(v vulnItemJSON) bool { return v.RepositoryName == value }
		case "package":
			test = func(v vulnItemJSON) bool { return v.Package == value }
		case "digest":
			test = func(v vulnItemJSON) bool { return v.Digest == value }
		case "project_id":
			id, _ := strconv.ParseInt(value, 10, 64)
			test = func(v vulnItemJSON) bool { return v.ProjectID == id }
		case "cvss_score_v3":
			lo, errLo := strconv.ParseFloat(f.Min, 64)
			hi, errHi := strconv.ParseFloat(f.Max, 64)
			test = func(v vulnItemJSON) bool {
				return (errLo != nil || v.Score >= lo) && (errHi != nil || v.Score <= hi)
			}
		case "status", "tag":
			test = func(vulnItemJSON) bool { return true }
		default:
			return badRequest("unsupported query key " + f.Key)
		}
		match = func(v vulnItemJSON) bool { return prev(v) && test(v) }
	}
	out := []vulnItemJSON{}
	var total int64
	projects := map[string]int64{}
	err = h.eachSummary(c, func(r meta.ScanReport, sum scan.Summary) error {
		for _, v := range sum.Vulns {
			item := vulnItemJSON{ProjectID: h.projectIDOf(c, r.Repository, projects), RepositoryName: r.Repository, Digest: r.Digest,
				Tags: []string{}, CVEID: v.ID, Severity: v.Severity, Score: v.Score, Package: v.Package, Version: v.Version,
				FixedVersion: v.Fix, Desc: v.Desc, Links: v.Links}
			if item.Links == nil {
				item.Links = []string{}
			}
			if !match(item) {
				continue
			}
			if total >= int64(lq.Offset) && len(out) < lq.Limit {
				out = append(out, item)
			}
			total++
		}
		return nil
	})
	if err != nil {
		return err
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
