package retention

// Runs of a retention policy: an execution of kind "retention" (its RefID the policy), worked
// by one job that gives every repository the policy applies to a task, with a log of what was
// retained or deleted and why, and the counts Harbor shows (total, retained). A dry run
// decides and logs the same and deletes nothing. A stop request is honoured between
// repositories and between deletions; a repository that fails does not stop the others (its
// task ends in Error, and so does the execution). Runs start by hand (the API) or on the
// policy's cron (the schedule "retention:<policy id>").

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
)

// Triggers of executions, as Harbor names them.
const (
	TriggerManual   = "MANUAL"
	TriggerSchedule = "SCHEDULE"
)

const schedulePrefix = "retention"

// ScheduleName is the name of a policy's schedule in the job queue.
func ScheduleName(policyID int64) string {
	return schedulePrefix + ":" + strconv.FormatInt(policyID, 10)
}

// Registry is what a run needs of the registry service (registry.Service): which tags of a
// repository are immutable, and deleting an artifact as the API does (tags, accessories,
// unused index children, events, quota). An interface, because the registry imports this
// package for its selectors.
type Registry interface {
	ImmutableTags(ctx context.Context, project meta.Project, repo string) (func(tag string) bool, error)
	DeleteArtifact(ctx context.Context, repo string, m meta.Manifest) error
}

// RunStore is what a run reads and writes; *meta.DB satisfies it.
type RunStore interface {
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	jobs.Executions
	SetExecutionStatus(ctx context.Context, id int64, status, text string) error
	SetExecutionResult(ctx context.Context, id int64, result string) error
	StopRequested(ctx context.Context, id int64) (bool, error)
	ListTasks(ctx context.Context, executionID int64, lq meta.ListQuery) ([]meta.Task, int64, error)
	CreateTask(ctx context.Context, t meta.Task) (int64, error)
	SetTaskStatus(ctx context.Context, id int64, status string) error
	SetTaskResult(ctx context.Context, id int64, result string) error
	AppendTaskLog(ctx context.Context, id int64, text string) error
	TaskLog(ctx context.Context, id int64) (string, error)
	RetentionPolicy(ctx context.Context, id int64) (meta.RetentionPolicy, error)
	ProjectByID(ctx context.Context, id int64) (meta.Project, error)
	ProjectRepositories(ctx context.Context, projectID int64) ([]meta.Repository, error)
	RetentionArtifacts(ctx context.Context, repoID int64) ([]meta.RetentionArtifact, error)
	ManifestByDigest(ctx context.Context, repo, digest string) (meta.Manifest, error)
}

// Register adds the worker of retention runs and the handler of retention schedules to the
// queue; call it before the queue starts.
func Register(q *jobs.Queue, db RunStore, reg Registry, log *slog.Logger) {
	r := &runner{db: db, reg: reg, q: q, log: log, now: time.Now}
	jobs.Register(q, &worker{r: r})
	// A run's log is in its tasks, one per repository.
	q.Track(runArgs{}.Kind(), jobs.Record{Stop: jobs.StopExecution, Log: r.jobLog})
	q.HandleSchedules(schedulePrefix, r.scheduled)
}

// ApplySchedule makes the policy's schedule follow its trigger: set (or replaced) for a cron,
// removed without one.
func ApplySchedule(ctx context.Context, q *jobs.Queue, p Policy) error {
	if cron := p.Cron(); cron != "" {
		params, err := json.Marshal(scheduleParams{PolicyID: p.ID})
		if err != nil {
			return err
		}
		return q.SetSchedule(ctx, ScheduleName(p.ID), jobs.TypeCustom, cron, params)
	}
	return DropSchedule(ctx, q, p.ID)
}

// DropSchedule removes a policy's schedule (the policy is going).
func DropSchedule(ctx context.Context, q *jobs.Queue, policyID int64) error {
	return q.RemoveSchedule(ctx, ScheduleName(policyID))
}

type scheduleParams struct {
	PolicyID int64 `json:"policy_id"`
}

