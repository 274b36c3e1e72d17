package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

func start(t *testing.T, q *jobs.Queue) {
	t.Helper()
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		q.Stop(stopCtx)
	})
}

// nothingRuns fails if w works a job within d.
func nothingRuns(t *testing.T, w *echoWorker, d time.Duration) {
	t.Helper()
	select {
	case tag := <-w.done:
		t.Fatalf("job %q ran", tag)
	case <-time.After(d):
	}
}

func kindQueue(t *testing.T, q *jobs.Queue, kind string) jobs.KindQueue {
	t.Helper()
	qs, err := q.Queues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range qs {
		if k.Kind == kind {
			return k
		}
	}
	t.Fatalf("no queue of %q in %+v", kind, qs)
	return jobs.KindQueue{}
}

// TestPausedKindWaits: a paused kind's jobs are queued but no process takes them — not one
// that starts after the pause (a restart, another replica), not one that was running — until
// the kind is resumed from any process; other kinds run meanwhile.
func TestPausedKindWaits(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		admin, _ := newQueue(t, db) // never started: another replica's API
		running, w1 := newQueue(t, db)
		start(t, running)

		if err := admin.Pause(ctx, "echo"); err != nil {
			t.Fatal(err)
		}
		if err := admin.Pause(ctx, "nosuch"); !errors.Is(err, jobs.ErrUnknownKind) {
			t.Fatalf("pausing an unknown kind: %v", err)
		}
		// The running process reads pauses at most a second old.
		time.Sleep(1500 * time.Millisecond)
		if _, err := admin.Insert(ctx, echoArgs{Tag: "while-paused"}, nil); err != nil {
			t.Fatal(err)
		}
		nothingRuns(t, w1, 2*time.Second)
		k := kindQueue(t, admin, "echo")
		if !k.Paused || k.Waiting != 1 || k.Latency < time.Second {
			t.Fatalf("queue of a paused kind with a job waiting for 2 s: %+v", k)
		}
		if s := kindQueue(t, admin, "schedule"); s.Paused || s.Waiting != 0 {
			t.Fatalf("queue of another kind: %+v", s)
		}

		// A process started after the pause honours it too.
		restarted, w2 := newQueue(t, db)
		start(t, restarted)
		nothingRuns(t, w2, 1500*time.Millisecond)

		if err := admin.Resume(ctx, "echo"); err != nil {
			t.Fatal(err)
		}
		select {
		case tag := <-w1.done:
			if tag != "while-paused" {
				t.Fatalf("ran %q", tag)
			}
		case tag := <-w2.done:
			if tag != "while-paused" {
				t.Fatalf("ran %q", tag)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the resumed kind's job never ran")
		}
		if k := kindQueue(t, admin, "echo"); k.Paused || k.Waiting != 0 {
			t.Fatalf("queue after resume and run: %+v", k)
		}
	})
}

// recordArgs is a job that runs an execution, tracked with jobs.ExecutionRecord.
type recordArgs struct {
	ExecutionID int64 `json:"execution_id"`
}

func (recordArgs) Kind() string { return "recorded" }

// blockingWorker runs until its job is cancelled or its execution is asked to stop.
type blockingWorker struct {
	jobs.WorkerDefaults[recordArgs]
	db      *meta.DB
	started chan int64
	ended   chan string
}

