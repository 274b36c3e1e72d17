package fsck_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/fsck"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// env is a registry's two stores, populated through their real APIs.
type env struct {
	t     *testing.T
	ctx   context.Context
	db    *meta.DB
	store *blob.FS
	root  string
	pid   int64
}

func newEnv(t *testing.T, db *meta.DB) *env {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	store, err := blob.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	pid := metatest.NewProject(t, db, "alice", "proj")
	return &env{t: t, ctx: ctx, db: db, store: store, root: root, pid: pid}
}

// pushBlob stores content and links it into the repository, as a completed upload does.
func (e *env) pushBlob(repo, content string) string {
	e.t.Helper()
	d := digest.FromString(content)
	if err := e.store.Put(e.ctx, d, []byte(content)); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.LinkBlob(e.ctx, e.pid, repo, d.String(), int64(len(content)), nil); err != nil {
		e.t.Fatal(err)
	}
	return d.String()
}

// pushManifest stores a manifest referencing the blobs, tagged v1, and returns its digest.
func (e *env) pushManifest(repo string, blobs ...string) string {
	e.t.Helper()
	payload := []byte(`{"layers":["` + strings.Join(blobs, `","`) + `"]}`)
	p := meta.PutManifestParams{ProjectID: e.pid, Repository: repo, Digest: digest.FromBytes(payload).String(),
		MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: payload, Tags: []string{"v1"}}
	for _, b := range blobs {
		size, err := e.db.BlobSize(e.ctx, b)
		if err != nil {
			e.t.Fatal(err)
		}
		p.Blobs = append(p.Blobs, meta.BlobRef{Digest: b, Size: size})
	}
	if _, err := e.db.PutManifest(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
	return p.Digest
}

// objectPath is where the filesystem driver keeps a blob (its documented layout).
func (e *env) objectPath(d string) string {
	alg, hex, _ := strings.Cut(d, ":")
	return filepath.Join(e.root, "blobs", alg, hex[:2], hex)
}

// storeUnrecorded stores an object without a blob row, last written `age` ago.
func (e *env) storeUnrecorded(content string, age time.Duration) string {
	e.t.Helper()
	d := digest.FromString(content)
	if err := e.store.Put(e.ctx, d, []byte(content)); err != nil {
		e.t.Fatal(err)
	}
	e.backdate(e.objectPath(d.String()), age)
	return d.String()
}

func (e *env) backdate(path string, age time.Duration) {
	e.t.Helper()
	when := time.Now().Add(-age)
	if err := os.Chtimes(path, when, when); err != nil {
		e.t.Fatal(err)
	}
}

// writeUpload writes upload data for id, last written `age` ago.
func (e *env) writeUpload(id, content string, age time.Duration) {
	e.t.Helper()
	w, err := e.store.UploadWriter(e.ctx, id, 0, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		e.t.Fatal(err)
	}
	e.backdate(filepath.Join(e.root, "uploads", id, "data"), age)
}

func (e *env) run(opt fsck.Options) fsck.Report {
	e.t.Helper()
	rep, err := fsck.Run(e.ctx, e.db, e.store, opt)
	if err != nil {
		e.t.Fatalf("fsck %+v: %v", opt, err)
	}
	return rep
}

func (e *env) exec(query string, args ...any) {
	e.t.Helper()
	var s string
	err := e.db.QueryRowForTest(e.ctx, query, args...).Scan(&s)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		e.t.Fatalf("%s: %v", query, err)
	}
}

