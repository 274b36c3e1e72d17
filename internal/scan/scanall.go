package scan

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Scan all: one job walks every artifact in pages and scans each with its project's scanner,
// a few at a time, inside the job — the queue never holds a job per artifact, and memory does
// not grow with the number of artifacts.

// ScanAllKind names scan-all runs among executions; ScanAllSchedule is their schedule.
const (
	ScanAllKind         = "scan_all"
	ScanAllScheduleName = "scan_all"
)

// ScanAllConcurrency is how many artifacts a scan-all run scans at once.
var ScanAllConcurrency = 2

// Progress is a scan-all run's progress as /scans/all/metrics reports it.
type Progress struct {
	Total     int64          `json:"total"`
	Completed int64          `json:"completed"`
	Metrics   map[string]int `json:"metrics"`
}

type scanAllArgs struct {
	ExecutionID int64 `json:"execution_id"`
}

func (scanAllArgs) Kind() string { return "scan_all" }

// errScanAllRunning refuses a scan-all while another one is going.
var errScanAllRunning = errors.New("a scan-all is already running")

// startScanAll queues a scan of every artifact now and returns the execution id;
// errScanAllRunning while one is going.
func (s *Service) startScanAll(ctx context.Context, trigger string) (int64, error) {
	if e, _, found, err := s.latestScanAll(ctx, ""); err != nil {
		return 0, err
	} else if found && !e.Finished() && !jobs.Stale(e) {
		return 0, errScanAllRunning
	}
	var id int64
	err := s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		id, err = s.queueScanAll(ctx, tx, trigger)
		return err
	})
	return id, err
}

func (s *Service) queueScanAll(ctx context.Context, tx *meta.Tx, trigger string) (int64, error) {
	id, err := tx.CreateExecution(ctx, meta.Execution{Kind: ScanAllKind, Trigger: trigger})
	if err != nil {
		return 0, err
	}
	_, err = s.Jobs.InsertTx(ctx, tx, scanAllArgs{ExecutionID: id}, nil)
	return id, err
}

// ScanAllSchedule returns the recurring scan-all's schedule; ok false when there is none.
func (s *Service) ScanAllSchedule(ctx context.Context) (jobs.Schedule, bool, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanAll, rbac.ActRead); err != nil {
		return jobs.Schedule{}, false, err
	}
	return s.Jobs.GetSchedule(ctx, ScanAllScheduleName)
}

// CreateScanAllSchedule does what a new schedule request asks (see jobs.ApplySchedule): a
// Manual one starts a scan-all now and returns its execution id, and is a conflict while
// another one is going.
func (s *Service) CreateScanAllSchedule(ctx context.Context, typ, cron string) (int64, error) {
	return s.applyScanAllSchedule(ctx, rbac.ActCreate, typ, cron)
}

// UpdateScanAllSchedule does what a schedule request replacing the current one asks, as
// CreateScanAllSchedule.
func (s *Service) UpdateScanAllSchedule(ctx context.Context, typ, cron string) (int64, error) {
	return s.applyScanAllSchedule(ctx, rbac.ActUpdate, typ, cron)
}

func (s *Service) applyScanAllSchedule(ctx context.Context, act rbac.Action, typ, cron string) (int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanAll, act); err != nil {
		return 0, err
	}
	return jobs.ApplySchedule(typ, cron, jobs.ScheduleActions{
		Run: func() (int64, error) {
			id, err := s.startScanAll(ctx, "MANUAL")
			if errors.Is(err, errScanAllRunning) {
				return 0, fault.Conflictf("%s", err.Error())
			}
			return id, err
		},
		Set:    func(typ, cron string) error { return s.Jobs.SetSchedule(ctx, ScanAllScheduleName, typ, cron, nil) },
		Remove: func() error { return s.Jobs.RemoveSchedule(ctx, ScanAllScheduleName) },
	})
}

// StopScanAll stops the running scan-all runs. As in Harbor, it is accepted when the latest
// run has already ended (nothing changes), and refused (Invalid) when there never was one.
func (s *Service) StopScanAll(ctx context.Context) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanAll, rbac.ActStop); err != nil {
		return err
	}
	es, _, err := s.Store.ListExecutions(ctx, ScanAllKind, 0, meta.ListQuery{Limit: 20})
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return fault.Invalidf("no scan all job is found currently")
	}
	for _, e := range es {
		if e.Finished() {
			continue
		}
		if _, err := s.Store.RequestExecutionStop(ctx, e.ID); err != nil {
			return err
		}
	}
	return nil
}

// LatestScanAll returns the newest scan-all execution (of a trigger, when given) and its
// progress; ok false when there was none.
func (s *Service) LatestScanAll(ctx context.Context, trigger string) (meta.Execution, Progress, bool, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanAll, rbac.ActRead); err != nil {
		return meta.Execution{}, Progress{}, false, err
	}
	return s.latestScanAll(ctx, trigger)
}

