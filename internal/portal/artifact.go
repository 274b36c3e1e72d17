package portal

// An artifact's page (/projects/{project}/repositories/{repo...}/artifacts/{digest}): its
// overview with its tags and labels, the actions its viewer may take (scan, SBOM, tags, labels,
// deletion: their posts are in repository.go), its config, layers, build history, platforms,
// referrers and SBOM (artifact_detail.go), and the vulnerabilities of its report, filtered,
// sorted and paged on the server. The data comes from the artifact and scan services, as GET
// /api/v2.0/.../artifacts/{reference} (with_tag, with_label, with_accessory,
// with_scan_overview), its additions and POST .../scan do.

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// artifactsSeg separates a repository's name from an artifact's digest in the portal's paths.
const artifactsSeg = "/artifacts/"

func artifactPath(project, repo, dgst string) string {
	return "/projects/" + url.PathEscape(project) + "/repositories/" + repoPath(repo) + artifactsSeg + url.PathEscape(dgst)
}

// severities, most severe first, as reports spell them.
var severityOrder = []string{vulndb.SeverityCritical, vulndb.SeverityHigh, vulndb.SeverityMedium, vulndb.SeverityLow, vulndb.SeverityNegligible, vulndb.SeverityUnknown}

// vulnCounts is a report's count per severity, for the summary bar.
type vulnCounts struct {
	Status string // the scan's state; "" when never scanned
	Total  int
	Counts []severityCount
}

type severityCount struct {
	Severity string
	Class    string // sev-critical, …
	N        int
}

// countsOf is the summary bar of a report's summary (meta.ScanReport.Summary).
func countsOf(r meta.ScanReport) vulnCounts {
	vc := vulnCounts{Status: r.Status}
	if r.Status != meta.StatusSuccess {
		return vc
	}
	var sum struct {
		Total  int            `json:"total"`
		Counts map[string]int `json:"summary"`
	}
	if json.Unmarshal([]byte(r.Summary), &sum) != nil {
		return vc
	}
	vc.Total = sum.Total
	for _, s := range severityOrder {
		if n := sum.Counts[s]; n > 0 || rankOf(s) >= rankOf(vulndb.SeverityLow) {
			vc.Counts = append(vc.Counts, severityCount{Severity: s, Class: "sev-" + strings.ToLower(s), N: n})
		}
	}
	return vc
}

func rankOf(s string) int { return vulndb.SeverityRank(s) }

type vulnRow struct {
	scan.VulnRef
	Class string
}

type artifactPage struct {
	Project, Repo string
	Artifact      registry.ArtifactView
	Annotations   []annotation
	Can           repoPerms
	Notice        string
	// Error is a form's refusal, NewTag the tag its form held.
	Error      string
	NewTag     string
	Report     vulnCounts
	StatusText string
	Vulns      []vulnRow
	// Matching is how many vulnerabilities the filters keep, of Report.Total.
	Matching int
	List     listing
	// Severity and Fixable are the table's filters; Severities the choices of the first.
	Severity   string
	Fixable    bool
	Severities []string
	// Labels are the artifact's, Addable those the caller may add.
	Labels  []labelView
	Addable []meta.Label
	Signed  bool
	Pull    string
	// Image is the image's config; Layers and History its layers and build history.
	Image     *imageInfo
	Config    *descriptorRow
	Layers    []descriptorRow
	History   []historyRow
	Platforms []platformRow
	Referrers []referrerRow
	SBOM      sbomView
	// CopyScript is the URL of the script behind the copy button.
	CopyScript string
}

type annotation struct{ Key, Value string }

// vulnSortKeys are the columns the vulnerability table sorts by.
var vulnSortKeys = []string{"severity", "id", "package", "score"}

func (h *Handler) showArtifact(c *call) error { return h.artifactPage(c, http.StatusOK, "", "") }

