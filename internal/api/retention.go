package api

// Tag retention (swagger tag "Retention"): a project's policy, its runs and their per-repository
// tasks and logs, through the retention service. The policy model and its evaluation live in
// internal/retention; runs are jobs on the queue.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/retention"
)

func (h *Handler) retentionRoutes(r route) {
	r("GET /retentions/metadatas", h.retentionMetadatas)
	r("POST /retentions", h.createRetention)
	r("GET /retentions/{id}", h.getRetention)
	r("PUT /retentions/{id}", h.updateRetention)
	r("DELETE /retentions/{id}", h.deleteRetention)
	r("GET /retentions/{id}/executions", h.listRetentionExecutions)
	r("POST /retentions/{id}/executions", h.triggerRetention)
	r("PATCH /retentions/{id}/executions/{eid}", h.stopRetentionExecution)
	r("GET /retentions/{id}/executions/{eid}/tasks", h.listRetentionTasks)
	r("GET /retentions/{id}/executions/{eid}/tasks/{tid}", h.retentionTaskLog)
}

func (h *Handler) retentionMetadatas(c *call) error {
	md, err := h.Retention.Metadatas(c.r.Context())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, md)
	return nil
}

func (h *Handler) createRetention(c *call) error {
	var pol retention.Policy
	if err := decode(c.r, &pol); err != nil {
		return err
	}
	id, err := h.Retention.Create(c.r.Context(), pol)
	if err != nil {
		return err
	}
	return created(c, strings.TrimSuffix(c.r.URL.Path, "/")+"/"+strconv.FormatInt(id, 10))
}

func retentionID(c *call) (int64, error) { return pathID(c, "id", "retention policy") }

func (h *Handler) getRetention(c *call) error {
	id, err := retentionID(c)
	if err != nil {
		return err
	}
	pol, err := h.Retention.Get(c.r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, pol)
	return nil
}

func (h *Handler) updateRetention(c *call) error {
	id, err := retentionID(c)
	if err != nil {
		return err
	}
	var pol retention.Policy
	if err := decode(c.r, &pol); err != nil {
		return err
	}
	if err := h.Retention.Update(c.r.Context(), id, pol); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteRetention(c *call) error {
	id, err := retentionID(c)
	if err != nil {
		return err
	}
	if err := h.Retention.Delete(c.r.Context(), id); err != nil {
		return err
	}
	return ok(c)
}

// retentionExecutionJSON is Harbor's RetentionExecution. Statuses are Harbor's task statuses
// (Pending, Running, Success, Error, Stopped), which the store uses as they are; start_time is
// when the run was asked for until it starts (Harbor sets it at creation).
type retentionExecutionJSON struct {
	ID        int64  `json:"id"`
	PolicyID  int64  `json:"policy_id"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time,omitempty"`
	Status    string `json:"status"`
	Trigger   string `json:"trigger"`
	DryRun    bool   `json:"dry_run"`
}

func retentionExecutionToJSON(e meta.Execution) retentionExecutionJSON {
	out := retentionExecutionJSON{ID: e.ID, PolicyID: e.RefID, StartTime: harborTime(e.CreatedAt), Status: e.Status,
		Trigger: e.Trigger, DryRun: e.DryRun}
	if !e.StartedAt.IsZero() {
		out.StartTime = harborTime(e.StartedAt)
	}
	if !e.EndedAt.IsZero() {
		out.EndTime = harborTime(e.EndedAt)
	}
	return out
}

func (h *Handler) listRetentionExecutions(c *call) error {
	id, err := retentionID(c)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	execs, total, err := h.Retention.Executions(c.r.Context(), id, lq)
	if err != nil {
		return err
	}
	out := make([]retentionExecutionJSON, 0, len(execs))
	for _, e := range execs {
		out = append(out, retentionExecutionToJSON(e))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) triggerRetention(c *call) error {
	id, err := retentionID(c)
	if err != nil {
		return err
	}
	var req struct {
		DryRun bool `json:"dry_run"`
	}
	if err := decodeOptional(c.r, &req); err != nil {
		return err
	}
	eid, err := h.Retention.Trigger(c.r.Context(), id, req.DryRun)
	if err != nil {
		return err
	}
	return created(c, strings.TrimSuffix(c.r.URL.Path, "/")+"/"+strconv.FormatInt(eid, 10))
}

func retentionExecutionID(c *call) (int64, error) { return pathID(c, "eid", "retention execution") }

func (h *Handler) stopRetentionExecution(c *call) error {
	id, err := retentionID(c)
	if err != nil {
		return err
	}
	eid, err := retentionExecutionID(c)
	if err != nil {
		return err
	}
	var req struct {
		Action string `json:"action"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Retention.Stop(c.r.Context(), id, eid, req.Action); err != nil {
		return err
	}
	return ok(c)
}

// retentionTaskJSON is Harbor's RetentionExecutionTask: one repository of a run.
type retentionTaskJSON struct {
	ID             int64  `json:"id"`
	ExecutionID    int64  `json:"execution_id"`
	Repository     string `json:"repository"`
	JobID          string `json:"job_id"`
	Status         string `json:"status"`
	StatusCode     int    `json:"status_code"`
	StatusRevision int64  `json:"status_revision"`
	StartTime      string `json:"start_time,omitempty"`
	EndTime        string `json:"end_time,omitempty"`
	Total          int    `json:"total"`
	Retained       int    `json:"retained"`
}

// taskStatusCode is Harbor's code of a job status (jobservice job.Status.Code).
func taskStatusCode(status string) int {
	switch status {
	case meta.StatusPending:
		return 0
	case meta.StatusRunning:
		return 2
	case meta.StatusStopped, meta.StatusError, meta.StatusSuccess:
		return 3
	}
	return -1
}

func retentionTaskToJSON(t meta.Task) retentionTaskJSON {
	res := retention.ResultOf(t)
	out := retentionTaskJSON{ID: t.ID, ExecutionID: t.ExecutionID, Repository: t.Name, JobID: res.JobID, Status: t.Status,
		StatusCode: taskStatusCode(t.Status), StatusRevision: t.UpdatedAt.Unix(), Total: res.Total, Retained: res.Retained}
	if !t.StartedAt.IsZero() {
		out.StartTime = harborTime(t.StartedAt)
	}
	if !t.EndedAt.IsZero() {
		out.EndTime = harborTime(t.EndedAt)
	}
	return out
}

func (h *Handler) listRetentionTasks(c *call) error {
	id, err := retentionID(c)
	if err != nil {
		return err
	}
	eid, err := retentionExecutionID(c)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	tasks, total, err := h.Retention.Tasks(c.r.Context(), id, eid, lq)
	if err != nil {
		return err
	}
	out := make([]retentionTaskJSON, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, retentionTaskToJSON(t))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// retentionTaskLog answers a task's log as text: the table of the repository's artifacts,
// what became of each and why.
func (h *Handler) retentionTaskLog(c *call) error {
	id, err := retentionID(c)
	if err != nil {
		return err
	}
	eid, err := retentionExecutionID(c)
	if err != nil {
		return err
	}
	tid, err := pathID(c, "tid", "retention task")
	if err != nil {
		return err
	}
	log, err := h.Retention.TaskLog(c.r.Context(), id, eid, tid)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	_, err = c.w.Write([]byte(log))
	return err
}
