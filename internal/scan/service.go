package scan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan/adapter"
	"github.com/berthreg/berth/internal/scan/report"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// Scan types of Harbor's scan request.
const (
	TypeVulnerability = "vulnerability"
	TypeSBOM          = "sbom"
)

// Scanner is a registered scanner as scans use it.
type Scanner struct {
	UUID    string
	Builtin bool
	Engine  report.Engine
}

// Scanners resolves registrations (Harbor's /scanners): the one a project uses, and any by
// uuid.
type Scanners interface {
	ForProject(ctx context.Context, projectID int64) (Scanner, error)
	ByUUID(ctx context.Context, uuid string) (Scanner, error)
	// Forget is called after a registration or a project's pick changed.
	Forget()
}

// Service runs scans as jobs and holds the rules of scanning as callers ask for it: scan
// requests and their reports, scan-all, the scanner registrations and each project's pick, and
// the security hub.
type Service struct {
	Store    Store
	Jobs     *jobs.Queue
	Builtin  *Builtin
	VulnDB   *vulndb.DB
	Scanners Scanners
	Log      *slog.Logger
	// RegistryURL is where external scanners reach this registry to pull.
	RegistryURL string
	// PullCredential mints a short-lived credential ("Bearer …") that may pull repo, for an
	// external scanner; pulls with it skip the vulnerability gate.
	PullCredential func(ctx context.Context, repo string) (string, error)
	// VulnDBRepository, if set, names the repository whose pushes are vulnerability database
	// bundles to import (an air-gapped site updates by replicating them).
	VulnDBRepository string
	// Updates configures downloading the vulnerability database on a schedule.
	Updates VulnDBUpdates
	// Registry stores generated SBOMs as accessories of their artifacts.
	Registry *registry.Service
	// Authz decides what callers may ask of scanning; Projects and Artifacts find what they
	// name.
	Authz     *rbac.Authorizer
	Projects  Projects
	Artifacts Artifacts
	// Engines reach the registrations' adapters, to ping them and ask their metadata.
	Engines *adapter.Engines

	policies   policyCache
	healthOnce sync.Once
	health     *adapter.MetadataCache
}

// reportMime is the MIME type a scan of a type is stored under. Vulnerability reports are kept
// in one row whichever of Harbor's two report versions a client asks for: they have the same
// fields.
func reportMime(scanType string) string {
	if scanType == TypeSBOM {
		return report.MimeSBOM
	}
	return report.MimeGeneric
}

// Scannable reports whether a manifest is something a scan reads: an image or an index.
func Scannable(mediaType, configMediaType string) bool {
	return isIndex(mediaType) || isImageManifest(mediaType) && isImageConfig(configMediaType)
}

// configMediaType reads the config media type of an image manifest ("" for anything else).
func configMediaType(payload []byte) string {
	var doc struct {
		Config struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
	}
	json.Unmarshal(payload, &doc)
	return doc.Config.MediaType
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// stopScanJob ends the report of a scan job stopped from the job queue's administration: a
// pending scan ends as stopped, a running one is asked to stop.
func stopScanJob(ctx context.Context, tx *meta.Tx, _ int64, args json.RawMessage) error {
	var a scanArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return fmt.Errorf("scan job arguments: %w", err)
	}
	_, err := tx.StopScanReport(ctx, a.ReportID)
	return err
}

// scanJobLog is the log of a scan job: its report's.
func (s *Service) scanJobLog(ctx context.Context, args json.RawMessage) (string, error) {
	var a scanArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return "", fmt.Errorf("scan job arguments: %w", err)
	}
	l, err := s.Store.ScanLog(ctx, a.ReportID)
	if errors.Is(err, meta.ErrNotFound) {
		return "", nil
	}
	return l, err
}

// scanArgs is a queued scan: the report row says what, by which scanner, of which type.
type scanArgs struct {
	ReportID string `json:"report_id"`
}

func (scanArgs) Kind() string { return "scan" }

