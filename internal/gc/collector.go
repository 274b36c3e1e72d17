// Package gc is Berth's online garbage collector. Changes that may leave content unreferenced
// queue it for review in the metadata store (internal/meta/gc.go); a collection takes what is
// due, re-checks it under row locks and deletes rows, then objects. It never needs read-only
// mode, never blocks a push, and several collectors (processes on one PostgreSQL) can run at
// once without deleting anything twice.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/meta"
)

// CollectorStore is the review queues a collection works through; *meta.DB satisfies it.
type CollectorStore interface {
	GCGrace() time.Duration
	PlanCollection(ctx context.Context, t time.Time, deleteUntagged bool) (meta.GCPlan, error)
	DueManifestReviews(ctx context.Context, t time.Time, includeUntagged bool, limit int) ([]meta.ManifestReview, error)
	CollectManifest(ctx context.Context, r meta.ManifestReview, deleteUntagged bool) (meta.ManifestVerdict, error)
	DueBlobReviews(ctx context.Context, t time.Time, limit int) ([]string, error)
	CollectBlob(ctx context.Context, digest string) (meta.BlobVerdict, error)
	BlobsBeingDeleted(ctx context.Context, limit int) ([]string, error)
	BlobObjectDeleted(ctx context.Context, digest string) error
	PostponeReview(ctx context.Context, repoID int64, digest string, t time.Time) error
	HeldByGrace(ctx context.Context, t time.Time, includeUntagged bool) (meta.GCHeld, error)
}

// Collector deletes due, unreferenced content.
type Collector struct {
	DB    CollectorStore
	Blobs blob.Store
	Log   *slog.Logger
	// ExpireUploads, if set, removes abandoned upload sessions as part of a run.
	ExpireUploads func(ctx context.Context) (int, error)
}

// Options shape one run.
type Options struct {
	// DeleteUntagged also collects manifests that lost their last tag or never had one.
	DeleteUntagged bool
	// DryRun reports what would be deleted and changes nothing.
	DryRun bool
	// Workers is how many items are reviewed at once (1–10).
	Workers int
	// Logf receives the run's log, one line per call.
	Logf func(format string, args ...any)
}

// Result is what a run did (or, dry, would do), and what it left for a later run because it
// was not due yet.
type Result struct {
	Manifests int   `json:"manifests_deleted"`
	Blobs     int   `json:"blobs_deleted"`
	Bytes     int64 `json:"bytes_freed"`
	Uploads   int   `json:"uploads_expired"`
	Failed    int   `json:"failed"`
	DryRun    bool  `json:"dry_run"`
	// HeldManifests, HeldBlobs and HeldBytes are what the grace period held back when the run
	// ended (see meta.GCHeld).
	HeldManifests int   `json:"manifests_held"`
	HeldBlobs     int   `json:"blobs_held"`
	HeldBytes     int64 `json:"bytes_held"`
}

// MaxWorkers bounds Options.Workers, as Harbor does.
const MaxWorkers = 10

// retryAfter is how long an item whose review failed waits before a run tries it again.
const retryAfter = 10 * time.Minute

// page is how many due items a run reads at a time.
const page = 500

