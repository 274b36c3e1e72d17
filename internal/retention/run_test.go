package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// Runs against a real store (both databases) with a registry that records deletions, so that
// a stop request or a failure can arrive at an exact point of the run.

type fakeRegistry struct {
	mu      sync.Mutex
	deleted []string
	// onDelete runs before a deletion is recorded; an error refuses it.
	onDelete func(repo string, m meta.Manifest) error
}

func (f *fakeRegistry) ImmutableTags(context.Context, meta.Project, string) (func(string) bool, error) {
	return func(string) bool { return false }, nil
}

func (f *fakeRegistry) DeleteArtifact(_ context.Context, repo string, m meta.Manifest) error {
	if f.onDelete != nil {
		if err := f.onDelete(repo, m); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, repo+"@"+m.Digest)
	return nil
}

// runFixture is a project with repositories a, b and c of three tagged images each (pushed
// an hour apart, t1 oldest) and a policy keeping the newest one.
type runFixture struct {
	db      *meta.DB
	project meta.Project
	policy  int64
	reg     *fakeRegistry
	r       *runner
}

func newRunFixture(t *testing.T, db *meta.DB) *runFixture {
	t.Helper()
	ctx := context.Background()
	pid := metatest.NewProject(t, db, "owner", "proj")
	base := time.Now().Add(-48 * time.Hour)
	for _, repo := range []string{"a", "b", "c"} {
		var rid int64
		if err := db.QueryRowForTest(ctx, `INSERT INTO repositories (project_id, name, created_at, updated_at) VALUES ($1, $2, 0, 0) RETURNING id`,
			pid, "proj/"+repo).Scan(&rid); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			at := base.Add(time.Duration(i) * time.Hour).UnixMicro()
			var mid, tid int64
			if err := db.QueryRowForTest(ctx, `INSERT INTO manifests (repository_id, digest, media_type, size, payload, created_at)
				VALUES ($1, $2, 'application/vnd.oci.image.manifest.v1+json', 2, $3, $4) RETURNING id`,
				rid, fmt.Sprintf("sha256:%s%d", repo, i), []byte("{}"), at).Scan(&mid); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowForTest(ctx, `INSERT INTO tags (repository_id, name, manifest_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id`,
				rid, fmt.Sprintf("t%d", i), mid, at).Scan(&tid); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := Policy{Rules: []Rule{evalRule("latestPushedK", 1, evalSel(Matches, "**", false), "**")}, Scope: &Scope{Level: ScopeLevelProject, Ref: pid}}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	row, err := p.Row()
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.CreateRetentionPolicy(ctx, pid, row)
	if err != nil {
		t.Fatal(err)
	}
	project, err := db.ProjectByID(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	reg := &fakeRegistry{}
	return &runFixture{db: db, project: project, policy: id, reg: reg,
		r: &runner{db: db, reg: reg, log: slog.New(slog.DiscardHandler), now: time.Now}}
}

// execute records an execution and runs it to its end.
func (f *runFixture) execute(t *testing.T, dryRun bool) (meta.Execution, []meta.Task) {
	t.Helper()
	ctx := context.Background()
	id, err := f.db.CreateExecution(ctx, meta.Execution{Kind: meta.ExecutionKindRetention, RefID: f.policy, Trigger: TriggerManual,
		DryRun: dryRun, Params: fmt.Sprintf(`{"dry_run":%v,"operator":"tester"}`, dryRun)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.r.run(ctx, id, "7"); err != nil {
		t.Fatalf("run: %v", err)
	}
	e, err := f.db.Execution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tasks, _, err := f.db.ListTasks(ctx, id, meta.ListQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return e, tasks
}

func taskStatuses(tasks []meta.Task) string {
	var s []string
	for _, t := range tasks {
		s = append(s, t.Name+"="+t.Status)
	}
	return strings.Join(s, " ")
}

func TestRunDeletesWhatNoRuleRetains(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		f := newRunFixture(t, db)
		e, tasks := f.execute(t, false)
		if e.Status != meta.StatusSuccess || e.StartedAt.IsZero() || e.EndedAt.IsZero() {
			t.Fatalf("execution %+v", e)
		}
		if got := taskStatuses(tasks); got != "proj/a=Success proj/b=Success proj/c=Success" {
			t.Fatalf("tasks %s", got)
		}
		want := []string{"proj/a@sha256:a2", "proj/a@sha256:a1", "proj/b@sha256:b2", "proj/b@sha256:b1", "proj/c@sha256:c2", "proj/c@sha256:c1"}
		if !slices.Equal(f.reg.deleted, want) {
			t.Fatalf("deleted %v, want %v", f.reg.deleted, want)
		}
		if tasks[0].Result != `{"total":3,"retained":1,"job_id":"7"}` {
			t.Fatalf("task result %s", tasks[0].Result)
		}
		log, err := db.TaskLog(context.Background(), tasks[0].ID)
		if err != nil || !strings.Contains(log, "proj/a@sha256:a1 | t1") || strings.Count(log, "| DEL ") != 2 {
			t.Fatalf("log (%v):\n%s", err, log)
		}
	})
}

func TestRunDryRunDeletesNothing(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		f := newRunFixture(t, db)
		e, tasks := f.execute(t, true)
		if e.Status != meta.StatusSuccess || len(f.reg.deleted) != 0 || len(tasks) != 3 {
			t.Fatalf("execution %+v, deleted %v, tasks %d", e, f.reg.deleted, len(tasks))
		}
		for _, tk := range tasks {
			if tk.Result != `{"total":3,"retained":1,"job_id":"7"}` {
				t.Errorf("%s: result %s", tk.Name, tk.Result)
			}
		}
	})
}

func TestRunStopsBetweenDeletions(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		f := newRunFixture(t, db)
		ctx := context.Background()
		// The stop arrives while the first deletion runs.
		f.reg.onDelete = func(string, meta.Manifest) error {
			execs, _, err := db.ListExecutions(ctx, meta.ExecutionKindRetention, f.policy, meta.ListQuery{Limit: 1})
			if err != nil {
				return err
			}
			_, err = db.RequestExecutionStop(ctx, execs[0].ID)
			return err
		}
		e, tasks := f.execute(t, false)
		if e.Status != meta.StatusStopped {
			t.Fatalf("execution %+v", e)
		}
		if !slices.Equal(f.reg.deleted, []string{"proj/a@sha256:a2"}) {
			t.Fatalf("deleted %v after the stop", f.reg.deleted)
		}
		if got := taskStatuses(tasks); got != "proj/a=Stopped proj/b=Stopped proj/c=Stopped" {
			t.Fatalf("tasks %s", got)
		}
		if tasks[0].Result != `{"total":3,"retained":2,"job_id":"7"}` {
			t.Fatalf("stopped task's result %s", tasks[0].Result)
		}
		log, _ := db.TaskLog(ctx, tasks[0].ID)
		if !strings.Contains(log, "NOT DONE (stopped)") || !strings.Contains(log, "Retention job is stopped") {
			t.Fatalf("log:\n%s", log)
		}
	})
}

