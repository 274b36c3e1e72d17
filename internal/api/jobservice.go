package api

// Harbor's job service monitor over Berth's job queue (swagger tags "jobservice" and
// "schedule"): /jobservice/queues (getting, and stopping, pausing and resuming a job type's
// queue), /jobservice/pools and their workers, /jobservice/jobs/{job_id} (stop) and its log,
// /schedules and /schedules/{job_type}/paused. See internal/jobmonitor.

import (
	"net/http"
	"strconv"
	"time"
)

func (h *Handler) jobServiceRoutes(r route) {
	r("GET /jobservice/queues", h.listJobQueues)
	r("PUT /jobservice/queues/{job_type}", h.actOnJobQueue)
	r("GET /jobservice/pools", h.listWorkerPools)
	r("GET /jobservice/pools/{pool_id}/workers", h.listWorkers)
	r("PUT /jobservice/jobs/{job_id}", h.stopJob)
	r("GET /jobservice/jobs/{job_id}/log", h.getJobLog)
	r("GET /schedules", h.listSchedules)
	r("GET /schedules/{job_type}/paused", h.getSchedulesPaused)
}

// jobQueueJSON is Harbor's JobQueue; latency in seconds.
type jobQueueJSON struct {
	JobType string `json:"job_type"`
	Count   int64  `json:"count"`
	Latency int64  `json:"latency"`
	Paused  bool   `json:"paused"`
}

func (h *Handler) listJobQueues(c *call) error {
	qs, err := h.JobMonitor.Queues(c.r.Context())
	if err != nil {
		return err
	}
	out := make([]jobQueueJSON, len(qs))
	for i, q := range qs {
		out[i] = jobQueueJSON{JobType: q.JobType, Count: q.Count, Latency: int64(q.Latency / time.Second), Paused: q.Paused}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// actionRequestJSON is Harbor's ActionRequest.
type actionRequestJSON struct {
	Action string `json:"action"`
}

func (h *Handler) actOnJobQueue(c *call) error {
	var req actionRequestJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.JobMonitor.Act(c.r.Context(), c.r.PathValue("job_type"), req.Action); err != nil {
		return err
	}
	return ok(c)
}

// workerPoolJSON is Harbor's WorkerPool: a process working jobs.
type workerPoolJSON struct {
	PID          int64  `json:"pid"`
	WorkerPoolID string `json:"worker_pool_id"`
	StartAt      string `json:"start_at"`
	HeartbeatAt  string `json:"heartbeat_at"`
	Concurrency  int    `json:"concurrency"`
	Host         string `json:"host"`
}

func (h *Handler) listWorkerPools(c *call) error {
	pools, err := h.JobMonitor.Pools(c.r.Context())
	if err != nil {
		return err
	}
	out := make([]workerPoolJSON, len(pools))
	for i, p := range pools {
		out[i] = workerPoolJSON{PID: p.PID, WorkerPoolID: p.ID, StartAt: harborTime(p.StartedAt), HeartbeatAt: harborTime(p.HeartbeatAt),
			Concurrency: p.Concurrency, Host: p.Host}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// workerJSON is Harbor's Worker: an idle worker has only its id and pool.
type workerJSON struct {
	ID      string  `json:"id"`
	PoolID  string  `json:"pool_id"`
	JobName string  `json:"job_name,omitempty"`
	JobID   string  `json:"job_id,omitempty"`
	StartAt *string `json:"start_at,omitempty"`
}

func (h *Handler) listWorkers(c *call) error {
	ws, err := h.JobMonitor.Workers(c.r.Context(), c.r.PathValue("pool_id"))
	if err != nil {
		return err
	}
	out := make([]workerJSON, len(ws))
	for i, w := range ws {
		out[i] = workerJSON{ID: w.ID, PoolID: w.PoolID}
		if w.JobID != 0 {
			start := harborTime(w.StartedAt)
			out[i].JobName, out[i].JobID, out[i].StartAt = w.JobType, strconv.FormatInt(w.JobID, 10), &start
		}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) stopJob(c *call) error {
	if err := h.JobMonitor.StopJob(c.r.Context(), c.r.PathValue("job_id")); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) getJobLog(c *call) error {
	log, err := h.JobMonitor.JobLog(c.r.Context(), c.r.PathValue("job_id"))
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Write([]byte(log))
	return nil
}

// scheduleTaskJSON is Harbor's ScheduleTask.
type scheduleTaskJSON struct {
	ID         int64  `json:"id"`
	VendorType string `json:"vendor_type"`
	VendorID   int64  `json:"vendor_id"`
	Cron       string `json:"cron"`
	UpdateTime string `json:"update_time"`
}

func (h *Handler) listSchedules(c *call) error {
	page, size, err := pagination(c.r.URL.Query())
	if err != nil {
		return err
	}
	tasks, total, err := h.JobMonitor.Schedules(c.r.Context(), (page-1)*size, size)
	if err != nil {
		return err
	}
	out := make([]scheduleTaskJSON, len(tasks))
	for i, t := range tasks {
		out[i] = scheduleTaskJSON{ID: t.ID, VendorType: t.VendorType, VendorID: t.VendorID, Cron: t.Cron, UpdateTime: harborTime(t.UpdateTime)}
	}
	setPageHeaders(c.w, c.r, page, size, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) getSchedulesPaused(c *call) error {
	paused, err := h.JobMonitor.SchedulesPaused(c.r.Context(), c.r.PathValue("job_type"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]bool{"paused": paused})
	return nil
}
