// Package blobtest is a conformance suite for blob.Store drivers. It is a
// normal package, not a _test one, so every driver package can run it.
package blobtest

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
)

// Run runs the suite. newStorage prepares fresh, empty storage for one test and returns a
// function that opens a Store over it; each call of that function opens another Store value
// over the same storage, as each replica of a registry opens its own. Subtests run in
// parallel, each on its own storage.
func Run(t *testing.T, newStorage func(t *testing.T) (open func() blob.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutStatOpenDelete", testPutStatOpenDelete},
		{"SHA512", testSHA512},
		{"Empty", testEmpty},
		{"NotFound", testNotFound},
		{"InvalidDigest", testInvalidDigest},
		{"InvalidUploadID", testInvalidUploadID},
		{"ChunkedUpload", testChunkedUpload},
		{"ResumeTruncates", testResumeTruncates},
		{"OffsetMismatch", testOffsetMismatch},
		{"CommitPrefix", testCommitPrefix},
		{"CommitDedupe", testCommitDedupe},
		{"ConcurrentSameContent", testConcurrentSameContent},
		{"ConcurrentDifferentContent", testConcurrentDifferentContent},
		{"Walk", testWalk},
		{"DeleteUpload", testDeleteUpload},
		{"Uploads", testUploads},
		{"Ping", testPing},
		{"CanceledContext", testCanceledContext},
		{"Create", testCreate},
		{"CreateAbort", testCreateAbort},
		{"CreateReplacesCorrupt", testCreateReplacesCorrupt},
		{"ConcurrentCreate", testConcurrentCreate},
		{"UploadAbort", testUploadAbort},
		{"Redirect", testRedirect},
		{"Usage", testUsage},
		{"WalkModTime", testWalkModTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStorage(t)())
		})
	}
	t.Run("UploadAcrossReplicas", func(t *testing.T) {
		t.Parallel()
		testUploadAcrossReplicas(t, newStorage(t))
	})
}

// payload returns n deterministic pseudo-random bytes; different seeds give
// different content.
func payload(seed uint64, n int) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

func sha256Of(b []byte) digest.Digest {
	sum := sha256.Sum256(b)
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))
}

func sha512Of(b []byte) digest.Digest {
	sum := sha512.Sum512(b)
	return digest.NewDigestFromEncoded(digest.SHA512, hex.EncodeToString(sum[:]))
}

// assertBytes compares by length and sha256 so failures stay readable for
// megabyte payloads.
func assertBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) || sha256Of(got) != sha256Of(want) {
		t.Errorf("%s: got %d bytes (%s), want %d bytes (%s)", what, len(got), sha256Of(got), len(want), sha256Of(want))
	}
}

func assertIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func readAll(t *testing.T, what string, r blob.Reader, err error) []byte {
	t.Helper()
	must(t, what, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	must(t, what+": read", err)
	return b
}

// assertBlob checks Stat and the content read back through Open.
func assertBlob(t *testing.T, s blob.Store, d digest.Digest, want []byte) {
	t.Helper()
	size, err := s.Stat(t.Context(), d)
	must(t, "stat "+string(d), err)
	if size != int64(len(want)) {
		t.Errorf("stat %s: size %d, want %d", d, size, len(want))
	}
	r, err := s.Open(t.Context(), d)
	assertBytes(t, "open "+string(d), readAll(t, "open "+string(d), r, err), want)
}

// assertUpload checks the upload's size and, read as state describes it, its content.
func assertUpload(t *testing.T, s blob.Store, id string, state, want []byte) {
	t.Helper()
	size, err := s.UploadSize(t.Context(), id)
	must(t, "upload size "+id, err)
	if size != int64(len(want)) {
		t.Errorf("upload size %s: %d, want %d", id, size, len(want))
	}
	r, err := s.UploadReader(t.Context(), id, state)
	assertBytes(t, "upload reader "+id, readAll(t, "upload reader "+id, r, err), want)
}

// writeUpload runs one UploadWriter session from state, writing chunks in turn, and returns
// the state after it, as the registry records it with the upload session.
func writeUpload(t *testing.T, s blob.Store, id string, offset int64, state []byte, chunks ...[]byte) []byte {
	t.Helper()
	w, err := s.UploadWriter(t.Context(), id, offset, state)
	must(t, fmt.Sprintf("upload writer %s at %d", id, offset), err)
	for _, c := range chunks {
		if _, err := w.Write(c); err != nil {
			w.Abort()
			t.Fatalf("write upload %s: %v", id, err)
		}
	}
	state, err = w.Commit()
	must(t, "commit chunk of upload "+id, err)
	return state
}

// walk returns the committed blobs and fails on stray entries, which a
// store used only through its API must never have.
func walk(t *testing.T, s blob.Store) map[digest.Digest]int64 {
	t.Helper()
	got := map[digest.Digest]int64{}
	err := s.Walk(t.Context(), func(d digest.Digest, size int64) error {
		if _, dup := got[d]; dup {
			t.Errorf("walk: %s reported twice", d)
		}
		got[d] = size
		return nil
	}, func(path string) error {
		t.Errorf("walk: unexpected stray %q", path)
		return nil
	})
	must(t, "walk", err)
	return got
}

func assertWalk(t *testing.T, s blob.Store, want map[digest.Digest]int64) {
	t.Helper()
	assertListed(t, "walk", walk(t, s), want)
}

// assertListed compares the blobs and sizes a walk listed with those expected.
func assertListed(t *testing.T, what string, got, want map[digest.Digest]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d blobs %v, want %d %v", what, len(got), got, len(want), want)
	}
	for d, size := range want {
		if gs, ok := got[d]; !ok || gs != size {
			t.Errorf("%s: %s: got size %d (listed %v), want %d", what, d, gs, ok, size)
		}
	}
}