// execParams are an execution's parameters.
type execParams struct {
	DryRun   bool   `json:"dry_run"`
	Operator string `json:"operator,omitempty"`
}

// TaskResult is a task's summary: Harbor's total and retained, and the job that ran it.
type TaskResult struct {
	Total    int    `json:"total"`
	Retained int    `json:"retained"`
	JobID    string `json:"job_id,omitempty"`
}

// ResultOf reads a task's result; a task that has not ended has none (zero).
func ResultOf(t meta.Task) TaskResult {
	var res TaskResult
	_ = json.Unmarshal([]byte(t.Result), &res)
	return res
}

// Removed is how many artifacts the task deleted (a dry run's: would have deleted).
func (r TaskResult) Removed() int { return r.Total - r.Retained }

// jobLog is the log of a run's job: its tasks' logs, one after the other.
func (r *runner) jobLog(ctx context.Context, args json.RawMessage) (string, error) {
	var a runArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return "", fmt.Errorf("retention job arguments: %w", err)
	}
	tasks, _, err := r.db.ListTasks(ctx, a.ExecutionID, meta.ListQuery{Limit: 10000})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, t := range tasks {
		l, err := r.db.TaskLog(ctx, t.ID)
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return "", err
		}
		fmt.Fprintf(&b, "task %d (%s): %s\n%s", t.ID, t.Name, t.Status, l)
	}
	return b.String(), nil
}

// runArgs is the job of one execution.
type runArgs struct {
	ExecutionID int64 `json:"execution_id"`
}

func (runArgs) Kind() string { return meta.ExecutionKindRetention }

func start(ctx context.Context, tx *meta.Tx, q *jobs.Queue, policyID int64, trigger string, dryRun bool, operator string) (int64, error) {
	params, err := json.Marshal(execParams{DryRun: dryRun, Operator: operator})
	if err != nil {
		return 0, err
	}
	id, err := tx.CreateExecution(ctx, meta.Execution{Kind: meta.ExecutionKindRetention, RefID: policyID, Trigger: trigger,
		DryRun: dryRun, Params: string(params)})
	if err != nil {
		return 0, err
	}
	if _, err := q.InsertTx(ctx, tx, runArgs{ExecutionID: id}, nil); err != nil {
		return 0, err
	}
	return id, nil
}

type runner struct {
	db  RunStore
	reg Registry
	q   *jobs.Queue
	log *slog.Logger
	now func() time.Time
}

// scheduled starts a run of the schedule's policy, in the transaction that queues the
// schedule's next run. A schedule whose policy went with its project goes too.
func (r *runner) scheduled(ctx context.Context, tx *meta.Tx, name string, params json.RawMessage) error {
	var p scheduleParams
	if err := json.Unmarshal(params, &p); err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	if _, err := tx.RetentionPolicy(ctx, p.PolicyID); errors.Is(err, meta.ErrNotFound) {
		return tx.DeleteSchedule(ctx, name)
	} else if err != nil {
		return err
	}
	_, err := start(ctx, tx, r.q, p.PolicyID, TriggerSchedule, false, "")
	return err
}

type worker struct {
	jobs.WorkerDefaults[runArgs]
	r *runner
}

// Work runs one execution. Its failures end up in the execution's status, not in the job's:
// the job fails (and the queue retries it) only when the process stops under it, and a retry
// carries on with the tasks that have not ended.
func (w *worker) Work(ctx context.Context, job *jobs.Job[runArgs]) error {
	return w.r.run(ctx, job.Args.ExecutionID, strconv.FormatInt(job.ID, 10))
}

// plan is what a run works on.
type plan struct {
	exec    meta.Execution
	params  execParams
	policy  Policy
	project meta.Project
	repos   map[string]meta.Repository
	jobID   string
}

