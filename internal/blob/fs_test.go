package blob_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/blob/blobtest"
)

// TestFS runs the driver suite with every store rooted in one parent
// directory, then checks that nothing, in particular none of the suite's
// traversal attempts, created anything outside the layout.
func TestFS(t *testing.T) {
	parent := t.TempDir()
	var n atomic.Int64
	openFS := func(t *testing.T, root string, tmpfile bool) *blob.FS {
		s, err := blob.NewFS(root)
		if err != nil {
			t.Fatal(err)
		}
		if !tmpfile {
			blob.DisableTmpfile(s)
		} else if runtime.GOOS == "linux" && !blob.UsesTmpfile(s) {
			t.Fatal("O_TMPFILE is not used on Linux")
		}
		return s
	}
	for _, tmpfile := range []bool{true, false} {
		t.Run(fmt.Sprintf("suite/tmpfile=%v", tmpfile), func(t *testing.T) {
			blobtest.Run(t, func(t *testing.T) func() blob.Store {
				root := filepath.Join(parent, fmt.Sprintf("store-%d", n.Add(1)))
				return func() blob.Store { return openFS(t, root, tmpfile) }
			})
		})
	}

	// The suite's redirect cases, which the filesystem driver alone skips.
	t.Run("suite/redirecting", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) func() blob.Store {
			root := filepath.Join(parent, fmt.Sprintf("store-%d", n.Add(1)))
			return func() blob.Store { return blobtest.Redirecting(t, openFS(t, root, true)) }
		})
	})

	err := filepath.WalkDir(parent, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(parent, p)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		switch {
		case rel == ".":
		case len(parts) == 1 && strings.HasPrefix(parts[0], "store-") && e.IsDir():
		case len(parts) == 2 && (parts[1] == "blobs" || parts[1] == "uploads") && e.IsDir():
		case len(parts) == 3 && parts[1] == "blobs" && (parts[2] == "sha256" || parts[2] == "sha512") && e.IsDir():
		case len(parts) > 3 && parts[1] == "blobs":
			// Checked by the suite's Walk, which fails on strays.
		case len(parts) >= 3 && parts[1] == "uploads" && blob.ValidateUploadID(parts[2]) == nil:
		default:
			t.Errorf("unexpected path %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newFS(t *testing.T) (*blob.FS, string) {
	t.Helper()
	root := t.TempDir()
	s, err := blob.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

// writeChunk starts upload id with data and returns its state.
func writeChunk(t *testing.T, s *blob.FS, id string, data []byte) []byte {
	t.Helper()
	w, err := s.UploadWriter(t.Context(), id, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	state, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return state
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func assertFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256Hex(got) != sha256Hex(want) {
		t.Errorf("%s: got %d bytes, want %d bytes of different content", path, len(got), len(want))
	}
}

func assertDir(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

func TestFSLayout(t *testing.T) {
	s, root := newFS(t)
	ctx := t.Context()
	assertDir(t, root, "blobs", "uploads")
	assertDir(t, filepath.Join(root, "blobs"), "sha256", "sha512")

	small := []byte("small")
	h256 := sha256Hex(small)
	if err := s.Put(ctx, digest.Digest("sha256:"+h256), small); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(root, "blobs", "sha256", h256[:2], h256), small)

	sum := sha512.Sum512(small)
	h512 := hex.EncodeToString(sum[:])
	if err := s.Put(ctx, digest.Digest("sha512:"+h512), small); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(root, "blobs", "sha512", h512[:2], h512), small)

	data := []byte("uploaded")
	state := writeChunk(t, s, "u1", data)
	assertDir(t, filepath.Join(root, "uploads"), "u1")
	assertFile(t, filepath.Join(root, "uploads", "u1", "data"), data)

	hu := sha256Hex(data)
	if err := s.CommitUpload(ctx, "u1", state, digest.Digest("sha256:"+hu), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(root, "blobs", "sha256", hu[:2], hu), data)
	assertDir(t, filepath.Join(root, "uploads"))
}

// TestFSOpenIsFile guards sendfile: net/http only uses it for *os.File.
func TestFSOpenIsFile(t *testing.T) {
	s, _ := newFS(t)
	data := []byte("sendfile")
	d := digest.Digest("sha256:" + sha256Hex(data))
	if err := s.Put(t.Context(), d, data); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File", r)
	}
}

// TestFSCrashLeftovers checks what a crash can leave behind: a temp file of
// an interrupted Put, and an upload directory whose data was already renamed
// into place.
func TestFSCrashLeftovers(t *testing.T) {
	s, root := newFS(t)
	ctx := t.Context()
	data := []byte("half-written put")
	h := sha256Hex(data)
	stale := filepath.Join(root, "uploads", ".tmp-STALE")
	fresh := filepath.Join(root, "uploads", ".tmp-"+h)
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "uploads", "committed"), 0o750); err != nil {
		t.Fatal(err)
	}

	if _, err := s.Stat(ctx, digest.Digest("sha256:"+h)); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stat of digest named like a temp file: %v, want ErrNotFound", err)
	}
	if err := s.Walk(ctx, func(d digest.Digest, _ int64) error {
		t.Errorf("walk reported %s", d)
		return nil
	}, func(p string) error {
		t.Errorf("walk reported stray %s", p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := s.Uploads(ctx, func(id string, _ time.Time) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"committed"}) {
		t.Errorf("uploads: %q, want only the data-less upload", ids)
	}
	if _, err := s.UploadSize(ctx, "committed"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("size of data-less upload: %v, want ErrNotFound", err)
	}
	if err := s.DeleteUpload(ctx, "committed"); err != nil {
		t.Fatal(err)
	}

	// Reopening the store reaps the stale temp file but keeps the fresh
	// one, which may belong to a Put in progress in another process.
	if _, err := blob.NewFS(root); err != nil {
		t.Fatal(err)
	}
	assertDir(t, filepath.Join(root, "uploads"), filepath.Base(fresh))
}

func TestFSStray(t *testing.T) {
	s, root := newFS(t)
	ctx := t.Context()
	data := []byte("valid")
	h := sha256Hex(data)
	valid := digest.Digest("sha256:" + h)
	if err := s.Put(ctx, valid, data); err != nil {
		t.Fatal(err)
	}
	blobs := filepath.Join(root, "blobs")
	otherPrefix := "00"
	if h[:2] == otherPrefix {
		otherPrefix = "01"
	}
	files := []string{
		"README",
		"sha256/" + h[:2] + "x",
		"sha256/" + otherPrefix + "/" + h, // right name, wrong prefix directory
		"sha256/" + h[:2] + "/" + strings.ToUpper(h),
		"sha256/" + h[:2] + "/" + h + ".tmp",
		"sha256/" + h[:2] + "/" + h[:2],
		"sha512/" + h[:2] + "/" + h, // sha256 length under sha512
	}
	dirs := []string{
		"md5",
		"sha256/zz",
		"sha256/" + strings.ToUpper(h[:2]),
		"sha256/" + h[:2] + "/" + h[:62] + "00",
	}
	var want []string
	for _, f := range files {
		p := filepath.Join(blobs, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	for _, d := range dirs {
		p := filepath.Join(blobs, filepath.FromSlash(d))
		// Content inside a stray directory is not reported separately.
		if err := os.MkdirAll(filepath.Join(p, "inner"), 0o750); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	link := filepath.Join(blobs, "sha256", h[:2], h[:63]+"0")
	if err := os.Symlink(filepath.Join(blobs, "sha256", h[:2], h), link); err != nil {
		t.Fatal(err)
	}
	want = append(want, link)

	var got []string
	var found []digest.Digest
	err := s.Walk(ctx, func(d digest.Digest, size int64) error {
		found = append(found, d)
		if size != int64(len(data)) {
			t.Errorf("walk: %s size %d, want %d", d, size, len(data))
		}
		return nil
	}, func(p string) error {
		got = append(got, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(found, []digest.Digest{valid}) {
		t.Errorf("walk found %v, want only %s", found, valid)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("strays:\n got %q\nwant %q", got, want)
	}

	if err := s.Walk(ctx, func(digest.Digest, int64) error { return nil }, nil); err != nil {
		t.Errorf("walk without stray callback: %v", err)
	}
	stop := errors.New("stop")
	if err := s.Walk(ctx, func(digest.Digest, int64) error { return nil }, func(string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("walk with failing stray callback: %v, want %v", err, stop)
	}
}

// TestFSReplacesCorruptBlob checks that a blob of the wrong size, which no
// crash can produce, is not mistaken for a duplicate.
func TestFSReplacesCorruptBlob(t *testing.T) {
	s, root := newFS(t)
	ctx := t.Context()
	data := []byte("the real content")
	h := sha256Hex(data)
	d := digest.Digest("sha256:" + h)
	p := filepath.Join(root, "blobs", "sha256", h[:2], h)
	corrupt := func() {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("bad"), 0o640); err != nil {
			t.Fatal(err)
		}
	}

	corrupt()
	if err := s.Put(ctx, d, data); err != nil {
		t.Fatal(err)
	}
	assertFile(t, p, data)

	corrupt()
	state := writeChunk(t, s, "u", data)
	if err := s.CommitUpload(ctx, "u", state, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	assertFile(t, p, data)
}
