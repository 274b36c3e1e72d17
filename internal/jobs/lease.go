package jobs

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/berthreg/berth/internal/meta"
)

// heartbeat is how often a running execution shows it is alive; an execution marked Running
// whose last sign of life is older than staleAfter belongs to a process that died.
const (
	heartbeat  = 30 * time.Second
	staleAfter = 3 * heartbeat
)

// Executions is what holding an execution reads and writes; *meta.DB satisfies it.
type Executions interface {
	Execution(ctx context.Context, id int64) (meta.Execution, error)
	TouchExecution(ctx context.Context, id int64) error
}

// Hold claims an execution for the job about to run it. The queue takes up again a job that
// has run for long (its process may have died): if the execution is in fact still alive in
// another worker, Hold returns an error that puts this job back to wait instead of running the
// work twice. Otherwise it keeps the execution's heartbeat until release is called.
func Hold(ctx context.Context, db Executions, id int64) (release func(), err error) {
	e, err := db.Execution(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.Status == meta.StatusRunning && time.Since(e.UpdatedAt) < staleAfter {
		return nil, river.JobSnooze(staleAfter)
	}
	return Heartbeat(db, id), nil
}

// Stale reports whether an execution marked Running has shown no sign of life for long: the
// process running it died (it is shown as failed until a retried job takes it up again).
func Stale(e meta.Execution) bool {
	return e.Status == meta.StatusRunning && time.Since(e.UpdatedAt) > staleAfter
}

// Heartbeat keeps a running execution's sign of life until the returned function is called
// (Hold does it for queued work; berth gc, which runs outside the queue, calls it itself).
func Heartbeat(db Executions, id int64) (stop func()) {
	return every(context.Background(), heartbeat, func(ctx context.Context) { db.TouchExecution(ctx, id) })
}

// every calls beat each period until the returned function is called, which waits for a beat
// in progress to end. beat's context is cancelled by stop; ctx's own cancellation is ignored,
// so a beat outlives the request that started it.
func every(ctx context.Context, period time.Duration, beat func(context.Context)) (stop func()) {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
				beat(bg)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// WatchStop asks stopRequested every interval until ctx ends and, when it answers true,
// calls cancel: a stop asked for through the API (on any replica) ends the work at its next
// check of ctx. The returned function reports whether that happened.
func WatchStop(ctx context.Context, interval time.Duration, stopRequested func(ctx context.Context) bool, cancel context.CancelFunc) func() bool {
	var stopped atomic.Bool
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if stopRequested(ctx) {
				stopped.Store(true)
				cancel()
				return
			}
		}
	}()
	return stopped.Load
}
