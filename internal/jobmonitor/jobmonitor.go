// Package jobmonitor holds the rules of Harbor's job service monitor (/jobservice/…,
// /schedules) over Berth's job queue (internal/jobs): who may look at and act on the queues,
// pools, workers, jobs and schedules, and how Berth's kinds of job read as Harbor's job types
// (GARBAGE_COLLECTION, IMAGE_SCAN, SCHEDULER, …).
package jobmonitor

import (
	"context"
	"errors"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/rbac"
)

// Queue is what the monitor reads and acts on; *jobs.Queue satisfies it.
type Queue interface {
	Kinds() []string
	Queues(ctx context.Context) ([]jobs.KindQueue, error)
	Pause(ctx context.Context, kinds ...string) error
	Resume(ctx context.Context, kinds ...string) error
	Paused(ctx context.Context, kind string) (bool, error)
	StopWaiting(ctx context.Context, kinds ...string) (int, error)
	StopJob(ctx context.Context, id int64) error
	StopRunning(ctx context.Context) error
	JobLog(ctx context.Context, id int64) (string, error)
	Pools(ctx context.Context) ([]jobs.Pool, error)
	Workers(ctx context.Context, poolID string) ([]jobs.PoolWorker, error)
	Schedules(ctx context.Context) ([]jobs.NamedSchedule, error)
}

// Service answers the job service monitor's requests. Everything but the schedules' paused
// status needs jobservice-monitor permissions at system level (system administrators, and
// system robots granted them): list to look, stop to act — as Harbor's handlers require.
type Service struct {
	Queue Queue
	Authz *rbac.Authorizer
}

// All stands for every job type, pool or running job, as in Harbor's paths.
const All = "all"

// scheduleKind is the kind of a schedule's run (internal/jobs), Harbor's SCHEDULER.
const scheduleKind = "schedule"

// harborTypes are Harbor's names of the kinds of job it has too; Berth's own kinds read as
// their names in capitals (VULNDB_UPDATE, SCAN_REMATCH, …).
var harborTypes = map[string]string{
	scheduleKind: "SCHEDULER",
	"gc":         "GARBAGE_COLLECTION",
	"scan":       "IMAGE_SCAN",
	"scan_all":   "SCAN_ALL",
	"retention":  "RETENTION",
}

// JobType is Harbor's name of a kind of job.
func JobType(kind string) string {
	if t, ok := harborTypes[kind]; ok {
		return t
	}
	return strings.ToUpper(kind)
}

// kindsOf resolves a job type of a request (any case; "all" for every kind).
func (s *Service) kindsOf(jobType string) ([]string, error) {
	kinds := s.Queue.Kinds()
	if strings.EqualFold(jobType, All) {
		return kinds, nil
	}
	for _, k := range kinds {
		if strings.EqualFold(JobType(k), jobType) {
			return []string{k}, nil
		}
	}
	return nil, fault.NotFoundf("job type %q not found", jobType)
}

// JobQueue is the queue of one job type: the jobs ready to run that wait for a worker, how
// long the oldest has waited, and whether the type is paused.
type JobQueue struct {
	JobType string
	Count   int64
	Latency time.Duration
	Paused  bool
}

// Queues lists the queue of every job type, by type.
func (s *Service) Queues(ctx context.Context) ([]JobQueue, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResJobServiceMonitor, rbac.ActList); err != nil {
		return nil, err
	}
	qs, err := s.Queue.Queues(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]JobQueue, len(qs))
	for i, q := range qs {
		out[i] = JobQueue{JobType: JobType(q.Kind), Count: q.Waiting, Latency: q.Latency, Paused: q.Paused}
	}
	slices.SortFunc(out, func(a, b JobQueue) int { return strings.Compare(a.JobType, b.JobType) })
	return out, nil
}

// Actions on a queue (Harbor's ActionRequest).
const (
	ActionStop   = "stop"
	ActionPause  = "pause"
	ActionResume = "resume"
)

// Act does an action to the queue of a job type ("all": every type): stop cancels the jobs
// that wait to run and ends what they would have done as stopped; pause keeps every process
// from taking the type's jobs, which wait, until resume.
func (s *Service) Act(ctx context.Context, jobType, action string) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResJobServiceMonitor, rbac.ActStop); err != nil {
		return err
	}
	action = strings.ToLower(action)
	if action != ActionStop && action != ActionPause && action != ActionResume {
		return fault.Invalidf("the action %q is not supported: stop, pause or resume", action)
	}
	kinds, err := s.kindsOf(jobType)
	if err != nil {
		return err
	}
	switch action {
	case ActionPause:
		return s.Queue.Pause(ctx, kinds...)
	case ActionResume:
		return s.Queue.Resume(ctx, kinds...)
	}
	_, err = s.Queue.StopWaiting(ctx, kinds...)
	return err
}

