package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Online garbage collection's side of the store. Every change that may leave content
// unreferenced puts it on a review queue (gc_blob_review, gc_manifest_review) in the same
// transaction, due after the grace period; a collector takes due items one transaction each,
// re-checks under row locks that nothing references them, and deletes them. Blob objects are
// removed after their rows, under a tombstone (gc_blob_deleting) that refuses a concurrent
// re-upload of the same digest until the object is gone.

// ErrBlobCollected means a blob was being garbage-collected while an upload or mount tried to
// recreate it: the caller must upload the content again.
var ErrBlobCollected = errors.New("meta: blob was being garbage-collected; upload it again")

// Review reasons of manifests.
const (
	// ReviewUntagged: a tag was deleted or moved off it, or it was pushed without one. It is
	// collected only by runs that delete untagged artifacts.
	ReviewUntagged = "untagged"
	// ReviewOrphan: the index that listed it or the subject it refers to went. It is part of
	// content that was deleted and is always collected once nothing references it.
	ReviewOrphan = "orphan"
)

type gcSettings struct {
	grace atomic.Int64 // microseconds
}

func newGCSettings() *gcSettings {
	s := &gcSettings{}
	s.grace.Store((2 * time.Hour).Microseconds())
	return s
}

// SetGCGrace sets how long unreferenced content waits on the review queues before a collector
// may delete it (default 2 h, as Harbor's time window). It applies to content queued from now
// on.
func (db *DB) SetGCGrace(d time.Duration) {
	if d < 0 {
		d = 0
	}
	db.gc.grace.Store(d.Microseconds())
}

// GCGrace returns the grace period.
func (db *DB) GCGrace() time.Duration { return time.Duration(db.gc.grace.Load()) * time.Microsecond }

func (q q) dueAt() int64 { return now() + q.gc.grace.Load() }

// reviewBlobs queues blobs for review; a blob already queued has its due time pushed forward.
func (tx *Tx) reviewBlobs(ctx context.Context, digests []string) error {
	due := tx.dueAt()
	for _, d := range digests {
		if _, err := tx.exec(ctx, `INSERT INTO gc_blob_review (digest, due_at) VALUES ($1, $2)
			ON CONFLICT (digest) DO UPDATE SET due_at = excluded.due_at`, d, due); err != nil {
			return fmt.Errorf("queue blob %s for review: %w", d, err)
		}
	}
	return nil
}

// reviewManifest queues a manifest for review. An orphan stays an orphan if queued again
// for another reason.
func (tx *Tx) reviewManifest(ctx context.Context, repoID int64, digest, reason string) error {
	if _, err := tx.exec(ctx, `INSERT INTO gc_manifest_review (repository_id, digest, reason, due_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (repository_id, digest) DO UPDATE SET due_at = excluded.due_at,
			reason = CASE WHEN gc_manifest_review.reason = 'orphan' THEN 'orphan' ELSE excluded.reason END`,
		repoID, digest, reason, tx.dueAt()); err != nil {
		return fmt.Errorf("queue manifest %s for review: %w", digest, err)
	}
	return nil
}

// reviewDependents queues what a manifest about to be deleted leaves behind: the blobs it
// references, the index children it lists and the referrers whose subject it is.
func (tx *Tx) reviewDependents(ctx context.Context, repoID, manifestID int64, digest string, blobs []string) error {
	if err := tx.reviewBlobs(ctx, blobs); err != nil {
		return err
	}
	rows, err := tx.queryW(ctx, `SELECT m.digest FROM manifest_children c JOIN manifests m ON m.id = c.child_id
		WHERE c.parent_id = $1
		UNION SELECT digest FROM manifests WHERE repository_id = $2 AND subject_digest = $3`, manifestID, repoID, digest)
	if err != nil {
		return fmt.Errorf("dependents of manifest %s: %w", digest, err)
	}
	deps, err := scanStrings(rows)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if err := tx.reviewManifest(ctx, repoID, d, ReviewOrphan); err != nil {
			return err
		}
	}
	return nil
}