func (e *env) countRows(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowForTest(e.ctx, query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// markBeingCollected lists the digest in gc_blob_deleting, as a collector does once it has
// deleted the blob's row and before it deletes the object.
func (e *env) markBeingCollected(d string) {
	e.exec("INSERT INTO gc_blob_deleting (digest, created_at) VALUES ($1, $2) RETURNING digest", d, time.Now().UnixMicro())
}

func (e *env) objectExists(d string) bool {
	e.t.Helper()
	_, err := e.store.Stat(e.ctx, digest.Digest(d))
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

func (e *env) rowExists(d string) bool {
	e.t.Helper()
	_, err := e.db.BlobSize(e.ctx, d)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// problem returns the listed problem about the digest, upload id or path.
func problem(t *testing.T, rep fsck.Report, subject string) fsck.Problem {
	t.Helper()
	for _, p := range rep.List {
		if p.Digest == subject || p.Upload == subject || p.Path == subject {
			return p
		}
	}
	t.Fatalf("no problem about %s in %+v", subject, rep.List)
	return fsck.Problem{}
}

// wantCounts compares the categories with problems found (found/repaired) with want.
func wantCounts(t *testing.T, rep fsck.Report, want map[fsck.Category][2]int64) {
	t.Helper()
	for _, cat := range fsck.Categories {
		c := rep.Counts[cat]
		got := [2]int64{c.Found, c.Repaired}
		if got != want[cat] {
			t.Errorf("%s: found/repaired %v, want %v (problems %+v)", cat, got, want[cat], rep.List)
		}
	}
}

func TestCleanStoreHasNoProblems(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		layer := e.pushBlob("proj/app", "layer")
		config := e.pushBlob("proj/app", "config")
		e.pushManifest("proj/app", layer, config)
		e.pushBlob("proj/other", "pushed, no manifest yet")
		// A chunked upload in progress, and a fresh monolithic one (data, no row yet).
		if err := db.CreateUpload(e.ctx, meta.Upload{ID: "inprogress", Repository: "proj/app", HashAlg: "sha256"}); err != nil {
			t.Fatal(err)
		}
		e.writeUpload("inprogress", "part", 2*time.Hour)
		if err := db.AdvanceUpload(e.ctx, meta.Upload{ID: "inprogress", Size: 4}, 0); err != nil {
			t.Fatal(err)
		}
		e.writeUpload("monolithic", "streaming", 0)
		// A session that has recorded nothing needs no data.
		if err := db.CreateUpload(e.ctx, meta.Upload{ID: "opened", Repository: "proj/app", HashAlg: "sha256"}); err != nil {
			t.Fatal(err)
		}
		// A new session's row is committed with the next write (SQLite); fsck counts rows.
		if err := db.Tx(e.ctx, func(*meta.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}

		for _, opt := range []fsck.Options{{}, {Repair: true}} {
			rep := e.run(opt)
			if rep.Problems() != 0 || len(rep.List) != 0 {
				t.Fatalf("%+v: problems %d %+v", opt, rep.Problems(), rep.List)
			}
			wantBytes := int64(len("layer") + len("config") + len("pushed, no manifest yet"))
			if rep.BlobRows != 3 || rep.Objects != 3 || rep.BlobBytes != wantBytes || rep.HashedBytes != wantBytes {
				t.Fatalf("%+v: checked %d rows (%d bytes, %d hashed), %d objects", opt, rep.BlobRows, rep.BlobBytes, rep.HashedBytes, rep.Objects)
			}
			if rep.Uploads != 2 || rep.UploadRows != 2 || rep.Young != 1 {
				t.Fatalf("%+v: %d uploads, %d sessions, %d young", opt, rep.Uploads, rep.UploadRows, rep.Young)
			}
		}
		var out bytes.Buffer
		if err := e.run(fsck.Options{}).WriteText(&out); err != nil || !strings.Contains(out.String(), "no problems found") {
			t.Fatalf("text report: %v\n%s", err, out.String())
		}
	})
}

func TestMissingObjects(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		referenced := e.pushBlob("proj/app", "referenced layer")
		m := e.pushManifest("proj/app", referenced)
		unreferenced := e.pushBlob("proj/app", "unreferenced layer")
		for _, d := range []string{referenced, unreferenced} {
			if err := e.store.Delete(e.ctx, digest.Digest(d)); err != nil {
				t.Fatal(err)
			}
		}

		rep := e.run(fsck.Options{})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.MissingObject: {2, 0}})
		if rep.Counts[fsck.MissingObject].Referenced != 1 || rep.Problems() != 2 {
			t.Fatalf("counts %+v, problems %d", rep.Counts[fsck.MissingObject], rep.Problems())
		}
		p := problem(t, rep, referenced)
		if p.References != 1 || p.Repairable || !slices.Equal(p.Manifests, []string{"proj/app@" + m}) || !slices.Equal(p.Repositories, []string{"proj/app"}) {
			t.Fatalf("referenced problem names %+v", p)
		}
		if p := problem(t, rep, unreferenced); p.References != 0 || !p.Repairable || p.Size != int64(len("unreferenced layer")) {
			t.Fatalf("unreferenced problem %+v", p)
		}

		rep = e.run(fsck.Options{Repair: true})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.MissingObject: {2, 1}})
		if p := problem(t, rep, referenced); p.Repaired || p.RepairError != "" {
			t.Fatalf("a referenced blob must be left for the operator: %+v", p)
		}
		if !problem(t, rep, unreferenced).Repaired || e.rowExists(unreferenced) {
			t.Fatal("the unreferenced blob's row should be gone")
		}
		if _, err := db.LinkedBlobSize(e.ctx, "proj/app", unreferenced); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("link of the removed blob: %v", err)
		}
		if !e.rowExists(referenced) {
			t.Fatal("the referenced blob's row must stay")
		}
		var out bytes.Buffer
		rep.WriteText(&out)
		for _, want := range []string{"cannot be repaired: referenced by 1 manifest", "proj/app@" + m, "1 problems remain"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("text report lacks %q:\n%s", want, out.String())
			}
		}

		rep = e.run(fsck.Options{Repair: true})
		if rep.Problems() != 1 || problem(t, rep, referenced).Category != fsck.MissingObject {
			t.Fatalf("after repair: %+v", rep.List)
		}
	})
}

