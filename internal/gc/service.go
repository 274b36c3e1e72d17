package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the collection service reads and writes; *meta.DB satisfies it.
type Store interface {
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	jobs.Executions
	CreateExecution(ctx context.Context, e meta.Execution) (int64, error)
	ListExecutions(ctx context.Context, kind string, refID int64, lq meta.ListQuery) ([]meta.Execution, int64, error)
	ExecutionLog(ctx context.Context, id int64) (string, error)
	AppendExecutionLog(ctx context.Context, id int64, text string) error
	SetExecutionStatus(ctx context.Context, id int64, status, text string) error
	RequestExecutionStop(ctx context.Context, id int64) (bool, error)
	StopRequested(ctx context.Context, id int64) (bool, error)
}

// Service holds the rules of garbage collection as callers ask for it (Harbor's
// /system/gc…): who may run, stop and schedule collections and read their history, and
// what a schedule request means. Collections run as jobs on the queue.
type Service struct {
	Store     Store
	Jobs      *jobs.Queue
	Collector *Collector
	Authz     *rbac.Authorizer
}

// Can reports whether the caller in ctx may act on garbage collection, by the rule the other
// methods check: for pages that offer an action before it is asked for.
func (s *Service) Can(ctx context.Context, act rbac.Action) (bool, error) {
	return s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResGarbageCollection, act)
}

// History returns one page of collections, newest first unless sorted otherwise, and the total.
func (s *Service) History(ctx context.Context, lq meta.ListQuery) ([]meta.Execution, int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResGarbageCollection, rbac.ActList); err != nil {
		return nil, 0, err
	}
	es, total, err := s.Store.ListExecutions(ctx, ExecutionKind, 0, lq)
	for i := range es {
		es[i] = shown(es[i])
	}
	return es, total, err
}

// shown is a collection as callers see it: one marked Running whose process died shows as
// Error (a retried job may take it up again).
func shown(e meta.Execution) meta.Execution {
	if jobs.Stale(e) {
		e.Status = meta.StatusError
	}
	return e
}

// Execution returns one collection.
func (s *Service) Execution(ctx context.Context, id int64) (meta.Execution, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResGarbageCollection, rbac.ActRead); err != nil {
		return meta.Execution{}, err
	}
	e, err := s.find(ctx, id)
	return shown(e), err
}

// Log returns a collection's log.
func (s *Service) Log(ctx context.Context, id int64) (string, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResGarbageCollection, rbac.ActRead); err != nil {
		return "", err
	}
	if _, err := s.find(ctx, id); err != nil {
		return "", err
	}
	return s.Store.ExecutionLog(ctx, id)
}

// Stop asks a collection to stop; stopping one that has ended changes nothing.
func (s *Service) Stop(ctx context.Context, id int64) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResGarbageCollection, rbac.ActStop); err != nil {
		return err
	}
	if _, err := s.find(ctx, id); err != nil {
		return err
	}
	_, err := s.Store.RequestExecutionStop(ctx, id)
	return err
}

// find reads a collection: an execution of another kind is not one.
func (s *Service) find(ctx context.Context, id int64) (meta.Execution, error) {
	e, err := s.Store.Execution(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && e.Kind != ExecutionKind {
		return e, fault.NotFoundf("garbage collection %d not found", id)
	}
	if err != nil {
		return e, fmt.Errorf("garbage collection %d: %w", id, err)
	}
	return e, nil
}

// Schedule returns the recurring collection's schedule; ok false when there is none.
func (s *Service) Schedule(ctx context.Context) (jobs.Schedule, bool, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResGarbageCollection, rbac.ActRead); err != nil {
		return jobs.Schedule{}, false, err
	}
	return s.Jobs.GetSchedule(ctx, ScheduleName)
}

// CreateSchedule does what a new schedule request asks (see jobs.ApplySchedule): a Manual one
// starts a collection now and returns its execution id. params are Harbor's parameters
// object as decoded from JSON (see ParseParams).
func (s *Service) CreateSchedule(ctx context.Context, typ, cron string, params map[string]any) (int64, error) {
	return s.applySchedule(ctx, rbac.ActCreate, typ, cron, params)
}

// UpdateSchedule does what a schedule request replacing the current one asks, as
// CreateSchedule.
func (s *Service) UpdateSchedule(ctx context.Context, typ, cron string, params map[string]any) (int64, error) {
	return s.applySchedule(ctx, rbac.ActUpdate, typ, cron, params)
}