func (w *blockingWorker) Work(ctx context.Context, job *jobs.Job[recordArgs]) error {
	w.started <- job.ID
	for {
		select {
		case <-ctx.Done():
			w.ended <- "cancelled"
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if stop, _ := w.db.StopRequested(ctx, job.Args.ExecutionID); stop {
			w.db.SetExecutionStatus(context.Background(), job.Args.ExecutionID, meta.StatusStopped, "")
			w.ended <- "stopped"
			return nil
		}
	}
}

func newRecordedQueue(t *testing.T, db *meta.DB) (*jobs.Queue, *blockingWorker) {
	q, _ := newQueue(t, db)
	w := &blockingWorker{db: db, started: make(chan int64, 4), ended: make(chan string, 4)}
	jobs.Register(q, w)
	q.Track(recordArgs{}.Kind(), jobs.ExecutionRecord(db))
	return q, w
}

func execution(t *testing.T, db *meta.DB, log string) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := db.CreateExecution(ctx, meta.Execution{Kind: "recorded", Trigger: "MANUAL"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendExecutionLog(ctx, id, log); err != nil {
		t.Fatal(err)
	}
	return id
}

func status(t *testing.T, db *meta.DB, id int64) string {
	t.Helper()
	e, err := db.Execution(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e.Status
}

// TestStopWaitingJobs: stopping a kind's waiting jobs cancels them and ends their records as
// stopped; jobs of other kinds and jobs scheduled for later stay.
func TestStopWaitingJobs(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		q, w := newRecordedQueue(t, db)
		if err := q.Pause(ctx, "recorded", "echo"); err != nil {
			t.Fatal(err)
		}
		var execs []int64
		for range 3 {
			e := execution(t, db, "")
			execs = append(execs, e)
			if _, err := q.Insert(ctx, recordArgs{ExecutionID: e}, nil); err != nil {
				t.Fatal(err)
			}
		}
		later := execution(t, db, "")
		if _, err := q.Insert(ctx, recordArgs{ExecutionID: later}, &jobs.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Insert(ctx, echoArgs{Tag: "other kind"}, nil); err != nil {
			t.Fatal(err)
		}
		if k := kindQueue(t, q, "recorded"); k.Waiting != 3 {
			t.Fatalf("waiting before the stop: %+v", k)
		}
		n, err := q.StopWaiting(ctx, "recorded")
		if err != nil || n != 3 {
			t.Fatalf("StopWaiting = %d, %v; want 3", n, err)
		}
		if k := kindQueue(t, q, "recorded"); k.Waiting != 0 {
			t.Fatalf("waiting after the stop: %+v", k)
		}
		if k := kindQueue(t, q, "echo"); k.Waiting != 1 {
			t.Fatalf("another kind's queue after the stop: %+v", k)
		}
		for _, e := range execs {
			if s := status(t, db, e); s != meta.StatusStopped {
				t.Errorf("execution %d of a stopped job: %s", e, s)
			}
		}
		if s := status(t, db, later); s != meta.StatusPending {
			t.Errorf("execution of a job scheduled for later: %s", s)
		}
		if _, err := q.StopWaiting(ctx, "nosuch"); !errors.Is(err, jobs.ErrUnknownKind) {
			t.Fatalf("stopping an unknown kind: %v", err)
		}
		// Resumed, nothing of what was stopped runs.
		if err := q.Resume(ctx, "recorded"); err != nil {
			t.Fatal(err)
		}
		start(t, q)
		select {
		case id := <-w.started:
			t.Fatalf("stopped job %d ran", id)
		case <-time.After(2 * time.Second):
		}
	})
}

// TestStopJob: a job that has not started is cancelled with its record; a running job with a
// record is asked to stop through it (its worker ends it as stopped); one without a record is
// cancelled. Pools and workers show the process and what it runs; a job's log tells its story
// and carries its record's log.
func TestStopJob(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		q, w := newRecordedQueue(t, db)

		queued := execution(t, db, "")
		qid, err := q.Insert(ctx, recordArgs{ExecutionID: queued}, &jobs.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.StopJob(ctx, qid); err != nil {
			t.Fatal(err)
		}
		if s := status(t, db, queued); s != meta.StatusStopped {
			t.Fatalf("execution of a stopped queued job: %s", s)
		}
		if err := q.StopJob(ctx, qid); err != nil {
			t.Fatalf("stopping a cancelled job again: %v", err)
		}
		if err := q.StopJob(ctx, 1<<40); !errors.Is(err, jobs.ErrNoSuchJob) {
			t.Fatalf("stopping an unknown job: %v", err)
		}

		start(t, q)
		pools, err := q.Pools(ctx)
		if err != nil || len(pools) != 1 || pools[0].Concurrency != 4 || pools[0].PID == 0 {
			t.Fatalf("pools of one started queue: %+v, %v", pools, err)
		}
		running := execution(t, db, "collected 3 blobs\n")
		rid, err := q.Insert(ctx, recordArgs{ExecutionID: running}, nil)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-w.started:
			if id != rid {
				t.Fatalf("started job %d, want %d", id, rid)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the job never started")
		}
		workers, err := q.Workers(ctx, pools[0].ID)
		if err != nil || len(workers) != 4 {
			t.Fatalf("workers: %+v, %v", workers, err)
		}
		if workers[0].JobID != rid || workers[0].JobKind != "recorded" || workers[0].StartedAt.IsZero() || workers[1].JobID != 0 {
			t.Fatalf("workers while one job runs: %+v", workers)
		}
		if _, err := q.Workers(ctx, "nosuch"); !errors.Is(err, jobs.ErrNoSuchPool) {
			t.Fatalf("workers of an unknown pool: %v", err)
		}
		if err := q.StopJob(ctx, rid); err != nil {
			t.Fatal(err)
		}
		select {
		case how := <-w.ended:
			if how != "stopped" {
				t.Fatalf("the running job was %s, want stopped through its execution", how)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the running job never stopped")
		}
		log, err := q.JobLog(ctx, rid)
		if err != nil || !strings.Contains(log, "queued recorded job") || !strings.Contains(log, "attempt 1 started in "+pools[0].ID) ||
			!strings.HasSuffix(log, "collected 3 blobs\n") {
			t.Fatalf("job log:\n%s(%v)", log, err)
		}
		if _, err := q.JobLog(ctx, 1<<40); !errors.Is(err, jobs.ErrNoSuchJob) {
			t.Fatalf("log of an unknown job: %v", err)
		}

		// A kind without a record: its running job is cancelled.
		q.Track("recorded", jobs.Record{})
		other := execution(t, db, "")
		oid, err := q.Insert(ctx, recordArgs{ExecutionID: other}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-w.started
		if err := q.StopRunning(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case how := <-w.ended:
			if how != "cancelled" {
				t.Fatalf("the running job was %s, want cancelled", how)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("running job %d never stopped", oid)
		}
	})
}

// TestStoppedScheduleRunIsSkipped: stopping a schedule's due run skips that run and queues
// the next one.
func TestStoppedScheduleRunIsSkipped(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		q, w := newQueue(t, db)
		if err := q.Pause(ctx, "schedule"); err != nil {
			t.Fatal(err)
		}
		start(t, q)
		cron := soonCron()
		if err := q.SetSchedule(ctx, "echo", jobs.TypeCustom, cron, json.RawMessage(`{"tag":"scheduled"}`)); err != nil {
			t.Fatal(err)
		}
		before, _, err := q.GetSchedule(ctx, "echo")
		if err != nil {
			t.Fatal(err)
		}
		// The run comes due, and waits.
		deadline := time.Now().Add(20 * time.Second)
		for kindQueue(t, q, "schedule").Waiting == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the schedule's run never came due")
			}
			time.Sleep(200 * time.Millisecond)
		}
		if n, err := q.StopWaiting(ctx, "schedule"); err != nil || n != 1 {
			t.Fatalf("StopWaiting(schedule) = %d, %v", n, err)
		}
		after, _, err := q.GetSchedule(ctx, "echo")
		if err != nil || !after.NextAt.After(before.NextAt) {
			t.Fatalf("schedule after its run was stopped: %+v (was %+v), %v", after, before, err)
		}
		all, err := q.Schedules(ctx)
		if err != nil || len(all) != 1 || all[0].Name != "echo" || all[0].Cron != cron {
			t.Fatalf("schedules: %+v, %v", all, err)
		}
		if err := q.Resume(ctx, "schedule"); err != nil {
			t.Fatal(err)
		}
		// The next run is a minute away (schedules run at most once a minute): set the schedule
		// again so that its next run comes within seconds, and see it worked.
		if err := q.SetSchedule(ctx, "echo", jobs.TypeCustom, soonCron(), json.RawMessage(`{"tag":"scheduled"}`)); err != nil {
			t.Fatal(err)
		}
		wait(t, w, "scheduled")
	})
}
