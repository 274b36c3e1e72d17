package gc_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/berthreg/berth/internal/audit"
	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/gc"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/rbac"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func newService(t *testing.T, db *meta.DB) *gc.Service {
	t.Helper()
	q, err := jobs.New(context.Background(), db, jobs.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	s := &gc.Service{Store: db, Jobs: q, Authz: &rbac.Authorizer{Members: db, Robots: db}}
	gc.Register(q, s)
	return s
}

// emitted returns the events committed so far, in order.
func emitted(t *testing.T, db *meta.DB) []meta.Event {
	t.Helper()
	return metatest.NewEvents(t, db).Next()
}

// TestManualCollectionIsRequestedWithItsEvent: a collection started by a schedule request is
// a GCRequested event of the transaction that queues it, by the caller, naming "gc/<id>" (the
// audit log's entry); refused requests queue nothing and say nothing.
func TestManualCollectionIsRequestedWithItsEvent(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s := newService(t, db)
		bg := context.Background()
		admin := auth.WithPrincipal(bg, auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
		user := auth.WithPrincipal(bg, auth.Principal{Kind: auth.User, ID: 2, Name: "alice"})
		for _, c := range []struct {
			name   string
			ctx    context.Context
			typ    string
			params map[string]any
			want   fault.Kind
		}{
			{"anonymous", bg, "Manual", nil, fault.Unauthorized},
			{"not an administrator", user, "Manual", nil, fault.Forbidden},
			{"no type", admin, "", nil, fault.Invalid},
			{"workers out of range", admin, "Manual", map[string]any{"workers": float64(11)}, fault.Invalid},
			{"unknown type", admin, "Fortnightly", nil, fault.Invalid},
		} {
			t.Run(c.name, func(t *testing.T) {
				if _, err := s.CreateSchedule(c.ctx, c.typ, "", c.params); fault.KindOf(err) != c.want {
					t.Fatalf("CreateSchedule: %v, want a refusal of kind %d", err, c.want)
				}
			})
		}
		if evs := emitted(t, db); len(evs) != 0 {
			t.Fatalf("refused requests emitted %+v", evs)
		}
		if _, err := s.CreateSchedule(admin, "Daily", "0 0 2 * * *", nil); err != nil {
			t.Fatal(err)
		}
		id, err := s.UpdateSchedule(admin, "Manual", "", map[string]any{"dry_run": true})
		if err != nil || id == 0 {
			t.Fatalf("manual run: %d, %v", id, err)
		}
		evs := emitted(t, db)
		if len(evs) != 1 {
			t.Fatalf("events %+v, want the one request", evs)
		}
		e := evs[0]
		var run events.Run
		if err := events.Decode(e, &run); err != nil {
			t.Fatal(err)
		}
		if e.Type != events.GCRequested || e.Stream != "system" || e.ProjectID != 0 || e.Actor != "admin" ||
			e.Resource != "gc/"+itoa(id) || run.ExecutionID != id || !run.DryRun {
			t.Errorf("request event %+v, payload %+v", e, run)
		}
		if ex, err := s.Execution(admin, id); err != nil || ex.Status != meta.StatusPending || !ex.DryRun {
			t.Errorf("queued run %+v, %v", ex, err)
		}
		// The audit log's entry, as the API recorded it before: create gc "gc/<id>", system-wide.
		if err := audit.Subscriber(db, discard)(bg, evs); err != nil {
			t.Fatal(err)
		}
		entries, _, err := db.ListAudit(bg, meta.ListQuery{Limit: 10}, meta.AuditScope{All: true})
		if err != nil || len(entries) != 1 || entries[0].Username != "admin" || entries[0].Operation != "create" ||
			entries[0].ResourceType != "gc" || entries[0].Resource != "gc/"+itoa(id) || entries[0].ProjectID != 0 {
			t.Errorf("audit entries %+v, %v", entries, err)
		}
	})
}

// TestFinishEndsTheRunWithItsEvent: the outcome, the final status and GCCompleted are one
// transaction; another kind of execution is no collection.
func TestFinishEndsTheRunWithItsEvent(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s := newService(t, db)
		ctx := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
		id, err := db.CreateExecution(ctx, meta.Execution{Kind: gc.ExecutionKind, Trigger: gc.TriggerManual, Status: meta.StatusRunning})
		if err != nil {
			t.Fatal(err)
		}
		res := gc.Result{Manifests: 2, Blobs: 3, Bytes: 4096}
		if err := s.Finish(ctx, id, false, meta.StatusSuccess, "", &res); err != nil {
			t.Fatal(err)
		}
		ex, err := s.Execution(ctx, id)
		if err != nil || ex.Status != meta.StatusSuccess || ex.EndedAt.IsZero() || ex.Result == "{}" {
			t.Errorf("finished run %+v, %v", ex, err)
		}
		evs := emitted(t, db)
		var run events.Run
		if len(evs) != 1 || evs[0].Type != events.GCCompleted || evs[0].Resource != "gc/"+itoa(id) || events.Decode(evs[0], &run) != nil ||
			run != (events.Run{ExecutionID: id, Status: meta.StatusSuccess, Deleted: 5, Freed: 4096}) {
			t.Errorf("events %+v, payload %+v", evs, run)
		}

		other, err := db.CreateExecution(ctx, meta.Execution{Kind: "retention"})
		if err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"read": func() error { _, err := s.Execution(ctx, other); return err },
			"log":  func() error { _, err := s.Log(ctx, other); return err },
			"stop": func() error { return s.Stop(ctx, other) },
			"gone": func() error { _, err := s.Execution(ctx, other+1000); return err },
		} {
			if err := call(); !fault.Is(err, fault.NotFound) {
				t.Errorf("%s of execution %d: %v, want not found", name, other, err)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
