package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/berthreg/berth/internal/meta"
)

// Harbor's schedule types. Manual means "run now" and None "no schedule"; neither is stored.
const (
	TypeHourly = "Hourly"
	TypeDaily  = "Daily"
	TypeWeekly = "Weekly"
	TypeCustom = "Custom"
	TypeManual = "Manual"
	TypeNone   = "None"
)

// ErrInvalidSchedule wraps every problem with a schedule type or cron expression.
var ErrInvalidSchedule = errors.New("invalid schedule")

// Harbor's cron has six fields, seconds first ("0 0 2 * * *" is 02:00:00 every day).
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// MinScheduleInterval is the least time between two runs of a cron schedule: Harbor's cron has
// a seconds field, and "* * * * * *" would start a garbage collection or a scan of everything
// every second.
const MinScheduleInterval = time.Minute

// ParseCron parses a six-field cron expression, evaluated in UTC, that runs at most once a
// minute (see MinScheduleInterval).
func ParseCron(expr string) (cron.Schedule, error) {
	s, err := parseCron(expr)
	if err != nil {
		return nil, err
	}
	// Runs are a minute apart exactly when the seconds field names one second: with two, both
	// fire in every minute the schedule runs.
	if spec, ok := s.(*cron.SpecSchedule); ok && bits.OnesCount64(spec.Second&^starBit) != 1 {
		return nil, fmt.Errorf("%w: cron %q runs more than once a minute: its first (seconds) field must name one second, such as 0", ErrInvalidSchedule, strings.TrimSpace(expr))
	}
	return s, nil
}

// starBit is robfig/cron's mark of a field written as "*" in a SpecSchedule's bit set.
const starBit = 1 << 63

// parseCron parses a six-field cron expression without ParseCron's frequency rule: schedules
// stored before the rule existed still run (Work keeps their runs a minute apart).
func parseCron(expr string) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if n := len(strings.Fields(expr)); n != 6 {
		return nil, fmt.Errorf("%w: cron %q has %d fields, want 6 (second minute hour day-of-month month day-of-week)", ErrInvalidSchedule, expr, n)
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: cron %q: %v", ErrInvalidSchedule, expr, err)
	}
	return s, nil
}

// NormalizeSchedule checks a schedule type with its cron expression and returns the
// expression to run: the given one when set (Harbor's portal sends it with every type), else
// the type's default. Custom needs an expression.
func NormalizeSchedule(typ, expr string) (string, error) {
	def := map[string]string{TypeHourly: "0 0 * * * *", TypeDaily: "0 0 0 * * *", TypeWeekly: "0 0 0 * * 0", TypeCustom: ""}
	d, ok := def[typ]
	if !ok {
		return "", fmt.Errorf("%w: unknown schedule type %q (Hourly, Daily, Weekly, Custom, Manual or None)", ErrInvalidSchedule, typ)
	}
	if strings.TrimSpace(expr) == "" {
		if d == "" {
			return "", fmt.Errorf("%w: a Custom schedule needs a cron expression", ErrInvalidSchedule)
		}
		expr = d
	}
	if _, err := ParseCron(expr); err != nil {
		return "", err
	}
	return strings.TrimSpace(expr), nil
}

// NextRun is the first time after t that the expression fires: a cron expression, or an
// interval schedule's (see EnsureInterval).
func NextRun(expr string, t time.Time) (time.Time, error) {
	if d, ok, err := parseEvery(expr); ok {
		return t.Add(d), err
	}
	s, err := parseCron(expr)
	if err != nil {
		return time.Time{}, err
	}
	next := s.Next(t.UTC())
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("%w: cron %q never fires", ErrInvalidSchedule, expr)
	}
	return next, nil
}

// ScheduleHandler queues the work a schedule stands for, in tx (so the work is queued exactly
// when the schedule's next run is).
type ScheduleHandler func(ctx context.Context, tx *meta.Tx, name string, params json.RawMessage) error

// HandleSchedules routes due schedules whose name is prefix or starts with prefix+":" to h.
// Call before Start.
func (q *Queue) HandleSchedules(prefix string, h ScheduleHandler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.scheduled[prefix] = h
}

func (q *Queue) handler(name string) ScheduleHandler {
	q.mu.Lock()
	defer q.mu.Unlock()
	prefix, _, _ := strings.Cut(name, ":")
	return q.scheduled[prefix]
}