func (s *Service) latestScanAll(ctx context.Context, trigger string) (meta.Execution, Progress, bool, error) {
	lq := meta.ListQuery{Limit: 1}
	if trigger != "" {
		lq.Filters = []meta.Filter{{Key: "trigger", Op: meta.OpExact, Values: []string{trigger}}}
	}
	es, _, err := s.Store.ListExecutions(ctx, ScanAllKind, 0, lq)
	if err != nil || len(es) == 0 {
		return meta.Execution{}, Progress{}, false, err
	}
	var p Progress
	json.Unmarshal([]byte(es[0].Result), &p)
	if p.Metrics == nil {
		p.Metrics = map[string]int{}
	}
	return es[0], p, true, nil
}

type scanAllWorker struct {
	jobs.WorkerDefaults[scanAllArgs]
	s *Service
}

func (w *scanAllWorker) Work(ctx context.Context, job *jobs.Job[scanAllArgs]) error {
	s := w.s
	id := job.Args.ExecutionID
	e, err := s.Store.Execution(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && e.Finished() {
		return nil
	}
	if err != nil {
		return err
	}
	release, err := jobs.Hold(ctx, s.Store, id)
	if err != nil {
		return err
	}
	defer release()
	if err := s.Store.SetExecutionStatus(ctx, id, meta.StatusRunning, ""); err != nil {
		return err
	}
	total, err := s.Store.CountScannableArtifacts(ctx)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	p := Progress{Total: total, Metrics: map[string]int{}}
	save := func() {
		mu.Lock()
		js, _ := json.Marshal(p)
		mu.Unlock()
		s.Store.SetExecutionResult(context.WithoutCancel(ctx), id, string(js))
	}
	save()
	// A stop request cancels the scans in flight too, not only the ones to come.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs.WatchStop(runCtx, time.Second, func(ctx context.Context) bool {
		req, err := s.Store.StopRequested(ctx, id)
		return err == nil && req
	}, cancel)
	sem := make(chan struct{}, ScanAllConcurrency)
	var wg sync.WaitGroup
	lastSave := time.Now()
	stopped := false
	var after int64
walk:
	for {
		batch, err := s.Store.ScannableArtifacts(runCtx, after, 200)
		if err != nil {
			wg.Wait()
			save()
			if runCtx.Err() != nil && ctx.Err() == nil {
				return s.endScanAll(ctx, id, meta.StatusStopped, "")
			}
			return s.endScanAll(ctx, id, meta.StatusError, err.Error())
		}
		if len(batch) == 0 {
			break
		}
		for _, a := range batch {
			after = a.ID
			if runCtx.Err() != nil {
				stopped = true
				break walk
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				status := s.scanOne(runCtx, a)
				mu.Lock()
				p.Completed++
				p.Metrics[status]++
				mu.Unlock()
			}()
			if time.Since(lastSave) > time.Second {
				save()
				lastSave = time.Now()
			}
		}
	}
	wg.Wait()
	save()
	if stopped {
		return s.endScanAll(ctx, id, meta.StatusStopped, "")
	}
	return s.endScanAll(ctx, id, meta.StatusSuccess, "")
}

func (s *Service) endScanAll(ctx context.Context, id int64, status, text string) error {
	return s.Store.SetExecutionStatus(context.WithoutCancel(ctx), id, status, text)
}

// scanOne scans one artifact for scan-all, synchronously, and returns the outcome's status.
// Artifacts that are not images are skipped (counted as such).
func (s *Service) scanOne(ctx context.Context, a meta.ArtifactRef) string {
	m, err := s.Store.ManifestByDigest(ctx, a.Repository, a.Digest)
	if err != nil {
		return meta.StatusError
	}
	if !Scannable(m.MediaType, configMediaType(m.Payload)) {
		return "Skipped"
	}
	sc, err := s.Scanners.ForProject(ctx, a.ProjectID)
	if err != nil {
		return meta.StatusError
	}
	r, err := s.prepare(ctx, sc, a.Repository, a.Digest, TypeVulnerability, false)
	if err != nil {
		return meta.StatusError
	}
	if r.Status == meta.StatusRunning {
		return meta.StatusRunning // someone else's scan of it is under way
	}
	// Once prepared, the report is carried to an end even when the scan-all is stopped right
	// now: left Pending, with no job to run it, it would hold off every later scan of the
	// artifact ("a scan already pending is left alone").
	if ok, err := s.Store.StartScanReport(context.WithoutCancel(ctx), r.ID); err != nil || !ok {
		if err != nil {
			s.Store.StopScanReport(context.WithoutCancel(ctx), r.ID)
		}
		return meta.StatusStopped
	}
	res, scanErr := s.run(ctx, r)
	if scanErr != nil && ctx.Err() != nil {
		scanErr = errStopped // the scan-all was stopped under it
	}
	if err := s.finish(ctx, r, res, scanErr); err != nil {
		return meta.StatusError
	}
	switch {
	case errors.Is(scanErr, errStopped):
		return meta.StatusStopped
	case scanErr != nil:
		return meta.StatusError
	}
	return meta.StatusSuccess
}
