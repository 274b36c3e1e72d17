package scan

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan/report"
)

// The security hub: vulnerabilities over every scanned artifact, from the stored report
// summaries of the default scanner, read page by page.

// SummaryOptions say which lists a security summary includes besides its counts (Harbor's
// with_dangerous_cve and with_dangerous_artifact, both off by default).
type SummaryOptions struct {
	DangerousCVEs      bool
	DangerousArtifacts bool
}

// SecuritySummary is the whole registry's vulnerability picture.
type SecuritySummary struct {
	// Counts are the vulnerabilities found by severity ("Critical", "High", …).
	Counts  map[string]int
	Total   int // vulnerabilities found
	Fixable int
	// Scanned is how many artifacts have a report; Artifacts how many could have one.
	Scanned   int
	Artifacts int64
	// DangerousCVEs are the five critical vulnerabilities with the highest scores, and
	// DangerousArtifacts the five artifacts with the most critical (then high) ones; each nil
	// unless asked for (SummaryOptions).
	DangerousCVEs      []DangerousCVE
	DangerousArtifacts []DangerousArtifact
}

// DangerousCVE is a critical vulnerability found somewhere.
type DangerousCVE struct {
	ID, Severity, Description, Package, Version string
	Score                                       float64
}

// DangerousArtifact is an artifact with critical or high vulnerabilities.
type DangerousArtifact struct {
	ProjectID              int64
	Repository, Digest     string
	Critical, High, Medium int
}