// ManifestReview is a due manifest on the review queue.
type ManifestReview struct {
	RepositoryID int64
	Digest       string
	Reason       string
}

// DueManifestReviews returns up to limit manifests due for review at t, earliest first;
// untagged ones only when includeUntagged.
func (q q) DueManifestReviews(ctx context.Context, t time.Time, includeUntagged bool, limit int) ([]ManifestReview, error) {
	cond := ""
	if !includeUntagged {
		cond = " AND reason <> 'untagged'"
	}
	rows, err := q.queryW(ctx, `SELECT repository_id, digest, reason FROM gc_manifest_review WHERE due_at <= $1`+cond+`
		ORDER BY due_at, repository_id, digest LIMIT $2`, t.UnixMicro(), limit)
	if err != nil {
		err = fmt.Errorf("due manifests: %w", err)
	}
	return scanManifestReviews(rows, err)
}

// scanManifestReviews reads the rows of a review-queue query.
func scanManifestReviews(rows *sql.Rows, err error) ([]ManifestReview, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ManifestReview
	for rows.Next() {
		var r ManifestReview
		if err := rows.Scan(&r.RepositoryID, &r.Digest, &r.Reason); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DueBlobReviews returns up to limit blob digests due for review at t, earliest first.
func (q q) DueBlobReviews(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rows, err := q.queryW(ctx, "SELECT digest FROM gc_blob_review WHERE due_at <= $1 ORDER BY due_at, digest LIMIT $2", t.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("due blobs: %w", err)
	}
	return scanStrings(rows)
}

// ManifestVerdict is what a review decided about a manifest.
type ManifestVerdict struct {
	Collected  bool
	Repository string
	Size       int64
	Kept       string // why it stays, when it does
}

// CollectManifest reviews one queued manifest: if it is still due and nothing needs it — no
// tag, no index listing it, no subject it refers to that still exists, and (for untagged
// ones) deleteUntagged — it is deleted with its accounting, and what it leaves behind is
// queued in turn. An item another collector holds is skipped (zero verdict).
func (db *DB) CollectManifest(ctx context.Context, r ManifestReview, deleteUntagged bool) (ManifestVerdict, error) {
	var v ManifestVerdict
	err := db.Tx(ctx, func(tx *Tx) error {
		v = ManifestVerdict{}
		var due int64
		var reason string
		err := tx.queryRowW(ctx, "SELECT due_at, reason FROM gc_manifest_review WHERE repository_id = $1 AND digest = $2"+tx.d.lockSkip(),
			r.RepositoryID, r.Digest).Scan(&due, &reason)
		if err = notFound(err); err == ErrNotFound {
			return nil
		} else if err != nil {
			return err
		}
		if due > now() {
			v.Kept = "queued again meanwhile"
			return nil
		}
		done := func(why string) error {
			v.Kept = why
			_, err := tx.exec(ctx, "DELETE FROM gc_manifest_review WHERE repository_id = $1 AND digest = $2", r.RepositoryID, r.Digest)
			return err
		}
		var id, size int64
		var subject *string
		err = tx.queryRowW(ctx, `SELECT m.id, m.size, m.subject_digest, r.name FROM manifests m JOIN repositories r ON r.id = m.repository_id
			WHERE m.repository_id = $1 AND m.digest = $2`+tx.d.lockUpdate(), r.RepositoryID, r.Digest).Scan(&id, &size, &subject, &v.Repository)
		if err = notFound(err); err == ErrNotFound {
			return done("already deleted")
		} else if err != nil {
			return err
		}
		var n int64
		if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM tags WHERE manifest_id = $1", id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return done("tagged")
		}
		if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM manifest_children WHERE child_id = $1", id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return done("listed by an index")
		}
		if subject != nil {
			if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM manifests WHERE repository_id = $1 AND digest = $2",
				r.RepositoryID, *subject).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return done("its subject exists")
			}
		} else if reason == ReviewUntagged && !deleteUntagged {
			v.Kept = "untagged"
			return nil // stays queued for a run that deletes untagged artifacts
		}
		if err := tx.deleteManifestRow(ctx, id); err != nil {
			return err
		}
		v.Collected, v.Size = true, size
		return done("")
	})
	return v, err
}

