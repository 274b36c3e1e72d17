package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/scan/adapter"
)

// Harbor's job service monitor over Berth's job queue: /jobservice/queues, pools, workers,
// jobs and their logs, /schedules — on both databases.

type tJobQueue struct {
	JobType string `json:"job_type"`
	Count   int64  `json:"count"`
	Latency int64  `json:"latency"`
	Paused  bool   `json:"paused"`
}

func (a projAPI) jobQueues(t *testing.T) map[string]tJobQueue {
	t.Helper()
	var qs []tJobQueue
	a.get(t, apiBase+"/jobservice/queues", nil, &qs)
	out := map[string]tJobQueue{}
	for _, q := range qs {
		out[q.JobType] = q
	}
	return out
}

// gcStatus is the status of the newest garbage collection.
func (a projAPI) gcStatus(t *testing.T) string {
	t.Helper()
	var h []struct {
		JobStatus string `json:"job_status"`
	}
	a.get(t, apiBase+"/system/gc?page_size=1", nil, &h)
	if len(h) == 0 {
		t.Fatal("no garbage collection")
	}
	return h[0].JobStatus
}

func (a projAPI) queueAction(t *testing.T, jobType, action string) *http.Response {
	t.Helper()
	return a.ts.mrJSON(t, http.MethodPut, apiBase+"/jobservice/queues/"+jobType, nil, map[string]string{"action": action})
}

// TestJobQueuesPauseStopResume: pausing a job type keeps its jobs waiting (garbage collection
// here), stopping cleans them out and ends what they would have done as stopped, resuming lets
// the next run; "all" acts on every type.
func TestJobQueuesPauseStopResume(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		qs := a.jobQueues(t)
		for _, typ := range []string{"GARBAGE_COLLECTION", "IMAGE_SCAN", "SCAN_ALL", "RETENTION", "SCHEDULER", "VULNDB_UPDATE"} {
			if q, ok := qs[typ]; !ok || q.Paused {
				t.Errorf("queue %s: %+v (listed %t)", typ, q, ok)
			}
		}

		expectStatus(t, a.queueAction(t, "garbage_collection", "Pause"), http.StatusOK)
		if q := a.jobQueues(t)["GARBAGE_COLLECTION"]; !q.Paused {
			t.Fatalf("paused queue: %+v", q)
		}
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/system/gc/schedule", nil, []byte(`{"schedule":{"type":"Manual"}}`)), http.StatusCreated)
		time.Sleep(2 * time.Second)
		if s := a.gcStatus(t); s != "Pending" {
			t.Fatalf("a collection of a paused type is %s", s)
		}
		if q := a.jobQueues(t)["GARBAGE_COLLECTION"]; q.Count != 1 || q.Latency < 1 {
			t.Fatalf("queue with a collection waiting 2 s: %+v", q)
		}
		expectStatus(t, a.queueAction(t, "GARBAGE_COLLECTION", "stop"), http.StatusOK)
		if s := a.gcStatus(t); s != "Stopped" {
			t.Fatalf("a stopped waiting collection is %s", s)
		}
		if q := a.jobQueues(t)["GARBAGE_COLLECTION"]; q.Count != 0 || !q.Paused {
			t.Fatalf("queue after stop: %+v", q)
		}
		expectStatus(t, a.queueAction(t, "GARBAGE_COLLECTION", "resume"), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/system/gc/schedule", nil, []byte(`{"schedule":{"type":"Manual"}}`)), http.StatusCreated)
		deadline := time.Now().Add(time.Minute)
		for a.gcStatus(t) != "Success" {
			if time.Now().After(deadline) {
				t.Fatalf("the collection after resume: %s", a.gcStatus(t))
			}
			time.Sleep(100 * time.Millisecond)
		}

		expectStatus(t, a.queueAction(t, "all", "pause"), http.StatusOK)
		for typ, q := range a.jobQueues(t) {
			if !q.Paused {
				t.Errorf("after pausing all, %s is not paused", typ)
			}
		}
		var paused struct {
			Paused *bool `json:"paused"`
		}
		a.get(t, apiBase+"/schedules/all/paused", nil, &paused)
		if paused.Paused == nil || !*paused.Paused {
			t.Errorf("schedules while SCHEDULER is paused: %+v", paused)
		}
		expectStatus(t, a.queueAction(t, "ALL", "resume"), http.StatusOK)
		for typ, q := range a.jobQueues(t) {
			if q.Paused {
				t.Errorf("after resuming all, %s is paused", typ)
			}
		}
		_, dave := a.user(t, "dave")
		a.get(t, apiBase+"/schedules/all/paused", dave, &paused)
		if paused.Paused == nil || *paused.Paused {
			t.Errorf("schedules after resume: %+v", paused)
		}

		errs := []struct {
			name, method, path string
			auth               http.Header
			body               string
			status             int
			code               string
		}{
			{"unknown job type", "PUT", "/jobservice/queues/NOSUCH", nil, `{"action":"pause"}`, 404, "NOT_FOUND"},
			{"unknown action", "PUT", "/jobservice/queues/all", nil, `{"action":"drain"}`, 400, "BAD_REQUEST"},
			{"no body", "PUT", "/jobservice/queues/all", nil, ``, 400, "BAD_REQUEST"},
			{"unknown field", "PUT", "/jobservice/queues/all", nil, `{"act":"pause"}`, 400, "BAD_REQUEST"},
			{"queues, not an administrator", "GET", "/jobservice/queues", dave, ``, 403, "FORBIDDEN"},
			{"queues, anonymous", "GET", "/jobservice/queues", anonymous(), ``, 401, "UNAUTHORIZED"},
			{"pause, not an administrator", "PUT", "/jobservice/queues/all", dave, `{"action":"pause"}`, 403, "FORBIDDEN"},
			{"schedules paused, one type", "GET", "/schedules/GARBAGE_COLLECTION/paused", nil, ``, 400, "BAD_REQUEST"},
			{"schedules paused, anonymous", "GET", "/schedules/all/paused", anonymous(), ``, 401, "UNAUTHORIZED"},
			{"schedules, not an administrator", "GET", "/schedules", dave, ``, 403, "FORBIDDEN"},
		}
		for _, c := range errs {
			t.Run(c.name, func(t *testing.T) {
				var body []byte
				if c.body != "" {
					body = []byte(c.body)
				}
				expectAPIError(t, ts.do(t, c.method, apiBase+c.path, hdr(c.auth, "Content-Type", "application/json"), body), c.status, c.code)
			})
		}
	})
}

