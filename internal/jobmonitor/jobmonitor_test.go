package jobmonitor

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/rbac"
)

// fakeQueue records what the service asks of the queue.
type fakeQueue struct {
	calls     []string
	schedules []jobs.NamedSchedule
}

func (q *fakeQueue) record(format string, args ...any) {
	q.calls = append(q.calls, fmt.Sprintf(format, args...))
}

func (q *fakeQueue) Kinds() []string { return []string{"gc", "scan", "schedule", "vulndb_update"} }
func (q *fakeQueue) Queues(context.Context) ([]jobs.KindQueue, error) {
	return []jobs.KindQueue{{Kind: "schedule", Paused: true}, {Kind: "gc", Waiting: 2, Latency: 3 * time.Second}}, nil
}
func (q *fakeQueue) Pause(_ context.Context, kinds ...string) error {
	q.record("pause %v", kinds)
	return nil
}
func (q *fakeQueue) Resume(_ context.Context, kinds ...string) error {
	q.record("resume %v", kinds)
	return nil
}
func (q *fakeQueue) Paused(_ context.Context, kind string) (bool, error) {
	q.record("paused %s", kind)
	return true, nil
}
func (q *fakeQueue) StopWaiting(_ context.Context, kinds ...string) (int, error) {
	q.record("stop waiting %v", kinds)
	return 0, nil
}
func (q *fakeQueue) StopJob(_ context.Context, id int64) error {
	q.record("stop job %d", id)
	if id == 404 {
		return fmt.Errorf("%w: %d", jobs.ErrNoSuchJob, id)
	}
	return nil
}
func (q *fakeQueue) StopRunning(context.Context) error {
	q.record("stop running")
	return nil
}
func (q *fakeQueue) JobLog(_ context.Context, id int64) (string, error) {
	q.record("log %d", id)
	return "log", nil
}
func (q *fakeQueue) Pools(context.Context) ([]jobs.Pool, error) { return nil, nil }
func (q *fakeQueue) Workers(_ context.Context, pool string) ([]jobs.PoolWorker, error) {
	q.record("workers %q", pool)
	if pool == "gone" {
		return nil, jobs.ErrNoSuchPool
	}
	return []jobs.PoolWorker{{ID: "p-1", PoolID: "p", JobKind: "scan", JobID: 7}, {ID: "p-2", PoolID: "p"}}, nil
}
func (q *fakeQueue) Schedules(context.Context) ([]jobs.NamedSchedule, error) { return q.schedules, nil }

var (
	admin = auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
	user  = auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 2, Name: "dave"})
	anon  = context.Background()
)

func TestAct(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ctx          context.Context
		jobType, act string
		call         string
		kind         fault.Kind // of the refusal; 0: none
	}{
		{admin, "GARBAGE_COLLECTION", "pause", "pause [gc]", 0},
		{admin, "garbage_collection", "Resume", "resume [gc]", 0},
		{admin, "IMAGE_SCAN", "stop", "stop waiting [scan]", 0},
		{admin, "SCHEDULER", "pause", "pause [schedule]", 0},
		{admin, "VULNDB_UPDATE", "pause", "pause [vulndb_update]", 0},
		{admin, "all", "stop", "stop waiting [gc scan schedule vulndb_update]", 0},
		{admin, "RETENTION", "pause", "", fault.NotFound}, // no worker registered in this queue
		{admin, "all", "drain", "", fault.Invalid},
		{user, "all", "pause", "", fault.Forbidden},
		{anon, "all", "pause", "", fault.Unauthorized},
	} {
		q := &fakeQueue{}
		s := &Service{Queue: q, Authz: &rbac.Authorizer{}}
		err := s.Act(c.ctx, c.jobType, c.act)
		if fault.KindOf(err) != c.kind || (c.kind != 0) == (err == nil) {
			t.Errorf("Act(%s, %s): %v, want a refusal of kind %d", c.jobType, c.act, err, c.kind)
		}
		if got := fmt.Sprint(q.calls); (c.call == "" && len(q.calls) > 0) || (c.call != "" && got != "["+c.call+"]") {
			t.Errorf("Act(%s, %s) asked the queue %v, want %q", c.jobType, c.act, q.calls, c.call)
		}
	}
}