func uploads(t *testing.T, s blob.Store) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	must(t, "uploads", s.Uploads(t.Context(), func(id string, modified time.Time) error {
		got[id] = modified
		return nil
	}))
	return got
}

func testPutStatOpenDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := payload(1, 100_000)
	d := sha256Of(data)
	must(t, "put", s.Put(ctx, d, data))
	assertBlob(t, s, d, data)
	must(t, "put again", s.Put(ctx, d, data))
	assertBlob(t, s, d, data)

	r, err := s.Open(ctx, d)
	must(t, "open", err)
	defer r.Close()
	seeks := []struct {
		offset int64
		whence int
		at     int64
	}{
		{1000, io.SeekStart, 1000},
		{500, io.SeekCurrent, 1510}, // after reading 10 bytes at 1000
		{-10, io.SeekEnd, int64(len(data)) - 10},
	}
	for _, sk := range seeks {
		pos, err := r.Seek(sk.offset, sk.whence)
		must(t, "seek", err)
		if pos != sk.at {
			t.Fatalf("seek(%d, %d) = %d, want %d", sk.offset, sk.whence, pos, sk.at)
		}
		got := make([]byte, 10)
		_, err = io.ReadFull(r, got)
		must(t, "read after seek", err)
		assertBytes(t, fmt.Sprintf("read at %d", pos), got, data[pos:pos+10])
	}
	must(t, "close reader", r.Close())

	must(t, "delete", s.Delete(ctx, d))
	_, err = s.Stat(ctx, d)
	assertIs(t, "stat after delete", err, blob.ErrNotFound)
	_, err = s.Open(ctx, d)
	assertIs(t, "open after delete", err, blob.ErrNotFound)
	assertIs(t, "delete again", s.Delete(ctx, d), blob.ErrNotFound)
	assertWalk(t, s, nil)
}

func testSHA512(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put := payload(2, 5000)
	d := sha512Of(put)
	must(t, "put", s.Put(ctx, d, put))
	assertBlob(t, s, d, put)

	up := payload(3, 70_000)
	ud := sha512Of(up)
	state := writeUpload(t, s, "u512", 0, nil, up)
	must(t, "commit", s.CommitUpload(ctx, "u512", state, ud, int64(len(up))))
	assertBlob(t, s, ud, up)
	assertWalk(t, s, map[digest.Digest]int64{d: int64(len(put)), ud: int64(len(up))})

	must(t, "delete", s.Delete(ctx, d))
	_, err := s.Stat(ctx, d)
	assertIs(t, "stat after delete", err, blob.ErrNotFound)
}

func testEmpty(t *testing.T, s blob.Store) {
	ctx := t.Context()
	d256, d512 := sha256Of(nil), sha512Of(nil)
	must(t, "put", s.Put(ctx, d256, nil))
	assertBlob(t, s, d256, nil)
	state := writeUpload(t, s, "empty", 0, nil)
	assertUpload(t, s, "empty", state, nil)
	must(t, "commit", s.CommitUpload(ctx, "empty", state, d512, 0))
	assertBlob(t, s, d512, nil)
	assertWalk(t, s, map[digest.Digest]int64{d256: 0, d512: 0})
}

func testNotFound(t *testing.T, s blob.Store) {
	ctx := t.Context()
	d := sha256Of([]byte("absent"))
	ops := map[string]func() error{
		"Stat":         func() error { _, err := s.Stat(ctx, d); return err },
		"Open":         func() error { _, err := s.Open(ctx, d); return err },
		"Delete":       func() error { return s.Delete(ctx, d) },
		"UploadWriter": func() error { _, err := s.UploadWriter(ctx, "absent", 5, nil); return err },
		"UploadReader": func() error { _, err := s.UploadReader(ctx, "absent", nil); return err },
		"UploadSize":   func() error { _, err := s.UploadSize(ctx, "absent"); return err },
		"CommitUpload": func() error { return s.CommitUpload(ctx, "absent", nil, d, 6) },
	}
	for name, op := range ops {
		assertIs(t, name, op(), blob.ErrNotFound)
	}
	assertWalk(t, s, nil)
	if u := uploads(t, s); len(u) != 0 {
		t.Errorf("uploads: %v, want none", u)
	}
}

