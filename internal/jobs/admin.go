package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berthreg/berth/internal/meta"
)

// The administration of the queue, which Harbor calls the job service monitor: what waits to
// run, by kind; pausing and resuming kinds (pause.go); stopping queued and running jobs; the
// processes working jobs and what each works on; a job's log.

// ErrUnknownKind is a kind of job no worker is registered for.
var ErrUnknownKind = errors.New("unknown kind of job")

// ErrNoSuchJob is a job id the queue does not know (never queued, or cleaned up).
var ErrNoSuchJob = errors.New("no such job")

// ErrNoSuchPool is a pool that is not working jobs.
var ErrNoSuchPool = errors.New("no such pool")

// Record is how a kind of job keeps the record the API shows of it (an execution, a scan
// report), for the administration of the queue.
type Record struct {
	// Stop ends the record of a job stopped from outside: one that had not started (its job
	// is cancelled in the same transaction) ends as stopped; one that runs is asked to stop,
	// and its worker ends it at its next check.
	Stop func(ctx context.Context, tx *meta.Tx, jobID int64, args json.RawMessage) error
	// Log returns the record's log; nil when the record keeps none.
	Log func(ctx context.Context, args json.RawMessage) (string, error)
}

// Track tells the queue how jobs of a kind keep their record. Call before Start.
func (q *Queue) Track(kind string, r Record) {
	q.regMu.Lock()
	defer q.regMu.Unlock()
	q.records[kind] = r
}

func (q *Queue) record(kind string) Record {
	q.regMu.Lock()
	defer q.regMu.Unlock()
	return q.records[kind]
}

// ExecutionLogs reads an execution's log; *meta.DB satisfies it.
type ExecutionLogs interface {
	ExecutionLog(ctx context.Context, id int64) (string, error)
}

// executionOf reads the execution a job runs from its arguments ({"execution_id": n}).
func executionOf(args json.RawMessage) (int64, error) {
	var a struct {
		ExecutionID int64 `json:"execution_id"`
	}
	if err := json.Unmarshal(args, &a); err != nil || a.ExecutionID == 0 {
		return 0, fmt.Errorf("job arguments %s name no execution", args)
	}
	return a.ExecutionID, nil
}

