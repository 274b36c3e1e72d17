package meta

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The administration of the job queue (internal/jobs): paused kinds of job, the processes
// working jobs, and what waits in the queue. The queue itself (River) keeps its own tables;
// WaitingJobs reads its job table.

// PausedJobKinds returns the paused kinds of job, each with the time it was paused.
func (q q) PausedJobKinds(ctx context.Context) (map[string]time.Time, error) {
	rows, err := q.query(ctx, "SELECT kind, paused_at FROM job_pauses")
	if err != nil {
		return nil, fmt.Errorf("paused job kinds: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var k string
		var t int64
		if err := rows.Scan(&k, &t); err != nil {
			return nil, err
		}
		out[k] = fromMicros(t)
	}
	return out, rows.Err()
}

// SetJobKindsPaused pauses kinds of job (a kind paused already keeps its time) or resumes
// them.
func (q q) SetJobKindsPaused(ctx context.Context, kinds []string, paused bool) error {
	if len(kinds) == 0 {
		return nil
	}
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = k
	}
	var err error
	if paused {
		values := make([]string, len(kinds))
		for i := range kinds {
			values[i] = fmt.Sprintf("($%d, $%d)", i+1, len(kinds)+1)
		}
		_, err = q.exec(ctx, "INSERT INTO job_pauses (kind, paused_at) VALUES "+strings.Join(values, ", ")+
			" ON CONFLICT (kind) DO NOTHING", append(args, now())...)
	} else {
		_, err = q.exec(ctx, "DELETE FROM job_pauses WHERE kind IN ("+placeholders(1, len(kinds))+")", args...)
	}
	if err != nil {
		return fmt.Errorf("pause job kinds %v: %w", kinds, err)
	}
	return nil
}

// JobPool is a process working jobs.
type JobPool struct {
	ID          string
	Host        string
	PID         int64
	Concurrency int
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// PutJobPool records a process that starts working jobs.
func (q q) PutJobPool(ctx context.Context, p JobPool) error {
	_, err := q.exec(ctx, `INSERT INTO job_pools (id, host, pid, concurrency, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $5)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
			started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
		p.ID, p.Host, p.PID, p.Concurrency, p.StartedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("record job pool %s: %w", p.ID, err)
	}
	return nil
}

// TouchJobPool notes that a process working jobs is alive.
func (q q) TouchJobPool(ctx context.Context, id string) error {
	_, err := q.exec(ctx, "UPDATE job_pools SET heartbeat_at = $2 WHERE id = $1", id, now())
	return err
}

// DeleteJobPools removes the pool of a process that stopped working jobs, and the pools whose
// last heartbeat is older than before (processes that died).
func (q q) DeleteJobPools(ctx context.Context, id string, before time.Time) error {
	_, err := q.exec(ctx, "DELETE FROM job_pools WHERE id = $1 OR heartbeat_at < $2", id, before.UnixMicro())
	return err
}

// JobPools returns the pools whose last heartbeat is after aliveAfter, oldest first.
func (q q) JobPools(ctx context.Context, aliveAfter time.Time) ([]JobPool, error) {
	rows, err := q.query(ctx, `SELECT id, host, pid, concurrency, started_at, heartbeat_at FROM job_pools
		WHERE heartbeat_at > $1 ORDER BY started_at, id`, aliveAfter.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("job pools: %w", err)
	}
	defer rows.Close()
	out := []JobPool{}
	for rows.Next() {
		var p JobPool
		var s, h int64
		if err := rows.Scan(&p.ID, &p.Host, &p.PID, &p.Concurrency, &s, &h); err != nil {
			return nil, err
		}
		p.StartedAt, p.HeartbeatAt = fromMicros(s), fromMicros(h)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Waiting is what waits in the job queue for one kind of job: how many jobs are ready to run,
// and how long the oldest of them has waited.
type Waiting struct {
	Count  int64
	Oldest time.Duration
}

// WaitingJobs reads the job queue's table: the jobs ready to run (River's state available:
// due, and waiting for a worker), by kind.
func (q q) WaitingJobs(ctx context.Context) (map[string]Waiting, error) {
	age := "CAST((julianday('now') - julianday(MIN(scheduled_at))) * 86400000000 AS INTEGER)"
	if q.d.name() == "postgres" {
		age = "CAST(EXTRACT(EPOCH FROM (now() - MIN(scheduled_at))) * 1000000 AS BIGINT)"
	}
	rows, err := q.query(ctx, "SELECT kind, COUNT(*), "+age+" FROM river_job WHERE state = 'available' GROUP BY kind")
	if err != nil {
		return nil, fmt.Errorf("waiting jobs: %w", err)
	}
	defer rows.Close()
	out := map[string]Waiting{}
	for rows.Next() {
		var k string
		var w Waiting
		var micros int64
		if err := rows.Scan(&k, &w.Count, &micros); err != nil {
			return nil, err
		}
		w.Oldest = max(time.Duration(micros)*time.Microsecond, 0)
		out[k] = w
	}
	return out, rows.Err()
}