func TestCorruptObjects(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		truncated := e.pushBlob("proj/app", "a layer that gets truncated")
		m := e.pushManifest("proj/app", truncated)
		flipped := e.pushBlob("proj/app", "a layer whose bytes change")
		intact := e.pushBlob("proj/app", "intact")
		if err := os.Truncate(e.objectPath(truncated), 5); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.objectPath(flipped), []byte("A layer whose bytes change"), 0o640); err != nil {
			t.Fatal(err)
		}

		// Sizes only: the same-size corruption goes unnoticed and nothing is read.
		rep := e.run(fsck.Options{Quick: true})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.SizeMismatch: {1, 0}})
		if rep.HashedBytes != 0 {
			t.Fatalf("--quick hashed %d bytes", rep.HashedBytes)
		}
		if p := problem(t, rep, truncated); p.Size != 5 || p.References != 1 || p.Manifests[0] != "proj/app@"+m {
			t.Fatalf("truncated: %+v", p)
		}

		rep = e.run(fsck.Options{})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.SizeMismatch: {1, 0}, fsck.DigestMismatch: {1, 0}})
		if p := problem(t, rep, flipped); !strings.Contains(p.Detail, digest.FromString("A layer whose bytes change").String()) {
			t.Fatalf("digest mismatch detail: %+v", p)
		}

		rep = e.run(fsck.Options{Repair: true})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.SizeMismatch: {1, 0}, fsck.DigestMismatch: {1, 1}})
		if c := rep.Counts[fsck.DigestMismatch]; c.FreedBytes != int64(len("a layer whose bytes change")) {
			t.Fatalf("freed %d bytes", c.FreedBytes)
		}
		if e.rowExists(flipped) || e.objectExists(flipped) {
			t.Fatal("the corrupt unreferenced blob's row and object should be gone")
		}
		if n := e.countRows("SELECT COUNT(*) FROM gc_blob_deleting"); n != 0 {
			t.Fatalf("%d digests left in gc_blob_deleting", n)
		}
		if !e.rowExists(truncated) || !e.objectExists(truncated) || !e.rowExists(intact) || !e.objectExists(intact) {
			t.Fatal("referenced and intact blobs must stay")
		}
		if rep := e.run(fsck.Options{Repair: true}); rep.Problems() != 1 {
			t.Fatalf("after repair: %+v", rep.List)
		}
	})
}

