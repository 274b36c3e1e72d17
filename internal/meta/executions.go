package meta

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Execution statuses, shared by every kind of work; they are the statuses Harbor's GC and
// retention APIs show.
const (
	StatusPending = "Pending"
	StatusRunning = "Running"
	StatusSuccess = "Success"
	StatusError   = "Error"
	StatusStopped = "Stopped"
)

// Execution is one run of a kind of background work ("gc", "retention", …).
type Execution struct {
	ID            int64
	Kind          string
	RefID         int64  // the policy it runs (retention policy id); 0 for system-wide work
	Trigger       string // MANUAL, SCHEDULE, EVENT
	Status        string
	StatusText    string
	DryRun        bool
	Params        string // JSON
	Result        string // JSON summary
	StopRequested bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	StartedAt     time.Time // zero until it runs
	EndedAt       time.Time // zero until it ends
}

// Finished reports whether the execution has ended, one way or another.
func (e Execution) Finished() bool {
	return e.Status == StatusSuccess || e.Status == StatusError || e.Status == StatusStopped
}

const executionColumns = `id, kind, ref_id, trigger_kind, status, status_text, dry_run, params, result,
	stop_requested, created_at, updated_at, started_at, ended_at`

func scanExecution(row rowScanner) (Execution, error) {
	var e Execution
	var c, u int64
	var s, f sql.NullInt64
	err := row.Scan(&e.ID, &e.Kind, &e.RefID, &e.Trigger, &e.Status, &e.StatusText, &e.DryRun, &e.Params, &e.Result,
		&e.StopRequested, &c, &u, &s, &f)
	e.CreatedAt, e.UpdatedAt = fromMicros(c), fromMicros(u)
	if s.Valid {
		e.StartedAt = fromMicros(s.Int64)
	}
	if f.Valid {
		e.EndedAt = fromMicros(f.Int64)
	}
	return e, notFound(err)
}

// CreateExecution records a new execution (status Pending unless set) and returns its id.
func (q q) CreateExecution(ctx context.Context, e Execution) (int64, error) {
	if e.Status == "" {
		e.Status = StatusPending
	}
	if e.Params == "" {
		e.Params = "{}"
	}
	if e.Result == "" {
		e.Result = "{}"
	}
	t := now()
	var id int64
	err := q.writeRow(ctx, `INSERT INTO executions (kind, ref_id, trigger_kind, status, status_text, dry_run, params, result, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id`,
		e.Kind, e.RefID, e.Trigger, e.Status, e.StatusText, e.DryRun, e.Params, e.Result, t).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record %s execution: %w", e.Kind, err)
	}
	return id, nil
}

// Execution returns one execution; ErrNotFound if there is none.
func (q q) Execution(ctx context.Context, id int64) (Execution, error) {
	return scanExecution(q.queryRow(ctx, "SELECT "+executionColumns+" FROM executions WHERE id = $1", id))
}

var executionListColumns = map[string]Column{
	"id":            {Expr: "id", Type: ColInt},
	"status":        {Expr: "status", Type: ColText},
	"trigger":       {Expr: "trigger_kind", Type: ColText},
	"creation_time": {Expr: "created_at", Type: ColTime},
	"update_time":   {Expr: "updated_at", Type: ColTime},
	"start_time":    {Expr: "started_at", Type: ColTime},
	"end_time":      {Expr: "ended_at", Type: ColTime},
}

