package meta

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// Tag retention: the projects' policies, and what a run reads of a repository. A policy's
// runs are executions of kind ExecutionKindRetention (executions.go) whose RefID is the
// policy's id.

// ExecutionKindRetention is the kind of the executions of retention policies.
const ExecutionKindRetention = "retention"

// RetentionPolicy is a stored tag retention policy.
type RetentionPolicy struct {
	ID        int64
	ProjectID int64
	Policy    string // JSON: algorithm, rules, trigger (see internal/retention)
	CreatedAt time.Time
	UpdatedAt time.Time
}

const retentionPolicyColumns = "id, project_id, policy, created_at, updated_at"

func scanRetentionPolicy(row rowScanner) (RetentionPolicy, error) {
	var p RetentionPolicy
	var c, u int64
	err := row.Scan(&p.ID, &p.ProjectID, &p.Policy, &c, &u)
	p.CreatedAt, p.UpdatedAt = fromMicros(c), fromMicros(u)
	return p, notFound(err)
}

// CreateRetentionPolicy stores the policy of a project and records its id in the project's
// metadata as retention_id (where Harbor's portal looks for it): ErrConflict when the project
// has a policy already, ErrNotFound when the project is gone.
func (db *DB) CreateRetentionPolicy(ctx context.Context, projectID int64, policy string) (int64, error) {
	var id int64
	err := db.Tx(ctx, func(tx *Tx) error {
		t := now()
		res, err := tx.exec(ctx, "UPDATE projects SET updated_at = updated_at WHERE id = $1", projectID)
		if err != nil {
			return fmt.Errorf("create retention policy: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		err = tx.queryRowW(ctx, `INSERT INTO retention_policies (project_id, policy, created_at, updated_at)
			VALUES ($1, $2, $3, $3) RETURNING id`, projectID, policy, t).Scan(&id)
		if err != nil {
			if tx.d.isUniqueViolation(err) {
				return ErrConflict
			}
			return fmt.Errorf("create retention policy: %w", err)
		}
		// SQLite may hand out the id of a policy that went with its project: its runs go now.
		if _, err := tx.exec(ctx, "DELETE FROM executions WHERE kind = $1 AND ref_id = $2", ExecutionKindRetention, id); err != nil {
			return fmt.Errorf("create retention policy: %w", err)
		}
		_, err = tx.exec(ctx, `INSERT INTO project_metadata (project_id, name, value) VALUES ($1, 'retention_id', $2)
			ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value`, projectID, strconv.FormatInt(id, 10))
		if err != nil {
			return fmt.Errorf("create retention policy: metadata: %w", err)
		}
		return nil
	})
	return id, err
}

// RetentionPolicy returns a policy by id; ErrNotFound if there is none.
func (q q) RetentionPolicy(ctx context.Context, id int64) (RetentionPolicy, error) {
	return scanRetentionPolicy(q.queryRowW(ctx, "SELECT "+retentionPolicyColumns+" FROM retention_policies WHERE id = $1", id))
}

// RetentionPolicyOfProject returns the policy of a project; ErrNotFound if it has none.
func (q q) RetentionPolicyOfProject(ctx context.Context, projectID int64) (RetentionPolicy, error) {
	return scanRetentionPolicy(q.queryRowW(ctx, "SELECT "+retentionPolicyColumns+" FROM retention_policies WHERE project_id = $1", projectID))
}

// UpdateRetentionPolicy replaces a policy's JSON; ErrNotFound if there is no such policy.
func (q q) UpdateRetentionPolicy(ctx context.Context, id int64, policy string) error {
	res, err := q.exec(ctx, "UPDATE retention_policies SET policy = $2, updated_at = $3 WHERE id = $1", id, policy, now())
	if err != nil {
		return fmt.Errorf("update retention policy %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteRetentionPolicy removes a policy with its runs and the project's retention_id;
// ErrNotFound if there is no such policy. A run still going finds its execution gone and stops.
func (db *DB) DeleteRetentionPolicy(ctx context.Context, id int64) error {
	return db.Tx(ctx, func(tx *Tx) error {
		p, err := tx.RetentionPolicy(ctx, id)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM retention_policies WHERE id = $1", id); err != nil {
			return fmt.Errorf("delete retention policy %d: %w", id, err)
		}
		if _, err := tx.exec(ctx, "DELETE FROM project_metadata WHERE project_id = $1 AND name = 'retention_id' AND value = $2",
			p.ProjectID, strconv.FormatInt(id, 10)); err != nil {
			return fmt.Errorf("delete retention policy %d: metadata: %w", id, err)
		}
		if _, err := tx.exec(ctx, "DELETE FROM executions WHERE kind = $1 AND ref_id = $2", ExecutionKindRetention, id); err != nil {
			return fmt.Errorf("delete retention policy %d: executions: %w", id, err)
		}
		return nil
	})
}

// ProjectRepositories returns the repositories of a project by name.
func (q q) ProjectRepositories(ctx context.Context, projectID int64) ([]Repository, error) {
	rows, err := q.query(ctx, `SELECT id, project_id, name, description, pull_count, created_at, updated_at
		FROM repositories WHERE project_id = $1 ORDER BY name`, projectID)
	if err != nil {
		return nil, fmt.Errorf("repositories of project %d: %w", projectID, err)
	}
	defer rows.Close()
	var out []Repository
	for rows.Next() {
		var r Repository
		var c, u int64
		if err := rows.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Description, &r.PullCount, &c, &u); err != nil {
			return nil, err
		}
		r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RetentionArtifact is an artifact as retention weighs it: a manifest the repository lists as
// an artifact (not an index's child, not an accessory) with its tags and their times.
type RetentionArtifact struct {
	ManifestID int64
	Digest     string
	PushedAt   time.Time
	PulledAt   time.Time // zero if never pulled
	Tags       []Tag     // Name, PushedAt, PulledAt
}

// RetentionArtifacts returns the artifacts of a repository, newest first. It reads no
// manifest bodies, so a repository of many thousands of artifacts costs one light query.
func (q q) RetentionArtifacts(ctx context.Context, repoID int64) ([]RetentionArtifact, error) {
	rows, err := q.query(ctx, `SELECT m.id, m.digest, m.created_at, COALESCE(m.pulled_at, 0), t.name, t.updated_at, COALESCE(t.pulled_at, 0)
		FROM manifests m LEFT JOIN tags t ON t.manifest_id = m.id
		WHERE m.repository_id = $1 AND `+baseCond("m")+` AND `+notAccessoryCond("m")+`
		ORDER BY m.id DESC, t.id`, repoID)
	if err != nil {
		return nil, fmt.Errorf("artifacts of repository %d: %w", repoID, err)
	}
	defer rows.Close()
	var out []RetentionArtifact
	for rows.Next() {
		var a RetentionArtifact
		var pushed, pulled int64
		var tag sql.NullString
		var tagPushed, tagPulled sql.NullInt64
		if err := rows.Scan(&a.ManifestID, &a.Digest, &pushed, &pulled, &tag, &tagPushed, &tagPulled); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ManifestID != a.ManifestID {
			a.PushedAt, a.PulledAt = fromMicros(pushed), fromMicros(pulled)
			out = append(out, a)
		}
		if tag.Valid {
			last := &out[len(out)-1]
			last.Tags = append(last.Tags, Tag{ManifestID: a.ManifestID, RepositoryID: repoID, Name: tag.String,
				PushedAt: fromMicros(tagPushed.Int64), PulledAt: fromMicros(tagPulled.Int64)})
		}
	}
	return out, rows.Err()
}