// StopExecution is the Stop of the jobs that run an execution, whose arguments name it
// ({"execution_id": n}): a pending execution ends as stopped, a running one is asked to stop.
func StopExecution(ctx context.Context, tx *meta.Tx, _ int64, args json.RawMessage) error {
	id, err := executionOf(args)
	if err != nil {
		return err
	}
	_, err = tx.RequestExecutionStop(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	return err
}

// ExecutionRecord is the Record of the jobs that run an execution (garbage collections,
// scan-all): StopExecution, and the execution's log.
func ExecutionRecord(logs ExecutionLogs) Record {
	return Record{
		Stop: StopExecution,
		Log: func(ctx context.Context, args json.RawMessage) (string, error) {
			id, err := executionOf(args)
			if err != nil {
				return "", err
			}
			s, err := logs.ExecutionLog(ctx, id)
			if errors.Is(err, meta.ErrNotFound) {
				return "", nil
			}
			return s, err
		},
	}
}

// Kinds returns the kinds of job workers are registered for, sorted.
func (q *Queue) Kinds() []string { return q.knownKinds() }

func (q *Queue) knownKinds() []string {
	q.regMu.Lock()
	defer q.regMu.Unlock()
	out := make([]string, 0, len(q.kinds))
	for k := range q.kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkKinds refuses kinds no worker is registered for.
func (q *Queue) checkKinds(kinds []string) error {
	q.regMu.Lock()
	defer q.regMu.Unlock()
	for _, k := range kinds {
		if !q.kinds[k] {
			return fmt.Errorf("%w: %q", ErrUnknownKind, k)
		}
	}
	return nil
}

// KindQueue is the queue of one kind of job: how many jobs are ready to run and wait for a
// worker (jobs scheduled for later, as a schedule's next run, are not counted), how long the
// oldest of them has waited, and whether the kind is paused.
type KindQueue struct {
	Kind    string
	Waiting int64
	Latency time.Duration
	Paused  bool
}

// Queues returns the queue of every registered kind, by kind.
func (q *Queue) Queues(ctx context.Context) ([]KindQueue, error) {
	waiting, err := q.db.WaitingJobs(ctx)
	if err != nil {
		return nil, err
	}
	paused, err := q.db.PausedJobKinds(ctx)
	if err != nil {
		return nil, err
	}
	kinds := q.knownKinds()
	out := make([]KindQueue, len(kinds))
	for i, k := range kinds {
		_, p := paused[k]
		out[i] = KindQueue{Kind: k, Waiting: waiting[k].Count, Latency: waiting[k].Oldest, Paused: p}
	}
	return out, nil
}

// Pause stops every process from taking jobs of the kinds until they are resumed.
func (q *Queue) Pause(ctx context.Context, kinds ...string) error {
	return q.setPaused(ctx, kinds, true)
}

// Resume lets processes take jobs of the kinds again.
func (q *Queue) Resume(ctx context.Context, kinds ...string) error {
	return q.setPaused(ctx, kinds, false)
}

func (q *Queue) setPaused(ctx context.Context, kinds []string, paused bool) error {
	if err := q.checkKinds(kinds); err != nil {
		return err
	}
	if err := q.db.SetJobKindsPaused(ctx, kinds, paused); err != nil {
		return err
	}
	q.pauses.forget()
	return nil
}

// Paused reports whether a kind is paused.
func (q *Queue) Paused(ctx context.Context, kind string) (bool, error) {
	p, err := q.db.PausedJobKinds(ctx)
	if err != nil {
		return false, err
	}
	_, ok := p[kind]
	return ok, nil
}

// waitingStates are the states of the jobs that wait to run: ready (available), or failed and
// waiting for their next attempt (retryable).
var waitingStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStateRetryable}

// stopBatch is how many jobs one transaction of StopWaiting cancels.
const stopBatch = 500

// StopWaiting cancels the jobs of the kinds that wait to run (ready, or waiting for a retry;
// not those scheduled for later) and ends their records as stopped. It returns how many it
// cancelled.
func (q *Queue) StopWaiting(ctx context.Context, kinds ...string) (int, error) {
	if err := q.checkKinds(kinds); err != nil {
		return 0, err
	}
	if len(kinds) == 0 {
		return 0, nil
	}
	total := 0
	for {
		var n int
		err := q.db.Tx(ctx, func(tx *meta.Tx) error {
			res, err := q.client.JobListTx(ctx, tx.SQL(), river.NewJobListParams().Kinds(kinds...).States(waitingStates...).First(stopBatch))
			if err != nil {
				return err
			}
			n = len(res.Jobs)
			for _, j := range res.Jobs {
				if err := q.cancelTx(ctx, tx, j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("stop waiting jobs: %w", err)
		}
		total += n
		if n < stopBatch {
			return total, nil
		}
	}
}

// cancelTx cancels a job that has not started and ends its record.
func (q *Queue) cancelTx(ctx context.Context, tx *meta.Tx, j *rivertype.JobRow) error {
	if _, err := q.client.JobCancelTx(ctx, tx.SQL(), j.ID); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("cancel job %d: %w", j.ID, err)
	}
	if r := q.record(j.Kind); r.Stop != nil {
		return r.Stop(ctx, tx, j.ID, j.EncodedArgs)
	}
	return nil
}

// StopJob stops one job: a job that has not started is cancelled and its record ends as
// stopped; a running one is asked to stop through its record (its worker stops at its next
// check and records it), or, for a kind that keeps no record, its work is cancelled. A job
// that has finished is left as it is. ErrNoSuchJob when the queue does not know the job.
func (q *Queue) StopJob(ctx context.Context, id int64) error {
	j, err := q.client.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("%w: %d", ErrNoSuchJob, id)
	}
	if err != nil {
		return err
	}
	switch j.State {
	case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		return nil
	case rivertype.JobStateRunning:
		r := q.record(j.Kind)
		if r.Stop == nil {
			return q.Cancel(ctx, id)
		}
		return q.db.Tx(ctx, func(tx *meta.Tx) error { return r.Stop(ctx, tx, j.ID, j.EncodedArgs) })
	}
	return q.db.Tx(ctx, func(tx *meta.Tx) error { return q.cancelTx(ctx, tx, j) })
}

// StopRunning stops every running job, as StopJob does.
func (q *Queue) StopRunning(ctx context.Context) error {
	running, err := q.running(ctx)
	if err != nil {
		return err
	}
	for _, j := range running {
		if err := q.StopJob(ctx, j.ID); err != nil && !errors.Is(err, ErrNoSuchJob) {
			return err
		}
	}
	return nil
}

// maxRunning bounds the running jobs read at once: far more than the workers of any
// deployment.
const maxRunning = 10000

func (q *Queue) running(ctx context.Context) ([]*rivertype.JobRow, error) {
	res, err := q.client.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateRunning).First(maxRunning))
	if err != nil {
		return nil, fmt.Errorf("running jobs: %w", err)
	}
	return res.Jobs, nil
}

