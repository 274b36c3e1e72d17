package meta

import (
	"context"
	"fmt"
	"time"
)

// Upload is an upload session. Its data lives in the blob store under ID.
type Upload struct {
	ID         string
	Repository string
	Size       int64
	HashAlg    string
	HashState  []byte
	// StoreState is the blob store's state of the upload after its last recorded chunk
	// (blob.UploadWriter), opaque here.
	StoreState []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// CreateUpload records a new session. A session that nothing has been written to yet is cheap
// to lose (the client starts over), so its row is not waited for on disk: on SQLite the row
// joins the next group commit and the session is served from memory until then; on PostgreSQL
// the transaction commits without waiting for its WAL flush.
func (db *DB) CreateUpload(ctx context.Context, u Upload) error {
	t := now()
	u.CreatedAt, u.UpdatedAt = fromMicros(t), fromMicros(t)
	if db.group == nil {
		return q{db: db.lazy, rdb: db.lazy, d: db.dialect}.insertUpload(ctx, u, t)
	}
	db.pendingUploads.Store(u.ID, u)
	err := db.group.submit(func(tx *Tx) error { return tx.insertUpload(context.Background(), u, t) },
		func(error) {
			// Committed, or failed (the session is then gone and the client starts over).
			db.pendingUploads.Delete(u.ID)
		})
	if err != nil {
		db.pendingUploads.Delete(u.ID)
	}
	return err
}

// Upload returns a session, also one whose row is not committed yet.
func (db *DB) Upload(ctx context.Context, id string) (Upload, error) {
	if u, ok := db.pendingUploads.Load(id); ok {
		return u.(Upload), nil
	}
	return db.q.Upload(ctx, id)
}

func (q q) insertUpload(ctx context.Context, u Upload, t int64) error {
	_, err := q.exec(ctx, `INSERT INTO uploads (id, repository, size, hash_alg, hash_state, store_state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, u.ID, u.Repository, u.Size, u.HashAlg, u.HashState, u.StoreState, t)
	if err != nil {
		if q.d.isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("create upload: %w", err)
	}
	return nil
}

// Upload reads a session through the write connection: the previous chunk may have been
// recorded a moment ago by this or another process.
func (q q) Upload(ctx context.Context, id string) (Upload, error) {
	var u Upload
	var c, up int64
	err := q.queryRowW(ctx, `SELECT id, repository, size, hash_alg, hash_state, store_state, created_at, updated_at FROM uploads WHERE id = $1`, id).
		Scan(&u.ID, &u.Repository, &u.Size, &u.HashAlg, &u.HashState, &u.StoreState, &c, &up)
	u.CreatedAt, u.UpdatedAt = fromMicros(c), fromMicros(up)
	return u, notFound(err)
}

// AdvanceUpload records that session u.ID grew from `from` to u.Size bytes, with u's hash state
// and store state. It fails with ErrConcurrentUpdate when another request moved the session
// meanwhile, so two writers of one session cannot both win: the store state recorded is always
// that of the chunk whose size and hash state are.
func (q q) AdvanceUpload(ctx context.Context, u Upload, from int64) error {
	res, err := q.exec(ctx, "UPDATE uploads SET size = $3, hash_state = $4, store_state = $5, updated_at = $6 WHERE id = $1 AND size = $2",
		u.ID, from, u.Size, u.HashState, u.StoreState, now())
	if err != nil {
		return fmt.Errorf("advance upload %s: %w", u.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConcurrentUpdate
	}
	return nil
}

// DeleteUpload removes a session row; ErrNotFound if absent.
func (q q) DeleteUpload(ctx context.Context, id string) error {
	res, err := q.exec(ctx, "DELETE FROM uploads WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// StaleUploads lists sessions not touched since before.
func (q q) StaleUploads(ctx context.Context, before time.Time, limit int) ([]string, error) {
	rows, err := q.query(ctx, "SELECT id FROM uploads WHERE updated_at < $1 ORDER BY updated_at LIMIT $2", before.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("stale uploads: %w", err)
	}
	return scanStrings(rows)
}

// CountUploads returns the number of open upload sessions (a metric).
func (q q) CountUploads(ctx context.Context) (int64, error) {
	var n int64
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM uploads").Scan(&n)
	return n, err
}
