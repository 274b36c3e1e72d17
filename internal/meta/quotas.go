package meta

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Storage quotas (Harbor's /api/v2.0/quotas, HARBOR-NOTES §c and §e).
//
// A project's usage is the sum of the sizes of the distinct digests it stores: the blobs its
// manifests reference and the manifests themselves, each counted once however many
// repositories or manifests of the project use it. project_blobs keeps a reference count per
// (project, digest) and quotas.used the sum; both change only inside the transactions that add
// or remove manifests (PutManifest, deleteManifestRow), so usage cannot drift from the content.
// Uploaded blobs no manifest references yet are not usage: they are checked against the quota
// when the upload completes, and charged when a manifest first references them.

// Quota is a project's storage quota.
type Quota struct {
	ID          int64
	ProjectID   int64
	ProjectName string
	OwnerName   string
	Hard        int64 // bytes; -1 = unlimited
	Used        int64 // bytes
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Unlimited is the hard limit of a quota without a limit.
const Unlimited = -1

// QuotaExceededError refuses a change that would take a project's usage over its hard limit.
// Its message is Harbor's, word for word, because clients and scripts match on it.
type QuotaExceededError struct {
	Adding int64 // bytes the change would add
	Used   int64 // usage before the change
	Hard   int64 // the limit
}

func (e *QuotaExceededError) Error() string {
	return fmt.Sprintf("adding %s of storage resource, which when updated to current usage of %s will exceed the configured upper limit of %s.",
		FormatStorage(e.Adding), FormatStorage(e.Used), FormatStorage(e.Hard))
}

// FormatStorage renders a byte count as Harbor does in quota messages: "100 B", "1.0 KiB",
// "510.7 MiB", "10.0 GiB" (binary units, one decimal).
func FormatStorage(v int64) string {
	const unit = 1024
	if v < unit {
		return fmt.Sprintf("%d B", v)
	}
	div, exp := int64(unit), 0
	for n := v / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(v)/float64(div), "KMGTPE"[exp])
}

const quotaColumns = `qt.id, qt.project_id, p.name, u.username, qt.hard, qt.used, qt.created_at, qt.updated_at`

const quotaFrom = ` FROM quotas qt JOIN projects p ON p.id = qt.project_id JOIN users u ON u.id = p.owner_id`

func scanQuota(row interface{ Scan(...any) error }) (Quota, error) {
	var qt Quota
	var c, u int64
	err := row.Scan(&qt.ID, &qt.ProjectID, &qt.ProjectName, &qt.OwnerName, &qt.Hard, &qt.Used, &c, &u)
	qt.CreatedAt, qt.UpdatedAt = fromMicros(c), fromMicros(u)
	return qt, notFound(err)
}

// QuotaByID returns a quota; ErrNotFound if there is none.
func (q q) QuotaByID(ctx context.Context, id int64) (Quota, error) {
	return scanQuota(q.queryRow(ctx, "SELECT "+quotaColumns+quotaFrom+" WHERE qt.id = $1", id))
}

// QuotaByProject returns the quota of a project; ErrNotFound if there is none.
func (q q) QuotaByProject(ctx context.Context, projectID int64) (Quota, error) {
	return scanQuota(q.queryRow(ctx, "SELECT "+quotaColumns+quotaFrom+" WHERE qt.project_id = $1", projectID))
}

// QuotaUsedTotal is the storage every project's quota counts as used, summed: one row per
// project, so cheap however many artifacts there are (a blob in two projects counts twice, as
// each project's quota counts it).
func (q q) QuotaUsedTotal(ctx context.Context) (int64, error) {
	var n int64
	if err := q.queryRow(ctx, "SELECT CAST(COALESCE(SUM(used), 0) AS BIGINT) FROM quotas").Scan(&n); err != nil {
		return 0, fmt.Errorf("sum quota use: %w", err)
	}
	return n, nil
}

// quotaListColumns are the keys a quota listing sorts by (Harbor's "hard.storage" and
// "used.storage", plus the times), and the project's name to filter and sort by.
var quotaListColumns = map[string]Column{
	"id":            {"qt.id", ColInt},
	"name":          {"p.name", ColText}, // the project's
	"hard.storage":  {"qt.hard", ColInt},
	"used.storage":  {"qt.used", ColInt},
	"creation_time": {"qt.created_at", ColTime},
	"update_time":   {"qt.updated_at", ColTime},
}

// ListQuotas returns one page of quotas, of one project when projectID > 0, and the total.
func (q q) ListQuotas(ctx context.Context, lq ListQuery, projectID int64) ([]Quota, int64, error) {
	w := NewWhere(1)
	if projectID > 0 {
		w.Add("qt.project_id = ?", projectID)
	}
	if err := w.Apply(lq, quotaListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, quotaListColumns, "qt.id", "qt.id")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*)"+quotaFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count quotas: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+quotaColumns+quotaFrom+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list quotas: %w", err)
	}
	defer rows.Close()
	out := []Quota{}
	for rows.Next() {
		qt, err := scanQuota(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, qt)
	}
	return out, total, rows.Err()
}