// Register adds the scan workers (scan, re-match, scan-all, vulnerability database imports and
// updates) and the scan-all and update schedule handlers to the queue, and re-matching when the
// vulnerability database changes.
func Register(q *jobs.Queue, s *Service) {
	jobs.Register(q, &scanWorker{s: s})
	jobs.Register(q, &rematchWorker{s: s})
	jobs.Register(q, &scanAllWorker{s: s})
	q.Track(scanArgs{}.Kind(), jobs.Record{Stop: stopScanJob, Log: s.scanJobLog})
	q.Track(scanAllArgs{}.Kind(), jobs.ExecutionRecord(s.Store))
	jobs.Register(q, &vulndbImportWorker{s: s})
	registerVulnDBUpdates(q, s)
	q.HandleSchedules(ScanAllScheduleName, func(ctx context.Context, tx *meta.Tx, _ string, _ json.RawMessage) error {
		_, err := s.queueScanAll(ctx, tx, "SCHEDULE")
		return err
	})
	s.VulnDB.OnNewGeneration(func(ctx context.Context, gen int64) {
		if _, err := s.Jobs.Insert(ctx, rematchArgs{Generation: gen}, &jobs.InsertOpts{UniqueOpts: uniqueArgs}); err != nil {
			s.Log.Warn("queue re-match after a vulnerability database import", "generation", gen, "err", err)
		}
	})
}

// request queues a scan of one artifact (repository@digest) of a project by the project's
// scanner and returns its report row. A scan already pending or running is left alone.
func (s *Service) request(ctx context.Context, project meta.Project, repo string, m meta.Manifest, scanType string) (meta.ScanReport, error) {
	sc, err := s.Scanners.ForProject(ctx, project.ID)
	if err != nil {
		return meta.ScanReport{}, err
	}
	return s.prepare(ctx, sc, repo, m.Digest, scanType, true)
}

// prepare creates (or resets to Pending) the report row of a scan and emits evs with it, and
// with withJob queues the job that runs it, all in one transaction; scan-all runs its scans
// itself.
func (s *Service) prepare(ctx context.Context, sc Scanner, repo, dgst, scanType string, withJob bool, evs ...meta.Event) (meta.ScanReport, error) {
	info, _ := json.Marshal(s.scannerInfo(ctx, sc))
	var out meta.ScanReport
	err := s.Store.Tx(ctx, func(tx *meta.Tx) error {
		r, queued, err := tx.QueueScanReport(ctx, meta.ScanReport{ID: newID(), Digest: dgst, RegistrationUUID: sc.UUID,
			MimeType: reportMime(scanType), Repository: repo, Scanner: string(info)})
		if err != nil {
			return err
		}
		out = r
		tx.Emit(evs...)
		if !queued || !withJob {
			return nil
		}
		_, err = s.Jobs.InsertTx(ctx, tx, scanArgs{ReportID: r.ID}, nil)
		return err
	})
	return out, err
}

func (s *Service) scannerInfo(ctx context.Context, sc Scanner) report.Scanner {
	if sc.Builtin {
		return s.Builtin.Info()
	}
	md, err := sc.Engine.Metadata(ctx)
	if err != nil {
		return report.Scanner{Name: "unreachable scanner " + sc.UUID}
	}
	return md.Scanner
}

// stop asks the scan of an artifact of the given type by the project's scanner to stop, if it
// is pending or running; false if the artifact was never scanned so (a scan that has ended
// stays as it ended).
func (s *Service) stop(ctx context.Context, project meta.Project, dgst, scanType string) (bool, error) {
	sc, err := s.Scanners.ForProject(ctx, project.ID)
	if err != nil {
		return false, err
	}
	r, err := s.Store.ScanReportOf(ctx, dgst, sc.UUID, reportMime(scanType))
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = s.Store.StopScanReport(ctx, r.ID)
	return true, err
}

