package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan/report"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

var uniqueArgs = river.UniqueOpts{ByArgs: true}

type scanWorker struct {
	jobs.WorkerDefaults[scanArgs]
	s *Service
}

// Timeout bounds one scan: a hostile image or a hung adapter cannot hold a worker forever.
func (w *scanWorker) Timeout(*jobs.Job[scanArgs]) time.Duration { return 45 * time.Minute }

// Work runs one scan and records its outcome in the report row. A failed scan is reported
// there (status Error with the reason) rather than retried: the user or the next scan-all
// retries it.
func (w *scanWorker) Work(ctx context.Context, job *jobs.Job[scanArgs]) error {
	s := w.s
	r, err := s.Store.ScanReportByID(ctx, job.Args.ReportID)
	if errors.Is(err, meta.ErrNotFound) || err == nil && r.Finished() {
		return nil
	}
	if err != nil {
		return err
	}
	if ok, err := s.Store.StartScanReport(ctx, r.ID); err != nil || !ok {
		return err
	}
	r.Status = meta.StatusRunning
	res, err := s.run(ctx, r)
	return s.finish(ctx, r, res, err)
}

// run scans the report's artifact with its scanner, stopping when the report is asked to stop.
func (s *Service) run(ctx context.Context, r meta.ScanReport) (report.Result, error) {
	sc, err := s.Scanners.ByUUID(ctx, r.RegistrationUUID)
	if err != nil {
		return report.Result{}, fmt.Errorf("scanner %s: %w", r.RegistrationUUID, err)
	}
	m, err := s.Store.ManifestByDigest(ctx, r.Repository, r.Digest)
	if err != nil {
		return report.Result{}, fmt.Errorf("artifact %s@%s: %w", r.Repository, r.Digest, err)
	}
	req := report.Request{Artifact: report.Artifact{Repository: r.Repository, Digest: r.Digest, MimeType: m.MediaType}}
	if r.MimeType == report.MimeSBOM {
		req.Want, req.SBOMMediaType = []string{report.MimeSBOM}, report.MediaSPDX
	} else {
		req.Want = []string{report.MimeGeneric}
		if !sc.Builtin {
			req.Want = []string{s.vulnMime(ctx, sc)}
		}
	}
	if !sc.Builtin {
		if s.PullCredential == nil {
			return report.Result{}, errors.New("no way to give an external scanner a pull credential")
		}
		cred, err := s.PullCredential(ctx, r.Repository)
		if err != nil {
			return report.Result{}, fmt.Errorf("pull credential for the scanner: %w", err)
		}
		req.Registry, req.Authorization = s.RegistryURL, cred
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := jobs.WatchStop(runCtx, time.Second, func(ctx context.Context) bool {
		stop, err := s.Store.ScanStopRequested(ctx, r.ID)
		return err == nil && stop
	}, cancel)
	res, err := sc.Engine.Scan(runCtx, req)
	if err != nil && stopped() {
		return res, errStopped
	}
	return res, err
}

var errStopped = errors.New("stopped on request")

// vulnMime picks the report version an external scanner produces: 1.1 when it can.
func (s *Service) vulnMime(ctx context.Context, sc Scanner) string {
	md, err := sc.Engine.Metadata(ctx)
	if err != nil {
		return report.MimeNative
	}
	for _, c := range md.Capabilities {
		for _, p := range c.ProducesMimeTypes {
			if p == report.MimeGeneric {
				return report.MimeGeneric
			}
		}
	}
	return report.MimeNative
}

// finish records a scan's outcome; one that reaches Success or Error is a ScanCompleted or
// ScanFailed event of the same transaction.
func (s *Service) finish(ctx context.Context, r meta.ScanReport, res report.Result, scanErr error) error {
	ctx = context.WithoutCancel(ctx)
	var log strings.Builder
	for _, l := range res.Log {
		log.WriteString(l)
		log.WriteByte('\n')
	}
	if scanErr != nil {
		fmt.Fprintf(&log, "%s scan ended: %v\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), scanErr)
	}
	if err := s.Store.AppendScanLog(ctx, r.ID, log.String()); err != nil {
		return err
	}
	switch {
	case errors.Is(scanErr, errStopped):
		r.Status, r.StatusText = meta.StatusStopped, "stopped on request"
	case scanErr != nil:
		r.Status, r.StatusText = meta.StatusError, scanErr.Error()
	default:
		body := firstReport(res, r.MimeType)
		if body == nil {
			r.Status, r.StatusText = meta.StatusError, "the scanner returned no report of type "+r.MimeType
			break
		}
		r.Status, r.Report, r.Generation = meta.StatusSuccess, string(body), res.Generation
		if r.MimeType == report.MimeSBOM {
			d, err := s.pushSBOMAccessory(ctx, r, body)
			if err != nil {
				r.Status, r.StatusText, r.Report = meta.StatusError, err.Error(), ""
				s.Store.AppendScanLog(ctx, r.ID, fmt.Sprintf("%s storing the SBOM accessory failed: %v\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), err))
				break
			}
			// The SBOM it replaces goes (Harbor keeps one per artifact).
			var prev struct {
				Digest string `json:"sbom_digest"`
			}
			if json.Unmarshal([]byte(r.Summary), &prev) == nil && prev.Digest != "" && prev.Digest != d {
				if err := s.Registry.DeleteManifest(ctx, r.Repository, prev.Digest); err != nil {
					s.Log.Warn("delete the previous SBOM accessory", "repository", r.Repository, "digest", prev.Digest, "err", err)
				}
			}
			js, _ := json.Marshal(map[string]string{"sbom_digest": d})
			r.Summary = string(js)
		}
		if r.MimeType != report.MimeSBOM {
			sum, err := Summarize(body)
			if err != nil {
				r.Status, r.StatusText, r.Report = meta.StatusError, err.Error(), ""
				break
			}
			js, _ := json.Marshal(sum)
			r.Severity, r.Summary = sum.Severity, string(js)
		}
	}
	ev, hasEvent := s.endEvent(ctx, r)
	return s.Store.Tx(ctx, func(tx *meta.Tx) error {
		ended, err := tx.FinishScanReport(ctx, r)
		if err == nil && ended && hasEvent {
			tx.Emit(ev)
		}
		return err
	})
}

// endEvent is the event of a scan ending with r's status: ScanCompleted for Success,
// ScanFailed for Error; a stopped scan has none.
func (s *Service) endEvent(ctx context.Context, r meta.ScanReport) (meta.Event, bool) {
	t := events.ScanCompleted
	switch r.Status {
	case meta.StatusSuccess:
	case meta.StatusError:
		t = events.ScanFailed
	default:
		return meta.Event{}, false
	}
	typ := TypeVulnerability
	if r.MimeType == report.MimeSBOM {
		typ = TypeSBOM
	}
	return events.OfRepository(ctx, t, s.projectIDOf(ctx, r.Repository), r.Repository, r.Repository+"@"+r.Digest,
		events.Scan{Repository: r.Repository, Digest: r.Digest, Scanner: r.RegistrationUUID, Type: typ,
			Status: r.Status, Severity: r.Severity, Message: r.StatusText}), true
}

// projectIDOf is the id of a repository's project; 0 when it has none (any more).
func (s *Service) projectIDOf(ctx context.Context, repo string) int64 {
	name, err := registry.ValidateRepository(repo)
	if err != nil {
		return 0
	}
	p, err := s.Store.LookupProject(ctx, name)
	if err != nil {
		return 0
	}
	return p.ID
}

// firstReport returns the report of the row's type: a vulnerability row takes either version.
func firstReport(res report.Result, mime string) []byte {
	if b, ok := res.Reports[mime]; ok {
		return b
	}
	if mime != report.MimeSBOM {
		for _, m := range []string{report.MimeGeneric, report.MimeNative} {
			if b, ok := res.Reports[m]; ok {
				return b
			}
		}
	}
	return nil
}

// Re-matching: a new vulnerability database updates every built-in report from the stored
// inventories, without reading layers.

type rematchArgs struct {
	Generation int64 `json:"generation"`
}

func (rematchArgs) Kind() string { return "scan_rematch" }

type rematchWorker struct {
	jobs.WorkerDefaults[rematchArgs]
	s *Service
}

func (w *rematchWorker) Work(ctx context.Context, job *jobs.Job[rematchArgs]) error {
	s := w.s
	builtin, err := s.builtinScanner(ctx)
	if err != nil {
		return err
	}
	gen, err := s.VulnDB.Generation(ctx)
	if err != nil || gen == 0 {
		return err
	}
	after, n := "", 0
	for {
		batch, err := s.Store.StaleBuiltinReports(ctx, builtin.UUID, gen, after, 100)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, r := range batch {
			after = r.ID
			if r.MimeType == report.MimeSBOM {
				continue
			}
			if err := s.rematch(ctx, r); err != nil {
				s.Log.Warn("re-match report", "report", r.ID, "digest", r.Digest, "err", err)
				continue
			}
			n++
		}
	}
	s.Log.Info("re-matched stored inventories against the new vulnerability database", "generation", gen, "reports", n)
	return s.rescanAwaitingDatabase(ctx, builtin)
}

// rescanAwaitingDatabase runs again the built-in scans that ended for want of a vulnerability
// database: their inventories are stored, so each only matches. Each ends as any scan does,
// with its event.
func (s *Service) rescanAwaitingDatabase(ctx context.Context, builtin Scanner) error {
	after, n := "", 0
	for {
		batch, err := s.Store.ScanReportsEndedWith(ctx, builtin.UUID, report.MimeGeneric, meta.StatusError, vulndb.ErrNoDatabase.Error(), after, 100)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, r := range batch {
			after = r.ID
			if _, err := s.prepare(ctx, builtin, r.Repository, r.Digest, TypeVulnerability, true); err != nil {
				s.Log.Warn("scan again now that a vulnerability database is there", "repository", r.Repository, "digest", r.Digest, "err", err)
				continue
			}
			n++
		}
	}
	if n > 0 {
		s.Log.Info("scanning again what waited for a vulnerability database", "reports", n)
	}
	return nil
}

func (s *Service) rematch(ctx context.Context, r meta.ScanReport) error {
	res, err := s.Builtin.Scan(ctx, report.Request{Artifact: report.Artifact{Repository: r.Repository, Digest: r.Digest},
		Want: []string{report.MimeGeneric}})
	if err != nil {
		return err
	}
	body := res.Reports[report.MimeGeneric]
	sum, err := Summarize(body)
	if err != nil {
		return err
	}
	js, _ := json.Marshal(sum)
	prev := r.Generation
	r.Report, r.Summary, r.Severity, r.Generation = string(body), string(js), sum.Severity, res.Generation
	return s.Store.RematchScanReport(ctx, r, prev)
}

// builtinScanner finds the built-in scanner's registration.
func (s *Service) builtinScanner(ctx context.Context) (Scanner, error) {
	return s.Scanners.ByUUID(ctx, BuiltinUUID)
}

// BuiltinUUID is the registration id of the built-in scanner.
const BuiltinUUID = "berth-builtin"
