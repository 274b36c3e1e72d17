package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

type Repository struct {
	ID          int64
	ProjectID   int64
	Name        string
	Description string
	PullCount   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

type Manifest struct {
	ID            int64
	RepositoryID  int64
	Digest        string
	MediaType     string
	ArtifactType  string
	ConfigDigest  string
	SubjectDigest string
	Size          int64
	Payload       []byte
	Annotations   string // JSON object or ""
	CreatedAt     time.Time
	PulledAt      time.Time
}

// BlobUnknownError names a blob a manifest references that the repository does not link.
type BlobUnknownError struct{ Digest string }

func (e *BlobUnknownError) Error() string { return "blob unknown to repository: " + e.Digest }

// BlobRef is a blob a manifest references, with the size the manifest claims for it.
type BlobRef struct {
	Digest string
	Size   int64
}

// BlobSizeError names a referenced blob whose size differs from the one the manifest claims.
type BlobSizeError struct {
	Digest         string
	Claimed, Known int64
}

func (e *BlobSizeError) Error() string {
	return fmt.Sprintf("blob %s has size %d, not %d", e.Digest, e.Known, e.Claimed)
}

// ManifestUnknownError names a child manifest an index references that the repository lacks.
type ManifestUnknownError struct{ Digest string }

func (e *ManifestUnknownError) Error() string { return "manifest unknown to repository: " + e.Digest }

// ErrReferenced refuses to delete a manifest that an index in the same repository still lists.
var ErrReferenced = errors.New("meta: manifest is referenced by an index")

func (q q) RepositoryByName(ctx context.Context, name string) (Repository, error) {
	var r Repository
	var c, u int64
	err := q.queryRow(ctx, `SELECT id, project_id, name, description, pull_count, created_at, updated_at
		FROM repositories WHERE name = $1`, name).Scan(&r.ID, &r.ProjectID, &r.Name, &r.Description, &r.PullCount, &c, &u)
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	return r, notFound(err)
}

// ensureRepository returns the id of the repository, creating it in the transaction if needed
// (created). Only a manifest push creates a repository: one that creates it also moves into it
// the blobs uploaded into its name before (adoptPending).
func (tx *Tx) ensureRepository(ctx context.Context, projectID int64, name string) (id int64, created bool, err error) {
	err = tx.queryRowW(ctx, "SELECT id FROM repositories WHERE name = $1", name).Scan(&id)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("repository %s: %w", name, err)
	}
	err = tx.queryRowW(ctx, `INSERT INTO repositories (project_id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (name) DO NOTHING RETURNING id`, projectID, name, now()).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("create repository %s: %w", name, err)
	}
	// A concurrent first push created it meanwhile (PostgreSQL).
	if err := tx.queryRowW(ctx, "SELECT id FROM repositories WHERE name = $1", name).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("repository %s: %w", name, err)
	}
	return id, false, nil
}

