package api

// Tag retention (swagger tag "Retention"): a project's policy, its runs and their per-repository
// tasks and logs. The policy model and its evaluation live in internal/retention; runs are jobs
// on the queue. As in Harbor, every endpoint needs a signed-in caller, and a policy is
// authorised as the tag-retention resource of its project (HARBOR-NOTES §d: project admins,
// maintainers and developers).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
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
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, retention.Metadatas())
	return nil
}

// policyError answers a policy that fails validation: Harbor's 409 for a rule given twice,
// 400 for the rest.
func policyError(err error) error {
	if errors.Is(err, retention.ErrRuleConflict) {
		return conflict(err.Error())
	}
	return badRequest(err.Error())
}

func (h *Handler) createRetention(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	var pol retention.Policy
	if err := decode(c.r, &pol); err != nil {
		return err
	}
	if pol.Scope == nil || pol.Scope.Level != retention.ScopeLevelProject || pol.Scope.Ref <= 0 {
		// Normalize names what is wrong with the scope.
		return policyError(pol.Normalize())
	}
	ctx := c.r.Context()
	if _, err := h.DB.ProjectByID(ctx, pol.Scope.Ref); errors.Is(err, meta.ErrNotFound) {
		return badRequest(fmt.Sprintf("scope.ref: invalid project id %d", pol.Scope.Ref))
	} else if err != nil {
		return err
	}
	p, err := h.resolveProject(c, strconv.FormatInt(pol.Scope.Ref, 10), false)
	if err != nil {
		return err
	}
	if err := h.authorize(c, p, rbac.ResTagRetention, rbac.ActCreate); err != nil {
		return err
	}
	if err := pol.Normalize(); err != nil {
		return policyError(err)
	}
	row, err := pol.Row()
	if err != nil {
		return err
	}
	id, err := h.DB.CreateRetentionPolicy(ctx, p.ID, row)
	switch {
	case errors.Is(err, meta.ErrConflict):
		existing, err := h.DB.RetentionPolicyOfProject(ctx, p.ID)
		if errors.Is(err, meta.ErrNotFound) {
			return conflict(fmt.Sprintf("project %d was getting or losing a retention policy at the same time: try again", p.ID))
		} else if err != nil {
			return err
		}
		return badRequest(fmt.Sprintf("project %d already has retention policy %d: update it with PUT /retentions/%d", p.ID, existing.ID, existing.ID))
	case errors.Is(err, meta.ErrNotFound):
		return badRequest(fmt.Sprintf("scope.ref: invalid project id %d", p.ID))
	case err != nil:
		return err
	}
	pol.ID = id
	if err := retention.ApplySchedule(ctx, h.Jobs, pol); err != nil {
		return err
	}
	return created(c, strings.TrimSuffix(c.r.URL.Path, "/")+"/"+strconv.FormatInt(id, 10))
}

// retentionPolicy resolves the path's policy and checks the permission in its project. A
// policy of a project the caller cannot see is "not found", as a missing one is.
func (h *Handler) retentionPolicy(c *call, act rbac.Action) (retention.Policy, meta.Project, error) {
	if err := h.requireSignedIn(c); err != nil {
		return retention.Policy{}, meta.Project{}, err
	}
	id, err := pathID(c, "id", "retention policy")
	if err != nil {
		return retention.Policy{}, meta.Project{}, err
	}
	missing := notFound(fmt.Sprintf("retention policy %d not found", id))
	row, err := h.DB.RetentionPolicy(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		return retention.Policy{}, meta.Project{}, missing
	}
	if err != nil {
		return retention.Policy{}, meta.Project{}, err
	}
	p, err := h.resolveProject(c, strconv.FormatInt(row.ProjectID, 10), false)
	var ae *Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return retention.Policy{}, meta.Project{}, missing
	}
	if err != nil {
		return retention.Policy{}, meta.Project{}, err
	}
	if err := h.authorize(c, p, rbac.ResTagRetention, act); err != nil {
		return retention.Policy{}, meta.Project{}, err
	}
	pol, err := retention.PolicyOf(row)
	return pol, p, err
}

func (h *Handler) getRetention(c *call) error {
	pol, _, err := h.retentionPolicy(c, rbac.ActRead)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, pol)
	return nil
}

