package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
)

// ExecutionKind names garbage collections among executions.
const ExecutionKind = "gc"

// ScheduleName is the schedule of recurring collections.
const ScheduleName = "gc"

// Triggers, as Harbor reports them in job_kind.
const (
	TriggerManual   = "MANUAL"
	TriggerSchedule = "SCHEDULE"
)

// Params are a run's parameters as Harbor's API takes them.
type Params struct {
	DeleteUntagged bool `json:"delete_untagged"`
	DryRun         bool `json:"dry_run"`
	Workers        int  `json:"workers"`
}

// ErrInvalidParams wraps every problem with run parameters.
var ErrInvalidParams = errors.New("invalid garbage collection parameters")

// ParseParams reads Harbor's parameters object: delete_untagged (default true), dry_run
// (default false), workers (1–10, default 1). Other keys are ignored, as Harbor ignores them.
func ParseParams(raw map[string]any) (Params, error) {
	p := Params{DeleteUntagged: true, Workers: 1}
	for key, dst := range map[string]*bool{"delete_untagged": &p.DeleteUntagged, "dry_run": &p.DryRun} {
		v, ok := raw[key]
		if !ok || v == nil {
			continue
		}
		b, ok := v.(bool)
		if !ok {
			return p, fmt.Errorf("%w: %s must be true or false", ErrInvalidParams, key)
		}
		*dst = b
	}
	if v, ok := raw["workers"]; ok && v != nil {
		f, ok := v.(float64)
		if !ok || f != float64(int(f)) || f < 1 || f > MaxWorkers {
			return p, fmt.Errorf("%w: workers must be an integer from 1 to %d", ErrInvalidParams, MaxWorkers)
		}
		p.Workers = int(f)
	}
	return p, nil
}

// runArgs is a queued collection: its execution holds the parameters and the outcome.
type runArgs struct {
	ExecutionID int64 `json:"execution_id"`
}

func (runArgs) Kind() string { return "gc" }

// Register adds the collection worker and the schedule handler to q (before q starts).
func Register(q *jobs.Queue, s *Service) {
	jobs.Register(q, &worker{s: s})
	q.Track(runArgs{}.Kind(), jobs.ExecutionRecord(s.Store))
	q.HandleSchedules(ScheduleName, func(ctx context.Context, tx *meta.Tx, _ string, params json.RawMessage) error {
		var p Params
		if err := json.Unmarshal(params, &p); err != nil {
			return fmt.Errorf("gc schedule parameters: %w", err)
		}
		_, err := s.queue(ctx, tx, TriggerSchedule, p)
		return err
	})
}

func (s *Service) queue(ctx context.Context, tx *meta.Tx, trigger string, p Params) (int64, error) {
	params, err := json.Marshal(p)
	if err != nil {
		return 0, err
	}
	id, err := tx.CreateExecution(ctx, meta.Execution{Kind: ExecutionKind, Trigger: trigger, DryRun: p.DryRun, Params: string(params)})
	if err != nil {
		return 0, err
	}
	_, err = s.Jobs.InsertTx(ctx, tx, runArgs{ExecutionID: id}, nil)
	return id, err
}

type worker struct {
	jobs.WorkerDefaults[runArgs]
	s *Service
}

// Work runs one collection and records its outcome in the execution. The outcome of a failed
// run is reported there, not retried: the next run picks up whatever is still due.
func (w *worker) Work(ctx context.Context, job *jobs.Job[runArgs]) error {
	db := w.s.Store
	id := job.Args.ExecutionID
	e, err := db.Execution(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && e.Finished() {
		return nil
	}
	if err != nil {
		return err
	}
	release, err := jobs.Hold(ctx, db, id)
	if err != nil {
		return err
	}
	defer release()
	var p Params
	if err := json.Unmarshal([]byte(e.Params), &p); err != nil {
		return w.s.Finish(ctx, id, e.DryRun, meta.StatusError, fmt.Sprintf("parameters: %v", err), nil)
	}
	if err := db.SetExecutionStatus(ctx, id, meta.StatusRunning, ""); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := jobs.WatchStop(runCtx, time.Second, func(ctx context.Context) bool {
		req, err := db.StopRequested(ctx, id)
		return err == nil && req
	}, cancel)
	log := newExecLog(db, id)
	defer log.close()
	res, err := w.s.Collector.Run(runCtx, Options{DeleteUntagged: p.DeleteUntagged, DryRun: p.DryRun, Workers: p.Workers, Logf: log.printf})
	switch {
	case err != nil && stopped():
		log.printf("stopped on request: %d manifests and %d blobs deleted, %d bytes freed until then", res.Manifests, res.Blobs, res.Bytes)
		log.close()
		return w.s.Finish(ctx, id, p.DryRun, meta.StatusStopped, "", &res)
	case err != nil:
		log.printf("failed: %v", err)
		log.close()
		return w.s.Finish(ctx, id, p.DryRun, meta.StatusError, err.Error(), &res)
	}
	log.close()
	return w.s.Finish(ctx, id, p.DryRun, meta.StatusSuccess, "", &res)
}

// execLog buffers a run's log lines and appends them to the execution every second, so a
// collection deleting many items does not write once per line.
type execLog struct {
	db   Store
	id   int64
	mu   sync.Mutex
	buf  strings.Builder
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func newExecLog(db Store, id int64) *execLog {
	l := &execLog{db: db, id: id, done: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-l.done:
				l.flush()
				return
			case <-t.C:
				l.flush()
			}
		}
	}()
	return l
}

func (l *execLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(time.Now().UTC().Format("2006-01-02T15:04:05Z "))
	fmt.Fprintf(&l.buf, format, args...)
	l.buf.WriteByte('\n')
}

func (l *execLog) flush() {
	l.mu.Lock()
	text := l.buf.String()
	l.buf.Reset()
	l.mu.Unlock()
	if text != "" {
		l.db.AppendExecutionLog(context.Background(), l.id, text)
	}
}

// close flushes what is left; later lines are flushed by a later close.
func (l *execLog) close() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
	l.flush()
}