// SetQuotaHard changes a quota's limit; ErrNotFound if there is no such quota. A limit below
// the current usage is allowed (as in Harbor): it stops further growth. The change is
// announced (Changes.Quotas) to what this process remembers.
func (db *DB) SetQuotaHard(ctx context.Context, id, hard int64) error {
	defer db.changed(Changes{Quotas: true})
	res, err := db.exec(ctx, "UPDATE quotas SET hard = $2, updated_at = $3 WHERE id = $1", id, hard, now())
	if err != nil {
		return fmt.Errorf("update quota %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// quotaEnforced reports whether quotas are enforced (the system setting
// quota_per_project_enable); usage is counted either way.
func (q q) quotaEnforced(ctx context.Context) (bool, error) {
	c, err := q.SystemConfig(ctx)
	if err != nil {
		return false, err
	}
	return c.QuotaPerProjectEnable, nil
}

// CheckBlobQuota returns a *QuotaExceededError when storing a blob of the given size in the
// project would take it over its quota, whether or not quotas are enforced (the caller asks
// only when they are). A blob the project already stores adds nothing. limited is false when
// the project has no limit at all. This is the early check at upload completion; the binding
// one runs inside the manifest transaction that actually charges the blob.
func (q q) CheckBlobQuota(ctx context.Context, projectID int64, digest string, size int64) (limited bool, err error) {
	var hard, used, stored int64
	err = q.queryRowW(ctx, `SELECT qt.hard, qt.used,
		(SELECT COUNT(*) FROM project_blobs pb WHERE pb.project_id = qt.project_id AND pb.digest = $2)
		FROM quotas qt WHERE qt.project_id = $1`, projectID, digest).Scan(&hard, &used, &stored)
	if err = notFound(err); err == ErrNotFound {
		return false, nil // no quota row: nothing limits the project
	} else if err != nil {
		return false, fmt.Errorf("check quota of project %d: %w", projectID, err)
	}
	if hard < 0 {
		return false, nil
	}
	if stored > 0 || used+size <= hard {
		return true, nil
	}
	return true, &QuotaExceededError{Adding: size, Used: used, Hard: hard}
}

// projectRef is one reference a manifest adds to its project: its own digest or a blob's.
type projectRef struct {
	digest string
	size   int64
}

// sortRefs orders references by digest, so concurrent transactions take the project_blobs row
// locks in the same order and cannot deadlock on each other.
func sortRefs(refs []projectRef) {
	sort.Slice(refs, func(i, j int) bool { return refs[i].digest < refs[j].digest })
}

// chargeProject adds references to the project and charges the digests that are new to it.
// When quotas are enforced and the new usage exceeds the limit it returns a
// *QuotaExceededError, and the caller's transaction must roll back. The quota row is updated
// (and so locked) after the references, which serialises concurrent pushes into one project:
// each sees the usage the others committed, so two cannot both slip under the limit.
func (tx *Tx) chargeProject(ctx context.Context, projectID int64, refs []projectRef) (charged, used, hard int64, err error) {
	sortRefs(refs)
	// One statement for all references: a round trip each was most of a manifest push on
	// PostgreSQL. Rows are taken in the order given (sorted above); the references are distinct
	// (a manifest's own digest cannot be one of its blobs', and the blobs are deduplicated), as
	// one statement may not upsert a row twice.
	var b strings.Builder
	b.WriteString("INSERT INTO project_blobs (project_id, digest, size, refs) VALUES ")
	args := make([]any, 0, 1+2*len(refs))
	args = append(args, projectID)
	for i, r := range refs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "($1, $%d, $%d, 1)", len(args)+1, len(args)+2)
		args = append(args, r.digest, r.size)
	}
	b.WriteString(" ON CONFLICT (project_id, digest) DO UPDATE SET refs = project_blobs.refs + 1 RETURNING size, refs")
	rows, err := tx.queryW(ctx, b.String(), args...)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("count references in project %d: %w", projectID, err)
	}
	var delta int64
	for rows.Next() {
		var size, n int64
		if err := rows.Scan(&size, &n); err != nil {
			rows.Close()
			return 0, 0, 0, fmt.Errorf("count references in project %d: %w", projectID, err)
		}
		if n == 1 {
			delta += size
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("count references in project %d: %w", projectID, err)
	}
	if delta == 0 {
		return 0, 0, 0, nil
	}
	err = tx.queryRowW(ctx, `INSERT INTO quotas (project_id, hard, used, created_at, updated_at) VALUES ($1, -1, $2, $3, $3)
		ON CONFLICT (project_id) DO UPDATE SET used = quotas.used + excluded.used, updated_at = excluded.updated_at
		RETURNING used, hard`, projectID, delta, now()).Scan(&used, &hard)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("update usage of project %d: %w", projectID, err)
	}
	if hard < 0 || used <= hard {
		return delta, used, hard, nil
	}
	enforced, err := tx.quotaEnforced(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	if !enforced {
		return delta, used, hard, nil
	}
	return 0, 0, 0, &QuotaExceededError{Adding: delta, Used: used - delta, Hard: hard}
}

// releaseProject removes references from the project and refunds the digests whose last
// reference went.
func (tx *Tx) releaseProject(ctx context.Context, projectID int64, digests []string) error {
	refs := make([]projectRef, len(digests))
	for i, d := range digests {
		refs[i] = projectRef{digest: d}
	}
	sortRefs(refs)
	var delta int64
	for _, r := range refs {
		var n, size int64
		err := tx.queryRowW(ctx, `UPDATE project_blobs SET refs = refs - 1 WHERE project_id = $1 AND digest = $2
			RETURNING refs, size`, projectID, r.digest).Scan(&n, &size)
		if err = notFound(err); err == ErrNotFound {
			continue // not counted (content older than accounting would have been backfilled)
		}
		if err != nil {
			return fmt.Errorf("uncount %s in project %d: %w", r.digest, projectID, err)
		}
		if n > 0 {
			continue
		}
		if _, err := tx.exec(ctx, "DELETE FROM project_blobs WHERE project_id = $1 AND digest = $2", projectID, r.digest); err != nil {
			return fmt.Errorf("uncount %s in project %d: %w", r.digest, projectID, err)
		}
		delta += size
	}
	if delta == 0 {
		return nil
	}
	_, err := tx.exec(ctx, `UPDATE quotas SET used = CASE WHEN used > $2 THEN used - $2 ELSE 0 END, updated_at = $3
		WHERE project_id = $1`, projectID, delta, now())
	if err != nil {
		return fmt.Errorf("update usage of project %d: %w", projectID, err)
	}
	return nil
}

// manifestRefs returns the project, repository and digest of a manifest row and the blobs it
// references, read before the row goes.
func (tx *Tx) manifestRefs(ctx context.Context, manifestID int64) (projectID, repoID int64, own string, blobs []string, err error) {
	err = tx.queryRowW(ctx, `SELECT r.project_id, r.id, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE m.id = $1`, manifestID).Scan(&projectID, &repoID, &own)
	if err != nil {
		return 0, 0, "", nil, notFound(err)
	}
	rows, err := tx.queryW(ctx, "SELECT digest FROM manifest_blobs WHERE manifest_id = $1", manifestID)
	if err != nil {
		return 0, 0, "", nil, fmt.Errorf("blobs of manifest %d: %w", manifestID, err)
	}
	blobs, err = scanStrings(rows)
	return projectID, repoID, own, blobs, err
}

// deleteManifestRow deletes one manifest row and refunds its project's usage in the caller's
// transaction, and queues what it leaves behind (blobs, index children, referrers) for garbage
// collection. Every deletion of manifest rows (by digest, of a repository, by garbage
// collection or retention) must go through it, or quota usage would no longer match content
// and leftovers would never be collected. Tags pointing at the manifest must be gone first.
func (tx *Tx) deleteManifestRow(ctx context.Context, manifestID int64) error {
	projectID, repoID, own, blobs, err := tx.manifestRefs(ctx, manifestID)
	if err != nil {
		return err
	}
	if err := tx.reviewDependents(ctx, repoID, manifestID, own, blobs); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "DELETE FROM manifests WHERE id = $1", manifestID); err != nil {
		return fmt.Errorf("delete manifest %d: %w", manifestID, err)
	}
	// Its own review item, if any, has nothing left to review.
	if _, err := tx.exec(ctx, "DELETE FROM gc_manifest_review WHERE repository_id = $1 AND digest = $2", repoID, own); err != nil {
		return fmt.Errorf("delete manifest %d: %w", manifestID, err)
	}
	return tx.releaseProject(ctx, projectID, append(blobs, own))
}