// adoptPending moves the links of blobs uploaded or mounted into name while it had no
// repository (pending_blobs) into repository repoID, and reports how many there were. On
// PostgreSQL the pending links and their blobs are share-locked first, as checkLinked locks
// links: a collector deleting one of these blobs either commits first (and the link is gone)
// or waits until this transaction ends.
func (tx *Tx) adoptPending(ctx context.Context, repoID int64, name string) (int64, error) {
	if lock := tx.d.lockShared(); lock != "" {
		// Only the blobs: two pushes adopting at once would each hold a share lock on the
		// pending rows the other is about to delete, a deadlock.
		rows, err := tx.queryW(ctx, `SELECT pb.digest FROM pending_blobs pb JOIN blobs b ON b.digest = pb.digest
			WHERE pb.repository = $1`+lock+" OF b", name)
		if err != nil {
			return 0, fmt.Errorf("blobs uploaded into %s: %w", name, err)
		}
		if err := rows.Close(); err != nil {
			return 0, fmt.Errorf("blobs uploaded into %s: %w", name, err)
		}
	}
	if tx.d.dataModifyingCTE() {
		// One statement, so that what is deleted is what is linked: as two, a link committed
		// by a concurrent upload between them (READ COMMITTED takes a snapshot per statement)
		// would be deleted without having been moved.
		var n int64
		err := tx.queryRowW(ctx, `WITH moved AS (DELETE FROM pending_blobs WHERE repository = $2 RETURNING digest, created_at),
			linked AS (INSERT INTO repository_blobs (repository_id, digest, created_at) SELECT $1, digest, created_at FROM moved
				ON CONFLICT (repository_id, digest) DO NOTHING)
			SELECT count(*) FROM moved`, repoID, name).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("link blobs uploaded into %s: %w", name, err)
		}
		return n, nil
	}
	// SQLite: one writer at a time, so nothing commits between the two statements.
	if _, err := tx.exec(ctx, `INSERT INTO repository_blobs (repository_id, digest, created_at)
		SELECT $1, digest, created_at FROM pending_blobs WHERE repository = $2
		ON CONFLICT (repository_id, digest) DO NOTHING`, repoID, name); err != nil {
		return 0, fmt.Errorf("link blobs uploaded into %s: %w", name, err)
	}
	res, err := tx.exec(ctx, "DELETE FROM pending_blobs WHERE repository = $1", name)
	if err != nil {
		return 0, fmt.Errorf("link blobs uploaded into %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// LinkedBlobSize returns the size of a blob if the repository links it, or it was uploaded
// into the repository's name before its first manifest; ErrNotFound otherwise.
func (q q) LinkedBlobSize(ctx context.Context, repo, digest string) (int64, error) {
	var size int64
	err := q.queryRow(ctx, `SELECT b.size FROM blobs b WHERE b.digest = $2 AND (
		EXISTS (SELECT 1 FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id
			WHERE r.name = $1 AND rb.digest = $2)
		OR EXISTS (SELECT 1 FROM pending_blobs pb WHERE pb.repository = $1 AND pb.digest = $2))`, repo, digest).Scan(&size)
	return size, notFound(err)
}

// LinkedManifestBlobs returns the sizes of the blobs a manifest references that its repository
// links, by digest: what LinkedBlobSize would answer for each, in one query.
func (q q) LinkedManifestBlobs(ctx context.Context, m Manifest) (map[string]int64, error) {
	rows, err := q.query(ctx, `SELECT b.digest, b.size FROM manifest_blobs mb
		JOIN repository_blobs rb ON rb.repository_id = $2 AND rb.digest = mb.digest
		JOIN blobs b ON b.digest = mb.digest
		WHERE mb.manifest_id = $1`, m.ID, m.RepositoryID)
	if err != nil {
		return nil, fmt.Errorf("blobs of manifest %s: %w", m.Digest, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var d string
		var size int64
		if err := rows.Scan(&d, &size); err != nil {
			return nil, err
		}
		out[d] = size
	}
	return out, rows.Err()
}

// BlobSize returns the size of a known blob, whatever repository links it.
func (q q) BlobSize(ctx context.Context, digest string) (int64, error) {
	var size int64
	err := q.queryRow(ctx, "SELECT size FROM blobs WHERE digest = $1", digest).Scan(&size)
	return size, notFound(err)
}

// LinkBlob records a blob (if new) and links it into the repository, or, while the name has no
// repository (no manifest was ever pushed into it), into the name (pending_blobs): an upload
// creates no repository. present, if not nil, runs in the transaction when the blob row is
// new and must confirm that the stored object exists: a collector may have removed it after
// the caller found it (ErrBlobCollected then).
func (db *DB) LinkBlob(ctx context.Context, projectID int64, repo, digest string, size int64, present func() error) error {
	return db.LinkUploadedBlob(ctx, projectID, repo, digest, size, "", present)
}

// LinkUploadedBlob is LinkBlob for a completed upload: the upload session's row (uploadID, if
// not "") goes in the same transaction, so completing a push costs one commit; on PostgreSQL
// it goes in the statement that links the blob, a round trip less.
func (db *DB) LinkUploadedBlob(ctx context.Context, projectID int64, repo, digest string, size int64, uploadID string, present func() error) error {
	return db.Tx(ctx, func(tx *Tx) error {
		tx.keepsAnswers = true
		return tx.linkBlob(ctx, projectID, repo, digest, size, present, uploadID)
	})
}

func (tx *Tx) linkBlob(ctx context.Context, projectID int64, repo, digest string, size int64, present func() error, uploadID string) error {
	t := now()
	res, err := tx.exec(ctx, "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
		digest, size, t)
	if err != nil {
		return fmt.Errorf("record blob %s: %w", digest, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		// A new row. Until a manifest references it, it is garbage once the grace period is
		// over: queue it — unless a collector deleted the previous row and its object may be
		// going or gone (tombstone), in which case refuse rather than name a missing object.
		// One statement does both.
		q, err := tx.exec(ctx, `INSERT INTO gc_blob_review (digest, due_at) SELECT $1, $2
			WHERE NOT EXISTS (SELECT 1 FROM gc_blob_deleting WHERE digest = $1)
			ON CONFLICT (digest) DO UPDATE SET due_at = excluded.due_at`, digest, tx.dueAt())
		if err != nil {
			return fmt.Errorf("record blob %s: %w", digest, err)
		}
		if n, _ := q.RowsAffected(); n == 0 {
			return ErrBlobCollected
		}
		if present != nil {
			if err := present(); err != nil {
				return fmt.Errorf("%w: %v", ErrBlobCollected, err)
			}
		}
	} else {
		if tx.d.lockShared() != "" {
			// The row exists: share-lock it so that a collector deleting it now either
			// commits first (and the upload, whose data was discarded for the stored copy,
			// must be sent again) or waits until this link is in place. (SQLite's single
			// writer already excludes the collector for the whole transaction.)
			var known int64
			err := tx.queryRowW(ctx, "SELECT size FROM blobs WHERE digest = $1"+tx.d.lockShared(), digest).Scan(&known)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrBlobCollected
			}
			if err != nil {
				return fmt.Errorf("record blob %s: %w", digest, err)
			}
		}
		// Pushed again while under review: the client is about to use it.
		if _, err := tx.exec(ctx, "UPDATE gc_blob_review SET due_at = $2 WHERE digest = $1", digest, tx.dueAt()); err != nil {
			return fmt.Errorf("record blob %s: %w", digest, err)
		}
	}
	// The repository usually exists: link in one statement, and only when nothing was linked
	// find out whether it was linked already or the name has no repository yet.
	link := `INSERT INTO repository_blobs (repository_id, digest, created_at)
		SELECT id, $2, $3 FROM repositories WHERE name = $1
		ON CONFLICT (repository_id, digest) DO NOTHING`
	args := []any{repo, digest, t}
	if uploadID != "" {
		if tx.d.dataModifyingCTE() {
			link = "WITH ended AS (DELETE FROM uploads WHERE id = $4) " + link
			args = append(args, uploadID)
		} else if _, err := tx.exec(ctx, "DELETE FROM uploads WHERE id = $1", uploadID); err != nil {
			return fmt.Errorf("end upload %s: %w", uploadID, err)
		}
	}
	res, err = tx.exec(ctx, link, args...)
	if err != nil {
		return fmt.Errorf("link blob %s into %s: %w", digest, repo, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var repoID int64
	err = tx.queryRowW(ctx, "SELECT id FROM repositories WHERE name = $1", repo).Scan(&repoID)
	switch {
	case err == nil:
		// Linked already, or the repository's first push committed just now (PostgreSQL).
		_, err = tx.exec(ctx, `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (repository_id, digest) DO NOTHING`, repoID, digest, t)
	case errors.Is(err, sql.ErrNoRows):
		// A push into a new name: the repository comes with its first manifest, which
		// adopts this link. Should a concurrent first push miss it (PostgreSQL), the next
		// push that references the blob adopts it.
		_, err = tx.exec(ctx, `INSERT INTO pending_blobs (project_id, repository, digest, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (repository, digest) DO NOTHING`, projectID, repo, digest, t)
	}
	if err != nil {
		return fmt.Errorf("link blob %s into %s: %w", digest, repo, err)
	}
	return nil
}

// UnlinkBlob removes a blob from a repository; the bytes stay until garbage collection finds
// nothing else using them.
func (db *DB) UnlinkBlob(ctx context.Context, repo, digest string) error {
	return db.Tx(ctx, func(tx *Tx) error {
		var unlinked int64
		for _, stmt := range []string{
			`DELETE FROM repository_blobs WHERE digest = $2 AND repository_id = (SELECT id FROM repositories WHERE name = $1)`,
			`DELETE FROM pending_blobs WHERE repository = $1 AND digest = $2`,
		} {
			res, err := tx.exec(ctx, stmt, repo, digest)
			if err != nil {
				return fmt.Errorf("unlink blob %s from %s: %w", digest, repo, err)
			}
			n, _ := res.RowsAffected()
			unlinked += n
		}
		if unlinked == 0 {
			return ErrNotFound
		}
		return tx.reviewBlobs(ctx, []string{digest})
	})
}

const manifestColumns = `m.id, m.repository_id, m.digest, m.media_type, m.artifact_type, m.config_digest,
	m.subject_digest, m.size, m.payload, m.annotations, m.created_at, m.pulled_at`

func scanManifest(row interface{ Scan(...any) error }) (Manifest, error) {
	var m Manifest
	var cfg, subj sql.NullString
	var c int64
	var p sql.NullInt64
	err := row.Scan(&m.ID, &m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType, &cfg, &subj, &m.Size, &m.Payload, &m.Annotations, &c, &p)
	m.ConfigDigest, m.SubjectDigest = cfg.String, subj.String
	m.CreatedAt, m.PulledAt = fromMicros(c), fromNullMicros(p)
	return m, notFound(err)
}

// ManifestByDigest returns a manifest of the repository by digest.
func (q q) ManifestByDigest(ctx context.Context, repo, digest string) (Manifest, error) {
	return scanManifest(q.queryRow(ctx, "SELECT "+manifestColumns+` FROM repositories r
		JOIN manifests m ON m.repository_id = r.id WHERE r.name = $1 AND m.digest = $2`, repo, digest))
}

// ManifestByTag resolves a tag of the repository to its manifest.
func (q q) ManifestByTag(ctx context.Context, repo, tag string) (Manifest, error) {
	return scanManifest(q.queryRow(ctx, "SELECT "+manifestColumns+` FROM repositories r
		JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id
		WHERE r.name = $1 AND t.name = $2`, repo, tag))
}

// PutManifestParams is a validated manifest with everything it references.
type PutManifestParams struct {
	ProjectID     int64
	Repository    string
	Digest        string
	MediaType     string
	ArtifactType  string
	ConfigDigest  string
	SubjectDigest string
	Payload       []byte
	Annotations   string
	Blobs         []BlobRef // config and layers that must be linked in the repository
	Children      []string  // index entries that must exist in the repository
	Tags          []string  // none when pushed by digest alone
	// Immutable reports whether a tag is protected by an immutability rule: such a tag may be
	// created, or pushed again with the same content, but not moved (*ImmutableTagError). The
	// check runs in the transaction that would move the tag, so no concurrent push slips by.
	Immutable func(tag string) bool
}

// PutManifestResult reports what changed, for events and garbage collection.
type PutManifestResult struct {
	ManifestID int64
	Created    bool     // the manifest did not exist in the repository before
	Moved      []string // digests that tags pointed at before this push moved them
	// Charged is what the push added to its project's storage usage; Used and Hard are the
	// project's usage after it and its limit (-1: none), when Charged is not 0.
	Charged, Used, Hard int64
}

// PutManifest stores a manifest and its references and points the tag at it, atomically. Every
// referenced blob must be linked in the repository and every child manifest present; the blob
// rows are locked for the transaction so a concurrent collection cannot delete them while the
// reference is being written. A new manifest is charged to its project's storage quota in the
// same transaction; *QuotaExceededError if that takes the project over its limit.
func (db *DB) PutManifest(ctx context.Context, p PutManifestParams) (PutManifestResult, error) {
	var res PutManifestResult
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		res, err = tx.PutManifest(ctx, p)
		return err
	})
	return res, err
}

// PutManifest is DB.PutManifest in the transaction, which must do nothing before it but read
// (it decides which changes the commit announces).
func (tx *Tx) PutManifest(ctx context.Context, p PutManifestParams) (PutManifestResult, error) {
	var res PutManifestResult
	// A push adds rows; only moving a tag changes an answer a replica may remember.
	tx.keepsAnswers, tx.removesNothing = true, true
	// The repository is created here, by its first manifest, and goes with the push if the
	// push is refused.
	repoID, created, err := tx.ensureRepository(ctx, p.ProjectID, p.Repository)
	if err != nil {
		return res, err
	}
	if created {
		if _, err := tx.adoptPending(ctx, repoID, p.Repository); err != nil {
			return res, err
		}
	}
	blobs := dedupeRefs(p.Blobs)
	if len(blobs) > 0 {
		err := tx.checkLinked(ctx, repoID, blobs)
		var unknown *BlobUnknownError
		if errors.As(err, &unknown) && !created {
			// Uploaded while a concurrent first push was creating the repository: adopt, and
			// look again even when nothing was left to adopt — a concurrent push may have
			// adopted these links itself (its delete made ours wait until it committed them).
			if _, err = tx.adoptPending(ctx, repoID, p.Repository); err == nil {
				err = tx.checkLinked(ctx, repoID, blobs)
			}
		}
		if err != nil {
			return res, err
		}
	}
	children := dedupe(p.Children)
	childIDs := make([]int64, 0, len(children))
	var refs []projectRef // charged to the project at the end
	for _, c := range children {
		var id int64
		err := tx.queryRowW(ctx, "SELECT id FROM manifests WHERE repository_id = $1 AND digest = $2"+tx.d.lockShared(), repoID, c).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return res, &ManifestUnknownError{Digest: c}
		}
		if err != nil {
			return res, fmt.Errorf("check child manifest %s: %w", c, err)
		}
		childIDs = append(childIDs, id)
	}
	t := now()
	// Share-locked: a collector deleting this manifest either finishes first (and the push
	// stores it anew) or waits for the push, then finds it tagged.
	err = tx.queryRowW(ctx, "SELECT id FROM manifests WHERE repository_id = $1 AND digest = $2"+tx.d.lockShared(), repoID, p.Digest).Scan(&res.ManifestID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res.Created = true
		err = tx.queryRowW(ctx, `INSERT INTO manifests (repository_id, digest, media_type, artifact_type, config_digest,
			subject_digest, size, payload, annotations, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			repoID, p.Digest, p.MediaType, p.ArtifactType, nullable(p.ConfigDigest), nullable(p.SubjectDigest),
			len(p.Payload), p.Payload, p.Annotations, t).Scan(&res.ManifestID)
		if err != nil {
			if tx.d.isUniqueViolation(err) {
				// A concurrent push of the same manifest committed first (PostgreSQL;
				// SQLite's single writer cannot race): run again and find its row.
				return res, errRaced
			}
			return res, fmt.Errorf("insert manifest %s: %w", p.Digest, err)
		}
		if len(blobs) > 0 {
			args := make([]any, 0, 1+len(blobs))
			args = append(args, res.ManifestID)
			for _, b := range blobs {
				args = append(args, b.Digest)
			}
			if _, err := tx.exec(ctx, "INSERT INTO manifest_blobs (manifest_id, digest) VALUES "+valueRows(len(blobs)), args...); err != nil {
				return res, fmt.Errorf("manifest %s references its blobs: %w", p.Digest, err)
			}
		}
		if len(childIDs) > 0 {
			args := make([]any, 0, 1+len(childIDs))
			args = append(args, res.ManifestID)
			for _, c := range childIDs {
				args = append(args, c)
			}
			if _, err := tx.exec(ctx, "INSERT INTO manifest_children (parent_id, child_id) VALUES "+valueRows(len(childIDs)), args...); err != nil {
				return res, fmt.Errorf("manifest %s references its children: %w", p.Digest, err)
			}
		}
		// Storage accounting and the quota check, in this transaction: a push over quota
		// (*QuotaExceededError) rolls back whole.
		refs = make([]projectRef, 0, len(blobs)+1)
		refs = append(refs, projectRef{digest: p.Digest, size: int64(len(p.Payload))})
		for _, b := range blobs {
			refs = append(refs, projectRef{digest: b.Digest, size: b.Size})
		}
	case err != nil:
		return res, fmt.Errorf("look up manifest %s: %w", p.Digest, err)
	}
	for _, tag := range dedupe(p.Tags) {
		var old sql.NullString
		err := tx.queryRowW(ctx, `SELECT m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id
			WHERE t.repository_id = $1 AND t.name = $2`, repoID, tag).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return res, fmt.Errorf("look up tag %s: %w", tag, err)
		}
		if old.String == p.Digest {
			if _, err := tx.exec(ctx, "UPDATE tags SET updated_at = $3 WHERE repository_id = $1 AND name = $2", repoID, tag, t); err != nil {
				return res, fmt.Errorf("tag %s: %w", tag, err)
			}
			continue
		}
		// A concurrent push may create or move the tag meanwhile (PostgreSQL): write only
		// what was seen, and if the tag is not as seen now, run again to see it.
		var r sql.Result
		if old.Valid {
			if p.Immutable != nil && p.Immutable(tag) {
				return res, &ImmutableTagError{Tag: tag}
			}
			res.Moved = append(res.Moved, old.String)
			// What replicas remember of the tag is now wrong.
			tx.keepsAnswers = false
			r, err = tx.exec(ctx, `UPDATE tags SET manifest_id = $3, updated_at = $4
				WHERE repository_id = $1 AND name = $2 AND manifest_id = (SELECT id FROM manifests WHERE repository_id = $1 AND digest = $5)`,
				repoID, tag, res.ManifestID, t, old.String)
		} else {
			r, err = tx.exec(ctx, `INSERT INTO tags (repository_id, name, manifest_id, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $4) ON CONFLICT (repository_id, name) DO NOTHING`, repoID, tag, res.ManifestID, t)
		}
		if err != nil {
			return res, fmt.Errorf("tag %s: %w", tag, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return res, errRaced
		}
	}
	// Content a moved tag left behind, and a manifest pushed with no tag and no subject,
	// may be untagged garbage.
	for _, d := range dedupe(res.Moved) {
		if err := tx.reviewManifest(ctx, repoID, d, ReviewUntagged); err != nil {
			return res, err
		}
	}
	if res.Created && len(p.Tags) == 0 && p.SubjectDigest == "" {
		if err := tx.reviewManifest(ctx, repoID, p.Digest, ReviewUntagged); err != nil {
			return res, err
		}
	}
	// The project's quota row and the repository's row are where concurrent pushes into
	// one project meet: they are locked last, so each push holds them only for its commit.
	if len(refs) > 0 {
		if res.Charged, res.Used, res.Hard, err = tx.chargeProject(ctx, p.ProjectID, refs); err != nil {
			return res, err
		}
	}
	_, err = tx.exec(ctx, "UPDATE repositories SET updated_at = $2 WHERE id = $1", repoID, t)
	return res, err
}

// valueRows is "($1, $2), ($1, $3), …" for k rows pairing the first argument with each of the
// next k: one statement inserts what a round trip per row did.
func valueRows(k int) string {
	var b strings.Builder
	for i := 0; i < k; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($1, $%d)", i+2)
	}
	return b.String()
}

// checkLinked verifies that the blobs are linked in the repository with the claimed sizes and,
// on PostgreSQL, share-locks their rows until the transaction ends.
func (tx *Tx) checkLinked(ctx context.Context, repoID int64, refs []BlobRef) error {
	args := make([]any, 0, len(refs)+1)
	args = append(args, repoID)
	for _, r := range refs {
		args = append(args, r.Digest)
	}
	rows, err := tx.queryW(ctx, "SELECT b.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = $1 AND rb.digest IN ("+
		placeholders(2, len(refs))+")"+tx.d.lockShared(), args...)
	if err != nil {
		return fmt.Errorf("check blobs: %w", err)
	}
	defer rows.Close()
	found := make(map[string]int64, len(refs))
	for rows.Next() {
		var d string
		var size int64
		if err := rows.Scan(&d, &size); err != nil {
			return err
		}
		found[d] = size
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range refs {
		size, ok := found[r.Digest]
		if !ok {
			return &BlobUnknownError{Digest: r.Digest}
		}
		if size != r.Size {
			return &BlobSizeError{Digest: r.Digest, Claimed: r.Size, Known: size}
		}
	}
	return nil
}

// DeleteManifest removes a manifest and every tag pointing at it. It refuses (ErrReferenced)
// while an index in the repository still lists it. It returns the deleted manifest's tags.
func (db *DB) DeleteManifest(ctx context.Context, repo, digest string) ([]string, error) {
	var tags []string
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		tags, err = tx.DeleteManifest(ctx, repo, digest)
		return err
	})
	return tags, err
}

// DeleteManifest is DB.DeleteManifest in the transaction.
func (tx *Tx) DeleteManifest(ctx context.Context, repo, digest string) ([]string, error) {
	var id int64
	err := tx.queryRowW(ctx, `SELECT m.id FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $2`, repo, digest).Scan(&id)
	if err != nil {
		return nil, notFound(err)
	}
	var parents int64
	if err := tx.queryRowW(ctx, "SELECT COUNT(*) FROM manifest_children WHERE child_id = $1", id).Scan(&parents); err != nil {
		return nil, err
	}
	if parents > 0 {
		return nil, ErrReferenced
	}
	rows, err := tx.queryW(ctx, "DELETE FROM tags WHERE manifest_id = $1 RETURNING name", id)
	if err != nil {
		return nil, fmt.Errorf("delete tags of %s: %w", digest, err)
	}
	var tags []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		tags = append(tags, t)
	}
	rows.Close()
	if err := tx.deleteManifestRow(ctx, id); err != nil {
		return nil, fmt.Errorf("delete manifest %s: %w", digest, err)
	}
	return tags, nil
}

// DeleteTag removes a tag and returns the digest it pointed at, which goes on the review queue.
func (db *DB) DeleteTag(ctx context.Context, repo, tag string) (string, error) {
	var d string
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		d, err = tx.DeleteTag(ctx, repo, tag)
		return err
	})
	return d, err
}

// DeleteTag is DB.DeleteTag in the transaction.
func (tx *Tx) DeleteTag(ctx context.Context, repo, tag string) (string, error) {
	var d string
	var repoID int64
	err := tx.queryRowW(ctx, `DELETE FROM tags WHERE name = $2
		AND repository_id = (SELECT id FROM repositories WHERE name = $1)
		RETURNING repository_id, (SELECT digest FROM manifests WHERE id = tags.manifest_id)`, repo, tag).Scan(&repoID, &d)
	if err != nil {
		return "", notFound(err)
	}
	return d, tx.reviewManifest(ctx, repoID, d, ReviewUntagged)
}

// ListTags returns up to n tag names of the repository after `last`, in byte order.
func (q q) ListTags(ctx context.Context, repo, last string, n int) ([]string, error) {
	// The repository is resolved in a scalar subquery so that PostgreSQL walks the
	// (repository_id, name) index in order and stops after n rows, instead of reading every
	// later tag and sorting them for each page.
	rows, err := q.query(ctx, `SELECT name FROM tags
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND name > $2 ORDER BY name LIMIT $3`, repo, last, n)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return scanStrings(rows)
}

// Referrer is a manifest whose subject is a given digest.
type Referrer struct {
	Digest       string
	MediaType    string
	ArtifactType string
	Size         int64
	Annotations  string
}

// Referrers lists the manifests of the repository whose subject is digest, optionally only
// those of one artifact type.
func (q q) Referrers(ctx context.Context, repo, digest, artifactType string) ([]Referrer, error) {
	query := `SELECT m.digest, m.media_type, m.artifact_type, m.size, m.annotations FROM repositories r
		JOIN manifests m ON m.repository_id = r.id WHERE r.name = $1 AND m.subject_digest = $2`
	args := []any{repo, digest}
	if artifactType != "" {
		query += " AND m.artifact_type = $3"
		args = append(args, artifactType)
	}
	rows, err := q.query(ctx, query+" ORDER BY m.id", args...)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", digest, err)
	}
	defer rows.Close()
	var out []Referrer
	for rows.Next() {
		var r Referrer
		if err := rows.Scan(&r.Digest, &r.MediaType, &r.ArtifactType, &r.Size, &r.Annotations); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CatalogFilter limits the catalog to what the caller may see.
type CatalogFilter struct {
	Visibility ProjectVisibility
	Last       string
	N          int
}

// Catalog lists repository names in byte order.
func (q q) Catalog(ctx context.Context, f CatalogFilter) ([]string, error) {
	w := NewWhere(1)
	w.Add("r.name > ?", f.Last)
	f.Visibility.apply(w)
	limit := w.Arg(f.N)
	where, args := w.SQL()
	rows, err := q.query(ctx, "SELECT r.name FROM repositories r JOIN projects p ON p.id = r.project_id"+where+" ORDER BY r.name LIMIT "+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return scanStrings(rows)
}

// PullRecord is the pulls of one manifest (through one tag, or by digest when Tag is "")
// since the last flush.
type PullRecord struct {
	ManifestID int64
	Tag        string
	At         time.Time // the latest pull
	Count      int64
}

// RecordPulls stores pull times and counts in one transaction: the manifest's and tag's last
// pull time, and the repository's pull count, with the pull events.
func (db *DB) RecordPulls(ctx context.Context, pulls []PullRecord, evs ...Event) error {
	return db.Tx(ctx, func(tx *Tx) error {
		tx.keepsAnswers = true
		for _, p := range pulls {
			t := p.At.UnixMicro()
			if _, err := tx.exec(ctx, "UPDATE manifests SET pulled_at = $2 WHERE id = $1", p.ManifestID, t); err != nil {
				return fmt.Errorf("record pulls: %w", err)
			}
			if p.Tag != "" {
				if _, err := tx.exec(ctx, "UPDATE tags SET pulled_at = $3 WHERE manifest_id = $1 AND name = $2", p.ManifestID, p.Tag, t); err != nil {
					return fmt.Errorf("record pulls: %w", err)
				}
			}
			if _, err := tx.exec(ctx, "UPDATE repositories SET pull_count = pull_count + $2 WHERE id = (SELECT repository_id FROM manifests WHERE id = $1)", p.ManifestID, p.Count); err != nil {
				return fmt.Errorf("record pulls: %w", err)
			}
		}
		tx.Emit(evs...)
		return nil
	})
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func dedupeRefs(in []BlobRef) []BlobRef {
	seen := make(map[string]bool, len(in))
	out := make([]BlobRef, 0, len(in))
	for _, r := range in {
		if !seen[r.Digest] {
			seen[r.Digest] = true
			out = append(out, r)
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// RepositoriesLinking lists up to limit repositories that link the blob, including names it
// was uploaded into that have no manifest yet.
func (q q) RepositoriesLinking(ctx context.Context, digest string, limit int) ([]string, error) {
	rows, err := q.query(ctx, `SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE rb.digest = $1
		UNION SELECT repository FROM pending_blobs WHERE digest = $1
		ORDER BY 1 LIMIT $2`, digest, limit)
	if err != nil {
		return nil, fmt.Errorf("repositories linking %s: %w", digest, err)
	}
	return scanStrings(rows)
}
