// Package fsck checks that the metadata store and the blob store agree, and with Repair
// removes what can be removed safely, while the registry keeps serving.
//
// It checks that every blob row has its stored object, of the recorded size, hashing to the
// digest; that every digest a manifest references has a blob row; that every stored object has
// a blob row; and that upload data and upload session rows come in pairs.
//
// Running beside the registry shapes it:
//   - Nothing is read in one long transaction: blob rows and sessions are read in pages keyed
//     by digest or id, stored objects are looked up in batches as the store walks them.
//   - An upload commit moves the object into place shortly before it inserts the blob row, and
//     a monolithic upload writes data that never has a session row. Objects and upload data
//     younger than MinAge are therefore left alone.
//   - A garbage collector deletes a blob row (listing the digest in gc_blob_deleting), then the
//     object: an object listed there is being collected, not unknown, and a row seen in a page
//     but gone when its object turns out missing was collected meanwhile.
//   - Every repair re-checks its reason in a short transaction of its own right before acting.
//     Only what nothing references is removed; a problem with a blob a manifest references is
//     reported with the manifests and repositories affected, for an operator to resolve (by
//     pushing the blob again, or deleting the manifests).
package fsck

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/meta"
)

const (
	// DefaultMinAge is the MinAge used when Options leaves it zero.
	DefaultMinAge = time.Hour
	// DefaultMaxProblems is how many problems a report lists unless Options says otherwise.
	DefaultMaxProblems = 1000
	// pageSize is how many rows one query reads and how many walked objects one lookup checks.
	pageSize = 500
	// maxNames bounds the manifests and repositories a problem names.
	maxNames = 5
)

// Options tunes a run.
type Options struct {
	// Quick compares sizes only, without reading and hashing the content.
	Quick bool
	// Repair removes what is safely removable: unknown objects, orphan upload data, upload
	// sessions whose data is gone, and blob rows (with their links) whose object is missing or
	// corrupt when no manifest references them, together with the corrupt object.
	Repair bool
	// MinAge is how old an object or upload without a row must be before it counts as a
	// problem. Zero means DefaultMinAge; a negative value means no minimum, which is safe only
	// while no registry process runs.
	MinAge time.Duration
	// MaxProblems bounds the problems the report lists (zero: DefaultMaxProblems); all are
	// counted.
	MaxProblems int
}

// Store is what a check reads of the metadata store and repairs in it; *meta.DB satisfies it.
type Store interface {
	BlobRowsAfter(ctx context.Context, after string, n int) ([]meta.BlobRow, error)
	BlobSize(ctx context.Context, digest string) (int64, error)
	BlobRowStates(ctx context.Context, digests []string) (recorded, deleting map[string]bool, err error)
	BlobReferences(ctx context.Context, digest string, limit int) (int64, []string, error)
	RepositoriesLinking(ctx context.Context, digest string, limit int) ([]string, error)
	UnrecordedManifestBlobs(ctx context.Context, after string, n int) ([]string, error)
	RemoveBrokenBlob(ctx context.Context, digest string, size int64, tombstone bool) error
	ClaimUnknownObject(ctx context.Context, digest string) error
	BlobObjectDeleted(ctx context.Context, digest string) error
	Upload(ctx context.Context, id string) (meta.Upload, error)
	UploadRowsAfter(ctx context.Context, after string, n int) ([]meta.Upload, error)
	ExistingUploads(ctx context.Context, ids []string) (map[string]bool, error)
	DeleteIdleUpload(ctx context.Context, id string, updatedAt time.Time) error
}

// Run checks db and store against each other and, with Repair, repairs. It fails only when it
// cannot go on (a query fails, the store cannot be walked, ctx ends); inconsistencies, however
// many, are in the report.
func Run(ctx context.Context, db Store, store blob.Store, opt Options) (Report, error) {
	start := time.Now()
	switch {
	case opt.MinAge == 0:
		opt.MinAge = DefaultMinAge
	case opt.MinAge < 0:
		opt.MinAge = 0
	}
	if opt.MaxProblems <= 0 {
		opt.MaxProblems = DefaultMaxProblems
	}
	c := &checker{db: db, store: store, opt: opt, buf: make([]byte, 1<<20),
		rep: &Report{Quick: opt.Quick, Repair: opt.Repair, MinAge: opt.MinAge, Counts: map[Category]*Count{}}}
	for _, cat := range Categories {
		c.rep.Counts[cat] = &Count{}
	}
	for _, step := range []func(context.Context) error{c.blobRows, c.unrecordedReferences, c.objects, c.uploadData, c.uploadRows} {
		if err := step(ctx); err != nil {
			c.rep.Duration = time.Since(start)
			return *c.rep, err
		}
	}
	c.rep.Duration = time.Since(start)
	return *c.rep, nil
}