// Run processes everything due now: first what an interrupted run left half-done, then due
// manifests and blobs — repeatedly, since deleting a manifest can make its blobs and children
// due at once (zero grace period) — and finally abandoned uploads; its log ends with what the
// grace period held back. It stops early, with ctx.Err(), when ctx ends; everything done until
// then stays done and consistent.
//
// Uploads in progress are safe whatever the grace period: an upload session's data is not a
// blob until the upload completes (and the blob is then queued, due after the grace period),
// collections only delete the blobs they take from the review queue, and sessions are removed
// only once idle for longer than upload_ttl (ExpireUploads).
func (c *Collector) Run(ctx context.Context, opt Options) (Result, error) {
	if opt.Workers < 1 {
		opt.Workers = 1
	}
	if opt.Workers > MaxWorkers {
		opt.Workers = MaxWorkers
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	res := Result{DryRun: opt.DryRun}
	start := time.Now()
	opt.Logf("garbage collection started: delete_untagged=%t dry_run=%t workers=%d grace_period=%s",
		opt.DeleteUntagged, opt.DryRun, opt.Workers, c.DB.GCGrace())
	if opt.DryRun {
		plan, err := c.DB.PlanCollection(ctx, time.Now(), opt.DeleteUntagged)
		if err != nil {
			return res, err
		}
		for _, it := range plan.Items {
			opt.Logf("would delete manifest %s", it)
		}
		res.Manifests, res.Blobs, res.Bytes = plan.Manifests, plan.Blobs, plan.Bytes
		opt.Logf("dry run: %d manifests and %d blobs eligible for deletion; would free %s (%d bytes)",
			res.Manifests, res.Blobs, meta.FormatStorage(res.Bytes), res.Bytes)
		c.reportHeld(ctx, &res, opt)
		return res, nil
	}
	if err := c.finishDeletions(ctx, &res, opt); err != nil {
		return res, err
	}
	r := &run{c: c, opt: opt, res: &res, seenM: map[meta.ManifestReview]bool{}, seenB: map[string]bool{}}
	for {
		nm, err := r.manifests(ctx)
		if err != nil {
			return res, err
		}
		nb, err := r.blobs(ctx)
		if err != nil {
			return res, err
		}
		if nm == 0 && nb == 0 {
			break
		}
	}
	if c.ExpireUploads != nil {
		n, err := c.ExpireUploads(ctx)
		if err != nil {
			return res, fmt.Errorf("expire uploads: %w", err)
		}
		res.Uploads = n
		if n > 0 {
			opt.Logf("expired %d abandoned upload sessions", n)
		}
	}
	opt.Logf("garbage collection finished in %s: %d manifests and %d blobs deleted, %s (%d bytes) freed, %d failed",
		time.Since(start).Round(time.Millisecond), res.Manifests, res.Blobs, meta.FormatStorage(res.Bytes), res.Bytes, res.Failed)
	c.reportHeld(ctx, &res, opt)
	return res, nil
}

// reportHeld records and logs what the grace period holds back now, so that an operator who
// expected more space to be freed sees where it is and when a run can free it. Not knowing it
// fails nothing: the run has done its work.
func (c *Collector) reportHeld(ctx context.Context, res *Result, opt Options) {
	now := time.Now()
	grace := c.DB.GCGrace()
	h, err := c.DB.HeldByGrace(ctx, now, opt.DeleteUntagged)
	if err != nil {
		opt.Logf("held back by the grace period (%s): unknown: %v", grace, err)
		c.Log.Warn("garbage collection: what the grace period holds back", "err", err)
		return
	}
	res.HeldManifests, res.HeldBlobs, res.HeldBytes = h.Manifests, h.Blobs, h.Bytes
	if h.NextDue.IsZero() {
		opt.Logf("held back by the grace period (%s): nothing", grace)
		return
	}
	opt.Logf("held back by the grace period (%s): %d blobs that nothing references, %s (%d bytes), and %d manifests; "+
		"the first is due at %s (in %s), for a later run",
		grace, h.Blobs, meta.FormatStorage(h.Bytes), h.Bytes, h.Manifests,
		h.NextDue.UTC().Format(time.RFC3339), h.NextDue.Sub(now).Round(time.Second))
}

// finishDeletions removes the objects of blobs whose rows an interrupted run already deleted.
func (c *Collector) finishDeletions(ctx context.Context, res *Result, opt Options) error {
	for {
		ds, err := c.DB.BlobsBeingDeleted(ctx, page)
		if err != nil || len(ds) == 0 {
			return err
		}
		for _, d := range ds {
			if err := c.deleteObject(ctx, d); err != nil {
				return err
			}
			opt.Logf("finished deleting blob %s (left by an interrupted run)", d)
		}
	}
}

func (c *Collector) deleteObject(ctx context.Context, d string) error {
	err := c.Blobs.Delete(ctx, digest.Digest(d))
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("delete blob object %s: %w", d, err)
	}
	return c.DB.BlobObjectDeleted(ctx, d)
}