// artifactPage renders the artifact's page; a form's refusal shows it again with the message
// (msg) and the tag that was typed (newTag), with status code.
func (h *Handler) artifactPage(c *call, code int, msg, newTag string) error {
	proj, repo, dgst := c.r.PathValue("project"), c.r.PathValue("repo"), c.r.PathValue("digest")
	_, l, err := parseListing(c.r, vulnSortKeys)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	pg := artifactPage{Project: proj, Repo: repo, Severities: severityOrder, Notice: repoNotices[q.Get("done")], Error: msg, NewTag: newTag,
		Severity: q.Get("severity"), Fixable: q.Get("fixable") == "on", CopyScript: h.assets.url("copy.js")}
	if q.Get("scan") != "" {
		pg.Notice = repoNotices["scanned"]
	}
	if pg.Severity != "" && !slices.Contains(severityOrder, pg.Severity) {
		return fault.Invalidf("The severity %q is not one of %s.", pg.Severity, strings.Join(severityOrder, ", "))
	}
	p, v, err := h.Artifacts.Get(c.ctx(), proj, repo, dgst, registry.Details{Tags: true, Labels: true, Accessories: true})
	if err != nil {
		return err
	}
	pg.Artifact = v
	for k, val := range v.Info.Annotations {
		pg.Annotations = append(pg.Annotations, annotation{k, val})
	}
	slices.SortFunc(pg.Annotations, func(a, b annotation) int { return cmp.Compare(a.Key, b.Key) })
	if pg.Can, err = h.repoPerms(c, p); err != nil {
		return err
	}
	pg.Labels = labelViews(v.Labels)
	if pg.Can.AddLabel {
		choices, err := h.labelChoices(c, p)
		if err != nil {
			return err
		}
		pg.Addable = addable(choices, v.Labels)
	}
	pg.Signed = signed(v.Accessories)
	pg.Pull = "docker pull " + h.registryHost(c) + "/" + v.RepositoryName + "@" + v.Digest
	pg.Image = imageOf(v.Info.ExtraAttrs)
	pg.Config, pg.Layers = layersOf(v.Payload)
	pg.Platforms = platformsOf(v.Info)
	pg.Referrers = referrersOf(v.Accessories)
	if slices.Contains(v.Info.Additions, registry.AdditionBuildHistory) {
		a, err := h.Artifacts.Addition(c.ctx(), proj, repo, v.Digest, registry.AdditionBuildHistory)
		if err != nil {
			return err
		}
		pg.History = historyOf(a.Content)
	}
	if pg.SBOM, err = h.sbomView(c, p, v, q.Get("sbom_page")); err != nil {
		return err
	}
	r, err := h.Scan.Report(c.ctx(), p.ID, v.Digest, scan.TypeVulnerability)
	switch {
	case errors.Is(err, meta.ErrNotFound):
	case err != nil:
		return err
	default:
		pg.Report = countsOf(r)
		pg.StatusText = sentenceOrEmpty(r.StatusText)
		if r.Status == meta.StatusSuccess && r.Report != "" {
			sum, err := scan.Summarize([]byte(r.Report))
			if err != nil {
				return err
			}
			pg.Vulns, pg.Matching = vulnPage(sum.Vulns, &l, pg.Severity, pg.Fixable)
		}
	}
	if pg.Severity != "" {
		l.extra = url.Values{"severity": {pg.Severity}}
	}
	if pg.Fixable {
		if l.extra == nil {
			l.extra = url.Values{}
		}
		l.extra.Set("fixable", "on")
	}
	pg.List = l
	h.render(c.w, c, code, "artifact", pg)
	return nil
}

// vulnPage filters (by severity, fix available and the filter box, which matches ids and
// packages), sorts (most severe first by default) and pages a report's vulnerabilities.
func vulnPage(all []scan.VulnRef, l *listing, severity string, fixable bool) ([]vulnRow, int) {
	var kept []scan.VulnRef
	f := strings.ToLower(l.Filter)
	for _, v := range all {
		if severity != "" && v.Severity != severity || fixable && v.Fix == "" {
			continue
		}
		if f != "" && !strings.Contains(strings.ToLower(v.ID), f) && !strings.Contains(strings.ToLower(v.Package), f) {
			continue
		}
		kept = append(kept, v)
	}
	key, desc := strings.TrimPrefix(l.Sort, "-"), strings.HasPrefix(l.Sort, "-")
	bySeverity := func(a, b scan.VulnRef) int { return cmp.Compare(rankOf(b.Severity), rankOf(a.Severity)) }
	slices.SortStableFunc(kept, func(a, b scan.VulnRef) int {
		var c int
		switch key {
		case "id":
			c = cmp.Compare(a.ID, b.ID)
		case "package":
			c = cmp.Compare(a.Package, b.Package)
		case "score":
			c = cmp.Compare(b.Score, a.Score)
		default: // severity: most severe first
			c = bySeverity(a, b)
		}
		if desc {
			c = -c
		}
		return cmp.Or(c, bySeverity(a, b), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Package, b.Package))
	})
	l.Total = int64(len(kept))
	from := min(len(kept), (l.Page-1)*l.PageSize)
	to := min(len(kept), from+l.PageSize)
	rows := make([]vulnRow, 0, to-from)
	for _, v := range kept[from:to] {
		rows = append(rows, vulnRow{VulnRef: v, Class: "sev-" + strings.ToLower(v.Severity)})
	}
	return rows, len(kept)
}

// scanState says where a scan is, in words.
func scanState(status string) string {
	switch status {
	case meta.StatusPending:
		return "The scan is waiting to run."
	case meta.StatusRunning:
		return "The scan is running."
	case meta.StatusError:
		return "The scan failed."
	case meta.StatusStopped:
		return "The scan was stopped."
	}
	return "The scan is " + status + "."
}

// scanBrief is a scan's state in a table cell.
func scanBrief(status string) string {
	switch status {
	case meta.StatusPending:
		return "Scan waiting"
	case meta.StatusRunning:
		return "Scanning"
	case meta.StatusError:
		return "Scan failed"
	case meta.StatusStopped:
		return "Scan stopped"
	}
	return status
}