// BlobVerdict is what a review decided about a blob.
type BlobVerdict struct {
	Collected bool
	Size      int64
}

// CollectBlob reviews one queued blob: if it is still due and no manifest references it, its
// rows go (links included) and a tombstone is left in the same transaction; the caller then
// deletes the object and calls BlobObjectDeleted. An item another collector holds is skipped.
func (db *DB) CollectBlob(ctx context.Context, digest string) (BlobVerdict, error) {
	var v BlobVerdict
	err := db.Tx(ctx, func(tx *Tx) error {
		v = BlobVerdict{}
		var due int64
		err := tx.queryRowW(ctx, "SELECT due_at FROM gc_blob_review WHERE digest = $1"+tx.d.lockSkip(), digest).Scan(&due)
		if err = notFound(err); err == ErrNotFound {
			return nil
		} else if err != nil {
			return err
		}
		if due > now() {
			return nil
		}
		drop := func() error {
			_, err := tx.exec(ctx, "DELETE FROM gc_blob_review WHERE digest = $1", digest)
			return err
		}
		// Row locks order this against a manifest push, which share-locks the blob's link
		// and then its row: whichever commits first, the other sees its outcome. Taking them
		// in the push's order (links, then the blob) keeps the two from deadlocking.
		// Links of names without a repository yet (pending_blobs) are locked as a first push
		// adopting them locks them, before the blob too.
		for _, q := range []string{
			"SELECT repository_id FROM repository_blobs WHERE digest = $1",
			"SELECT project_id FROM pending_blobs WHERE digest = $1",
		} {
			links, err := tx.queryW(ctx, q+tx.d.lockUpdate(), digest)
			if err != nil {
				return err
			}
			if err := links.Close(); err != nil {
				return err
			}
		}
		var size int64
		err = tx.queryRowW(ctx, "SELECT size FROM blobs WHERE digest = $1"+tx.d.lockUpdate(), digest).Scan(&size)
		if err = notFound(err); err == ErrNotFound {
			return drop()
		} else if err != nil {
			return err
		}
		var refs int64
		if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM manifest_blobs WHERE digest = $1", digest).Scan(&refs); err != nil {
			return err
		}
		if refs > 0 {
			return drop()
		}
		for _, stmt := range []string{
			"DELETE FROM repository_blobs WHERE digest = $1",
			"DELETE FROM pending_blobs WHERE digest = $1",
			"DELETE FROM blobs WHERE digest = $1",
		} {
			if _, err := tx.exec(ctx, stmt, digest); err != nil {
				return fmt.Errorf("collect blob %s: %w", digest, err)
			}
		}
		if _, err := tx.exec(ctx, "INSERT INTO gc_blob_deleting (digest, created_at) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
			digest, now()); err != nil {
			return fmt.Errorf("collect blob %s: %w", digest, err)
		}
		v = BlobVerdict{Collected: true, Size: size}
		return drop()
	})
	return v, err
}

// BlobObjectDeleted removes the tombstone once the object is gone.
func (q q) BlobObjectDeleted(ctx context.Context, digest string) error {
	if _, err := q.exec(ctx, "DELETE FROM gc_blob_deleting WHERE digest = $1", digest); err != nil {
		return fmt.Errorf("finish collecting blob %s: %w", digest, err)
	}
	return nil
}

// BlobsBeingDeleted returns tombstoned digests (an interrupted collection's leftovers).
func (q q) BlobsBeingDeleted(ctx context.Context, limit int) ([]string, error) {
	rows, err := q.queryW(ctx, "SELECT digest FROM gc_blob_deleting ORDER BY digest LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("blobs being deleted: %w", err)
	}
	return scanStrings(rows)
}