func (h *Handler) updateRetention(c *call) error {
	old, p, err := h.retentionPolicy(c, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var pol retention.Policy
	if err := decode(c.r, &pol); err != nil {
		return err
	}
	if pol.ID != 0 && pol.ID != old.ID {
		return badRequest(fmt.Sprintf("id %d in the body does not match retention policy %d of the path", pol.ID, old.ID))
	}
	if pol.Scope == nil {
		pol.Scope = old.Scope
	} else if pol.Scope.Ref != p.ID || pol.Scope.Level != retention.ScopeLevelProject {
		return badRequest(fmt.Sprintf("scope: retention policy %d belongs to project %d (level %q); its scope cannot change",
			old.ID, p.ID, retention.ScopeLevelProject))
	}
	if err := pol.Normalize(); err != nil {
		return policyError(err)
	}
	pol.ID = old.ID
	row, err := pol.Row()
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	if err := h.DB.UpdateRetentionPolicy(ctx, pol.ID, row); errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("retention policy %d not found", pol.ID))
	} else if err != nil {
		return err
	}
	if err := retention.ApplySchedule(ctx, h.Jobs, pol); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteRetention(c *call) error {
	pol, _, err := h.retentionPolicy(c, rbac.ActDelete)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	if err := retention.DropSchedule(ctx, h.Jobs, pol.ID); err != nil {
		return err
	}
	if err := h.DB.DeleteRetentionPolicy(ctx, pol.ID); errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("retention policy %d not found", pol.ID))
	} else if err != nil {
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
	pol, _, err := h.retentionPolicy(c, rbac.ActList)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	execs, total, err := h.DB.ListExecutions(c.r.Context(), meta.ExecutionKindRetention, pol.ID, lq)
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
	pol, _, err := h.retentionPolicy(c, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var req struct {
		DryRun bool `json:"dry_run"`
	}
	if c.r.ContentLength != 0 {
		if err := decode(c.r, &req); err != nil {
			return err
		}
	}
	id, err := retention.Run(c.r.Context(), h.DB, h.Jobs, pol.ID, req.DryRun, c.p.Name)
	if err != nil {
		return err
	}
	return created(c, strings.TrimSuffix(c.r.URL.Path, "/")+"/"+strconv.FormatInt(id, 10))
}

// retentionExecution resolves the path's execution of the policy.
func (h *Handler) retentionExecution(c *call, pol retention.Policy) (meta.Execution, error) {
	eid, err := pathID(c, "eid", "retention execution")
	if err != nil {
		return meta.Execution{}, err
	}
	e, err := h.DB.Execution(c.r.Context(), eid)
	if errors.Is(err, meta.ErrNotFound) || err == nil && (e.Kind != meta.ExecutionKindRetention || e.RefID != pol.ID) {
		return meta.Execution{}, notFound(fmt.Sprintf("execution %d of retention policy %d not found", eid, pol.ID))
	}
	return e, err
}

func (h *Handler) stopRetentionExecution(c *call) error {
	pol, _, err := h.retentionPolicy(c, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var req struct {
		Action string `json:"action"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.Action != "stop" {
		return badRequest(fmt.Sprintf("action %q: only \"stop\" is supported", req.Action))
	}
	e, err := h.retentionExecution(c, pol)
	if err != nil {
		return err
	}
	// Stopping one that has ended already changes nothing, as in Harbor.
	if _, err := h.DB.RequestExecutionStop(c.r.Context(), e.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
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
	var res retention.TaskResult
	_ = json.Unmarshal([]byte(t.Result), &res)
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
	pol, _, err := h.retentionPolicy(c, rbac.ActList)
	if err != nil {
		return err
	}
	e, err := h.retentionExecution(c, pol)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	tasks, total, err := h.DB.ListTasks(c.r.Context(), e.ID, lq)
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
	pol, _, err := h.retentionPolicy(c, rbac.ActRead)
	if err != nil {
		return err
	}
	e, err := h.retentionExecution(c, pol)
	if err != nil {
		return err
	}
	tid, err := pathID(c, "tid", "retention task")
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	t, err := h.DB.Task(ctx, tid)
	if errors.Is(err, meta.ErrNotFound) || err == nil && t.ExecutionID != e.ID {
		return notFound(fmt.Sprintf("task %d of retention execution %d not found", tid, e.ID))
	}
	if err != nil {
		return err
	}
	log, err := h.DB.TaskLog(ctx, t.ID)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	_, err = c.w.Write([]byte(log))
	return err
}