// ListExecutions returns one page of the executions of a kind (and policy, when refID > 0),
// newest first unless sorted otherwise, and the total.
func (q q) ListExecutions(ctx context.Context, kind string, refID int64, lq ListQuery) ([]Execution, int64, error) {
	w := NewWhere(1)
	w.Add("kind = ?", kind)
	if refID > 0 {
		w.Add("ref_id = ?", refID)
	}
	if err := w.Apply(lq, executionListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, executionListColumns, "id DESC", "id DESC")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM executions"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count executions: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+executionColumns+" FROM executions"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	out := []Execution{}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// SetExecutionStatus moves an execution to a status, noting when it started or ended. An
// execution that has ended keeps its final status (a late "Running" from a retried job does
// not revive it); ErrNotFound if there is no such execution.
func (q q) SetExecutionStatus(ctx context.Context, id int64, status, text string) error {
	t := now()
	var res sql.Result
	var err error
	switch status {
	case StatusRunning:
		res, err = q.exec(ctx, `UPDATE executions SET status = $2, status_text = $3, updated_at = $4,
			started_at = COALESCE(started_at, $4) WHERE id = $1 AND status NOT IN ('Success', 'Error', 'Stopped')`, id, status, text, t)
	case StatusSuccess, StatusError, StatusStopped:
		res, err = q.exec(ctx, `UPDATE executions SET status = $2, status_text = $3, updated_at = $4, ended_at = $4
			WHERE id = $1 AND status NOT IN ('Success', 'Error', 'Stopped')`, id, status, text, t)
	default:
		res, err = q.exec(ctx, `UPDATE executions SET status = $2, status_text = $3, updated_at = $4
			WHERE id = $1 AND status NOT IN ('Success', 'Error', 'Stopped')`, id, status, text, t)
	}
	if err != nil {
		return fmt.Errorf("execution %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := q.Execution(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// TouchExecution notes that a running execution is alive.
func (q q) TouchExecution(ctx context.Context, id int64) error {
	_, err := q.exec(ctx, "UPDATE executions SET updated_at = $2 WHERE id = $1 AND status = 'Running'", id, now())
	return err
}

// SetExecutionResult stores an execution's JSON summary.
func (q q) SetExecutionResult(ctx context.Context, id int64, result string) error {
	if _, err := q.exec(ctx, "UPDATE executions SET result = $2, updated_at = $3 WHERE id = $1", id, result, now()); err != nil {
		return fmt.Errorf("execution %d: %w", id, err)
	}
	return nil
}

// AppendExecutionLog adds text to an execution's log.
func (q q) AppendExecutionLog(ctx context.Context, id int64, text string) error {
	if text == "" {
		return nil
	}
	if _, err := q.exec(ctx, "UPDATE executions SET log = log || $2 WHERE id = $1", id, text); err != nil {
		return fmt.Errorf("execution %d log: %w", id, err)
	}
	return nil
}

// ExecutionLog returns an execution's log.
func (q q) ExecutionLog(ctx context.Context, id int64) (string, error) {
	var s string
	err := q.queryRow(ctx, "SELECT log FROM executions WHERE id = $1", id).Scan(&s)
	return s, notFound(err)
}

// RequestExecutionStop asks a running execution to stop (its worker checks between steps) and
// ends a pending one at once as Stopped. It reports whether the execution was still going.
func (q q) RequestExecutionStop(ctx context.Context, id int64) (bool, error) {
	e, err := q.Execution(ctx, id)
	if err != nil || e.Finished() {
		return false, err
	}
	t := now()
	if _, err := q.exec(ctx, `UPDATE executions SET status = 'Stopped', updated_at = $2, ended_at = $2, stop_requested = TRUE
		WHERE id = $1 AND status = 'Pending'`, id, t); err != nil {
		return false, fmt.Errorf("stop execution %d: %w", id, err)
	}
	if _, err := q.exec(ctx, `UPDATE executions SET stop_requested = TRUE, updated_at = $2
		WHERE id = $1 AND status = 'Running'`, id, t); err != nil {
		return false, fmt.Errorf("stop execution %d: %w", id, err)
	}
	return true, nil
}

// StopRequested reports whether someone asked the execution to stop.
func (q q) StopRequested(ctx context.Context, id int64) (bool, error) {
	var b bool
	err := q.queryRow(ctx, "SELECT stop_requested FROM executions WHERE id = $1", id).Scan(&b)
	return b, notFound(err)
}

// Task is one part of an execution (retention: one repository).
type Task struct {
	ID          int64
	ExecutionID int64
	Name        string
	Status      string
	Result      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	StartedAt   time.Time
	EndedAt     time.Time
}

const taskColumns = `id, execution_id, name, status, result, created_at, updated_at, started_at, ended_at`

func scanTask(row rowScanner) (Task, error) {
	var t Task
	var c, u int64
	var s, f sql.NullInt64
	err := row.Scan(&t.ID, &t.ExecutionID, &t.Name, &t.Status, &t.Result, &c, &u, &s, &f)
	t.CreatedAt, t.UpdatedAt = fromMicros(c), fromMicros(u)
	if s.Valid {
		t.StartedAt = fromMicros(s.Int64)
	}
	if f.Valid {
		t.EndedAt = fromMicros(f.Int64)
	}
	return t, notFound(err)
}

// CreateTask adds a task to an execution and returns its id.
func (q q) CreateTask(ctx context.Context, t Task) (int64, error) {
	if t.Status == "" {
		t.Status = StatusPending
	}
	if t.Result == "" {
		t.Result = "{}"
	}
	ts := now()
	var id int64
	err := q.writeRow(ctx, `INSERT INTO tasks (execution_id, name, status, result, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5) RETURNING id`, t.ExecutionID, t.Name, t.Status, t.Result, ts).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record task of execution %d: %w", t.ExecutionID, err)
	}
	return id, nil
}

// Task returns one task; ErrNotFound if there is none.
func (q q) Task(ctx context.Context, id int64) (Task, error) {
	return scanTask(q.queryRow(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = $1", id))
}

var taskListColumns = map[string]Column{
	"id":            {Expr: "id", Type: ColInt},
	"name":          {Expr: "name", Type: ColText},
	"status":        {Expr: "status", Type: ColText},
	"creation_time": {Expr: "created_at", Type: ColTime},
	"start_time":    {Expr: "started_at", Type: ColTime},
	"end_time":      {Expr: "ended_at", Type: ColTime},
}

// ListTasks returns one page of an execution's tasks in creation order, and the total.
func (q q) ListTasks(ctx context.Context, executionID int64, lq ListQuery) ([]Task, int64, error) {
	w := NewWhere(1)
	w.Add("execution_id = ?", executionID)
	if err := w.Apply(lq, taskListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, taskListColumns, "id", "id")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM tasks"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count tasks: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+taskColumns+" FROM tasks"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, total, rows.Err()
}

// SetTaskStatus moves a task to a status, noting when it started or ended.
func (q q) SetTaskStatus(ctx context.Context, id int64, status string) error {
	t := now()
	var err error
	switch status {
	case StatusRunning:
		_, err = q.exec(ctx, "UPDATE tasks SET status = $2, updated_at = $3, started_at = COALESCE(started_at, $3) WHERE id = $1", id, status, t)
	case StatusSuccess, StatusError, StatusStopped:
		_, err = q.exec(ctx, "UPDATE tasks SET status = $2, updated_at = $3, ended_at = $3 WHERE id = $1", id, status, t)
	default:
		_, err = q.exec(ctx, "UPDATE tasks SET status = $2, updated_at = $3 WHERE id = $1", id, status, t)
	}
	if err != nil {
		return fmt.Errorf("task %d: %w", id, err)
	}
	return nil
}

// SetTaskResult stores a task's JSON summary.
func (q q) SetTaskResult(ctx context.Context, id int64, result string) error {
	if _, err := q.exec(ctx, "UPDATE tasks SET result = $2, updated_at = $3 WHERE id = $1", id, result, now()); err != nil {
		return fmt.Errorf("task %d: %w", id, err)
	}
	return nil
}

// AppendTaskLog adds text to a task's log.
func (q q) AppendTaskLog(ctx context.Context, id int64, text string) error {
	if text == "" {
		return nil
	}
	if _, err := q.exec(ctx, "UPDATE tasks SET log = log || $2 WHERE id = $1", id, text); err != nil {
		return fmt.Errorf("task %d log: %w", id, err)
	}
	return nil
}

// TaskLog returns a task's log.
func (q q) TaskLog(ctx context.Context, id int64) (string, error) {
	var s string
	err := q.queryRow(ctx, "SELECT log FROM tasks WHERE id = $1", id).Scan(&s)
	return s, notFound(err)
}

// StoredSchedule is a cron schedule of recurring work and its queued next run.
type StoredSchedule struct {
	Name      string
	Type      string
	Cron      string
	Params    string
	NextAt    time.Time // zero if none is queued
	JobID     int64     // the queued next run; 0 if none
	CreatedAt time.Time
	UpdatedAt time.Time
}

const scheduleColumns = "name, type, cron, params, next_at, job_id, created_at, updated_at"

func scanSchedule(row rowScanner) (StoredSchedule, error) {
	var s StoredSchedule
	var next, job sql.NullInt64
	var c, u int64
	err := row.Scan(&s.Name, &s.Type, &s.Cron, &s.Params, &next, &job, &c, &u)
	if next.Valid {
		s.NextAt = fromMicros(next.Int64)
	}
	s.JobID = job.Int64
	s.CreatedAt, s.UpdatedAt = fromMicros(c), fromMicros(u)
	return s, notFound(err)
}

// Schedule returns a schedule by name; ErrNotFound if there is none. In a transaction on
// PostgreSQL it locks the row, so two processes cannot both queue its next run.
func (q q) Schedule(ctx context.Context, name string) (StoredSchedule, error) {
	lock := ""
	if q.tx != nil {
		lock = q.d.lockUpdate()
	}
	return scanSchedule(q.queryRowW(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE name = $1"+lock, name))
}

// Schedules returns every schedule.
func (q q) Schedules(ctx context.Context) ([]StoredSchedule, error) {
	rows, err := q.queryW(ctx, "SELECT "+scheduleColumns+" FROM schedules ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	var out []StoredSchedule
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// PutSchedule creates or replaces a schedule (type, cron, params, next run).
func (q q) PutSchedule(ctx context.Context, s StoredSchedule) error {
	if s.Params == "" {
		s.Params = "{}"
	}
	t := now()
	_, err := q.exec(ctx, `INSERT INTO schedules (name, type, cron, params, next_at, job_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
		ON CONFLICT (name) DO UPDATE SET type = excluded.type, cron = excluded.cron, params = excluded.params,
			next_at = excluded.next_at, job_id = excluded.job_id, updated_at = excluded.updated_at`,
		s.Name, s.Type, s.Cron, s.Params, nullMicros(s.NextAt), nullInt(s.JobID), t)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", s.Name, err)
	}
	return nil
}

// DeleteSchedule removes a schedule; ErrNotFound if there was none.
func (q q) DeleteSchedule(ctx context.Context, name string) error {
	res, err := q.exec(ctx, "DELETE FROM schedules WHERE name = $1", name)
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}