// Pools lists the processes working jobs.
func (s *Service) Pools(ctx context.Context) ([]jobs.Pool, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResJobServiceMonitor, rbac.ActList); err != nil {
		return nil, err
	}
	return s.Queue.Pools(ctx)
}

// Worker is a pool's worker, its job named as Harbor names jobs.
type Worker struct {
	jobs.PoolWorker
	JobType string // "" when idle
}

// Workers lists the workers of a pool ("all": of every pool).
func (s *Service) Workers(ctx context.Context, poolID string) ([]Worker, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResJobServiceMonitor, rbac.ActList); err != nil {
		return nil, err
	}
	if strings.EqualFold(poolID, All) {
		poolID = ""
	}
	ws, err := s.Queue.Workers(ctx, poolID)
	if errors.Is(err, jobs.ErrNoSuchPool) {
		return nil, fault.NotFoundf("pool %q not found", poolID)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Worker, len(ws))
	for i, w := range ws {
		out[i] = Worker{PoolWorker: w}
		if w.JobID != 0 {
			out[i].JobType = JobType(w.JobKind)
		}
	}
	return out, nil
}

// jobID reads a job id of a request; anything but a job id the queue gave is not found.
func jobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.NotFoundf("job %q not found", s)
	}
	return id, nil
}

func jobNotFound(err error, id string) error {
	if errors.Is(err, jobs.ErrNoSuchJob) {
		return fault.NotFoundf("job %q not found", id)
	}
	return err
}

// StopJob stops a job ("all": every running job). A job that has finished is left as it is.
func (s *Service) StopJob(ctx context.Context, id string) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResJobServiceMonitor, rbac.ActStop); err != nil {
		return err
	}
	if strings.EqualFold(id, All) {
		return s.Queue.StopRunning(ctx)
	}
	n, err := jobID(id)
	if err != nil {
		return err
	}
	return jobNotFound(s.Queue.StopJob(ctx, n), id)
}

// JobLog returns a job's log.
func (s *Service) JobLog(ctx context.Context, id string) (string, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResJobServiceMonitor, rbac.ActList); err != nil {
		return "", err
	}
	n, err := jobID(id)
	if err != nil {
		return "", err
	}
	log, err := s.Queue.JobLog(ctx, n)
	return log, jobNotFound(err, id)
}

// ScheduleTask is a schedule as Harbor lists schedules: what it runs (VendorType, and
// VendorID, the policy of a retention schedule, -1 for system-wide work), its cron and when
// it last changed. ID is a number derived from the schedule's name, the same for the same
// schedule on every replica and after restarts (Berth names schedules rather than numbering
// them).
type ScheduleTask struct {
	ID         int64
	VendorType string
	VendorID   int64
	Cron       string
	UpdateTime time.Time
}

// Schedules returns one page of the schedules (limit 0 or less: all from offset on), by name,
// and their total.
func (s *Service) Schedules(ctx context.Context, offset, limit int) ([]ScheduleTask, int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResJobServiceMonitor, rbac.ActList); err != nil {
		return nil, 0, err
	}
	all, err := s.Queue.Schedules(ctx)
	if err != nil {
		return nil, 0, err
	}
	total := int64(len(all))
	all = all[min(offset, len(all)):]
	if limit > 0 {
		all = all[:min(limit, len(all))]
	}
	out := make([]ScheduleTask, len(all))
	for i, sc := range all {
		prefix, ref, _ := strings.Cut(sc.Name, ":")
		vendorID, err := strconv.ParseInt(ref, 10, 64)
		if err != nil {
			vendorID = -1
		}
		out[i] = ScheduleTask{ID: int64(crc32.ChecksumIEEE([]byte(sc.Name)) & 0x7fffffff), VendorType: JobType(prefix),
			VendorID: vendorID, Cron: sc.Cron, UpdateTime: sc.Updated}
	}
	return out, total, nil
}

// SchedulesPaused reports whether schedules are paused: whether SCHEDULER, the kind of a
// schedule's runs, is. Harbor asks only for every job type ("all"), of any signed-in caller.
func (s *Service) SchedulesPaused(ctx context.Context, jobType string) (bool, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return false, err
	}
	if !strings.EqualFold(jobType, All) {
		return false, fault.Invalidf("job_type can only be 'all'")
	}
	return s.Queue.Paused(ctx, scheduleKind)
}