// Schedule is a stored schedule as the API shows it.
type Schedule struct {
	Type   string
	Cron   string
	Params json.RawMessage
	NextAt time.Time
	// Created and Updated are when the schedule was first set and last changed.
	Created, Updated time.Time
}

// GetSchedule returns a schedule; ok is false when there is none.
func (q *Queue) GetSchedule(ctx context.Context, name string) (s Schedule, ok bool, err error) {
	st, err := q.db.Schedule(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		return Schedule{}, false, nil
	}
	if err != nil {
		return Schedule{}, false, err
	}
	return Schedule{Type: st.Type, Cron: st.Cron, Params: json.RawMessage(st.Params), NextAt: st.NextAt,
		Created: st.CreatedAt, Updated: st.UpdatedAt}, true, nil
}

// SetSchedule creates or replaces a schedule: typ and expr as NormalizeSchedule takes them,
// params handed to the handler on every run. Its next run is queued at once.
func (q *Queue) SetSchedule(ctx context.Context, name, typ, expr string, params json.RawMessage) error {
	expr, err := NormalizeSchedule(typ, expr)
	if err != nil {
		return err
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	var old int64
	err = q.db.Tx(ctx, func(tx *meta.Tx) error {
		old = 0
		if prev, err := tx.Schedule(ctx, name); err == nil {
			old = prev.JobID
		} else if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		next, id, err := q.queueNext(ctx, tx, name, expr, time.Now())
		if err != nil {
			return err
		}
		return tx.PutSchedule(ctx, meta.StoredSchedule{Name: name, Type: typ, Cron: expr, Params: string(params), NextAt: next, JobID: id})
	})
	if err != nil {
		return err
	}
	if old != 0 {
		return q.delete(ctx, old)
	}
	return nil
}

// TypeInterval is a schedule that runs at a fixed interval: Berth's own recurring work, which
// Harbor's schedule API does not offer (NormalizeSchedule refuses it).
const TypeInterval = "Interval"

// everyPrefix starts an interval schedule's expression, as in robfig/cron's descriptors.
const everyPrefix = "@every "

// parseEvery reads an interval schedule's expression; ok is false for any other expression.
func parseEvery(expr string) (d time.Duration, ok bool, err error) {
	s, ok := strings.CutPrefix(expr, everyPrefix)
	if !ok {
		return 0, false, nil
	}
	d, err = time.ParseDuration(s)
	if err == nil && d < time.Second {
		err = fmt.Errorf("an interval shorter than a second")
	}
	if err != nil {
		return 0, true, fmt.Errorf("%w: %q: %v", ErrInvalidSchedule, expr, err)
	}
	return d, true, nil
}

// EnsureInterval makes the named schedule run every interval, its first run one interval from
// now, with params handed to the handler. A schedule already stored with the same interval and
// params is left as it is: replicas starting, and restarts, do not postpone its next run.
func (q *Queue) EnsureInterval(ctx context.Context, name string, every time.Duration, params json.RawMessage) error {
	expr := everyPrefix + every.String()
	if _, _, err := parseEvery(expr); err != nil {
		return err
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	var old int64
	err := q.db.Tx(ctx, func(tx *meta.Tx) error {
		old = 0
		prev, err := tx.Schedule(ctx, name)
		switch {
		case err == nil && prev.Type == TypeInterval && prev.Cron == expr && prev.Params == string(params):
			return nil
		case err == nil:
			old = prev.JobID
		case !errors.Is(err, meta.ErrNotFound):
			return err
		}
		next, id, err := q.queueNext(ctx, tx, name, expr, time.Now())
		if err != nil {
			return err
		}
		return tx.PutSchedule(ctx, meta.StoredSchedule{Name: name, Type: TypeInterval, Cron: expr, Params: string(params), NextAt: next, JobID: id})
	})
	if err != nil || old == 0 {
		return err
	}
	return q.delete(ctx, old)
}

// RemoveSchedule deletes a schedule and its queued next run; removing none is not an error.
func (q *Queue) RemoveSchedule(ctx context.Context, name string) error {
	var old int64
	err := q.db.Tx(ctx, func(tx *meta.Tx) error {
		prev, err := tx.Schedule(ctx, name)
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		old = prev.JobID
		return tx.DeleteSchedule(ctx, name)
	})
	if err != nil || old == 0 {
		return err
	}
	return q.delete(ctx, old)
}

// scheduleArgs is the queued next run of a schedule.
type scheduleArgs struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

func (scheduleArgs) Kind() string { return "schedule" }

func (q *Queue) queueNext(ctx context.Context, tx *meta.Tx, name, expr string, after time.Time) (time.Time, int64, error) {
	next, err := NextRun(expr, after)
	if err != nil {
		return time.Time{}, 0, err
	}
	// Unique by name and time: replicas reconciling at once queue one run, not two.
	id, err := q.InsertTx(ctx, tx, scheduleArgs{Name: name, At: next}, &InsertOpts{
		ScheduledAt: next,
		UniqueOpts:  uniqueByArgs,
	})
	return next, id, err
}

type scheduleWorker struct {
	WorkerDefaults[scheduleArgs]
	q *Queue
}

// Work runs a schedule's due run: it queues the run after it and the work itself, together.
// A run that is no longer the schedule's current one (the schedule changed or went) does
// nothing.
func (w *scheduleWorker) Work(ctx context.Context, job *Job[scheduleArgs]) error {
	h := w.q.handler(job.Args.Name)
	if h == nil {
		return fmt.Errorf("no handler for schedule %q", job.Args.Name)
	}
	return w.q.db.Tx(ctx, func(tx *meta.Tx) error {
		st, err := tx.Schedule(ctx, job.Args.Name)
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if st.JobID != job.ID {
			return nil
		}
		// After a long outage the missed runs collapse into this one.
		after := job.Args.At
		if now := time.Now(); now.After(after) {
			after = now
		}
		// A cron schedule stored before ParseCron refused more than a run a minute runs once
		// a minute (the next run after this one's second 59).
		if _, interval, _ := parseEvery(st.Cron); !interval {
			if soonest := job.Args.At.Add(MinScheduleInterval - time.Second); after.Before(soonest) {
				after = soonest
			}
		}
		next, id, err := w.q.queueNext(ctx, tx, st.Name, st.Cron, after)
		if err != nil {
			return err
		}
		st.NextAt, st.JobID = next, id
		if err := tx.PutSchedule(ctx, st); err != nil {
			return err
		}
		return h(context.WithValue(ctx, scheduledAtKey{}, job.Args.At), tx, st.Name, json.RawMessage(st.Params))
	})
}

// skipScheduledRun is the Stop of a schedule's run stopped from outside (StopJob,
// StopWaiting): that run is skipped, and the schedule goes on with the run after it. A run
// that is no longer the schedule's current one changes nothing.
func (q *Queue) skipScheduledRun(ctx context.Context, tx *meta.Tx, jobID int64, args json.RawMessage) error {
	var a scheduleArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return fmt.Errorf("schedule run arguments: %w", err)
	}
	st, err := tx.Schedule(ctx, a.Name)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err != nil || st.JobID != jobID {
		return err
	}
	after := a.At
	if now := time.Now(); now.After(after) {
		after = now
	}
	next, id, err := q.queueNext(ctx, tx, st.Name, st.Cron, after)
	if err != nil {
		return err
	}
	st.NextAt, st.JobID = next, id
	return tx.PutSchedule(ctx, st)
}

type scheduledAtKey struct{}

// ScheduledAt is, in a ScheduleHandler, the time the run was due: one value per run of a
// schedule, whichever replica works it.
func ScheduledAt(ctx context.Context) time.Time {
	t, _ := ctx.Value(scheduledAtKey{}).(time.Time)
	return t
}

// reconcileSchedules queues the next run of every schedule whose queued run is gone (a
// database restored from backup, jobs cleaned up by hand).
func (q *Queue) reconcileSchedules(ctx context.Context) error {
	all, err := q.db.Schedules(ctx)
	if err != nil {
		return err
	}
	for _, s := range all {
		if s.JobID != 0 {
			state, err := q.JobState(ctx, s.JobID)
			if err != nil {
				return err
			}
			switch state {
			case "scheduled", "available", "running", "retryable", "pending":
				continue
			}
		}
		err := q.db.Tx(ctx, func(tx *meta.Tx) error {
			cur, err := tx.Schedule(ctx, s.Name)
			if err != nil || cur.JobID != s.JobID {
				return err // gone or already requeued by another replica
			}
			next, id, err := q.queueNext(ctx, tx, cur.Name, cur.Cron, time.Now())
			if err != nil {
				return err
			}
			cur.NextAt, cur.JobID = next, id
			return tx.PutSchedule(ctx, cur)
		})
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("schedule %s: %w", s.Name, err)
		}
	}
	return nil
}