func TestUnknownObjects(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		e.pushBlob("proj/app", "recorded")
		old := e.storeUnrecorded("left by a crash long ago", 2*time.Hour)
		young := e.storeUnrecorded("being committed right now", time.Minute)
		collected := e.storeUnrecorded("being garbage collected", 3*time.Hour)
		e.markBeingCollected(collected)
		if err := os.WriteFile(filepath.Join(e.root, "blobs", "sha256", "notes.txt"), []byte("hi"), 0o640); err != nil {
			t.Fatal(err)
		}
		stray := filepath.Join(e.root, "blobs", "sha256", "notes.txt")

		rep := e.run(fsck.Options{})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.UnknownObject: {1, 0}, fsck.StrayPath: {1, 0}})
		if p := problem(t, rep, old); p.Size != int64(len("left by a crash long ago")) {
			t.Fatalf("unknown object: %+v", p)
		}
		problem(t, rep, stray)
		if rep.Young != 1 || rep.BeingCollected != 1 || rep.Objects != 4 {
			t.Fatalf("young %d, being collected %d, objects %d", rep.Young, rep.BeingCollected, rep.Objects)
		}

		// MinAge decides what is young.
		if rep := e.run(fsck.Options{MinAge: 30 * time.Second}); rep.Counts[fsck.UnknownObject].Found != 2 || rep.Young != 0 {
			t.Fatalf("min age 30s: %+v", rep.Counts[fsck.UnknownObject])
		}
		if rep := e.run(fsck.Options{MinAge: 3 * time.Hour}); rep.Counts[fsck.UnknownObject].Found != 0 || rep.Young != 2 {
			t.Fatalf("min age 3h: %+v, %d young", rep.Counts[fsck.UnknownObject], rep.Young)
		}

		rep = e.run(fsck.Options{Repair: true})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.UnknownObject: {1, 1}, fsck.StrayPath: {1, 0}})
		if e.objectExists(old) {
			t.Fatal("the old unknown object should be deleted")
		}
		if !e.objectExists(young) || !e.objectExists(collected) {
			t.Fatal("young and collected objects must stay")
		}
		if _, err := os.Stat(stray); err != nil {
			t.Fatalf("a stray path is for the operator to remove: %v", err)
		}
		if n := e.countRows("SELECT COUNT(*) FROM gc_blob_deleting"); n != 1 {
			t.Fatalf("gc_blob_deleting holds %d digests, want the collector's one", n)
		}

		if err := os.Remove(stray); err != nil {
			t.Fatal(err)
		}
		if rep := e.run(fsck.Options{Repair: true}); rep.Problems() != 0 {
			t.Fatalf("after repair: %+v", rep.List)
		}
	})
}

// A store that cannot tell when its objects were written: an unknown object counts as new, so
// it is left alone unless MinAge is disabled.
func TestUnknownObjectsOfUndatedStore(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		old := e.storeUnrecorded("left by a crash long ago", 2*time.Hour)
		undated := struct{ blob.Store }{e.store} // without the filesystem driver's abilities

		rep, err := fsck.Run(e.ctx, db, undated, fsck.Options{Repair: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Problems() != 0 || rep.Young != 1 || !e.objectExists(old) {
			t.Fatalf("undated object: %d problems %+v, %d young, exists %v", rep.Problems(), rep.List, rep.Young, e.objectExists(old))
		}

		rep, err = fsck.Run(e.ctx, db, undated, fsck.Options{Repair: true, MinAge: -1})
		if err != nil {
			t.Fatal(err)
		}
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.UnknownObject: {1, 1}})
		if e.objectExists(old) {
			t.Fatal("with no minimum age the unknown object should be deleted")
		}
	})
}