// A hex string of the right length, to build digests that are wrong only
// in one respect.
var hex64, hex128 = strings.Repeat("0123456789abcdef", 4), strings.Repeat("0123456789abcdef", 8)

var badDigests = []digest.Digest{
	"",
	"sha256",
	"sha256:",
	"sha256:" + digest.Digest(hex64[:63]),
	"sha256:" + digest.Digest(hex64) + "0",
	"sha256:" + digest.Digest(strings.ToUpper(hex64)),
	"SHA256:" + digest.Digest(hex64),
	" sha256:" + digest.Digest(hex64),
	"sha256:" + digest.Digest(hex64) + "\n",
	"sha256:" + digest.Digest(hex64) + "\x00",
	"sha256:" + digest.Digest(hex64[:62]) + "\x00a",
	"sha256:" + digest.Digest(hex128),
	"sha512:" + digest.Digest(hex64),
	"sha384:" + digest.Digest(hex128[:96]),
	"md5:" + digest.Digest(hex64[:32]),
	"sha256:" + digest.Digest(hex64[:62]) + "/.",
	"sha256:../x",
	"sha256:../../../../../../etc/passwd",
	"sha256:/" + digest.Digest(hex64[:63]),
	"sha256:%2e%2e%2f" + digest.Digest(hex64[:55]),
	"sha256/" + digest.Digest(hex64),
	"../x",
	"../../" + digest.Digest(hex64),
	"/etc/passwd",
	"sha256:" + digest.Digest(strings.Repeat("a", 10_000)),
}

func testInvalidDigest(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := []byte("upload kept intact")
	state := writeUpload(t, s, "keep", 0, nil, data)
	for _, d := range badDigests {
		ops := map[string]func() error{
			"ValidateDigest": func() error { return blob.ValidateDigest(d) },
			"Stat":           func() error { _, err := s.Stat(ctx, d); return err },
			"Open":           func() error { _, err := s.Open(ctx, d); return err },
			"Put":            func() error { return s.Put(ctx, d, data) },
			"Delete":         func() error { return s.Delete(ctx, d) },
			"CommitUpload":   func() error { return s.CommitUpload(ctx, "keep", state, d, int64(len(data))) },
		}
		for name, op := range ops {
			assertIs(t, fmt.Sprintf("%s(%.40q)", name, d), op(), blob.ErrInvalidDigest)
		}
	}
	for _, d := range []digest.Digest{"sha256:" + digest.Digest(hex64), "sha512:" + digest.Digest(hex128)} {
		must(t, "ValidateDigest", blob.ValidateDigest(d))
	}
	assertUpload(t, s, "keep", state, data)
	assertWalk(t, s, nil)
}

var badUploadIDs = []string{
	"",
	".",
	"..",
	"../x",
	"../../../../etc",
	"a/b",
	"/abs",
	"/etc/passwd",
	`a\b`,
	"%2e%2e",
	"%2F",
	"a%2Fb",
	"a\x00b",
	"a b",
	"a.b",
	"a\n",
	"ü",
	strings.Repeat("a", 65),
}

func testInvalidUploadID(t *testing.T, s blob.Store) {
	ctx := t.Context()
	d := sha256Of([]byte("x"))
	for _, id := range badUploadIDs {
		ops := map[string]func() error{
			"ValidateUploadID": func() error { return blob.ValidateUploadID(id) },
			"UploadWriter(0)":  func() error { _, err := s.UploadWriter(ctx, id, 0, nil); return err },
			"UploadWriter(1)":  func() error { _, err := s.UploadWriter(ctx, id, 1, nil); return err },
			"UploadReader":     func() error { _, err := s.UploadReader(ctx, id, nil); return err },
			"UploadSize":       func() error { _, err := s.UploadSize(ctx, id); return err },
			"CommitUpload":     func() error { return s.CommitUpload(ctx, id, nil, d, 1) },
			"DeleteUpload":     func() error { return s.DeleteUpload(ctx, id) },
		}
		for name, op := range ops {
			assertIs(t, fmt.Sprintf("%s(%.40q)", name, id), op(), blob.ErrInvalidID)
		}
	}
	good := []string{"a", "Z", "0", "_", "-", "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f", strings.Repeat("aZ9_-", 12) + "abcd"}
	for _, id := range good {
		must(t, "ValidateUploadID", blob.ValidateUploadID(id))
		data := []byte(id)
		state := writeUpload(t, s, id, 0, nil, data)
		assertUpload(t, s, id, state, data)
		must(t, "delete upload", s.DeleteUpload(ctx, id))
	}
	if u := uploads(t, s); len(u) != 0 {
		t.Errorf("uploads: %v, want none", u)
	}
	assertWalk(t, s, nil)
}