func (s *Service) applySchedule(ctx context.Context, act rbac.Action, typ, cron string, params map[string]any) (int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResGarbageCollection, act); err != nil {
		return 0, err
	}
	var p Params
	return jobs.ApplySchedule(typ, cron, jobs.ScheduleActions{
		Validate: func() error {
			var err error
			if p, err = ParseParams(params); err != nil {
				return fault.Invalidf("%s", err.Error())
			}
			return nil
		},
		Run: func() (int64, error) { return s.start(ctx, p) },
		Set: func(typ, cron string) error {
			b, err := json.Marshal(p)
			if err != nil {
				return err
			}
			return s.Jobs.SetSchedule(ctx, ScheduleName, typ, cron, b)
		},
		Remove: func() error { return s.Jobs.RemoveSchedule(ctx, ScheduleName) },
	})
}

// start queues a collection asked for by the caller in ctx and returns its execution id; the
// request is an event of the same transaction.
func (s *Service) start(ctx context.Context, p Params) (int64, error) {
	var id int64
	err := s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		if id, err = s.queue(ctx, tx, TriggerManual, p); err != nil {
			return err
		}
		tx.Emit(events.OfSystem(ctx, events.GCRequested, resource(id),
			events.Run{ExecutionID: id, Status: meta.StatusPending, DryRun: p.DryRun}))
		return nil
	})
	return id, err
}

// Finish records how a collection ended — what it did, when res is known, and its final
// status — and emits GCCompleted, in one transaction. berth gc, which runs collections outside
// the queue, ends them here too.
func (s *Service) Finish(ctx context.Context, id int64, dryRun bool, status, text string, res *Result) error {
	ctx = context.WithoutCancel(ctx)
	return s.Store.Tx(ctx, func(tx *meta.Tx) error {
		run := events.Run{ExecutionID: id, Status: status, DryRun: dryRun}
		if res != nil {
			b, err := json.Marshal(res)
			if err != nil {
				return err
			}
			if err := tx.SetExecutionResult(ctx, id, string(b)); err != nil {
				return err
			}
			// Deleted counts what went, manifests and blobs alike.
			run.Deleted, run.Freed = res.Manifests+res.Blobs, res.Bytes
		}
		if err := tx.SetExecutionStatus(ctx, id, status, text); err != nil {
			return err
		}
		tx.Emit(events.OfSystem(ctx, events.GCCompleted, resource(id), run))
		return nil
	})
}

// resource names a collection in its events ("gc/12"), as Harbor's audit log does.
func resource(id int64) string { return fmt.Sprintf("gc/%d", id) }

// Outcome is how a collection run in this process ended.
type Outcome struct {
	ID int64
	Result
	Status string
	// Err is why the run failed or stopped; nil when it succeeded.
	Err error
}

// RunHere runs a collection in this process, outside the queue (berth gc), recorded like one
// the server runs: an execution in the history, alive while it runs, with its log and its end
// (a GCCompleted event). logf hears each log line as it is written. The error is a failure to
// record the run; how the run itself ended is in the outcome.
func (s *Service) RunHere(ctx context.Context, p Params, logf func(line string)) (Outcome, error) {
	params, err := json.Marshal(p)
	if err != nil {
		return Outcome{}, err
	}
	id, err := s.Store.CreateExecution(ctx, meta.Execution{Kind: ExecutionKind, Trigger: TriggerManual, DryRun: p.DryRun,
		Params: string(params), Status: meta.StatusRunning})
	if err != nil {
		return Outcome{}, fmt.Errorf("record the run: %w", err)
	}
	// Running from now on (its start time).
	if err := s.Store.SetExecutionStatus(ctx, id, meta.StatusRunning, ""); err != nil {
		return Outcome{ID: id}, fmt.Errorf("record the run: %w", err)
	}
	stopHeartbeat := jobs.Heartbeat(s.Store, id)
	defer stopHeartbeat()
	var text []byte
	printf := func(format string, args ...any) {
		line := time.Now().UTC().Format("2006-01-02T15:04:05Z ") + fmt.Sprintf(format, args...) + "\n"
		text = append(text, line...)
		if logf != nil {
			logf(line)
		}
	}
	out := Outcome{ID: id, Status: meta.StatusSuccess}
	out.Result, out.Err = s.Collector.Run(ctx, Options{DeleteUntagged: p.DeleteUntagged, DryRun: p.DryRun, Workers: p.Workers, Logf: printf})
	msg := ""
	if out.Err != nil {
		out.Status, msg = meta.StatusError, out.Err.Error()
		if ctx.Err() != nil {
			out.Status = meta.StatusStopped
		}
	}
	bg := context.WithoutCancel(ctx)
	if err := s.Store.AppendExecutionLog(bg, id, string(text)); err != nil {
		return out, fmt.Errorf("record the log of run %d: %w", id, err)
	}
	if err := s.Finish(bg, id, p.DryRun, out.Status, msg, &out.Result); err != nil {
		return out, fmt.Errorf("record the outcome of run %d: %w", id, err)
	}
	return out, nil
}