func (r *runner) run(ctx context.Context, execID int64, jobID string) error {
	e, err := r.db.Execution(ctx, execID)
	if errors.Is(err, meta.ErrNotFound) {
		return nil // deleted with its policy before it ran
	}
	if err != nil {
		return err
	}
	if e.Finished() {
		return nil // stopped before it ran
	}
	release, err := jobs.Hold(ctx, r.db, execID)
	if err != nil {
		return err
	}
	defer release()
	if err := r.db.SetExecutionStatus(ctx, execID, meta.StatusRunning, ""); err != nil {
		return ignoreGone(err)
	}
	p := &plan{exec: e, jobID: jobID}
	_ = json.Unmarshal([]byte(e.Params), &p.params)
	operator := p.params.Operator
	if operator == "" {
		operator = "retention"
	}
	ctx = auth.WithPrincipal(ctx, auth.Principal{Kind: auth.User, Name: operator})

	tasks, err := r.prepare(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Warn("retention run failed", "execution", execID, "err", err)
		return r.end(context.WithoutCancel(ctx), p, meta.StatusError, err.Error(), 0)
	}
	if len(tasks) == 0 {
		return r.end(ctx, p, meta.StatusSuccess, "no resources for retention", 0)
	}
	failed, stopped, deleted := 0, false, 0
	for _, t := range tasks {
		switch t.Status {
		case meta.StatusError:
			failed++
		case meta.StatusStopped:
			stopped = true
		}
		if t.Status == meta.StatusError || t.Status == meta.StatusStopped || t.Status == meta.StatusSuccess {
			deleted += ResultOf(t).Removed() // ended in an earlier attempt of the job
			continue
		}
		if stopped || r.stopRequested(ctx, execID) {
			stopped = true
			r.endTask(ctx, t.ID, meta.StatusStopped)
			continue
		}
		status, res, err := r.runTask(ctx, p, t)
		if ctx.Err() != nil {
			return ctx.Err() // the process is stopping: a retry finishes the run
		}
		if err != nil {
			r.log.Warn("retention of a repository failed", "execution", execID, "repository", t.Name, "err", err)
		}
		deleted += res.Removed()
		switch status {
		case meta.StatusError:
			failed++
		case meta.StatusStopped:
			stopped = true
		}
	}
	summary, _ := json.Marshal(map[string]int{"tasks": len(tasks), "failed": failed})
	if err := r.db.SetExecutionResult(ctx, execID, string(summary)); err != nil {
		return ignoreGone(err)
	}
	switch {
	case stopped:
		return r.end(ctx, p, meta.StatusStopped, "stopped on request", deleted)
	case failed > 0:
		return r.end(ctx, p, meta.StatusError, fmt.Sprintf("%d of %d repositories failed", failed, len(tasks)), deleted)
	}
	return r.end(ctx, p, meta.StatusSuccess, "", deleted)
}

// end records the end of the run with its final status and, in the same transaction, the
// event that says so. An execution deleted with its policy is nothing left to do.
func (r *runner) end(ctx context.Context, p *plan, status, text string, deleted int) error {
	err := r.db.Tx(ctx, func(tx *meta.Tx) error {
		e, err := tx.Execution(ctx, p.exec.ID)
		if err != nil || e.Finished() {
			return err
		}
		if err := tx.SetExecutionStatus(ctx, p.exec.ID, status, text); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.RetentionCompleted, p.project.ID, p.project.Name,
			events.Run{ExecutionID: p.exec.ID, Status: status, DryRun: p.exec.DryRun, Deleted: deleted}))
		return nil
	})
	return ignoreGone(err)
}