func testChunkedUpload(t *testing.T, s blob.Store) {
	ctx := t.Context()
	const id = "chunked"
	chunks := [][]byte{payload(10, 1<<20+1), payload(11, 7), payload(12, 300_000)}
	var all, state []byte
	for _, c := range chunks {
		// Two writes per session check that writes within one session append.
		state = writeUpload(t, s, id, int64(len(all)), state, c[:len(c)/2], c[len(c)/2:])
		all = append(all, c...)
		assertUpload(t, s, id, state, all)
	}
	d := sha256Of(all)
	must(t, "commit", s.CommitUpload(ctx, id, state, d, int64(len(all))))
	assertBlob(t, s, d, all)
	_, err := s.UploadSize(ctx, id)
	assertIs(t, "upload size after commit", err, blob.ErrNotFound)
	_, err = s.UploadReader(ctx, id, state)
	assertIs(t, "upload reader after commit", err, blob.ErrNotFound)
	assertWalk(t, s, map[digest.Digest]int64{d: int64(len(all))})
}

// testResumeTruncates simulates a process that stored a chunk but died
// before recording the new offset: the next session resumes at the recorded
// offset and the unrecorded bytes must disappear.
func testResumeTruncates(t *testing.T, s blob.Store) {
	ctx := t.Context()
	const id = "resume"
	first, lost, second := payload(20, 50_000), payload(21, 70_000), payload(22, 30_000)
	recorded := writeUpload(t, s, id, 0, nil, first)
	writeUpload(t, s, id, int64(len(first)), recorded, lost)

	w, err := s.UploadWriter(ctx, id, int64(len(first)), recorded)
	must(t, "reopen at recorded offset", err)
	size, err := s.UploadSize(ctx, id)
	must(t, "upload size", err)
	if size != int64(len(first)) {
		t.Errorf("upload size after reopen: %d, want %d", size, len(first))
	}
	_, err = w.Write(second)
	must(t, "write", err)
	state, err := w.Commit()
	must(t, "commit chunk", err)

	want := append(append([]byte{}, first...), second...)
	assertUpload(t, s, id, state, want)
	d := sha256Of(want)
	must(t, "commit", s.CommitUpload(ctx, id, state, d, int64(len(want))))
	assertBlob(t, s, d, want)
}

func testOffsetMismatch(t *testing.T, s blob.Store) {
	ctx := t.Context()
	const id = "offset"
	data := payload(30, 10)
	state := writeUpload(t, s, id, 0, nil, data)
	for _, offset := range []int64{11, 1 << 40, -1} {
		_, err := s.UploadWriter(ctx, id, offset, state)
		assertIs(t, fmt.Sprintf("upload writer at %d", offset), err, blob.ErrOffset)
	}
	assertIs(t, "commit beyond data", s.CommitUpload(ctx, id, state, sha256Of(data), 11), blob.ErrOffset)
	assertIs(t, "commit negative size", s.CommitUpload(ctx, id, state, sha256Of(data), -1), blob.ErrOffset)
	assertUpload(t, s, id, state, data)
	assertWalk(t, s, nil)
}

// testCommitPrefix commits fewer bytes than the upload holds: only the
// verified prefix may become the blob.
func testCommitPrefix(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := payload(40, 100)
	d := sha256Of(data[:60])
	state := writeUpload(t, s, "prefix", 0, nil, data)
	must(t, "commit", s.CommitUpload(ctx, "prefix", state, d, 60))
	assertBlob(t, s, d, data[:60])
}

func testCommitDedupe(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := payload(50, 20_000)
	d := sha256Of(data)
	must(t, "put", s.Put(ctx, d, data))
	state := writeUpload(t, s, "dup", 0, nil, data)
	must(t, "commit existing", s.CommitUpload(ctx, "dup", state, d, int64(len(data))))
	_, err := s.UploadSize(ctx, "dup")
	assertIs(t, "upload size after dedupe", err, blob.ErrNotFound)
	if u := uploads(t, s); len(u) != 0 {
		t.Errorf("uploads after dedupe: %v, want none", u)
	}
	assertBlob(t, s, d, data)
	assertWalk(t, s, map[digest.Digest]int64{d: int64(len(data))})
}

const workers = 32