// Reports returns the reports of the digests by the project's scanner, by digest then MIME.
func (s *Service) Reports(ctx context.Context, projectID int64, digests []string) (map[string]map[string]meta.ScanReport, error) {
	sc, err := s.Scanners.ForProject(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return s.Store.ScanReportsOf(ctx, sc.UUID, digests)
}

// Report returns one full report of a digest by the project's scanner.
func (s *Service) Report(ctx context.Context, projectID int64, dgst, scanType string) (meta.ScanReport, error) {
	sc, err := s.Scanners.ForProject(ctx, projectID)
	if err != nil {
		return meta.ScanReport{}, err
	}
	return s.Store.ScanReportOf(ctx, dgst, sc.UUID, reportMime(scanType))
}

// HandlePushes is scan-on-push, a subscriber of the event stream: an artifact stored anew is
// scanned when its project scans on push (auto_scan) and it is an image or an index, and a
// bundle pushed into the vulnerability database repository is imported. It fails (to be
// delivered again) only when the store cannot be read; an artifact deleted since its push is
// skipped.
func (s *Service) HandlePushes(ctx context.Context, evs []meta.Event) error {
	for _, e := range evs {
		var a events.Artifact
		if err := events.Decode(e, &a); err != nil {
			s.Log.WarnContext(ctx, "scan on push: unreadable event", "event", e.ID, "err", err)
			continue
		}
		if !a.Created {
			continue
		}
		if s.isVulnBundleRepo(a.Repository) {
			s.queueVulnDBImport(ctx, a.Repository, meta.Manifest{Digest: a.Digest})
			continue
		}
		if err := s.scanPushed(ctx, e.ProjectID, a); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) scanPushed(ctx context.Context, projectID int64, a events.Artifact) error {
	md, err := s.projectPolicy(ctx, projectID)
	if err != nil {
		return fmt.Errorf("scan on push: metadata of project %d: %w", projectID, err)
	}
	if md["auto_scan"] != "true" {
		return nil
	}
	project, err := s.Store.ProjectByID(ctx, projectID)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scan on push: project %d: %w", projectID, err)
	}
	m, err := s.Store.ManifestByDigest(ctx, a.Repository, a.Digest)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scan on push: %s@%s: %w", a.Repository, a.Digest, err)
	}
	if !Scannable(m.MediaType, configMediaType(m.Payload)) {
		return nil
	}
	if _, err := s.request(ctx, project, a.Repository, m, TypeVulnerability); err != nil {
		s.Log.WarnContext(ctx, "scan on push", "repository", a.Repository, "digest", a.Digest, "err", err)
	}
	if md["auto_sbom_generation"] == "true" {
		if _, err := s.request(ctx, project, a.Repository, m, TypeSBOM); err != nil {
			s.Log.WarnContext(ctx, "sbom on push", "repository", a.Repository, "digest", a.Digest, "err", err)
		}
	}
	return nil
}

// Summary is what a vulnerability report's row keeps for listings, the security hub and the
// pull gate, so none of them parses reports.
type Summary struct {
	Severity string         `json:"severity"`
	Total    int            `json:"total"`
	Fixable  int            `json:"fixable"`
	Counts   map[string]int `json:"summary"`
	Vulns    []VulnRef      `json:"vulns"`
}

// VulnRef is one vulnerability of a report, briefly.
type VulnRef struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Severity string   `json:"severity"`
	Package  string   `json:"package"`
	Version  string   `json:"version"`
	Fix      string   `json:"fix,omitempty"`
	Score    float64  `json:"score,omitempty"`
	Desc     string   `json:"desc,omitempty"`
	Links    []string `json:"links,omitempty"`
}

