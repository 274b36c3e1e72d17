// Package jobs runs Berth's background work — garbage collection, retention, scheduled work —
// on a persistent job queue kept in the metadata database (River, with its SQLite or
// PostgreSQL driver), so jobs survive restarts, are retried with backoff and run on whichever
// replica takes them first. It also keeps the cron schedules of recurring work.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/berthreg/berth/internal/meta"
)

// Options tunes the queue; zero values pick defaults.
type Options struct {
	Logger *slog.Logger
	// Workers is how many jobs run at once in this process (default 4).
	Workers int
	// PollInterval is how often the queue looks for work (default 200 ms). Jobs queued inside a
	// transaction, as most of Berth's are, and jobs queued by other processes are found at the
	// next poll, so this bounds how long a requested scan or collection waits to start; a poll
	// that finds nothing is one indexed query.
	PollInterval time.Duration
}

// Store is what the queue keeps its own tables, the schedules and its administration (paused
// kinds, the processes working jobs) in; *meta.DB satisfies it.
type Store interface {
	Dialect() string
	WritePool() *sql.DB
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	Schedule(ctx context.Context, name string) (meta.StoredSchedule, error)
	Schedules(ctx context.Context) ([]meta.StoredSchedule, error)
	PausedJobKinds(ctx context.Context) (map[string]time.Time, error)
	SetJobKindsPaused(ctx context.Context, kinds []string, paused bool) error
	WaitingJobs(ctx context.Context) (map[string]meta.Waiting, error)
	PutJobPool(ctx context.Context, p meta.JobPool) error
	TouchJobPool(ctx context.Context, id string) error
	DeleteJobPools(ctx context.Context, id string, before time.Time) error
	JobPools(ctx context.Context, aliveAfter time.Time) ([]meta.JobPool, error)
}

// Queue is the job queue of one process. Register workers, then Start; Insert from anywhere.
type Queue struct {
	db      Store
	log     *slog.Logger
	opt     Options
	workers *river.Workers
	client  *river.Client[*sql.Tx]

	// pauses keeps the paused kinds from being fetched (see pause.go).
	pauses *pauseGate

	// regMu guards what is registered before Start and read while jobs run: its own lock, not
	// mu, which Start holds while it writes to the database (a fetch of jobs, or a stop in a
	// transaction, must never wait for it).
	regMu   sync.Mutex
	kinds   map[string]bool   // the kinds of job workers are registered for
	records map[string]Record // kind → how its jobs keep their record (admin.go)

	mu        sync.Mutex
	scheduled map[string]ScheduleHandler // schedule name prefix → what a due schedule queues
	started   bool
	// stopPool ends the heartbeat of this process's pool (admin.go).
	stopPool func()
}

// Args is a job's payload; Kind names the worker that runs it.
type Args = river.JobArgs

// Job is a running job with its decoded payload.
type Job[T Args] = river.Job[T]

// Worker runs jobs of one kind. Embed WorkerDefaults for the optional methods.
type Worker[T Args] = river.Worker[T]

// WorkerDefaults supplies a Worker's optional methods.
type WorkerDefaults[T Args] = river.WorkerDefaults[T]

// InsertOpts are the options of one insert (when to run, uniqueness, attempts).
type InsertOpts = river.InsertOpts

// New prepares the queue on db, bringing the queue's own tables up to date.
func New(ctx context.Context, db Store, opt Options) (*Queue, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 200 * time.Millisecond
	}
	q := &Queue{db: db, log: opt.Logger, opt: opt, workers: river.NewWorkers(), scheduled: map[string]ScheduleHandler{},
		kinds: map[string]bool{}, records: map[string]Record{}}
	q.pauses = &pauseGate{store: db, kinds: q.knownKinds, ttl: pauseRefresh}
	migrator, err := rivermigrate.New(q.driver(), &rivermigrate.Config{Logger: quiet(opt.Logger)})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("job queue: migrate: %w", err)
	}
	Register[scheduleArgs](q, &scheduleWorker{q: q})
	q.Track(scheduleArgs{}.Kind(), Record{Stop: q.skipScheduledRun})
	// Workers registered later (before Start) join this bundle; the client looks them up when
	// it works a job. The client fetches through the pause gate.
	client, err := river.NewClient[*sql.Tx](pausingDriver{q.driver(), q.pauses}, &river.Config{
		Logger:            quiet(opt.Logger),
		Workers:           q.workers,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opt.Workers}},
		FetchPollInterval: opt.PollInterval,
		// Work such as a collection over a large store can run long; it checks its context.
		JobTimeout: -1,
		// A job whose process died (kill -9, lost node) is taken up again after this long.
		RescueStuckJobsAfter: 10 * time.Minute,
		// Finished jobs are kept a week for inspection; executions keep the history.
		CompletedJobRetentionPeriod: 7 * 24 * time.Hour,
		// These drivers have no LISTEN/NOTIFY: poll.
		PollOnly: true,
	})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	q.client = client
	return q, nil
}