type checker struct {
	db    Store
	store blob.Store
	opt   Options
	rep   *Report
	buf   []byte // hashing buffer
}

func (c *checker) add(p Problem, freed int64) { c.rep.add(p, freed, c.opt.MaxProblems) }

// old tells whether something last written at t is at least MinAge old.
func (c *checker) old(t time.Time) bool { return time.Since(t) >= c.opt.MinAge }

// blobRows checks every blob row against its stored object.
func (c *checker) blobRows(ctx context.Context) error {
	after := ""
	for {
		page, err := c.db.BlobRowsAfter(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, b := range page {
			c.rep.BlobRows++
			c.rep.BlobBytes += b.Size
			if err := c.checkBlob(ctx, b); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].Digest
	}
}

func (c *checker) checkBlob(ctx context.Context, b meta.BlobRow) error {
	d := digest.Digest(b.Digest)
	p := Problem{Digest: b.Digest, Size: b.Size}
	size, err := c.store.Stat(ctx, d)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, blob.ErrNotFound):
		p.Category = MissingObject
	case errors.Is(err, blob.ErrInvalidDigest):
		p.Category, p.Detail = MissingObject, "the row's digest is malformed, so no object can exist for it"
	case err != nil:
		p.Category, p.Detail = UnreadableObject, err.Error()
	case size != b.Size:
		p.Category, p.Size = SizeMismatch, size
		p.Detail = fmt.Sprintf("stored object has %d bytes, the row records %d", size, b.Size)
	case !c.opt.Quick:
		sum, err := c.hash(ctx, d)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, blob.ErrNotFound):
			// Deleted between Stat and Open: the row check below tells whether by a collector.
			p.Category = MissingObject
		case err != nil:
			p.Category, p.Detail = UnreadableObject, err.Error()
		case sum != d:
			p.Category, p.Detail = DigestMismatch, "content hashes to "+sum.String()
		}
	}
	if p.Category == "" {
		return nil
	}
	// A collector deletes the row, then the object: if the row went since the page was read,
	// the object went with it and nothing is wrong.
	if _, err := c.db.BlobSize(ctx, b.Digest); errors.Is(err, meta.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if err := c.describeBlob(ctx, &p); err != nil {
		return err
	}
	p.Repairable = p.References == 0 && p.Category != UnreadableObject
	freed := int64(0)
	if c.opt.Repair && p.Repairable {
		var gone bool
		if freed, gone = c.repairBlob(ctx, &p, b); gone {
			return nil
		}
	}
	c.add(p, freed)
	return nil
}

// describeBlob names the manifests and repositories a problem with a blob affects.
func (c *checker) describeBlob(ctx context.Context, p *Problem) error {
	n, manifests, err := c.db.BlobReferences(ctx, p.Digest, maxNames)
	if err != nil {
		return err
	}
	repos, err := c.db.RepositoriesLinking(ctx, p.Digest, maxNames)
	if err != nil {
		return err
	}
	p.References, p.Manifests, p.Repositories = n, manifests, repos
	return nil
}

// repairBlob removes an unreferenced blob whose object is missing or corrupt: the row and its
// links in one transaction, then the corrupt object. gone reports that the problem vanished
// before the repair (the object came back, the row went).
func (c *checker) repairBlob(ctx context.Context, p *Problem, b meta.BlobRow) (freed int64, gone bool) {
	d := digest.Digest(b.Digest)
	// The object may have been pushed again meanwhile (a commit replaces an object of the wrong
	// size); a row whose object is back is checked again by the next run.
	size, err := c.store.Stat(ctx, d)
	switch p.Category {
	case MissingObject:
		if err == nil {
			return 0, true
		}
	case SizeMismatch:
		if err == nil && size == b.Size {
			return 0, true
		}
	}
	corrupt := p.Category != MissingObject
	err = c.db.RemoveBrokenBlob(ctx, b.Digest, b.Size, corrupt)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return 0, true
	case errors.Is(err, meta.ErrBlobReferenced):
		p.RepairError = "a manifest referenced it meanwhile"
		return 0, false
	case err != nil:
		p.RepairError = err.Error()
		return 0, false
	}
	p.Repositories = nil // unlinked now
	if corrupt {
		if err := c.store.Delete(ctx, d); err != nil && !errors.Is(err, blob.ErrNotFound) {
			// The digest stays in gc_blob_deleting: the collector finishes the deletion.
			p.RepairError = "row removed, but deleting the object failed: " + err.Error()
			return 0, false
		}
		if err := c.db.BlobObjectDeleted(ctx, b.Digest); err != nil {
			p.RepairError = "object deleted, but " + err.Error()
		}
		freed = p.Size
	}
	p.Repaired = p.RepairError == ""
	return freed, false
}