type tScheduleTask struct {
	ID         int64  `json:"id"`
	VendorType string `json:"vendor_type"`
	VendorID   int64  `json:"vendor_id"`
	Cron       string `json:"cron"`
	UpdateTime string `json:"update_time"`
}

// TestSchedulesList: /schedules lists what Berth runs on a schedule, as Harbor's vendor types,
// with Harbor's paging.
func TestSchedulesList(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/system/gc/schedule", nil, []byte(`{"schedule":{"type":"Daily","cron":"0 0 3 * * *"}}`)), http.StatusCreated)
		expectStatus(t, ts.do(t, http.MethodPost, apiBase+"/system/scanAll/schedule", nil, []byte(`{"schedule":{"type":"Weekly"}}`)), http.StatusCreated)
		var list []tScheduleTask
		resp := a.get(t, apiBase+"/schedules", nil, &list)
		if resp.Header.Get("X-Total-Count") != "2" || len(list) != 2 {
			t.Fatalf("schedules: %+v, X-Total-Count %s", list, resp.Header.Get("X-Total-Count"))
		}
		gc, all := list[0], list[1]
		if gc.VendorType != "GARBAGE_COLLECTION" || gc.VendorID != -1 || gc.Cron != "0 0 3 * * *" || gc.ID <= 0 ||
			all.VendorType != "SCAN_ALL" || all.Cron != "0 0 0 * * 0" || all.ID == gc.ID {
			t.Fatalf("schedules: %+v", list)
		}
		if _, err := time.Parse(time.RFC3339, gc.UpdateTime); err != nil {
			t.Errorf("update_time %q: %v", gc.UpdateTime, err)
		}
		var again []tScheduleTask
		resp = a.get(t, apiBase+"/schedules?page=2&page_size=1", nil, &again)
		if len(again) != 1 || again[0] != all || !strings.Contains(resp.Header.Get("Link"), `rel="prev"`) {
			t.Fatalf("page 2 of 1: %+v, Link %q", again, resp.Header.Get("Link"))
		}
	})
}

type tWorker struct {
	ID      string  `json:"id"`
	PoolID  string  `json:"pool_id"`
	JobName string  `json:"job_name"`
	JobID   string  `json:"job_id"`
	StartAt *string `json:"start_at"`
}