// JobLog returns a job's log: what the queue knows of it (when it was queued, its attempts
// and their errors, how it ended), followed by its record's log. ErrNoSuchJob when the queue
// does not know the job.
func (q *Queue) JobLog(ctx context.Context, id int64) (string, error) {
	j, err := q.client.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return "", fmt.Errorf("%w: %d", ErrNoSuchJob, id)
	}
	if err != nil {
		return "", err
	}
	var b strings.Builder
	line := func(t time.Time, format string, args ...any) {
		b.WriteString(t.UTC().Format("2006-01-02T15:04:05Z "))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line(j.CreatedAt, "queued %s job %d, to run from %s", j.Kind, j.ID, j.ScheduledAt.UTC().Format(time.RFC3339))
	for _, e := range j.Errors {
		line(e.At, "attempt %d failed: %s", e.Attempt, e.Error)
	}
	if j.AttemptedAt != nil {
		by := ""
		if n := len(j.AttemptedBy); n > 0 {
			by = " in " + j.AttemptedBy[n-1]
		}
		line(*j.AttemptedAt, "attempt %d started%s", j.Attempt, by)
	}
	end := time.Now()
	if j.FinalizedAt != nil {
		end = *j.FinalizedAt
	}
	line(end, "%s", j.State)
	if r := q.record(j.Kind); r.Log != nil {
		s, err := r.Log(ctx, j.EncodedArgs)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// Pools: every process working jobs keeps a row alive while it does.

// Pool is a process working jobs: its name in the queue (River's client id), where it runs,
// how many jobs it works at once, when it started and when it last showed it is alive.
type Pool struct {
	ID          string
	Host        string
	PID         int64
	Concurrency int
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// keepPool records this process's pool and keeps it alive until the returned function is
// called, which removes it. Pools whose process died long ago are cleaned up here.
func (q *Queue) keepPool(ctx context.Context) (stop func()) {
	host, _ := os.Hostname()
	id := q.client.ID()
	now := time.Now()
	if err := q.db.DeleteJobPools(ctx, id, now.Add(-time.Hour)); err != nil {
		q.log.Warn("job queue: clean up pools", "err", err)
	}
	p := meta.JobPool{ID: id, Host: host, PID: int64(os.Getpid()), Concurrency: q.opt.Workers, StartedAt: now}
	if err := q.db.PutJobPool(ctx, p); err != nil {
		q.log.Warn("job queue: record pool", "err", err)
	}
	beats := every(ctx, heartbeat, func(ctx context.Context) {
		if err := q.db.TouchJobPool(ctx, id); err != nil && ctx.Err() == nil {
			q.log.Warn("job queue: pool heartbeat", "err", err)
		}
	})
	return func() {
		beats()
		if err := q.db.DeleteJobPools(context.Background(), id, time.Now().Add(-time.Hour)); err != nil {
			q.log.Warn("job queue: remove pool", "err", err)
		}
	}
}

// Pools returns the pools of the processes working jobs now (those that showed they are
// alive within the last three heartbeats).
func (q *Queue) Pools(ctx context.Context) ([]Pool, error) {
	ps, err := q.db.JobPools(ctx, time.Now().Add(-staleAfter))
	if err != nil {
		return nil, err
	}
	out := make([]Pool, len(ps))
	for i, p := range ps {
		out[i] = Pool(p)
	}
	return out, nil
}

// PoolWorker is one of a pool's workers: busy with a job (JobID not 0) since StartedAt, or idle.
// A pool has as many workers as it works jobs at once; they are numbered from 1.
type PoolWorker struct {
	ID        string
	PoolID    string
	JobKind   string
	JobID     int64
	StartedAt time.Time
}

// Workers returns the workers of a pool, or of every pool when poolID is "". ErrNoSuchPool
// when no such pool works jobs now.
func (q *Queue) Workers(ctx context.Context, poolID string) ([]PoolWorker, error) {
	pools, err := q.Pools(ctx)
	if err != nil {
		return nil, err
	}
	if poolID != "" {
		pools = slices.DeleteFunc(pools, func(p Pool) bool { return p.ID != poolID })
		if len(pools) == 0 {
			return nil, fmt.Errorf("%w: %q", ErrNoSuchPool, poolID)
		}
	}
	running, err := q.running(ctx)
	if err != nil {
		return nil, err
	}
	byPool := map[string][]*rivertype.JobRow{}
	for _, j := range running {
		if n := len(j.AttemptedBy); n > 0 {
			byPool[j.AttemptedBy[n-1]] = append(byPool[j.AttemptedBy[n-1]], j)
		}
	}
	var out []PoolWorker
	for _, p := range pools {
		busy := byPool[p.ID]
		slices.SortFunc(busy, func(a, b *rivertype.JobRow) int { return a.AttemptedAt.Compare(*b.AttemptedAt) })
		for i := range max(p.Concurrency, len(busy)) {
			w := PoolWorker{ID: fmt.Sprintf("%s-%d", p.ID, i+1), PoolID: p.ID}
			if i < len(busy) {
				w.JobKind, w.JobID, w.StartedAt = busy[i].Kind, busy[i].ID, *busy[i].AttemptedAt
			}
			out = append(out, w)
		}
	}
	return out, nil
}

// NamedSchedule is a stored schedule with its name ("gc", "retention:<policy id>", ...).
type NamedSchedule struct {
	Name string
	Schedule
}

// Schedules returns every stored schedule, by name.
func (q *Queue) Schedules(ctx context.Context) ([]NamedSchedule, error) {
	all, err := q.db.Schedules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NamedSchedule, len(all))
	for i, st := range all {
		out[i] = NamedSchedule{Name: st.Name, Schedule: Schedule{Type: st.Type, Cron: st.Cron, Params: json.RawMessage(st.Params),
			NextAt: st.NextAt, Created: st.CreatedAt, Updated: st.UpdatedAt}}
	}
	return out, nil
}