func TestQueuesWorkersJobs(t *testing.T) {
	t.Parallel()
	q := &fakeQueue{}
	s := &Service{Queue: q, Authz: &rbac.Authorizer{}}
	qs, err := s.Queues(admin)
	if err != nil || len(qs) != 2 || qs[0] != (JobQueue{JobType: "GARBAGE_COLLECTION", Count: 2, Latency: 3 * time.Second}) ||
		qs[1] != (JobQueue{JobType: "SCHEDULER", Paused: true}) {
		t.Fatalf("queues, by type: %+v, %v", qs, err)
	}
	if _, err := s.Queues(user); !fault.Is(err, fault.Forbidden) {
		t.Errorf("queues for a user: %v", err)
	}
	ws, err := s.Workers(admin, "ALL")
	if err != nil || len(ws) != 2 || ws[0].JobType != "IMAGE_SCAN" || ws[1].JobType != "" {
		t.Fatalf("workers: %+v, %v", ws, err)
	}
	if _, err := s.Workers(admin, "gone"); !fault.Is(err, fault.NotFound) {
		t.Errorf("workers of a gone pool: %v", err)
	}
	for _, c := range []struct {
		id   string
		call string
		kind fault.Kind
	}{
		{"all", "stop running", 0},
		{"12", "stop job 12", 0},
		{"404", "stop job 404", fault.NotFound},
		{"abc", "", fault.NotFound},
		{"-1", "", fault.NotFound},
	} {
		q.calls = nil
		err := s.StopJob(admin, c.id)
		if fault.KindOf(err) != c.kind || (c.kind != 0) == (err == nil) || (c.call != "" && !slices.Equal(q.calls, []string{c.call})) {
			t.Errorf("StopJob(%s): %v, asked %v", c.id, err, q.calls)
		}
	}
	if log, err := s.JobLog(admin, "5"); err != nil || log != "log" {
		t.Errorf("JobLog: %q, %v", log, err)
	}
	if _, err := s.JobLog(anon, "5"); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("JobLog, anonymous: %v", err)
	}
}

func TestSchedules(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	q := &fakeQueue{schedules: []jobs.NamedSchedule{
		{Name: "gc", Schedule: jobs.Schedule{Cron: "0 0 2 * * *", Updated: at}},
		{Name: "retention:12", Schedule: jobs.Schedule{Cron: "0 0 0 * * *"}},
		{Name: "scan_all", Schedule: jobs.Schedule{Cron: "0 0 0 * * 0"}},
		{Name: "vulndb_update", Schedule: jobs.Schedule{Cron: "@every 24h0m0s"}},
	}}
	s := &Service{Queue: q, Authz: &rbac.Authorizer{}}
	all, total, err := s.Schedules(admin, 0, 0)
	if err != nil || total != 4 || len(all) != 4 {
		t.Fatalf("schedules: %+v, %d, %v", all, total, err)
	}
	var got []string
	ids := map[int64]bool{}
	for _, sc := range all {
		got = append(got, fmt.Sprintf("%s %d %s", sc.VendorType, sc.VendorID, sc.Cron))
		if sc.ID <= 0 || ids[sc.ID] {
			t.Errorf("schedule %s: id %d, want a positive id of its own", sc.VendorType, sc.ID)
		}
		ids[sc.ID] = true
	}
	want := []string{"GARBAGE_COLLECTION -1 0 0 2 * * *", "RETENTION 12 0 0 0 * * *", "SCAN_ALL -1 0 0 0 * * 0", "VULNDB_UPDATE -1 @every 24h0m0s"}
	if !slices.Equal(got, want) || !all[0].UpdateTime.Equal(at) {
		t.Errorf("schedules %q, want %q", got, want)
	}
	again, _, _ := s.Schedules(admin, 0, 0)
	if again[1].ID != all[1].ID {
		t.Error("a schedule's id changed between two listings")
	}
	page, total, err := s.Schedules(admin, 2, 1)
	if err != nil || total != 4 || len(page) != 1 || page[0].VendorType != "SCAN_ALL" {
		t.Errorf("third schedule alone: %+v, %d, %v", page, total, err)
	}
	if past, _, _ := s.Schedules(admin, 10, 10); len(past) != 0 {
		t.Errorf("a page past the end: %+v", past)
	}
	if _, _, err := s.Schedules(user, 0, 0); !fault.Is(err, fault.Forbidden) {
		t.Errorf("schedules for a user: %v", err)
	}

	if paused, err := s.SchedulesPaused(user, "All"); err != nil || !paused || !slices.Equal(q.calls, []string{"paused schedule"}) {
		t.Errorf("SchedulesPaused(All) for a user: %t, %v, asked %v", paused, err, q.calls)
	}
	if _, err := s.SchedulesPaused(user, "gc"); !fault.Is(err, fault.Invalid) {
		t.Errorf("SchedulesPaused of one type: %v", err)
	}
	if _, err := s.SchedulesPaused(anon, "all"); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("SchedulesPaused, anonymous: %v", err)
	}
}
