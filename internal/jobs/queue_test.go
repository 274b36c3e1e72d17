package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
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
		if err := q1.SetSchedule(ctx, "echo", jobs.TypeCustom, "* * * * * *", json.RawMessage(`{"tag":"scheduled"}`)); err != nil {
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
		if err != nil || !ok || s.Cron != "* * * * * *" || s.NextAt.IsZero() {
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
	for _, c := range []struct {
		typ, cron, want string
		ok              bool
	}{
		{"Daily", "0 0 2 * * *", "0 0 2 * * *", true},
		{"Daily", "", "0 0 0 * * *", true},
		{"Hourly", "", "0 0 * * * *", true},
		{"Weekly", "", "0 0 0 * * 0", true},
		{"Custom", "*/30 * * * * *", "*/30 * * * * *", true},
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
