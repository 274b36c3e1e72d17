package meta

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Queries of the storage consistency checker (internal/fsck). It runs beside a serving
// registry, so it reads in short pages keyed by digest or id (never one long transaction), and
// every repair re-checks its reason in a short transaction of its own right before it acts.

// ErrBlobReferenced refuses to remove a blob row that a manifest references.
var ErrBlobReferenced = errors.New("meta: blob is referenced by a manifest")

// fsckBatch is how many digests or ids one membership query carries. Batches are padded to
// this size so that every call runs the same statement: the statement cache would otherwise
// fill up with one statement per batch length.
const fsckBatch = 500

// BlobRow is a row of the blobs table.
type BlobRow struct {
	Digest    string
	Size      int64
	CreatedAt time.Time
}

// BlobRowsAfter returns up to n blob rows whose digests sort after `after`, in digest order.
func (q q) BlobRowsAfter(ctx context.Context, after string, n int) ([]BlobRow, error) {
	rows, err := q.query(ctx, "SELECT digest, size, created_at FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2", after, n)
	if err != nil {
		return nil, fmt.Errorf("list blobs after %q: %w", after, err)
	}
	defer rows.Close()
	var out []BlobRow
	for rows.Next() {
		var b BlobRow
		var c int64
		if err := rows.Scan(&b.Digest, &b.Size, &c); err != nil {
			return nil, err
		}
		b.CreatedAt = fromMicros(c)
		out = append(out, b)
	}
	return out, rows.Err()
}

// UnrecordedManifestBlobs returns up to n digests, after `after` in digest order, that a
// manifest references but that have no blob row. Foreign keys should make this impossible.
func (q q) UnrecordedManifestBlobs(ctx context.Context, after string, n int) ([]string, error) {
	rows, err := q.query(ctx, `SELECT DISTINCT mb.digest FROM manifest_blobs mb
		WHERE mb.digest > $1 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = mb.digest)
		ORDER BY mb.digest LIMIT $2`, after, n)
	if err != nil {
		return nil, fmt.Errorf("manifest blobs without a row: %w", err)
	}
	return scanStrings(rows)
}