// hash reads the object and returns the digest of its content with the digest's algorithm.
func (c *checker) hash(ctx context.Context, d digest.Digest) (digest.Digest, error) {
	var h hash.Hash
	switch d.Algorithm() {
	case digest.SHA256:
		h = sha256.New()
	case digest.SHA512:
		h = sha512.New()
	default:
		return "", fmt.Errorf("%w: %s", blob.ErrInvalidDigest, d)
	}
	r, err := c.store.Open(ctx, d)
	if err != nil {
		return "", err
	}
	defer r.Close()
	n, err := io.CopyBuffer(h, ctxReader{ctx, r}, c.buf)
	c.rep.HashedBytes += n
	if err != nil {
		return "", fmt.Errorf("read blob %s: %w", d, err)
	}
	return digest.NewDigestFromBytes(d.Algorithm(), h.Sum(nil)), nil
}

// ctxReader ends a long read when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// unrecordedReferences reports digests that manifests reference without a blob row.
func (c *checker) unrecordedReferences(ctx context.Context) error {
	after := ""
	for {
		page, err := c.db.UnrecordedManifestBlobs(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, d := range page {
			p := Problem{Category: MissingBlobRow, Digest: d}
			if size, err := c.store.Stat(ctx, digest.Digest(d)); err == nil {
				p.Size, p.Detail = size, "the stored object exists"
			}
			if err := c.describeBlob(ctx, &p); err != nil {
				return err
			}
			c.add(p, 0)
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1]
	}
}

type walked struct {
	d        digest.Digest
	size     int64
	modified time.Time // zero when the store cannot tell
}

// objects walks the stored objects and reports those without a blob row, and stray paths.
func (c *checker) objects(ctx context.Context) error {
	batch := make([]walked, 0, pageSize)
	flush := func() error {
		err := c.checkObjects(ctx, batch)
		batch = batch[:0]
		return err
	}
	err := c.walk(ctx, func(d digest.Digest, size int64, modified time.Time) error {
		c.rep.Objects++
		c.rep.ObjectBytes += size
		batch = append(batch, walked{d, size, modified})
		if len(batch) == pageSize {
			return flush()
		}
		return nil
	}, func(path string) error {
		c.add(Problem{Category: StrayPath, Path: path, Detail: "not a blob path; remove or move it by hand"}, 0)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// walk walks the stored objects with their modification times when the store can tell them
// (blob.ModTimeWalker), else with zero times.
func (c *checker) walk(ctx context.Context, fn func(d digest.Digest, size int64, modified time.Time) error, stray func(path string) error) error {
	if w, ok := c.store.(blob.ModTimeWalker); ok {
		return w.WalkModTime(ctx, fn, stray)
	}
	return c.store.Walk(ctx, func(d digest.Digest, size int64) error { return fn(d, size, time.Time{}) }, stray)
}

func (c *checker) checkObjects(ctx context.Context, batch []walked) error {
	if len(batch) == 0 {
		return nil
	}
	digests := make([]string, len(batch))
	for i, w := range batch {
		digests[i] = w.d.String()
	}
	recorded, deleting, err := c.db.BlobRowStates(ctx, digests)
	if err != nil {
		return err
	}
	for _, w := range batch {
		switch {
		case recorded[w.d.String()]:
			continue
		case deleting[w.d.String()]:
			c.rep.BeingCollected++
			continue
		}
		// An object without a row that a manifest references is reported as a missing blob
		// row (foreign keys should prevent it); it is the only copy of that content.
		refs, _, err := c.db.BlobReferences(ctx, w.d.String(), 0)
		if err != nil {
			return err
		}
		if refs > 0 {
			continue
		}
		p := Problem{Category: UnknownObject, Digest: w.d.String(), Size: w.size}
		modified, err := c.objectModTime(ctx, w)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, blob.ErrNotFound):
			continue // deleted meanwhile
		case err != nil:
			// Reported, never removed: its age is unknown.
			p.Detail = "cannot tell its age: " + err.Error()
			c.add(p, 0)
			continue
		case !c.old(modified):
			c.rep.Young++
			continue
		}
		p.Repairable = true
		freed := int64(0)
		if c.opt.Repair {
			var gone bool
			if freed, gone = c.repairUnknown(ctx, &p); gone {
				continue
			}
		}
		c.add(p, freed)
	}
	return nil
}

// objectModTime returns when a walked object was last written, after checking that it is still
// there (ErrNotFound: deleted since the walk). An object whose age the store cannot tell counts
// as new (it is never reported or removed unless MinAge is disabled).
func (c *checker) objectModTime(ctx context.Context, w walked) (time.Time, error) {
	if _, err := c.store.Stat(ctx, w.d); err != nil {
		return time.Time{}, err
	}
	if w.modified.IsZero() {
		return time.Now(), nil
	}
	return w.modified, nil
}

// repairUnknown deletes an object without a blob row after claiming it in gc_blob_deleting,
// which re-checks that it still has no row and keeps an upload of the same digest from giving
// it one until the object is gone.
func (c *checker) repairUnknown(ctx context.Context, p *Problem) (freed int64, gone bool) {
	d := digest.Digest(p.Digest)
	err := c.db.ClaimUnknownObject(ctx, p.Digest)
	switch {
	case errors.Is(err, meta.ErrConflict), errors.Is(err, meta.ErrBlobReferenced):
		return 0, true // recorded, referenced or being collected now
	case err != nil:
		p.RepairError = err.Error()
		return 0, false
	}
	err = c.store.Delete(ctx, d)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		p.RepairError = err.Error()
	}
	if err := c.db.BlobObjectDeleted(ctx, p.Digest); err != nil && p.RepairError == "" {
		p.RepairError = "object deleted, but " + err.Error()
	}
	p.Repaired = p.RepairError == ""
	if p.Repaired {
		freed = p.Size
	}
	return freed, false
}

type uploadEntry struct {
	id       string
	modified time.Time
}

// uploadData reports upload data without a session row.
func (c *checker) uploadData(ctx context.Context) error {
	batch := make([]uploadEntry, 0, pageSize)
	flush := func() error {
		err := c.checkUploads(ctx, batch)
		batch = batch[:0]
		return err
	}
	err := c.store.Uploads(ctx, func(id string, modified time.Time) error {
		c.rep.Uploads++
		batch = append(batch, uploadEntry{id, modified})
		if len(batch) == pageSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func (c *checker) checkUploads(ctx context.Context, batch []uploadEntry) error {
	if len(batch) == 0 {
		return nil
	}
	ids := make([]string, len(batch))
	for i, u := range batch {
		ids[i] = u.id
	}
	existing, err := c.db.ExistingUploads(ctx, ids)
	if err != nil {
		return err
	}
	for _, u := range batch {
		if existing[u.id] {
			continue
		}
		// Monolithic uploads write data that never has a row; their data is fresh while the
		// request streams it.
		if !c.old(u.modified) {
			c.rep.Young++
			continue
		}
		size, err := c.store.UploadSize(ctx, u.id)
		if err != nil && !errors.Is(err, blob.ErrNotFound) {
			return err
		}
		p := Problem{Category: OrphanUpload, Upload: u.id, Size: size, Repairable: true}
		if c.opt.Repair {
			// Ids are random and never reused, so a row cannot appear for old data; the
			// check is for completeness.
			_, err := c.db.Upload(ctx, u.id)
			switch {
			case err == nil:
				continue
			case !errors.Is(err, meta.ErrNotFound):
				p.RepairError = err.Error()
			default:
				if err := c.store.DeleteUpload(ctx, u.id); err != nil {
					p.RepairError = err.Error()
				} else {
					p.Repaired = true
				}
			}
		}
		freed := int64(0)
		if p.Repaired {
			freed = size
		}
		c.add(p, freed)
	}
	return nil
}

// uploadRows reports upload sessions, idle for MinAge, whose recorded data is missing or
// shorter than recorded: no client can continue them.
func (c *checker) uploadRows(ctx context.Context) error {
	after := ""
	for {
		page, err := c.db.UploadRowsAfter(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, u := range page {
			c.rep.UploadRows++
			if err := c.checkUploadRow(ctx, u); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

func (c *checker) checkUploadRow(ctx context.Context, u meta.Upload) error {
	// A session that recorded nothing needs no data yet; a busy one may be committing (the
	// commit moves the data away before it deletes the row).
	if u.Size == 0 || !c.old(u.UpdatedAt) {
		return nil
	}
	size, err := c.store.UploadSize(ctx, u.ID)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		size = 0
	case errors.Is(err, blob.ErrInvalidID):
		// No data can exist for such an id: treat it as missing.
	case err != nil:
		return err
	case size >= u.Size:
		return nil
	}
	p := Problem{Category: MissingUploadData, Upload: u.ID, Size: u.Size, Repairable: true,
		Detail: fmt.Sprintf("session of %s recorded %d bytes, the store has %d", u.Repository, u.Size, size)}
	if c.opt.Repair {
		// The delete applies only if nobody touched the session since it was read.
		err := c.db.DeleteIdleUpload(ctx, u.ID, u.UpdatedAt)
		switch {
		case errors.Is(err, meta.ErrNotFound):
			return nil
		case err != nil:
			p.RepairError = err.Error()
		default:
			if err := c.store.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, blob.ErrInvalidID) {
				p.RepairError = "row removed, but deleting the data failed: " + err.Error()
			} else {
				p.Repaired = true
			}
		}
	}
	c.add(p, 0)
	return nil
}