// prepare reads the policy and its project and returns the execution's tasks: created on the
// first attempt, one per repository the policy applies to; those of the earlier attempt when
// the job is retried.
func (r *runner) prepare(ctx context.Context, p *plan) ([]meta.Task, error) {
	row, err := r.db.RetentionPolicy(ctx, p.exec.RefID)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, fmt.Errorf("retention policy %d no longer exists", p.exec.RefID)
	}
	if err != nil {
		return nil, err
	}
	if p.policy, err = PolicyOf(row); err != nil {
		return nil, err
	}
	// The run's end names the project even when it cannot be read.
	p.project.ID = row.ProjectID
	project, err := r.db.ProjectByID(ctx, row.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("project %d of retention policy %d: %w", row.ProjectID, row.ID, err)
	}
	p.project = project
	repos, err := r.db.ProjectRepositories(ctx, p.project.ID)
	if err != nil {
		return nil, err
	}
	p.repos = map[string]meta.Repository{}
	for _, repo := range repos {
		p.repos[repo.Name] = repo
	}
	var tasks []meta.Task
	for lq := (meta.ListQuery{Limit: 500}); ; lq.Offset += lq.Limit {
		page, total, err := r.db.ListTasks(ctx, p.exec.ID, lq)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, page...)
		if int64(len(tasks)) >= total || len(page) == 0 {
			break
		}
	}
	if len(tasks) > 0 {
		return tasks, nil
	}
	for _, repo := range repos {
		if !Applies(p.policy.Rules, RepositoryInProject(repo.Name, p.project.Name)) {
			continue
		}
		id, err := r.db.CreateTask(ctx, meta.Task{ExecutionID: p.exec.ID, Name: repo.Name})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, meta.Task{ID: id, ExecutionID: p.exec.ID, Name: repo.Name, Status: meta.StatusPending})
	}
	return tasks, nil
}

// stopRequested reports whether the run must stop: asked to, or its execution is gone.
func (r *runner) stopRequested(ctx context.Context, execID int64) bool {
	stop, err := r.db.StopRequested(ctx, execID)
	if errors.Is(err, meta.ErrNotFound) {
		return true
	}
	if err != nil {
		r.log.Warn("retention: read stop request", "execution", execID, "err", err)
	}
	return stop
}

func (r *runner) endTask(ctx context.Context, id int64, status string) {
	if err := r.db.SetTaskStatus(ctx, id, status); err != nil {
		r.log.Warn("retention: task status", "task", id, "err", err)
	}
}

// outcome marks in the log what became of a candidate.
const (
	markRetain  = "RETAIN"
	markDelete  = "DEL"
	markDryRun  = "DEL (dry run)"
	markError   = "ERR"
	markNotDone = "NOT DONE (stopped)"
)