func TestUploads(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		e.writeUpload("orphan", "data of a session whose row is gone", 2*time.Hour)
		e.writeUpload("fresh", "a monolithic upload streaming now", 0)
		for _, id := range []string{"live", "lost"} {
			if err := db.CreateUpload(e.ctx, meta.Upload{ID: id, Repository: "proj/app", HashAlg: "sha256"}); err != nil {
				t.Fatal(err)
			}
			e.writeUpload(id, "chunk", 0)
			if err := db.AdvanceUpload(e.ctx, meta.Upload{ID: id, Size: 5}, 0); err != nil {
				t.Fatal(err)
			}
			e.exec("UPDATE uploads SET updated_at = $2 WHERE id = $1 RETURNING id", id, time.Now().Add(-2*time.Hour).UnixMicro())
		}
		if err := e.store.DeleteUpload(e.ctx, "lost"); err != nil {
			t.Fatal(err)
		}

		rep := e.run(fsck.Options{})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.OrphanUpload: {1, 0}, fsck.MissingUploadData: {1, 0}})
		if p := problem(t, rep, "orphan"); p.Size != int64(len("data of a session whose row is gone")) {
			t.Fatalf("orphan: %+v", p)
		}
		if p := problem(t, rep, "lost"); p.Size != 5 {
			t.Fatalf("lost: %+v", p)
		}
		if rep.Young != 1 {
			t.Fatalf("%d young, want the fresh upload", rep.Young)
		}

		rep = e.run(fsck.Options{Repair: true})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.OrphanUpload: {1, 1}, fsck.MissingUploadData: {1, 1}})
		if _, err := e.store.UploadSize(e.ctx, "orphan"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("orphan data: %v", err)
		}
		if _, err := db.Upload(e.ctx, "lost"); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("session without data: %v", err)
		}
		if _, err := e.store.UploadSize(e.ctx, "fresh"); err != nil {
			t.Fatalf("fresh data must stay: %v", err)
		}
		if _, err := db.Upload(e.ctx, "live"); err != nil {
			t.Fatalf("live session must stay: %v", err)
		}
		if rep := e.run(fsck.Options{Repair: true}); rep.Problems() != 0 {
			t.Fatalf("after repair: %+v", rep.List)
		}
	})
}

func TestMissingBlobRow(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		layer := e.pushBlob("proj/app", "layer")
		m := e.pushManifest("proj/app", layer)
		// Foreign keys forbid this; break them the way a bad restore or hand edit might.
		if err := db.UnlinkBlob(e.ctx, "proj/app", layer); err != nil {
			t.Fatal(err)
		}
		if db.Dialect() == "sqlite" {
			e.exec("PRAGMA foreign_keys = OFF") // the write pool's single connection
		} else {
			e.exec("ALTER TABLE manifest_blobs DROP CONSTRAINT manifest_blobs_digest_fkey")
		}
		e.exec("DELETE FROM blobs WHERE digest = $1 RETURNING digest", layer)

		rep := e.run(fsck.Options{Repair: true, MinAge: -1})
		// The object is not an unknown one to delete: a manifest names it, and it is the only
		// copy of the content.
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.MissingBlobRow: {1, 0}})
		p := problem(t, rep, layer)
		if p.Category != fsck.MissingBlobRow || p.References != 1 || p.Manifests[0] != "proj/app@"+m || p.Size != 5 {
			t.Fatalf("missing row: %+v", p)
		}
		if !e.objectExists(layer) {
			t.Fatal("an object a manifest references must not be deleted")
		}
		if err := db.ClaimUnknownObject(e.ctx, layer); !errors.Is(err, meta.ErrBlobReferenced) {
			t.Fatalf("claiming a referenced object: %v", err)
		}
	})
}