// BlobRowStates tells which of the digests have a blob row (recorded) and which are listed in
// gc_blob_deleting (a collector has deleted the row and is deleting the stored object).
func (q q) BlobRowStates(ctx context.Context, digests []string) (recorded, deleting map[string]bool, err error) {
	recorded, deleting = map[string]bool{}, map[string]bool{}
	for len(digests) > 0 {
		n := min(len(digests), fsckBatch)
		args := padded(digests[:n])
		digests = digests[n:]
		in := placeholders(1, fsckBatch)
		rows, err := q.query(ctx, "SELECT digest, 0 FROM blobs WHERE digest IN ("+in+
			") UNION ALL SELECT digest, 1 FROM gc_blob_deleting WHERE digest IN ("+in+")", args...)
		if err != nil {
			return nil, nil, fmt.Errorf("look up blob rows: %w", err)
		}
		for rows.Next() {
			var d string
			var which int
			if err := rows.Scan(&d, &which); err != nil {
				rows.Close()
				return nil, nil, err
			}
			if which == 0 {
				recorded[d] = true
			} else {
				deleting[d] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	return recorded, deleting, nil
}

// padded returns the values as arguments, padded with "" (which names no digest or upload) to
// fsckBatch.
func padded(values []string) []any {
	args := make([]any, fsckBatch)
	for i := range args {
		args[i] = ""
		if i < len(values) {
			args[i] = values[i]
		}
	}
	return args
}

// BlobReferences returns how many manifests reference the blob and up to limit of them as
// "repository@digest", in that order.
func (q q) BlobReferences(ctx context.Context, digest string, limit int) (int64, []string, error) {
	var n int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM manifest_blobs WHERE digest = $1", digest).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("references to %s: %w", digest, err)
	}
	if n == 0 || limit <= 0 {
		return n, nil, nil
	}
	rows, err := q.query(ctx, `SELECT r.name, m.digest FROM manifest_blobs mb
		JOIN manifests m ON m.id = mb.manifest_id JOIN repositories r ON r.id = m.repository_id
		WHERE mb.digest = $1 ORDER BY r.name, m.digest LIMIT $2`, digest, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("references to %s: %w", digest, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var repo, m string
		if err := rows.Scan(&repo, &m); err != nil {
			return 0, nil, err
		}
		out = append(out, repo+"@"+m)
	}
	return n, out, rows.Err()
}

// UploadRowsAfter returns up to n upload sessions whose ids sort after `after`, in id order,
// without their hash state.
func (q q) UploadRowsAfter(ctx context.Context, after string, n int) ([]Upload, error) {
	rows, err := q.query(ctx, `SELECT id, repository, size, hash_alg, created_at, updated_at FROM uploads
		WHERE id > $1 ORDER BY id LIMIT $2`, after, n)
	if err != nil {
		return nil, fmt.Errorf("list uploads after %q: %w", after, err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		var u Upload
		var c, up int64
		if err := rows.Scan(&u.ID, &u.Repository, &u.Size, &u.HashAlg, &c, &up); err != nil {
			return nil, err
		}
		u.CreatedAt, u.UpdatedAt = fromMicros(c), fromMicros(up)
		out = append(out, u)
	}
	return out, rows.Err()
}

// ExistingUploads tells which of the upload ids have a session row.
func (q q) ExistingUploads(ctx context.Context, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	for len(ids) > 0 {
		n := min(len(ids), fsckBatch)
		args := padded(ids[:n])
		ids = ids[n:]
		rows, err := q.query(ctx, "SELECT id FROM uploads WHERE id IN ("+placeholders(1, fsckBatch)+")", args...)
		if err != nil {
			return nil, fmt.Errorf("look up uploads: %w", err)
		}
		got, err := scanStrings(rows)
		if err != nil {
			return nil, fmt.Errorf("look up uploads: %w", err)
		}
		for _, id := range got {
			found[id] = true
		}
	}
	return found, nil
}

// DeleteIdleUpload removes an upload session row only if nobody touched it since updatedAt
// (as read by UploadRowsAfter); ErrNotFound if it is gone or was touched.
func (q q) DeleteIdleUpload(ctx context.Context, id string, updatedAt time.Time) error {
	res, err := q.exec(ctx, "DELETE FROM uploads WHERE id = $1 AND updated_at = $2", id, updatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RemoveBrokenBlob deletes the row of a blob whose stored object is missing or corrupt, with
// its repository links, in one transaction that re-checks that the row still has the given
// size (ErrNotFound) and that no manifest references it (ErrBlobReferenced). With tombstone the
// digest goes into gc_blob_deleting in the same transaction, as a collector leaves it: an
// upload of the digest is refused until the caller has deleted the corrupt object and called
// BlobObjectDeleted (or, should the caller die, a collector has finished the deletion).
//
// A manifest push share-locks the links and rows of the blobs it references, links first (one
// join). Taking the links first too (by deleting them) then the row means one of the two waits
// for the other without a deadlock, and whichever commits first, the other sees its outcome:
// the push finds no link, or this finds the reference and rolls back.
func (db *DB) RemoveBrokenBlob(ctx context.Context, digest string, size int64, tombstone bool) error {
	return db.Tx(ctx, func(tx *Tx) error {
		for _, stmt := range []string{"DELETE FROM repository_blobs WHERE digest = $1", "DELETE FROM pending_blobs WHERE digest = $1"} {
			if _, err := tx.exec(ctx, stmt, digest); err != nil {
				return fmt.Errorf("remove blob %s: %w", digest, err)
			}
		}
		var rowSize int64
		err := tx.queryRowW(ctx, "SELECT size FROM blobs WHERE digest = $1"+tx.d.lockUpdate(), digest).Scan(&rowSize)
		if err = notFound(err); err != nil {
			return err
		}
		if rowSize != size {
			return ErrNotFound // recorded anew meanwhile
		}
		var n int64
		if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM manifest_blobs WHERE digest = $1", digest).Scan(&n); err != nil {
			return fmt.Errorf("references to %s: %w", digest, err)
		}
		if n > 0 {
			return ErrBlobReferenced
		}
		if _, err := tx.exec(ctx, "DELETE FROM blobs WHERE digest = $1", digest); err != nil {
			return fmt.Errorf("remove blob %s: %w", digest, err)
		}
		if tombstone {
			if _, err := tx.exec(ctx, `INSERT INTO gc_blob_deleting (digest, created_at) VALUES ($1, $2)
				ON CONFLICT (digest) DO NOTHING`, digest, now()); err != nil {
				return fmt.Errorf("remove blob %s: %w", digest, err)
			}
		}
		return nil
	})
}

// ClaimUnknownObject prepares the deletion of a stored object that has no blob row: in one
// transaction it checks that the digest still has no row and is not being deleted by a
// collector (ErrConflict otherwise) and that no manifest references it (ErrBlobReferenced:
// only broken foreign keys allow that, and the object is then the only copy of the content),
// and leaves a tombstone in gc_blob_deleting. From then on an upload that commits the same
// digest is refused as one racing a collector is (linkBlob), so the object cannot gain a row
// before it is deleted. The caller deletes the object, then calls BlobObjectDeleted; should it
// die in between, a collector finishes the deletion.
//
// There is no row to lock, and on PostgreSQL this transaction and an upload's link transaction
// could each miss the other's uncommitted insert (the tombstone, the blob row). So this one
// inserts the blob row's key itself and deletes it before committing: an upload inserting the
// same key waits for this transaction and then finds the tombstone; one that inserted first
// makes this insert wait, then conflict. Nobody else ever sees the transient row.
func (db *DB) ClaimUnknownObject(ctx context.Context, digest string) error {
	return db.Tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, "INSERT INTO blobs (digest, size, created_at) VALUES ($1, 0, $2) ON CONFLICT (digest) DO NOTHING",
			digest, now())
		if err != nil {
			return fmt.Errorf("claim object %s: %w", digest, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict // it has a row
		}
		var n int64
		if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM manifest_blobs WHERE digest = $1", digest).Scan(&n); err != nil {
			return fmt.Errorf("references to %s: %w", digest, err)
		}
		if n > 0 {
			return ErrBlobReferenced
		}
		res, err = tx.exec(ctx, `INSERT INTO gc_blob_deleting (digest, created_at) VALUES ($1, $2)
			ON CONFLICT (digest) DO NOTHING`, digest, now())
		if err != nil {
			return fmt.Errorf("claim object %s: %w", digest, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict // a collector is deleting it
		}
		if _, err := tx.exec(ctx, "DELETE FROM blobs WHERE digest = $1", digest); err != nil {
			return fmt.Errorf("claim object %s: %w", digest, err)
		}
		return nil
	})
}