func TestRunCarriesOnAfterAFailedRepository(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		f := newRunFixture(t, db)
		f.reg.onDelete = func(repo string, _ meta.Manifest) error {
			if repo == "proj/b" {
				return errors.New("storage unavailable")
			}
			return nil
		}
		e, tasks := f.execute(t, false)
		if e.Status != meta.StatusError || e.StatusText != "1 of 3 repositories failed" {
			t.Fatalf("execution %+v", e)
		}
		if got := taskStatuses(tasks); got != "proj/a=Success proj/b=Error proj/c=Success" {
			t.Fatalf("tasks %s", got)
		}
		if len(f.reg.deleted) != 4 {
			t.Fatalf("deleted %v: the other repositories should be done", f.reg.deleted)
		}
		log, _ := db.TaskLog(context.Background(), tasks[1].ID)
		if !strings.Contains(log, "| ERR ") || !strings.Contains(log, "storage unavailable") || tasks[1].Result != `{"total":3,"retained":3,"job_id":"7"}` {
			t.Fatalf("failed task %s, log:\n%s", tasks[1].Result, log)
		}
	})
}

func TestRunOfADeletedPolicy(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		f := newRunFixture(t, db)
		ctx := context.Background()
		id, err := db.CreateExecution(ctx, meta.Execution{Kind: meta.ExecutionKindRetention, RefID: f.policy, Trigger: TriggerManual})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteRetentionPolicy(ctx, f.policy); err != nil {
			t.Fatal(err)
		}
		// Its executions went with it: the queued job finds nothing to do.
		if err := f.r.run(ctx, id, "1"); err != nil || len(f.reg.deleted) != 0 {
			t.Fatalf("run of a deleted policy: %v, deleted %v", err, f.reg.deleted)
		}
		if md, _ := db.ProjectMetadata(ctx, f.project.ID); md["retention_id"] != "" {
			t.Fatalf("retention_id survived: %v", md)
		}
	})
}

// TestRunEndsWithAnEvent: the end of a run is one event of its project, written with the
// execution's final status, saying how it ended and how many artifacts it deleted (a dry run:
// would have deleted), by the run's operator.
func TestRunEndsWithAnEvent(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		f := newRunFixture(t, db)
		emitted := metatest.NewEvents(t, db)
		tests := []struct {
			name     string
			dryRun   bool
			onDelete func(repo string, _ meta.Manifest) error
			want     events.Run
		}{
			{"run", false, nil, events.Run{Status: meta.StatusSuccess, Deleted: 6}},
			{"dry run", true, nil, events.Run{Status: meta.StatusSuccess, DryRun: true, Deleted: 6}},
			{"failed repository", false, func(repo string, _ meta.Manifest) error {
				if repo == "proj/b" {
					return errors.New("storage unavailable")
				}
				return nil
			}, events.Run{Status: meta.StatusError, Deleted: 4}},
		}
		for _, tt := range tests {
			f.reg.onDelete = tt.onDelete
			e, _ := f.execute(t, tt.dryRun)
			evs := emitted.Next()
			if len(evs) != 1 || evs[0].Type != events.RetentionCompleted || evs[0].ProjectID != f.project.ID ||
				evs[0].Resource != "proj" || evs[0].Actor != "tester" {
				t.Fatalf("%s: events %+v, want one %s of project %d by tester", tt.name, evs, events.RetentionCompleted, f.project.ID)
			}
			var got events.Run
			if err := events.Decode(evs[0], &got); err != nil {
				t.Fatal(err)
			}
			tt.want.ExecutionID = e.ID
			if got != tt.want {
				t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
			}
		}
	})
}