// TestJobServicePoolsWorkersAndJobs: the serving processes are the pools; a running scan shows
// on one of their workers, its log can be read, and stopping its job stops the scan.
func TestJobServicePoolsWorkersAndJobs(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		var pools []struct {
			PID          int64  `json:"pid"`
			WorkerPoolID string `json:"worker_pool_id"`
			StartAt      string `json:"start_at"`
			HeartbeatAt  string `json:"heartbeat_at"`
			Concurrency  int    `json:"concurrency"`
			Host         string `json:"host"`
		}
		a.get(t, apiBase+"/jobservice/pools", nil, &pools)
		if len(pools) != 1 || pools[0].PID == 0 || pools[0].Concurrency != ts.cfg.JobWorkers || pools[0].WorkerPoolID == "" {
			t.Fatalf("pools: %+v", pools)
		}
		pool := pools[0].WorkerPoolID

		srv := adapter.NewServer(slowEngine{scEngine{"Slow"}}, func(*http.Request) bool { return true }, nil)
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		resp := ts.mrJSON(t, http.MethodPost, apiBase+"/scanners", nil, map[string]any{"name": "slow", "url": hs.URL})
		expectStatus(t, resp, http.StatusCreated)
		uuid := strings.TrimPrefix(resp.Header.Get("Location"), apiBase+"/scanners/")
		project, _ := ts.mrProject(t, "jobs", false)
		expectStatus(t, ts.mrJSON(t, http.MethodPut, apiBase+"/projects/"+project+"/scanner", nil, map[string]string{"uuid": uuid}), http.StatusOK)
		ts.pushDebianImage(t, project+"/app", "v1", "bash 5.2.15-2")
		art := apiBase + "/projects/" + project + "/repositories/app/artifacts/v1"
		expectStatus(t, ts.do(t, http.MethodPost, art+"/scan", nil, nil), http.StatusAccepted)

		var busy tWorker
		deadline := time.Now().Add(time.Minute)
		for busy.JobID == "" {
			var ws []tWorker
			a.get(t, apiBase+"/jobservice/pools/"+pool+"/workers", nil, &ws)
			if len(ws) != ts.cfg.JobWorkers {
				t.Fatalf("workers of a pool of %d: %+v", ts.cfg.JobWorkers, ws)
			}
			for _, w := range ws {
				if w.JobName == "IMAGE_SCAN" {
					busy = w
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no worker ever ran the scan: %+v", ws)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if busy.PoolID != pool || busy.StartAt == nil {
			t.Fatalf("busy worker: %+v", busy)
		}
		var everyPool []tWorker
		a.get(t, apiBase+"/jobservice/pools/all/workers", nil, &everyPool)
		if len(everyPool) != ts.cfg.JobWorkers {
			t.Fatalf("workers of all pools: %+v", everyPool)
		}

		resp = ts.do(t, http.MethodGet, apiBase+"/jobservice/jobs/"+busy.JobID+"/log", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if log := string(respBody(t, resp)); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
			!strings.Contains(log, "queued scan job "+busy.JobID) || !strings.Contains(log, "attempt 1 started in "+pool) {
			t.Fatalf("job log (%s):\n%s", resp.Header.Get("Content-Type"), log)
		}
		expectStatus(t, ts.do(t, http.MethodPut, apiBase+"/jobservice/jobs/"+busy.JobID, nil, nil), http.StatusOK)
		if o := ts.waitScan(t, project, "app", "v1"); o.Status != "Stopped" {
			t.Fatalf("scan after its job was stopped: %+v", o)
		}
		// Stopping a finished job, or every running job, changes nothing and succeeds.
		expectStatus(t, ts.do(t, http.MethodPut, apiBase+"/jobservice/jobs/"+busy.JobID, nil, nil), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodPut, apiBase+"/jobservice/jobs/all", nil, nil), http.StatusOK)

		_, dave := a.user(t, "dave")
		errs := []struct {
			name, method, path string
			auth               http.Header
			status             int
			code               string
		}{
			{"unknown pool", "GET", "/jobservice/pools/nosuch/workers", nil, 404, "NOT_FOUND"},
			{"unknown job", "PUT", "/jobservice/jobs/987654321", nil, 404, "NOT_FOUND"},
			{"not a job id", "PUT", "/jobservice/jobs/abc", nil, 404, "NOT_FOUND"},
			{"log of an unknown job", "GET", "/jobservice/jobs/987654321/log", nil, 404, "NOT_FOUND"},
			{"pools, not an administrator", "GET", "/jobservice/pools", dave, 403, "FORBIDDEN"},
			{"workers, anonymous", "GET", "/jobservice/pools/all/workers", anonymous(), 401, "UNAUTHORIZED"},
			{"stop, not an administrator", "PUT", "/jobservice/jobs/all", dave, 403, "FORBIDDEN"},
			{"log, not an administrator", "GET", "/jobservice/jobs/" + busy.JobID + "/log", dave, 403, "FORBIDDEN"},
		}
		for _, c := range errs {
			t.Run(c.name, func(t *testing.T) {
				expectAPIError(t, ts.do(t, c.method, apiBase+c.path, c.auth, nil), c.status, c.code)
			})
		}

		if ts.dialect == "postgres" {
			// A second replica is a second pool, seen from either.
			r := ts.replica(t)
			var both []json.RawMessage
			projAPI{r}.get(t, apiBase+"/jobservice/pools", nil, &both)
			if len(both) != 2 {
				t.Fatalf("pools with two replicas: %s", both)
			}
		}
	})
}