func TestManyBlobsAreReadInPages(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		const n = 1001 // three pages of 500
		digests := make([]string, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < n; i += 16 {
					content := fmt.Sprintf("blob %d", i)
					d := digest.FromString(content)
					digests[i] = d.String()
					if err := e.store.Put(e.ctx, d, []byte(content)); err != nil {
						errs <- err
						return
					}
					if err := db.LinkBlob(e.ctx, e.pid, "proj/app", d.String(), int64(len(content)), nil); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		slices.Sort(digests)
		// Problems on every page: the first, one on a page boundary, the last.
		missing := []string{digests[0], digests[499], digests[500], digests[n-1]}
		for _, d := range missing {
			if err := e.store.Delete(e.ctx, digest.Digest(d)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			e.storeUnrecorded(fmt.Sprintf("unknown %d", i), 2*time.Hour)
		}

		rep := e.run(fsck.Options{MaxProblems: 2})
		wantCounts(t, rep, map[fsck.Category][2]int64{fsck.MissingObject: {4, 0}, fsck.UnknownObject: {3, 0}})
		if rep.BlobRows != n || rep.Objects != n-4+3 || len(rep.List) != 2 || rep.Unlisted != 5 {
			t.Fatalf("%d rows, %d objects, %d listed, %d unlisted", rep.BlobRows, rep.Objects, len(rep.List), rep.Unlisted)
		}
		rep = e.run(fsck.Options{Repair: true, Quick: true})
		if rep.Problems() != 0 {
			t.Fatalf("after repair: %+v", rep.List)
		}
		if rep := e.run(fsck.Options{}); rep.Problems() != 0 || rep.BlobRows != n-4 || rep.Objects != n-4 {
			t.Fatalf("re-run: %d problems, %d rows, %d objects", rep.Problems(), rep.BlobRows, rep.Objects)
		}
	})
}

// An upload that commits an object fsck is about to delete as unknown must not end up with a
// row naming a deleted object: either the upload's row comes first and the claim fails, or the
// claim comes first and the upload is refused (and retried by the client).
func TestClaimRacesUploadLink(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		claimed, linked := 0, 0
		for i := range 100 {
			d := digest.FromString(fmt.Sprintf("race %d", i)).String()
			var claimErr, linkErr error
			var wg sync.WaitGroup
			start := make(chan struct{})
			wg.Go(func() { <-start; claimErr = db.ClaimUnknownObject(e.ctx, d) })
			wg.Go(func() { <-start; linkErr = db.LinkBlob(e.ctx, e.pid, "proj/app", d, 1, nil) })
			close(start)
			wg.Wait()
			switch {
			case claimErr == nil && errors.Is(linkErr, meta.ErrBlobCollected):
				claimed++
			case linkErr == nil && errors.Is(claimErr, meta.ErrConflict):
				linked++
			default:
				t.Fatalf("%s: claim %v, link %v", d, claimErr, linkErr)
			}
		}
		t.Logf("claim first %d times, upload first %d times", claimed, linked)
	})
}

// Removing a broken blob and pushing a manifest that references it: one of them wins, never
// both (a manifest must not reference a removed blob).
func TestRemoveBrokenBlobRacesManifestPush(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		removed, pushed := 0, 0
		for i := range 50 {
			d := e.pushBlob("proj/app", fmt.Sprintf("layer %d", i))
			size, _ := db.BlobSize(e.ctx, d)
			payload := []byte(fmt.Sprintf(`{"layers":[%q]}`, d))
			put := meta.PutManifestParams{ProjectID: e.pid, Repository: "proj/app", Digest: digest.FromBytes(payload).String(),
				MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: payload, Blobs: []meta.BlobRef{{Digest: d, Size: size}}}
			var removeErr, pushErr error
			var wg sync.WaitGroup
			start := make(chan struct{})
			wg.Go(func() { <-start; removeErr = db.RemoveBrokenBlob(e.ctx, d, size, false) })
			wg.Go(func() { <-start; _, pushErr = db.PutManifest(e.ctx, put) })
			close(start)
			wg.Wait()
			var unknown *meta.BlobUnknownError
			switch {
			case removeErr == nil && errors.As(pushErr, &unknown):
				removed++
			case pushErr == nil && errors.Is(removeErr, meta.ErrBlobReferenced):
				pushed++
			default:
				t.Fatalf("%s: remove %v, push %v", d, removeErr, pushErr)
			}
		}
		t.Logf("removal first %d times, push first %d times", removed, pushed)
	})
}