// runTask applies the policy to one repository and returns the task's final status and result.
func (r *runner) runTask(ctx context.Context, p *plan, t meta.Task) (string, TaskResult, error) {
	r.endTask(ctx, t.ID, meta.StatusRunning)
	var log bytes.Buffer
	logf := func(format string, args ...any) {
		fmt.Fprintf(&log, "%s [INFO] "+format+"\n", append([]any{r.now().UTC().Format(time.RFC3339)}, args...)...)
	}
	finish := func(status string, res TaskResult, err error) (string, TaskResult, error) {
		if err != nil {
			fmt.Fprintf(&log, "%s [ERROR] %v\n", r.now().UTC().Format(time.RFC3339), err)
		}
		// The run's context may have ended (the process is stopping): what was done is still
		// recorded, and the task runs again when the job is retried.
		wctx := context.WithoutCancel(ctx)
		if ctx.Err() != nil {
			status = meta.StatusPending
		}
		res.JobID = p.jobID
		b, _ := json.Marshal(res)
		if e := r.db.AppendTaskLog(wctx, t.ID, log.String()); e != nil {
			r.log.Warn("retention: task log", "task", t.ID, "err", e)
		}
		if e := r.db.SetTaskResult(wctx, t.ID, string(b)); e != nil {
			r.log.Warn("retention: task result", "task", t.ID, "err", e)
		}
		r.endTask(wctx, t.ID, status)
		return status, res, err
	}

	logf("Run retention process.")
	fmt.Fprintf(&log, " Repository: %s\n Rule Algorithm: %s\n Dry Run: %v\n", t.Name, p.policy.Algorithm, p.exec.DryRun)
	repo, ok := p.repos[t.Name]
	if !ok {
		logf("Repository %s no longer exists", t.Name)
		return finish(meta.StatusSuccess, TaskResult{}, nil)
	}
	arts, err := r.db.RetentionArtifacts(ctx, repo.ID)
	if err != nil {
		return finish(meta.StatusError, TaskResult{}, err)
	}
	immutable, err := r.reg.ImmutableTags(ctx, p.project, repo.Name)
	if err != nil {
		return finish(meta.StatusError, TaskResult{}, err)
	}
	logf("Load %d candidates from repository %s", len(arts), repo.Name)
	decisions := Evaluate(p.policy.Rules, RepositoryInProject(repo.Name, p.project.Name), candidates(arts), immutable, r.now())

	status := meta.StatusSuccess
	res := TaskResult{Total: len(decisions)}
	marks := make([]string, len(decisions))
	var failures []string
	for i, d := range decisions {
		if d.Verdict != Deleted {
			marks[i] = markRetain
			continue
		}
		if status == meta.StatusStopped || r.stopRequested(ctx, p.exec.ID) {
			status, marks[i] = meta.StatusStopped, markNotDone
			continue
		}
		if p.exec.DryRun {
			marks[i] = markDryRun
			continue
		}
		if err := r.deleteArtifact(ctx, repo.Name, d.Digest); err != nil {
			if ctx.Err() != nil {
				return finish(meta.StatusPending, res, ctx.Err())
			}
			marks[i] = markError
			failures = append(failures, fmt.Sprintf("%s@%s: %v", repo.Name, d.Digest, err))
			status = meta.StatusError
			continue
		}
		marks[i] = markDelete
	}
	for _, m := range marks {
		if m != markDelete && m != markDryRun {
			res.Retained++
		}
	}
	writeTable(&log, repo.Name, decisions, marks)
	for _, f := range failures {
		fmt.Fprintf(&log, "%s [ERROR] Retention error for artifact %s\n", r.now().UTC().Format(time.RFC3339), f)
	}
	logf("Retained %d of %d artifacts", res.Retained, res.Total)
	if status == meta.StatusStopped {
		logf("Retention job is stopped")
	}
	if len(failures) > 0 {
		return finish(status, res, fmt.Errorf("%d of the deletions failed", len(failures)))
	}
	return finish(status, res, nil)
}

// deleteArtifact deletes a candidate through the registry; one deleted meanwhile is no error.
func (r *runner) deleteArtifact(ctx context.Context, repo, digest string) error {
	m, err := r.db.ManifestByDigest(ctx, repo, digest)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.reg.DeleteArtifact(ctx, repo, m)
}

// candidates turns the store's artifacts into the engine's: an artifact's times are the
// latest of its own and its tags' (Harbor's candidates).
func candidates(arts []meta.RetentionArtifact) []Candidate {
	out := make([]Candidate, len(arts))
	for i, a := range arts {
		c := Candidate{Digest: a.Digest, PushedAt: a.PushedAt, PulledAt: a.PulledAt, Tags: make([]string, 0, len(a.Tags))}
		for _, t := range a.Tags {
			c.Tags = append(c.Tags, t.Name)
			c.PushedAt = later(c.PushedAt, t.PushedAt)
			c.PulledAt = later(c.PulledAt, t.PulledAt)
		}
		out[i] = c
	}
	return out
}

// writeTable logs every candidate with its times, what became of it and why, as Harbor's
// retention job log does.
func writeTable(w *bytes.Buffer, repo string, decisions []Decision, marks []string) {
	if len(decisions) == 0 {
		return
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006/01/02 15:04:05")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "\n Artifact\t Tags\t PushedTime\t PulledTime\t Retention\t Reason\t")
	for i, d := range decisions {
		tags := strings.Join(d.Tags, ",")
		if tags == "" {
			tags = "<untagged>"
		}
		fmt.Fprintf(tw, " %s@%s\t %s\t %s\t %s\t %s\t %s\t\n", repo, d.Digest, tags, ts(d.PushedAt), ts(d.PulledAt), marks[i], d.Reason())
	}
	tw.Flush()
}

// ignoreGone treats an execution deleted with its policy as nothing left to do.
func ignoreGone(err error) error {
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	return err
}