// run is one collection's progress.
type run struct {
	c     *Collector
	opt   Options
	mu    sync.Mutex
	res   *Result
	seenM map[meta.ManifestReview]bool
	seenB map[string]bool
}

// manifests reviews due manifests until none is left that this run has not seen, and returns
// how many it reviewed. An item it has seen and that is still due is held by another
// collector (or failed and was postponed): it is not taken again.
func (r *run) manifests(ctx context.Context) (int, error) {
	total := 0
	for {
		due, err := r.c.DB.DueManifestReviews(ctx, time.Now(), r.opt.DeleteUntagged, page+len(r.seenM))
		if err != nil {
			return total, err
		}
		var todo []meta.ManifestReview
		for _, it := range due {
			k := meta.ManifestReview{RepositoryID: it.RepositoryID, Digest: it.Digest}
			if !r.seenM[k] {
				r.seenM[k] = true
				todo = append(todo, it)
			}
		}
		if len(todo) == 0 {
			return total, nil
		}
		total += len(todo)
		err = r.parallel(ctx, len(todo), func(i int) error {
			it := todo[i]
			v, err := r.c.DB.CollectManifest(ctx, it, r.opt.DeleteUntagged)
			if err != nil {
				r.failed(ctx, it.RepositoryID, it.Digest, err)
				return nil
			}
			if v.Collected {
				r.mu.Lock()
				r.res.Manifests++
				r.mu.Unlock()
				r.opt.Logf("deleted manifest %s@%s", v.Repository, it.Digest)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
	}
}

// blobs reviews due blobs the same way, deleting the objects of those it collects.
func (r *run) blobs(ctx context.Context) (int, error) {
	total := 0
	for {
		due, err := r.c.DB.DueBlobReviews(ctx, time.Now(), page+len(r.seenB))
		if err != nil {
			return total, err
		}
		var todo []string
		for _, d := range due {
			if !r.seenB[d] {
				r.seenB[d] = true
				todo = append(todo, d)
			}
		}
		if len(todo) == 0 {
			return total, nil
		}
		total += len(todo)
		err = r.parallel(ctx, len(todo), func(i int) error {
			d := todo[i]
			v, err := r.c.DB.CollectBlob(ctx, d)
			if err != nil {
				r.failed(ctx, 0, d, err)
				return nil
			}
			if !v.Collected {
				return nil
			}
			// The rows are gone and a tombstone stands: a failure here leaves the object for
			// the next run's finishDeletions, never a row without its object.
			if err := r.c.deleteObject(ctx, d); err != nil {
				r.opt.Logf("blob %s: %v (the next run retries)", d, err)
				r.mu.Lock()
				r.res.Failed++
				r.mu.Unlock()
				return nil
			}
			r.mu.Lock()
			r.res.Blobs++
			r.res.Bytes += v.Size
			r.mu.Unlock()
			r.opt.Logf("deleted blob %s (%d bytes)", d, v.Size)
			return nil
		})
		if err != nil {
			return total, err
		}
	}
}

func (r *run) failed(ctx context.Context, repoID int64, d string, err error) {
	if ctx.Err() != nil {
		return // stopping: the item simply stays due
	}
	r.opt.Logf("review of %s failed: %v (retried in %s)", d, err, retryAfter)
	r.c.Log.Warn("garbage collection: review failed", "digest", d, "err", err)
	if perr := r.c.DB.PostponeReview(context.WithoutCancel(ctx), repoID, d, time.Now().Add(retryAfter)); perr != nil {
		r.c.Log.Warn("garbage collection: postpone review", "digest", d, "err", perr)
	}
	r.mu.Lock()
	r.res.Failed++
	r.mu.Unlock()
}

// parallel runs fn(0..n-1) on the run's workers and stops handing out work when ctx ends.
func (r *run) parallel(ctx context.Context, n int, fn func(i int) error) error {
	next := make(chan int)
	errc := make(chan error, r.opt.Workers)
	var wg sync.WaitGroup
	for w := 0; w < r.opt.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		case err = <-errc:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}