// RecountProjectUsage rebuilds a project's storage accounting from its manifests and returns
// the usage. Usage is maintained transactionally and never needs this in normal operation; it
// serves repair tools and tests that verify the maintained figure against the content.
func (db *DB) RecountProjectUsage(ctx context.Context, projectID int64) (int64, error) {
	var used int64
	err := db.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM project_blobs WHERE project_id = $1", projectID); err != nil {
			return fmt.Errorf("recount project %d: %w", projectID, err)
		}
		_, err := tx.exec(ctx, `INSERT INTO project_blobs (project_id, digest, size, refs)
			SELECT CAST($1 AS BIGINT), digest, MAX(size), COUNT(*) FROM (
				SELECT mb.digest AS digest, b.size AS size FROM manifest_blobs mb
					JOIN manifests m ON m.id = mb.manifest_id
					JOIN repositories r ON r.id = m.repository_id
					JOIN blobs b ON b.digest = mb.digest
					WHERE r.project_id = $1
				UNION ALL
				SELECT m.digest, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id
					WHERE r.project_id = $1
			) refs GROUP BY digest`, projectID)
		if err != nil {
			return fmt.Errorf("recount project %d: %w", projectID, err)
		}
		if err := tx.queryRowW(ctx, "SELECT COALESCE(SUM(size), 0) FROM project_blobs WHERE project_id = $1", projectID).Scan(&used); err != nil {
			return fmt.Errorf("recount project %d: %w", projectID, err)
		}
		_, err = tx.exec(ctx, "UPDATE quotas SET used = $2, updated_at = $3 WHERE project_id = $1", projectID, used, now())
		return err
	})
	return used, err
}