var uniqueByArgs = river.UniqueOpts{ByArgs: true}

func (q *Queue) driver() riverdriver.Driver[*sql.Tx] {
	if q.db.Dialect() == "postgres" {
		return riverdatabasesql.New(q.db.WritePool())
	}
	return riversqlite.New(q.db.WritePool())
}

// quiet keeps the library's chatter (it logs every leadership change at info) out of the
// server's log unless something is wrong.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(a), f.min}
}

func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(n), f.min}
}

// Register adds the worker for jobs of kind T. All workers are registered before Start.
func Register[T Args](q *Queue, w Worker[T]) {
	river.AddWorker(q.workers, w)
	var args T
	q.regMu.Lock()
	q.kinds[args.Kind()] = true
	q.regMu.Unlock()
}

// Start begins working jobs in this process, until Stop.
func (q *Queue) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return errors.New("job queue: already started")
	}
	// The client lives until Stop, not until the caller's context ends.
	if err := q.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("job queue: start: %w", err)
	}
	q.started = true
	q.stopPool = q.keepPool(ctx)
	if err := q.reconcileSchedules(ctx); err != nil {
		q.log.Error("job queue: schedules", "err", err)
	}
	return nil
}

// Stop lets running jobs finish until ctx ends, then cancels them.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	started, stopPool := q.started, q.stopPool
	q.started = false
	q.mu.Unlock()
	if !started {
		return nil
	}
	stopPool()
	if err := q.client.Stop(ctx); err != nil {
		// Past the deadline: cancel what still runs, so its work stops at the next check.
		return q.client.StopAndCancel(context.WithoutCancel(ctx))
	}
	return nil
}

// Insert queues a job and returns its id.
func (q *Queue) Insert(ctx context.Context, args Args, opts *InsertOpts) (int64, error) {
	res, err := q.client.Insert(ctx, args, opts)
	if err != nil {
		return 0, fmt.Errorf("queue %s job: %w", args.Kind(), err)
	}
	return res.Job.ID, nil
}

// InsertTx queues a job in tx: it exists only if tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx *meta.Tx, args Args, opts *InsertOpts) (int64, error) {
	res, err := q.client.InsertTx(ctx, tx.SQL(), args, opts)
	if err != nil {
		return 0, fmt.Errorf("queue %s job: %w", args.Kind(), err)
	}
	return res.Job.ID, nil
}

// Cancel cancels a queued job, or asks a running one to stop. Cancelling a finished or unknown
// job is not an error.
func (q *Queue) Cancel(ctx context.Context, id int64) error {
	_, err := q.client.JobCancel(ctx, id)
	if err != nil && !errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("cancel job %d: %w", id, err)
	}
	return nil
}

// Delete removes a job that has not started (a schedule's next run, replaced).
func (q *Queue) delete(ctx context.Context, id int64) error {
	_, err := q.client.JobDelete(ctx, id)
	if err != nil && !errors.Is(err, rivertype.ErrNotFound) && !errors.Is(err, rivertype.ErrJobRunning) {
		return fmt.Errorf("delete job %d: %w", id, err)
	}
	return nil
}

// JobState reports a job's state ("" if unknown).
func (q *Queue) JobState(ctx context.Context, id int64) (string, error) {
	j, err := q.client.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(j.State), nil
}
