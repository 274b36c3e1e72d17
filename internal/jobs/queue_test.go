package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

type echoArgs struct {
	Tag string `json:"tag"`
}

func (echoArgs) Kind() string { return "echo" }

type echoWorker struct {
	jobs.WorkerDefaults[echoArgs]
	mu   sync.Mutex
	seen []string
	done chan string
}

func (w *echoWorker) Work(ctx context.Context, job *jobs.Job[echoArgs]) error {
	w.mu.Lock()
	w.seen = append(w.seen, job.Args.Tag)
	w.mu.Unlock()
	w.done <- job.Args.Tag
	return nil
}

func newQueue(t *testing.T, db *meta.DB) (*jobs.Queue, *echoWorker) {
	t.Helper()
	ctx := context.Background()
	q, err := jobs.New(ctx, db, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := &echoWorker{done: make(chan string, 16)}
	jobs.Register(q, w)
	q.HandleSchedules("echo", func(ctx context.Context, tx *meta.Tx, name string, params json.RawMessage) error {
		var p echoArgs
		if err := json.Unmarshal(params, &p); err != nil {
			return err
		}
		_, err := q.InsertTx(ctx, tx, p, nil)
		return err
	})
	return q, w
}

// soonCron is a cron expression that runs once a minute, first within a few seconds: at the
// second of the minute two seconds from now.
func soonCron() string {
	return fmt.Sprintf("%d * * * * *", time.Now().Add(2*time.Second).Second())
}

func wait(t *testing.T, w *echoWorker, want string) {
	t.Helper()
	select {
	case got := <-w.done:
		if got != want {
			t.Fatalf("worked %q, want %q", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("job %q never ran", want)
	}
}

func TestQueue(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()

		// A job queued before a restart runs after it.
		q1, _ := newQueue(t, db)
		if _, err := q1.Insert(ctx, echoArgs{Tag: "queued-before-start"}, nil); err != nil {
			t.Fatal(err)
		}
		err := db.Tx(ctx, func(tx *meta.Tx) error {
			_, err := q1.InsertTx(ctx, tx, echoArgs{Tag: "rolled-back"}, nil)
			if err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("transaction should fail")
		}
		// A schedule set before the restart survives it too.
		cron := soonCron()
		if err := q1.SetSchedule(ctx, "echo", jobs.TypeCustom, cron, json.RawMessage(`{"tag":"scheduled"}`)); err != nil {
			t.Fatal(err)
		}

		q2, w := newQueue(t, db)
		if err := q2.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			q2.Stop(stopCtx)
		})
		got := map[string]bool{}
		deadline := time.After(30 * time.Second)
		for !got["queued-before-start"] || !got["scheduled"] {
			select {
			case tag := <-w.done:
				got[tag] = true
			case <-deadline:
				t.Fatalf("ran %v; want the queued and the scheduled job", got)
			}
		}
		if got["rolled-back"] {
			t.Fatal("a job queued in a rolled-back transaction ran")
		}
		s, ok, err := q2.GetSchedule(ctx, "echo")
		if err != nil || !ok || s.Cron != cron || s.NextAt.IsZero() {
			t.Fatalf("schedule = %+v, %v, %v", s, ok, err)
		}
		if err := q2.RemoveSchedule(ctx, "echo"); err != nil {
			t.Fatal(err)
		}
		// Drain what was already queued, then nothing more comes.
		time.Sleep(1500 * time.Millisecond)
		for len(w.done) > 0 {
			<-w.done
		}
		select {
		case tag := <-w.done:
			if tag == "scheduled" {
				t.Fatal("a removed schedule still ran")
			}
		case <-time.After(2500 * time.Millisecond):
		}
		if _, ok, _ := q2.GetSchedule(ctx, "echo"); ok {
			t.Fatal("schedule still there")
		}

		// A job scheduled for later can be cancelled before it runs.
		id, err := q2.Insert(ctx, echoArgs{Tag: "cancelled"}, &jobs.InsertOpts{ScheduledAt: time.Now().Add(2 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if err := q2.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := q2.Insert(ctx, echoArgs{Tag: "after"}, &jobs.InsertOpts{ScheduledAt: time.Now().Add(3 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		wait(t, w, "after")
	})
}

func TestNormalizeSchedule(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ, cron, want string
		ok              bool
	}{
		{"Daily", "0 0 2 * * *", "0 0 2 * * *", true},
		{"Daily", "", "0 0 0 * * *", true},
		{"Hourly", "", "0 0 * * * *", true},
		{"Weekly", "", "0 0 0 * * 0", true},
		{"Custom", "0 */5 * * * *", "0 */5 * * * *", true},
		{"Custom", "30 * * * * *", "30 * * * * *", true}, // once a minute, the most allowed
		{"Custom", "* * * * * *", "", false},             // every second
		{"Custom", "*/30 * * * * *", "", false},          // twice a minute
		{"Custom", "0,59 * * * * *", "", false},          // a second apart once a minute
		{"Custom", "0-1 0 0 * * *", "", false},           // two runs a second apart, daily
		{"Custom", "", "", false},
		{"Custom", "0 2 * * *", "", false},      // five fields
		{"Custom", "0 0 25 * * *", "", false},   // hour 25
		{"Sometimes", "0 0 0 * * *", "", false}, // unknown type
		{"Custom", "0 0 0 * * * *", "", false},  // seven fields
		{"Daily", " 0 0 3 * * * ", "0 0 3 * * *", true},
	} {
		got, err := jobs.NormalizeSchedule(c.typ, c.cron)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("NormalizeSchedule(%q, %q) = %q, %v", c.typ, c.cron, got, err)
		}
		if err != nil && !errors.Is(err, jobs.ErrInvalidSchedule) {
			t.Errorf("error %v does not wrap ErrInvalidSchedule", err)
		}
	}
	next, err := jobs.NextRun("0 0 2 * * *", time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC))
	if err != nil || !next.Equal(time.Date(2026, 1, 2, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("NextRun = %v, %v", next, err)
	}
}

// TestIntervalSchedule: an interval schedule's next run is one interval after it is set and one
// interval after each run; setting it again unchanged (a restart, another replica) keeps its next
// run; two queues on one database run each interval once.
func TestIntervalSchedule(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		q1, w1 := newQueue(t, db)
		q2, w2 := newQueue(t, db)

		before := time.Now()
		if err := q1.EnsureInterval(ctx, "echo", time.Hour, json.RawMessage(`{"tag":"hourly"}`)); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		s, ok, err := q1.GetSchedule(ctx, "echo")
		if err != nil || !ok || s.Type != jobs.TypeInterval || s.Cron != "@every 1h0m0s" ||
			s.NextAt.Before(before.Add(time.Hour).Truncate(time.Microsecond)) || s.NextAt.After(after.Add(time.Hour)) {
			t.Fatalf("interval schedule = %+v, %v, %v; want its next run an hour after %v", s, ok, err, before)
		}
		// The same schedule again, from the other queue: unchanged.
		if err := q2.EnsureInterval(ctx, "echo", time.Hour, json.RawMessage(`{"tag":"hourly"}`)); err != nil {
			t.Fatal(err)
		}
		if s2, _, _ := q2.GetSchedule(ctx, "echo"); !s2.NextAt.Equal(s.NextAt) || !s2.Updated.Equal(s.Updated) {
			t.Fatalf("setting the same interval again moved the schedule: %+v, was %+v", s2, s)
		}
		// A new interval replaces it.
		if err := q2.EnsureInterval(ctx, "echo", time.Second, json.RawMessage(`{"tag":"often"}`)); err != nil {
			t.Fatal(err)
		}
		for _, q := range []*jobs.Queue{q1, q2} {
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				q.Stop(stopCtx)
			})
		}
		// Two runs, each on one of the two queues, the second an interval after the first.
		var prev time.Time
		for range 2 {
			select {
			case tag := <-w1.done:
				if tag != "often" {
					t.Fatalf("ran %q", tag)
				}
			case tag := <-w2.done:
				if tag != "often" {
					t.Fatalf("ran %q", tag)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the interval schedule did not run")
			}
			s, _, err := q1.GetSchedule(ctx, "echo")
			if err != nil {
				t.Fatal(err)
			}
			if !prev.IsZero() && s.NextAt.Sub(prev) < time.Second {
				t.Fatalf("next run %v less than an interval after the previous one %v", s.NextAt, prev)
			}
			prev = s.NextAt
		}
		if err := q1.RemoveSchedule(ctx, "echo"); err != nil {
			t.Fatal(err)
		}
		w1.mu.Lock()
		n1 := len(w1.seen)
		w1.mu.Unlock()
		w2.mu.Lock()
		n2 := len(w2.seen)
		w2.mu.Unlock()
		// Every run was worked by exactly one queue: the runs seen are the runs waited for,
		// plus at most the one queued when the schedule went.
		if n := n1 + n2; n < 2 || n > 3 {
			t.Fatalf("%d runs worked by the two queues, want 2 (or 3)", n)
		}
	})
}

func TestNextRunOfAnInterval(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	if next, err := jobs.NextRun("@every 6h0m0s", at); err != nil || !next.Equal(at.Add(6*time.Hour)) {
		t.Errorf("NextRun(@every 6h) = %v, %v", next, err)
	}
	for _, bad := range []string{"@every soon", "@every 10ms"} {
		if _, err := jobs.NextRun(bad, at); !errors.Is(err, jobs.ErrInvalidSchedule) {
			t.Errorf("NextRun(%q) = %v, want ErrInvalidSchedule", bad, err)
		}
	}
	if _, err := jobs.NormalizeSchedule(jobs.TypeInterval, "@every 1h"); err == nil {
		t.Error("Harbor's schedule types include Interval")
	}
}

// TestStoredScheduleRunsAtMostOnceAMinute: a cron schedule stored before schedules were held to
// one run a minute (here "every second", written to the store directly) still runs, and its
// next run is at least a minute after each run.
func TestStoredScheduleRunsAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		err := db.PutSchedule(ctx, meta.StoredSchedule{Name: "echo", Type: jobs.TypeCustom, Cron: "* * * * * *",
			Params: `{"tag":"legacy"}`, NextAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		q, w := newQueue(t, db)
		// Starting queues the first run, due after this (at the next whole second).
		start := time.Now()
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			q.Stop(stopCtx)
		})
		wait(t, w, "legacy")
		// The run queued its successor before the echo job it queued was worked.
		s, ok, err := q.GetSchedule(ctx, "echo")
		if err != nil || !ok {
			t.Fatalf("schedule %+v %v %v", s, ok, err)
		}
		if s.NextAt.Before(start.Add(jobs.MinScheduleInterval)) {
			t.Fatalf("next run at %v, %v after the first was queued: want at least %v after the first run", s.NextAt, s.NextAt.Sub(start), jobs.MinScheduleInterval)
		}
		select {
		case tag := <-w.done:
			t.Fatalf("ran %q again within seconds", tag)
		case <-time.After(2 * time.Second):
		}
	})
}