// SecuritySummary sums up every successful vulnerability report of the default scanner, with
// the lists opt asks for.
func (s *Service) SecuritySummary(ctx context.Context, opt SummaryOptions) (SecuritySummary, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResSecurityHub, rbac.ActRead); err != nil {
		return SecuritySummary{}, err
	}
	out := SecuritySummary{Counts: map[string]int{}}
	if opt.DangerousArtifacts {
		out.DangerousArtifacts = []DangerousArtifact{}
	}
	cves := map[string]DangerousCVE{}
	projects := map[string]int64{}
	err := s.eachSummary(ctx, func(r meta.ScanReport, sum Summary) error {
		out.Scanned++
		out.Total += sum.Total
		out.Fixable += sum.Fixable
		for k, v := range sum.Counts {
			out.Counts[k] += v
		}
		for _, v := range sum.Vulns {
			if opt.DangerousCVEs && v.Severity == "Critical" {
				if cur, ok := cves[v.ID]; !ok || v.Score > cur.Score {
					cves[v.ID] = DangerousCVE{ID: v.ID, Severity: v.Severity, Score: v.Score, Description: v.Desc, Package: v.Package, Version: v.Version}
				}
			}
		}
		if opt.DangerousArtifacts && sum.Counts["Critical"]+sum.Counts["High"] > 0 {
			arts := append(out.DangerousArtifacts, DangerousArtifact{ProjectID: s.cachedProjectID(ctx, r.Repository, projects),
				Repository: r.Repository, Digest: r.Digest, Critical: sum.Counts["Critical"], High: sum.Counts["High"], Medium: sum.Counts["Medium"]})
			sort.Slice(arts, func(i, j int) bool {
				if arts[i].Critical != arts[j].Critical {
					return arts[i].Critical > arts[j].Critical
				}
				return arts[i].High > arts[j].High
			})
			if len(arts) > 5 {
				arts = arts[:5]
			}
			out.DangerousArtifacts = arts
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	if out.Artifacts, err = s.Store.CountScannableArtifacts(ctx); err != nil {
		return out, err
	}
	if !opt.DangerousCVEs {
		return out, nil
	}
	out.DangerousCVEs = make([]DangerousCVE, 0, len(cves))
	for _, v := range cves {
		out.DangerousCVEs = append(out.DangerousCVEs, v)
	}
	sort.Slice(out.DangerousCVEs, func(i, j int) bool {
		a, b := out.DangerousCVEs[i], out.DangerousCVEs[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		return a.ID < b.ID
	})
	if len(out.DangerousCVEs) > 5 {
		out.DangerousCVEs = out.DangerousCVEs[:5]
	}
	return out, nil
}

// Vulnerability is one vulnerability of one artifact.
type Vulnerability struct {
	ProjectID                                                 int64
	Repository, Digest                                        string
	ID, Severity, Package, Version, FixedVersion, Description string
	Score                                                     float64
	Links                                                     []string
	// Tags are the artifact's tags, newest first, when asked for (Harbor's with_tag).
	Tags []string
}

// Vulnerabilities returns one page of the vulnerabilities of every scanned artifact that
// match lq's filters (cve_id, severity, repository_name, package, digest, project_id exactly;
// cvss_score_v3 as a range; status and tag are accepted and match everything), and the total;
// withTags fills in each row's tags.
func (s *Service) Vulnerabilities(ctx context.Context, lq meta.ListQuery, withTags bool) ([]Vulnerability, int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResSecurityHub, rbac.ActList); err != nil {
		return nil, 0, err
	}
	match, err := vulnerabilityFilter(lq.Filters)
	if err != nil {
		return nil, 0, err
	}
	out := []Vulnerability{}
	var total int64
	projects := map[string]int64{}
	err = s.eachSummary(ctx, func(r meta.ScanReport, sum Summary) error {
		for _, v := range sum.Vulns {
			item := Vulnerability{ProjectID: s.cachedProjectID(ctx, r.Repository, projects), Repository: r.Repository, Digest: r.Digest,
				ID: v.ID, Severity: v.Severity, Score: v.Score, Package: v.Package, Version: v.Version,
				FixedVersion: v.Fix, Description: v.Desc, Links: v.Links}
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
	if err != nil || !withTags {
		return out, total, err
	}
	return out, total, s.fillTags(ctx, out)
}

// fillTags sets the tags of the artifacts of a page of vulnerabilities: every row has a
// list, empty for an untagged artifact or one deleted meanwhile.
func (s *Service) fillTags(ctx context.Context, vs []Vulnerability) error {
	type artifact struct{ repo, digest string }
	ids := map[artifact]int64{}
	var manifestIDs []int64
	for _, v := range vs {
		a := artifact{v.Repository, v.Digest}
		if _, seen := ids[a]; seen {
			continue
		}
		m, err := s.Store.ManifestByDigest(ctx, v.Repository, v.Digest)
		if errors.Is(err, meta.ErrNotFound) {
			ids[a] = 0
			continue
		}
		if err != nil {
			return err
		}
		ids[a] = m.ID
		manifestIDs = append(manifestIDs, m.ID)
	}
	tags, err := s.Store.TagsOfManifests(ctx, manifestIDs)
	if err != nil {
		return err
	}
	for i := range vs {
		names := []string{}
		for _, t := range tags[ids[artifact{vs[i].Repository, vs[i].Digest}]] {
			names = append(names, t.Name)
		}
		vs[i].Tags = names
	}
	return nil
}

// vulnerabilityFilter is the test of every filter together.
func vulnerabilityFilter(filters []meta.Filter) (func(Vulnerability) bool, error) {
	match := func(Vulnerability) bool { return true }
	for _, f := range filters {
		prev := match
		var test func(v Vulnerability) bool
		value := ""
		if len(f.Values) > 0 {
			value = f.Values[0]
		}
		switch f.Key {
		case "cve_id":
			test = func(v Vulnerability) bool { return v.ID == value }
		case "severity":
			test = func(v Vulnerability) bool { return v.Severity == value }
		case "repository_name":
			test = func(v Vulnerability) bool { return v.Repository == value }
		case "package":
			test = func(v Vulnerability) bool { return v.Package == value }
		case "digest":
			test = func(v Vulnerability) bool { return v.Digest == value }
		case "project_id":
			id, _ := strconv.ParseInt(value, 10, 64)
			test = func(v Vulnerability) bool { return v.ProjectID == id }
		case "cvss_score_v3":
			lo, errLo := strconv.ParseFloat(f.Min, 64)
			hi, errHi := strconv.ParseFloat(f.Max, 64)
			test = func(v Vulnerability) bool {
				return (errLo != nil || v.Score >= lo) && (errHi != nil || v.Score <= hi)
			}
		case "status", "tag":
			test = func(Vulnerability) bool { return true }
		default:
			return nil, fault.Invalidf("unsupported query key %s", f.Key)
		}
		match = func(v Vulnerability) bool { return prev(v) && test(v) }
	}
	return match, nil
}

// eachSummary calls fn for every successful vulnerability report of the default scanner whose
// artifact still exists.
func (s *Service) eachSummary(ctx context.Context, fn func(r meta.ScanReport, sum Summary) error) error {
	sc, err := s.Scanners.ForProject(ctx, 0)
	if err != nil {
		return err
	}
	after := ""
	for {
		batch, err := s.Store.ScanSummaries(ctx, sc.UUID, report.MimeGeneric, after, 500)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, r := range batch {
			after = r.ID
			var sum Summary
			if json.Unmarshal([]byte(r.Summary), &sum) != nil {
				continue
			}
			if err := fn(r, sum); err != nil {
				return err
			}
		}
	}
}

// cachedProjectID is projectIDOf, remembered in cache by project name for one listing.
func (s *Service) cachedProjectID(ctx context.Context, repo string, cache map[string]int64) int64 {
	name, err := registry.ValidateRepository(repo)
	if err != nil {
		return 0
	}
	if id, ok := cache[name]; ok {
		return id
	}
	id := s.projectIDOf(ctx, repo)
	cache[name] = id
	return id
}
