package jobs

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// Pausing a kind of job (Harbor's PUT /jobservice/queues/{job_type} {"action":"pause"}): no
// process takes a queued job of a paused kind until it is resumed; jobs of that kind keep
// being queued, and wait.
//
// River pauses whole queues, and Berth keeps every kind in one queue so that Options.Workers
// bounds all of a process's work together. A kind is paused below River instead: every fetch
// of jobs goes through pausingDriver, whose executor restricts the fetch to the kinds not
// paused (River's fetch takes a list of kinds). The paused kinds are rows in the database, so
// a pause holds across restarts and for every replica; each process reads them at most once
// per pauseRefresh, and at once after a pause or resume of its own.

// pauseRefresh bounds how long another replica's pause or resume takes to apply here.
const pauseRefresh = time.Second

type pauseStore interface {
	PausedJobKinds(ctx context.Context) (map[string]time.Time, error)
}

// pauseGate knows the paused kinds.
type pauseGate struct {
	store pauseStore
	kinds func() []string // every registered kind
	ttl   time.Duration

	mu     sync.Mutex
	paused map[string]time.Time
	readAt time.Time

	// fetching is held (shared) by every fetch from its reading of the paused kinds to the end
	// of its query, and taken by forget: once a pause of this process returns, no fetch that
	// read the kinds before it is still under way to take a job queued after it.
	fetching sync.RWMutex
}

// current returns the paused kinds, read again when the last reading is older than ttl.
func (g *pauseGate) current(ctx context.Context) (map[string]time.Time, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused != nil && time.Since(g.readAt) < g.ttl {
		return g.paused, nil
	}
	p, err := g.store.PausedJobKinds(ctx)
	if err != nil {
		return nil, err
	}
	g.paused, g.readAt = p, time.Now()
	return p, nil
}

// forget makes the next fetch read the paused kinds again, after the fetches under way end.
func (g *pauseGate) forget() {
	g.fetching.Lock()
	defer g.fetching.Unlock()
	g.mu.Lock()
	g.paused = nil
	g.mu.Unlock()
}

// fetchable returns the kinds a fetch may take: nil (any kind) when none is paused, else
// every registered kind but the paused ones (possibly none).
func (g *pauseGate) fetchable(ctx context.Context) ([]string, error) {
	paused, err := g.current(ctx)
	if err != nil || len(paused) == 0 {
		return nil, err
	}
	out := []string{}
	for _, k := range g.kinds() {
		if _, ok := paused[k]; !ok {
			out = append(out, k)
		}
	}
	return out, nil
}

// pausingDriver is River's driver with every fetch of jobs restricted by the pause gate.
type pausingDriver struct {
	riverdriver.Driver[*sql.Tx]
	gate *pauseGate
}

func (d pausingDriver) GetExecutor() riverdriver.Executor {
	return pausingExecutor{d.Driver.GetExecutor(), d.gate}
}

type pausingExecutor struct {
	riverdriver.Executor
	gate *pauseGate
}

// JobGetAvailable is the fetch of jobs to work, the one query a paused kind must not pass.
func (e pausingExecutor) JobGetAvailable(ctx context.Context, params *riverdriver.JobGetAvailableParams) (*riverdriver.JobGetAvailableResult, error) {
	e.gate.fetching.RLock()
	defer e.gate.fetching.RUnlock()
	kinds, err := e.gate.fetchable(ctx)
	if err != nil {
		return nil, err
	}
	if kinds != nil {
		p := *params
		if p.Kind != nil {
			kinds = slices.DeleteFunc(kinds, func(k string) bool { return !slices.Contains(p.Kind, k) })
		}
		p.Kind = kinds
		params = &p
	}
	return e.Executor.JobGetAvailable(ctx, params)
}
