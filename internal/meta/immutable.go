package meta

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Tag immutability rules of projects. The store keeps each rule's JSON as internal/retention
// defines it, beside what the store itself works with: priority and disabled for listings and
// the key of the rule's selectors, unique in the project.

// ImmutableRule is a stored tag immutability rule.
type ImmutableRule struct {
	ID        int64
	ProjectID int64
	Priority  int
	Disabled  bool
	Rule      string // JSON: action, template, params, tag_selectors, scope_selectors
	Key       string // identifies what the rule's selectors pick; unique in the project
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ImmutableTagError refuses to point a tag that an immutability rule protects at other
// content (see PutManifestParams.Immutable).
type ImmutableTagError struct{ Tag string }

func (e *ImmutableTagError) Error() string { return "tag " + e.Tag + " is immutable" }

// ErrRuleLimit refuses a rule to a project that holds as many as it may.
var ErrRuleLimit = errors.New("meta: the project has the most rules it may hold")

const immutableRuleColumns = "r.id, r.project_id, r.priority, r.disabled, r.rule, r.selectors_key, r.created_at, r.updated_at"

func scanImmutableRule(row rowScanner) (ImmutableRule, error) {
	var r ImmutableRule
	var c, u int64
	err := row.Scan(&r.ID, &r.ProjectID, &r.Priority, &r.Disabled, &r.Rule, &r.Key, &c, &u)
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	return r, notFound(err)
}

// CreateImmutableRule stores a rule of r.ProjectID and returns its id: ErrConflict when the
// project has a rule with the same selectors, ErrRuleLimit when it has limit rules already,
// ErrNotFound when the project is gone.
func (db *DB) CreateImmutableRule(ctx context.Context, r ImmutableRule, limit int) (int64, error) {
	defer db.changed(Changes{ImmutableRules: true})
	var id int64
	err := db.Tx(ctx, func(tx *Tx) error {
		// Writing the project row locks it until the transaction ends, so concurrent creations
		// in one project take turns and the count below stays true (SQLite's single writer
		// serialises them anyway).
		res, err := tx.exec(ctx, "UPDATE projects SET updated_at = updated_at WHERE id = $1", r.ProjectID)
		if err != nil {
			return fmt.Errorf("create immutable rule: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		var n int
		if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM immutable_rules WHERE project_id = $1", r.ProjectID).Scan(&n); err != nil {
			return fmt.Errorf("create immutable rule: %w", err)
		}
		if n >= limit {
			return ErrRuleLimit
		}
		t := now()
		err = tx.queryRowW(ctx, `INSERT INTO immutable_rules (project_id, priority, disabled, rule, selectors_key, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`, r.ProjectID, r.Priority, r.Disabled, r.Rule, r.Key, t).Scan(&id)
		if err != nil {
			if tx.d.isUniqueViolation(err) {
				return ErrConflict
			}
			return fmt.Errorf("create immutable rule: %w", err)
		}
		return nil
	})
	return id, err
}

// UpdateImmutableRule replaces the priority, state and rule of rule r.ID of r.ProjectID:
// ErrNotFound when the project has no such rule, ErrConflict when another of its rules has
// the same selectors.
func (db *DB) UpdateImmutableRule(ctx context.Context, r ImmutableRule) error {
	defer db.changed(Changes{ImmutableRules: true})
	res, err := db.exec(ctx, `UPDATE immutable_rules SET priority = $3, disabled = $4, rule = $5, selectors_key = $6, updated_at = $7
		WHERE id = $1 AND project_id = $2`, r.ID, r.ProjectID, r.Priority, r.Disabled, r.Rule, r.Key, now())
	if err != nil {
		if db.d.isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("update immutable rule %d: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetImmutableRuleDisabled enables or disables a rule of the project; ErrNotFound when the
// project has no such rule.
func (db *DB) SetImmutableRuleDisabled(ctx context.Context, projectID, id int64, disabled bool) error {
	defer db.changed(Changes{ImmutableRules: true})
	res, err := db.exec(ctx, "UPDATE immutable_rules SET disabled = $3, updated_at = $4 WHERE id = $1 AND project_id = $2",
		id, projectID, disabled, now())
	if err != nil {
		return fmt.Errorf("update immutable rule %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteImmutableRule removes a rule of the project; ErrNotFound when it has no such rule.
func (db *DB) DeleteImmutableRule(ctx context.Context, projectID, id int64) error {
	defer db.changed(Changes{ImmutableRules: true})
	res, err := db.exec(ctx, "DELETE FROM immutable_rules WHERE id = $1 AND project_id = $2", id, projectID)
	if err != nil {
		return fmt.Errorf("delete immutable rule %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ImmutableRuleByID returns a rule of the project; ErrNotFound when it has no such rule.
func (q q) ImmutableRuleByID(ctx context.Context, projectID, id int64) (ImmutableRule, error) {
	return scanImmutableRule(q.queryRow(ctx, "SELECT "+immutableRuleColumns+" FROM immutable_rules r WHERE r.id = $1 AND r.project_id = $2", id, projectID))
}

var immutableRuleListColumns = map[string]Column{
	"id":            {"r.id", ColInt},
	"priority":      {"r.priority", ColInt},
	"disabled":      {"r.disabled", ColBool},
	"creation_time": {"r.created_at", ColTime},
	"update_time":   {"r.updated_at", ColTime},
}

// ListImmutableRules returns one page of the project's rules (by id unless sorted otherwise)
// and their total count.
func (q q) ListImmutableRules(ctx context.Context, projectID int64, lq ListQuery) ([]ImmutableRule, int64, error) {
	w := NewWhere(1)
	w.Add("r.project_id = ?", projectID)
	if err := w.Apply(lq, immutableRuleListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, immutableRuleListColumns, "", "r.id ASC")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM immutable_rules r"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count immutable rules: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+immutableRuleColumns+" FROM immutable_rules r"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list immutable rules: %w", err)
	}
	defer rows.Close()
	out := []ImmutableRule{}
	for rows.Next() {
		r, err := scanImmutableRule(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// EnabledImmutableRules returns the project's enabled rules by priority, then id. Every push
// of a tag asks (the registry remembers the answer for a moment).
func (q q) EnabledImmutableRules(ctx context.Context, projectID int64) ([]ImmutableRule, error) {
	rows, err := q.query(ctx, "SELECT "+immutableRuleColumns+" FROM immutable_rules r WHERE r.project_id = $1 AND NOT r.disabled ORDER BY r.priority, r.id", projectID)
	if err != nil {
		return nil, fmt.Errorf("immutable rules of project %d: %w", projectID, err)
	}
	defer rows.Close()
	rules := []ImmutableRule{}
	for rows.Next() {
		r, err := scanImmutableRule(rows)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, rows.Err()
}