// Summarize reads a native (or generic) vulnerability report.
func Summarize(body []byte) (Summary, error) {
	var rep report.Vulnerabilities
	if err := json.Unmarshal(body, &rep); err != nil {
		return Summary{}, fmt.Errorf("vulnerability report: %w", err)
	}
	sum := Summary{Severity: "None", Counts: map[string]int{}, Vulns: []VulnRef{}}
	for _, v := range rep.Vulnerabilities {
		sev := normSeverity(v.Severity)
		sum.Total++
		sum.Counts[sev]++
		if v.FixVersion != "" {
			sum.Fixable++
		}
		if vulndb.SeverityRank(sev) > vulndb.SeverityRank(sum.Severity) {
			sum.Severity = sev
		}
		ref := VulnRef{ID: v.ID, Severity: sev, Package: v.Package, Version: v.Version, Fix: v.FixVersion, Links: v.Links}
		if len(v.Description) > 300 {
			ref.Desc = v.Description[:300] + "…"
		} else {
			ref.Desc = v.Description
		}
		if v.PreferredCVSS != nil && v.PreferredCVSS.ScoreV3 != nil {
			ref.Score = *v.PreferredCVSS.ScoreV3
		}
		// Aliases travel in vendor_attributes (Aliases itself is not on the wire).
		if as, ok := v.VendorAttributes["aliases"].([]any); ok {
			for _, a := range as {
				if s, ok := a.(string); ok {
					ref.Aliases = append(ref.Aliases, s)
				}
			}
		}
		if id, ok := v.VendorAttributes["osv_id"].(string); ok && id != v.ID && !slices.Contains(ref.Aliases, id) {
			ref.Aliases = append(ref.Aliases, id)
		}
		sum.Vulns = append(sum.Vulns, ref)
	}
	if sum.Total > 0 && rep.Severity != "" && vulndb.SeverityRank(normSeverity(rep.Severity)) > vulndb.SeverityRank(sum.Severity) {
		sum.Severity = normSeverity(rep.Severity)
	}
	return sum, nil
}

// normSeverity spells a severity as Harbor does ("HIGH" and "high" are "High").
func normSeverity(s string) string {
	for _, k := range []string{"None", "Unknown", "Negligible", "Low", "Medium", "High", "Critical"} {
		if strings.EqualFold(s, k) {
			return k
		}
	}
	if s == "" {
		return "Unknown"
	}
	return s
}

// policyCache keeps projects' metadata (auto_scan, prevent_vul, severity, allowlist reuse):
// it is read on every push and every manifest pull, so reads take no lock. It subscribes to
// the store's changes (meta.DB.WatchChanges): a change of a project (its metadata included) made
// through this process forgets what it holds before the change's commit returns, and on
// PostgreSQL one made by another replica as soon as the database announces it. Entries also
// expire after policyTTL, which bounds how long a change goes unseen while announcements
// cannot be heard (a listening connection being re-established).
type policyCache struct {
	watch sync.Once
	gen   atomic.Uint64 // moves at every announced change of a project
	m     sync.Map      // project id → policyEntry
}

const policyTTL = time.Second

type policyEntry struct {
	md  map[string]string
	gen uint64
	at  time.Time
}

// PolicyGeneration moves whenever the store announces a change of projects: what the pull gate
// and scan on push remember of a project's policy is read again after it moves.
func (s *Service) PolicyGeneration() uint64 {
	c := &s.policies
	c.watch.Do(func() {
		s.Store.WatchChanges(func(ch meta.Changes) {
			if ch.Projects {
				c.gen.Add(1)
			}
		})
	})
	return c.gen.Load()
}

// projectPolicy returns the metadata of a project, from memory when no change of a project has
// been announced since it was read.
func (s *Service) projectPolicy(ctx context.Context, projectID int64) (map[string]string, error) {
	c := &s.policies
	// The generation is read before the lookup: a change committed meanwhile makes what the
	// lookup read stale at once.
	gen := s.PolicyGeneration()
	if e, ok := c.m.Load(projectID); ok {
		if e := e.(policyEntry); e.gen == gen && time.Since(e.at) < policyTTL {
			return e.md, nil
		}
	}
	md, err := s.Store.ProjectMetadata(ctx, projectID)
	if err != nil {
		return nil, err
	}
	c.m.Store(projectID, policyEntry{md: md, gen: gen, at: time.Now()})
	return md, nil
}