// PostponeReview pushes a queued item's due time to t (after a failure, so one bad item cannot
// stall a collection that retries it in a loop). repoID 0 names a blob.
func (q q) PostponeReview(ctx context.Context, repoID int64, digest string, t time.Time) error {
	var err error
	if repoID == 0 {
		_, err = q.exec(ctx, "UPDATE gc_blob_review SET due_at = $2 WHERE digest = $1", digest, t.UnixMicro())
	} else {
		_, err = q.exec(ctx, "UPDATE gc_manifest_review SET due_at = $3 WHERE repository_id = $1 AND digest = $2", repoID, digest, t.UnixMicro())
	}
	return err
}

// ReviewCounts reports how many items wait on each queue (for the API and metrics).
func (q q) ReviewCounts(ctx context.Context) (blobs, manifests int64, err error) {
	if err = q.queryRow(ctx, "SELECT COUNT(*) FROM gc_blob_review").Scan(&blobs); err != nil {
		return 0, 0, err
	}
	err = q.queryRow(ctx, "SELECT COUNT(*) FROM gc_manifest_review").Scan(&manifests)
	return blobs, manifests, err
}

// GCHeld is what the review queues hold back at a time because it is not due yet (its grace
// period is not over, or it was postponed after a failed review).
type GCHeld struct {
	// Manifests are the queued manifests not due yet.
	Manifests int
	// Blobs are the queued blobs not due yet that no manifest references, and Bytes their size:
	// what a collection would free once they are due, if nothing uses them meanwhile (a
	// manifest held back frees its blobs only after it goes).
	Blobs int
	Bytes int64
	// NextDue is when the first of them is due; zero when nothing is held back.
	NextDue time.Time
}