func testConcurrentSameContent(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := payload(60, 200_000)
	d := sha256Of(data)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			if i%4 == 0 {
				if err := s.Put(ctx, d, data); err != nil {
					t.Errorf("put %d: %v", i, err)
				}
				return
			}
			id := fmt.Sprintf("same-%d", i)
			state, err := upload(ctx, s, id, data)
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.CommitUpload(ctx, id, state, d, int64(len(data))); err != nil {
				t.Errorf("commit %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	assertBlob(t, s, d, data)
	assertWalk(t, s, map[digest.Digest]int64{d: int64(len(data))})
	if u := uploads(t, s); len(u) != 0 {
		t.Errorf("uploads left: %v", u)
	}
}

func testConcurrentDifferentContent(t *testing.T, s blob.Store) {
	ctx := t.Context()
	contents := make([][]byte, workers)
	want := map[digest.Digest]int64{}
	for i := range contents {
		contents[i] = payload(uint64(100+i), 1000*i+1)
		want[sha256Of(contents[i])] = int64(len(contents[i]))
	}
	var wg sync.WaitGroup
	for i, data := range contents {
		wg.Go(func() {
			id := fmt.Sprintf("diff-%d", i)
			state, err := upload(ctx, s, id, data)
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.CommitUpload(ctx, id, state, sha256Of(data), int64(len(data))); err != nil {
				t.Errorf("commit %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	for _, data := range contents {
		assertBlob(t, s, sha256Of(data), data)
	}
	assertWalk(t, s, want)
}

// upload writes data in two sessions and returns the state after them; it reports errors
// instead of failing so it can run off the test goroutine.
func upload(ctx context.Context, s blob.Store, id string, data []byte) ([]byte, error) {
	half := len(data) / 2
	var state []byte
	for _, part := range []struct {
		offset int
		b      []byte
	}{{0, data[:half]}, {half, data[half:]}} {
		w, err := s.UploadWriter(ctx, id, int64(part.offset), state)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(part.b); err != nil {
			return nil, errors.Join(err, w.Abort())
		}
		if state, err = w.Commit(); err != nil {
			return nil, err
		}
	}
	return state, nil
}

func testWalk(t *testing.T, s blob.Store) {
	ctx := t.Context()
	want := map[digest.Digest]int64{}
	var deleted digest.Digest
	for i, n := range []int{0, 1, 4096, 100_000} {
		data := payload(uint64(200+i), n)
		d := sha256Of(data)
		if i%2 == 1 {
			d = sha512Of(data)
		}
		must(t, "put", s.Put(ctx, d, data))
		want[d] = int64(n)
		deleted = d
	}
	must(t, "delete", s.Delete(ctx, deleted))
	delete(want, deleted)
	writeUpload(t, s, "in-progress", 0, nil, payload(300, 1000))
	assertWalk(t, s, want)

	stop := errors.New("stop")
	calls := 0
	err := s.Walk(ctx, func(digest.Digest, int64) error { calls++; return stop }, nil)
	assertIs(t, "walk with failing fn", err, stop)
	if calls != 1 {
		t.Errorf("walk called fn %d times after it failed, want 1", calls)
	}
}

func testDeleteUpload(t *testing.T, s blob.Store) {
	ctx := t.Context()
	const id = "gone"
	state := writeUpload(t, s, id, 0, nil, payload(400, 1000))
	must(t, "delete upload", s.DeleteUpload(ctx, id))
	_, err := s.UploadSize(ctx, id)
	assertIs(t, "upload size after delete", err, blob.ErrNotFound)
	_, err = s.UploadWriter(ctx, id, 1000, state)
	assertIs(t, "resume after delete", err, blob.ErrNotFound)
	must(t, "delete upload again", s.DeleteUpload(ctx, id))
	must(t, "delete never-created upload", s.DeleteUpload(ctx, "never"))

	// The id is free for a fresh upload.
	fresh := []byte("fresh")
	state = writeUpload(t, s, id, 0, nil, fresh)
	assertUpload(t, s, id, state, fresh)
}

func testUploads(t *testing.T, s blob.Store) {
	ctx := t.Context()
	// Allow for coarse timestamps and for remote stores' clock skew.
	start := time.Now().Add(-time.Hour)
	writeUpload(t, s, "up-a", 0, nil, []byte("a"))
	writeUpload(t, s, "up-b", 0, nil, payload(500, 70_000))
	writeUpload(t, s, "up-empty", 0, nil)
	data := []byte("committed")
	state := writeUpload(t, s, "up-done", 0, nil, data)
	must(t, "commit", s.CommitUpload(ctx, "up-done", state, sha256Of(data), int64(len(data))))
	end := time.Now().Add(time.Hour)

	got := uploads(t, s)
	for _, id := range []string{"up-a", "up-b", "up-empty"} {
		mod, ok := got[id]
		if !ok {
			t.Errorf("uploads: %s missing", id)
			continue
		}
		if mod.Before(start) || mod.After(end) {
			t.Errorf("uploads: %s modified %v, want within an hour of now", id, mod)
		}
	}
	if len(got) != 3 {
		t.Errorf("uploads: %v, want exactly up-a, up-b, up-empty", got)
	}

	stop := errors.New("stop")
	assertIs(t, "uploads with failing fn", s.Uploads(ctx, func(string, time.Time) error { return stop }), stop)
}

func testPing(t *testing.T, s blob.Store) {
	must(t, "ping", s.Ping(t.Context()))
	// Ping must leave nothing behind that looks like content.
	assertWalk(t, s, nil)
	if u := uploads(t, s); len(u) != 0 {
		t.Errorf("uploads after ping: %v", u)
	}
}

func testCanceledContext(t *testing.T, s blob.Store) {
	data := []byte("canceled")
	d := sha256Of(data)
	must(t, "put", s.Put(t.Context(), d, data))
	state := writeUpload(t, s, "c", 0, nil, data)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	other := []byte("other")
	ops := map[string]func() error{
		"Stat":         func() error { _, err := s.Stat(ctx, d); return err },
		"Open":         func() error { _, err := s.Open(ctx, d); return err },
		"Put":          func() error { return s.Put(ctx, sha256Of(other), other) },
		"Create":       func() error { _, err := s.Create(ctx, sha256Of(other)); return err },
		"Delete":       func() error { return s.Delete(ctx, d) },
		"Walk":         func() error { return s.Walk(ctx, func(digest.Digest, int64) error { return nil }, nil) },
		"UploadWriter": func() error { _, err := s.UploadWriter(ctx, "c", 0, nil); return err },
		"UploadReader": func() error { _, err := s.UploadReader(ctx, "c", state); return err },
		"UploadSize":   func() error { _, err := s.UploadSize(ctx, "c"); return err },
		"CommitUpload": func() error { return s.CommitUpload(ctx, "c", state, d, int64(len(data))) },
		"DeleteUpload": func() error { return s.DeleteUpload(ctx, "c") },
		"Uploads":      func() error { return s.Uploads(ctx, func(string, time.Time) error { return nil }) },
		"Ping":         func() error { return s.Ping(ctx) },
	}
	if r, ok := s.(blob.Redirector); ok {
		ops["RedirectURL"] = func() error { _, err := r.RedirectURL(ctx, d); return err }
	}
	if u, ok := s.(blob.UsageReporter); ok {
		ops["Usage"] = func() error { _, _, err := u.Usage(ctx); return err }
	}
	if w, ok := s.(blob.ModTimeWalker); ok {
		ops["WalkModTime"] = func() error {
			return w.WalkModTime(ctx, func(digest.Digest, int64, time.Time) error { return nil }, nil)
		}
	}
	for name, op := range ops {
		assertIs(t, name, op(), context.Canceled)
	}
	// Nothing happened.
	assertBlob(t, s, d, data)
	assertUpload(t, s, "c", state, data)
	_, err := s.Stat(t.Context(), sha256Of(other))
	assertIs(t, "stat of blob put with canceled context", err, blob.ErrNotFound)
}

// create writes data in a few pieces through Create and commits it.
func create(ctx context.Context, s blob.Store, d digest.Digest, data []byte) error {
	w, err := s.Create(ctx, d)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), 7000)
		if _, err := w.Write(data[:n]); err != nil {
			w.Abort()
			return err
		}
		data = data[n:]
	}
	return w.Commit()
}

func testCreate(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data, big := payload(70, 30_000), payload(71, 3<<20)
	d, bd, ed, d512 := sha256Of(data), sha256Of(big), sha256Of(nil), sha512Of(data)
	must(t, "create", create(ctx, s, d, data))
	must(t, "create large", create(ctx, s, bd, big))
	must(t, "create empty", create(ctx, s, ed, nil))
	must(t, "create sha512", create(ctx, s, d512, data))
	assertBlob(t, s, d, data)
	assertBlob(t, s, bd, big)
	assertBlob(t, s, ed, nil)
	assertBlob(t, s, d512, data)
	// Again: the blob exists, the new copy is discarded.
	must(t, "create again", create(ctx, s, d, data))
	assertBlob(t, s, d, data)
	assertWalk(t, s, map[digest.Digest]int64{d: int64(len(data)), bd: int64(len(big)), ed: 0, d512: int64(len(data))})
	if u := uploads(t, s); len(u) != 0 {
		t.Errorf("uploads after create: %v", u)
	}

	w, err := s.Create(ctx, sha256Of(payload(72, 10)))
	must(t, "create", err)
	must(t, "commit", w.Commit())
	if err := w.Commit(); err == nil {
		t.Error("second commit succeeded")
	}
	must(t, "abort after commit", w.Abort())
	_, err = s.Create(ctx, "sha256:../../etc")
	assertIs(t, "create with invalid digest", err, blob.ErrInvalidDigest)
}

func testCreateAbort(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := payload(73, 50_000)
	d := sha256Of(data)
	w, err := s.Create(ctx, d)
	must(t, "create", err)
	_, err = w.Write(data[:20_000])
	must(t, "write", err)
	must(t, "abort", w.Abort())
	must(t, "abort again", w.Abort())
	if err := w.Commit(); err == nil {
		t.Error("commit after abort succeeded")
	}
	_, err = s.Stat(ctx, d)
	assertIs(t, "stat after abort", err, blob.ErrNotFound)
	// A writer not yet committed or aborted (a request in flight, or one that crashed) is not
	// visible either.
	w, err = s.Create(ctx, d)
	must(t, "create", err)
	_, err = w.Write(data)
	must(t, "write", err)
	assertWalk(t, s, nil)
	if u := uploads(t, s); len(u) != 0 {
		t.Errorf("uploads during create: %v", u)
	}
	must(t, "abort", w.Abort())
}

// testCreateReplacesCorrupt: a stored blob of the wrong size is corrupt, and a verified copy
// replaces it.
func testCreateReplacesCorrupt(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := payload(74, 40_000)
	d := sha256Of(data)
	must(t, "put truncated", s.Put(ctx, d, data[:1000]))
	must(t, "create", create(ctx, s, d, data))
	assertBlob(t, s, d, data)
}

func testConcurrentCreate(t *testing.T, s blob.Store) {
	ctx := t.Context()
	same := payload(75, 100_000)
	want := map[digest.Digest]int64{sha256Of(same): int64(len(same))}
	var wg sync.WaitGroup
	for i := range workers {
		data := same
		if i%2 == 1 {
			data = payload(uint64(200+i), 500*i)
			want[sha256Of(data)] = int64(len(data))
		}
		wg.Go(func() {
			if err := create(ctx, s, sha256Of(data), data); err != nil {
				t.Errorf("create %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	assertBlob(t, s, sha256Of(same), same)
	assertWalk(t, s, want)
}

// testUploadAbort: an aborted chunk leaves the upload as the previous state describes it, and
// the next chunk continues from there; a chunk writer commits or aborts once.
func testUploadAbort(t *testing.T, s blob.Store) {
	ctx := t.Context()
	const id = "abort"
	first, dropped, second := payload(90, 40_000), payload(91, 60_000), payload(92, 20_000)
	state := writeUpload(t, s, id, 0, nil, first)
	w, err := s.UploadWriter(ctx, id, int64(len(first)), state)
	must(t, "upload writer", err)
	_, err = w.Write(dropped)
	must(t, "write", err)
	must(t, "abort", w.Abort())
	must(t, "abort again", w.Abort())
	if _, err := w.Commit(); err == nil {
		t.Error("commit after abort succeeded")
	}

	w, err = s.UploadWriter(ctx, id, int64(len(first)), state)
	must(t, "upload writer", err)
	_, err = w.Write(second)
	must(t, "write", err)
	state, err = w.Commit()
	must(t, "commit chunk", err)
	if _, err := w.Commit(); err == nil {
		t.Error("second commit of a chunk succeeded")
	}
	must(t, "abort after commit", w.Abort())

	want := append(append([]byte{}, first...), second...)
	assertUpload(t, s, id, state, want)
	d := sha256Of(want)
	must(t, "commit", s.CommitUpload(ctx, id, state, d, int64(len(want))))
	assertBlob(t, s, d, want)
}

// testUploadAcrossReplicas: the chunks of one upload reach different replicas, each with its
// own Store over the same storage; the state each chunk returns travels with the upload session
// (in the registry, its row), and another replica finishes the upload. Chunks are megabytes, so
// that a driver that stores parts of a minimum size meets both full parts and remainders.
func testUploadAcrossReplicas(t *testing.T, open func() blob.Store) {
	ctx := t.Context()
	const id = "replicated"
	a, b, c := open(), open(), open()
	var all, state []byte
	for i, step := range []struct {
		s blob.Store
		n int
	}{{a, 3 << 20}, {b, 100}, {a, 6<<20 + 3}, {c, 1}} {
		chunk := payload(uint64(600+i), step.n)
		state = writeUpload(t, step.s, id, int64(len(all)), state, chunk)
		all = append(all, chunk...)
	}
	// A chunk whose state is never recorded (the request lost to another, or its process died
	// before recording it) is written over by the next chunk from the recorded state.
	writeUpload(t, b, id, int64(len(all)), state, payload(610, 5<<20))
	last := payload(611, 2<<20)
	state = writeUpload(t, a, id, int64(len(all)), state, last)
	all = append(all, last...)

	for _, s := range []blob.Store{a, b, c} {
		assertUpload(t, s, id, state, all)
	}
	d := sha256Of(all)
	must(t, "commit", c.CommitUpload(ctx, id, state, d, int64(len(all))))
	for _, s := range []blob.Store{a, b, c} {
		assertBlob(t, s, d, all)
		assertWalk(t, s, map[digest.Digest]int64{d: int64(len(all))})
		if u := uploads(t, s); len(u) != 0 {
			t.Errorf("uploads after commit: %v", u)
		}
	}
}

// testRedirect: a driver that can redirect gives, for a stored blob, a URL from which a plain
// HTTP GET fetches it, whole or a range of it.
func testRedirect(t *testing.T, s blob.Store) {
	r, ok := s.(blob.Redirector)
	if !ok {
		t.Skip("the driver cannot redirect")
	}
	ctx := t.Context()
	data := payload(95, 100_000)
	d := sha256Of(data)
	must(t, "put", s.Put(ctx, d, data))
	u, err := r.RedirectURL(ctx, d)
	must(t, "redirect URL", err)
	assertBytes(t, "GET "+u, httpGet(t, u, "", http.StatusOK), data)
	assertBytes(t, "GET "+u+" with a range", httpGet(t, u, "bytes=1000-1999", http.StatusPartialContent), data[1000:2000])

	_, err = r.RedirectURL(ctx, sha256Of([]byte("absent")))
	assertIs(t, "redirect URL of a missing blob", err, blob.ErrNotFound)
	for _, bad := range badDigests {
		_, err := r.RedirectURL(ctx, bad)
		assertIs(t, fmt.Sprintf("redirect URL of %.40q", bad), err, blob.ErrInvalidDigest)
	}
}

// httpGet fetches url, with a Range header unless rng is empty, and fails unless the answer has
// the wanted status.
func httpGet(t *testing.T, url, rng string, want int) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	must(t, "request", err)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, "GET "+url, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, "GET "+url+": read", err)
	if resp.StatusCode != want {
		t.Fatalf("GET %s (range %q): status %d, want %d: %.200s", url, rng, resp.StatusCode, want, body)
	}
	return body
}

// testUsage: a driver whose storage has a size reports numbers that can be true.
func testUsage(t *testing.T, s blob.Store) {
	u, ok := s.(blob.UsageReporter)
	if !ok {
		t.Skip("the driver's storage has no size to report")
	}
	data := payload(96, 10_000)
	must(t, "put", s.Put(t.Context(), sha256Of(data), data))
	total, free, err := u.Usage(t.Context())
	must(t, "usage", err)
	if total == 0 || free > total {
		t.Errorf("usage: %d bytes free of %d", free, total)
	}
}

// testWalkModTime: a driver that can tell when blobs were written lists the same blobs as Walk,
// each with a time close to now.
func testWalkModTime(t *testing.T, s blob.Store) {
	w, ok := s.(blob.ModTimeWalker)
	if !ok {
		t.Skip("the driver cannot tell modification times")
	}
	ctx := t.Context()
	// Allow for coarse timestamps and for remote stores' clock skew.
	start := time.Now().Add(-time.Hour)
	want := map[digest.Digest]int64{}
	for i, n := range []int{0, 5000, 70_000} {
		data := payload(uint64(700+i), n)
		d := sha256Of(data)
		if i == 1 {
			d = sha512Of(data)
			must(t, "create", create(ctx, s, d, data))
		} else {
			must(t, "put", s.Put(ctx, d, data))
		}
		want[d] = int64(n)
	}
	committed := payload(703, 3000)
	state := writeUpload(t, s, "mod", 0, nil, committed)
	must(t, "commit", s.CommitUpload(ctx, "mod", state, sha256Of(committed), int64(len(committed))))
	want[sha256Of(committed)] = int64(len(committed))
	writeUpload(t, s, "in-progress", 0, nil, payload(704, 1000))
	end := time.Now().Add(time.Hour)

	got := map[digest.Digest]int64{}
	err := w.WalkModTime(ctx, func(d digest.Digest, size int64, modified time.Time) error {
		if _, dup := got[d]; dup {
			t.Errorf("walk with times: %s reported twice", d)
		}
		got[d] = size
		if modified.Before(start) || modified.After(end) {
			t.Errorf("walk with times: %s modified %v, want within an hour of now", d, modified)
		}
		return nil
	}, func(path string) error {
		t.Errorf("walk with times: unexpected stray %q", path)
		return nil
	})
	must(t, "walk with times", err)
	assertListed(t, "walk with times", got, want)
	assertWalk(t, s, want)

	stop := errors.New("stop")
	calls := 0
	err = w.WalkModTime(ctx, func(digest.Digest, int64, time.Time) error { calls++; return stop }, nil)
	assertIs(t, "walk with times and a failing fn", err, stop)
	if calls != 1 {
		t.Errorf("walk with times called fn %d times after it failed, want 1", calls)
	}
}