// HeldByGrace reports what the review queues hold back at t: manifests (untagged ones only when
// includeUntagged, as a collection would take them) and unreferenced blobs not due yet.
func (q q) HeldByGrace(ctx context.Context, t time.Time, includeUntagged bool) (GCHeld, error) {
	var h GCHeld
	var nextBlob, nextManifest sql.NullInt64
	if err := q.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(b.size), 0), MIN(r.due_at) FROM gc_blob_review r
		JOIN blobs b ON b.digest = r.digest
		WHERE r.due_at > $1 AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = r.digest)`, t.UnixMicro()).
		Scan(&h.Blobs, &h.Bytes, &nextBlob); err != nil {
		return GCHeld{}, fmt.Errorf("blobs held back: %w", err)
	}
	cond := ""
	if !includeUntagged {
		cond = " AND reason <> 'untagged'"
	}
	if err := q.queryRow(ctx, "SELECT COUNT(*), MIN(due_at) FROM gc_manifest_review WHERE due_at > $1"+cond, t.UnixMicro()).
		Scan(&h.Manifests, &nextManifest); err != nil {
		return GCHeld{}, fmt.Errorf("manifests held back: %w", err)
	}
	for _, n := range []sql.NullInt64{nextBlob, nextManifest} {
		if n.Valid && (h.NextDue.IsZero() || n.Int64 < h.NextDue.UnixMicro()) {
			h.NextDue = fromMicros(n.Int64)
		}
	}
	return h, nil
}

// GCPlan is what a collection would delete now, computed without changing anything (dry run).
type GCPlan struct {
	Manifests int
	Blobs     int
	Bytes     int64 // blob bytes
	// Items names each manifest that would go (repository@digest), for the log.
	Items []string
}

// PlanCollection works out what a collection at time t would delete: due manifests that
// nothing needs, then — following what their deletion would leave behind, when the grace
// period is zero and such leftovers are due at once — index children, referrers and blobs,
// and due blobs no remaining manifest references.
func (db *DB) PlanCollection(ctx context.Context, t time.Time, deleteUntagged bool) (GCPlan, error) {
	var plan GCPlan
	immediate := db.GCGrace() == 0
	gone := map[int64]bool{} // manifest ids that would be deleted
	type mkey struct {
		repo   int64
		digest string
	}
	seen := map[mkey]bool{}
	var queue []ManifestReview
	// Every due manifest item, paged by the queue order.
	items, err := db.allDueManifests(ctx, t, deleteUntagged)
	if err != nil {
		return plan, err
	}
	queue = append(queue, items...)
	blobCandidates := map[string]bool{}
	due, err := db.allDueBlobs(ctx, t)
	if err != nil {
		return plan, err
	}
	for _, d := range due {
		blobCandidates[d] = true
	}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		k := mkey{r.RepositoryID, r.Digest}
		if seen[k] {
			continue
		}
		seen[k] = true
		var id int64
		var subject *string
		var repo string
		err := db.queryRow(ctx, `SELECT m.id, m.subject_digest, r.name FROM manifests m JOIN repositories r ON r.id = m.repository_id
			WHERE m.repository_id = $1 AND m.digest = $2`, r.RepositoryID, r.Digest).Scan(&id, &subject, &repo)
		if errors.Is(notFound(err), ErrNotFound) {
			continue
		}
		if err != nil {
			return plan, err
		}
		var tags int64
		if err := db.queryRow(ctx, "SELECT COUNT(*) FROM tags WHERE manifest_id = $1", id).Scan(&tags); err != nil {
			return plan, err
		}
		if tags > 0 {
			continue
		}
		parents, err := db.idList(ctx, "SELECT parent_id FROM manifest_children WHERE child_id = $1", id)
		if err != nil {
			return plan, err
		}
		if anyRemains(parents, gone) {
			continue
		}
		if subject != nil {
			subj, err := db.idList(ctx, "SELECT id FROM manifests WHERE repository_id = $1 AND digest = $2", r.RepositoryID, *subject)
			if err != nil {
				return plan, err
			}
			if anyRemains(subj, gone) {
				continue
			}
		} else if r.Reason == ReviewUntagged && !deleteUntagged {
			continue
		}
		gone[id] = true
		plan.Manifests++
		plan.Items = append(plan.Items, repo+"@"+r.Digest)
		if !immediate {
			continue
		}
		blobs, err := db.stringList(ctx, "SELECT digest FROM manifest_blobs WHERE manifest_id = $1", id)
		if err != nil {
			return plan, err
		}
		for _, b := range blobs {
			blobCandidates[b] = true
		}
		var digest string
		if err := db.queryRow(ctx, "SELECT digest FROM manifests WHERE id = $1", id).Scan(&digest); err != nil {
			return plan, err
		}
		deps, err := db.stringList(ctx, `SELECT m.digest FROM manifest_children c JOIN manifests m ON m.id = c.child_id
			WHERE c.parent_id = $1 UNION SELECT digest FROM manifests WHERE repository_id = $2 AND subject_digest = $3`, id, r.RepositoryID, digest)
		if err != nil {
			return plan, err
		}
		for _, d := range deps {
			queue = append(queue, ManifestReview{RepositoryID: r.RepositoryID, Digest: d, Reason: ReviewOrphan})
		}
	}
	for d := range blobCandidates {
		var size int64
		err := db.queryRow(ctx, "SELECT size FROM blobs WHERE digest = $1", d).Scan(&size)
		if errors.Is(notFound(err), ErrNotFound) {
			continue
		}
		if err != nil {
			return plan, err
		}
		users, err := db.idList(ctx, "SELECT manifest_id FROM manifest_blobs WHERE digest = $1", d)
		if err != nil {
			return plan, err
		}
		if anyRemains(users, gone) {
			continue
		}
		plan.Blobs++
		plan.Bytes += size
	}
	return plan, nil
}

func anyRemains(ids []int64, gone map[int64]bool) bool {
	for _, id := range ids {
		if !gone[id] {
			return true
		}
	}
	return false
}

func (db *DB) allDueManifests(ctx context.Context, t time.Time, includeUntagged bool) ([]ManifestReview, error) {
	cond := ""
	if !includeUntagged {
		cond = " AND reason <> 'untagged'"
	}
	return scanManifestReviews(db.query(ctx, "SELECT repository_id, digest, reason FROM gc_manifest_review WHERE due_at <= $1"+cond+" ORDER BY due_at", t.UnixMicro()))
}

func (db *DB) allDueBlobs(ctx context.Context, t time.Time) ([]string, error) {
	return db.stringList(ctx, "SELECT digest FROM gc_blob_review WHERE due_at <= $1", t.UnixMicro())
}

func (q q) stringList(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

func (q q) idList(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
