// The filesystem driver keeps everything under one root directory:
//
//	<root>/blobs/<alg>/<first 2 hex>/<hex>  committed blobs (alg is sha256 or sha512)
//	<root>/uploads/<id>/data                 data of in-progress upload <id>
//	<root>/uploads/.tmp-*                    temp files of Put and Ping
//
// Temp files and upload data live on the same filesystem as blobs, so a
// rename into blobs/ is atomic: a blob path either holds complete content or
// does not exist. Blobs sent whole (Create) are written to an unnamed file
// (O_TMPFILE) and linked into place once verified and synced, which needs no
// temp name at all; where the kernel or filesystem cannot do that, they go
// through a temp file like Put's. Temp names start with a dot, which no upload id can, so
// they never collide with or show up as uploads. Every path is built from a
// validated digest or upload id only.

package blob

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	dirPerm    = 0o750
	filePerm   = 0o640
	tempPrefix = ".tmp-"
	// staleTemp is how old a temp file must be before NewFS removes it as a
	// crash leftover; temp files only ever hold small Put payloads, so a live
	// one (perhaps from another process sharing the root) is far younger.
	staleTemp = time.Hour
)

// FS is the filesystem Store.
type FS struct {
	root    string
	blobs   string
	uploads string
	// tmpfile says Create can use unnamed files (probed by NewFS).
	tmpfile bool
	// durable holds the prefix directories whose own entry is known to be synced, so a
	// commit into one syncs only that directory, not its parent as well.
	durable sync.Map
}

var (
	_ Store         = (*FS)(nil)
	_ ModTimeWalker = (*FS)(nil)
)

// NewFS returns the filesystem driver rooted at dir, creating its layout
// (directories 0o750) if needed and removing stale temp files.
func NewFS(dir string) (*FS, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob root %q: %w", dir, err)
	}
	f := &FS{root: root, blobs: filepath.Join(root, "blobs"), uploads: filepath.Join(root, "uploads")}
	if err := os.MkdirAll(root, dirPerm); err != nil {
		return nil, fmt.Errorf("blob root: %w", err)
	}
	// The algorithm directories are created up front so commits only ever
	// create prefix directories.
	for _, d := range []string{f.blobs, filepath.Join(f.blobs, "sha256"), filepath.Join(f.blobs, "sha512"), f.uploads} {
		if err := mkdirDurable(d); err != nil {
			return nil, fmt.Errorf("blob root: %w", err)
		}
	}
	if err := f.removeStaleTemps(time.Now().Add(-staleTemp)); err != nil {
		return nil, fmt.Errorf("blob root: %w", err)
	}
	f.tmpfile = f.probeTmpfile()
	return f, nil
}

// probeTmpfile reports whether unnamed files can be created and linked here.
func (f *FS) probeTmpfile() bool {
	file, err := openTmpfile(filepath.Join(f.blobs, "sha256"))
	if err != nil {
		return false
	}
	defer file.Close()
	name := filepath.Join(f.uploads, tempPrefix+"probe-"+rand.Text())
	if err := linkTmpfile(file, name); err != nil {
		return false
	}
	return os.Remove(name) == nil
}

func (f *FS) removeStaleTemps(before time.Time) error {
	entries, err := os.ReadDir(f.uploads)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if info.ModTime().Before(before) {
			if err := os.Remove(filepath.Join(f.uploads, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// blobPath expects a validated digest.
func (f *FS) blobPath(d digest.Digest) string {
	alg, hex, _ := strings.Cut(string(d), ":")
	return filepath.Join(f.blobs, alg, hex[:2], hex)
}

// uploadDir expects a validated id.
func (f *FS) uploadDir(id string) string {
	return filepath.Join(f.uploads, id)
}

func (f *FS) uploadData(id string) string {
	return filepath.Join(f.uploads, id, "data")
}

func checkDigest(ctx context.Context, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidateDigest(d)
}

func checkID(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidateUploadID(id)
}

// notFound maps a missing file to ErrNotFound, keeping the os error for context.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// Stat implements Store.
func (f *FS) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	if err := checkDigest(ctx, d); err != nil {
		return 0, fmt.Errorf("stat blob: %w", err)
	}
	info, err := os.Stat(f.blobPath(d))
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, notFound(err))
	}
	return info.Size(), nil
}

// Open implements Store. The returned Reader is an *os.File.
func (f *FS) Open(ctx context.Context, d digest.Digest) (Reader, error) {
	if err := checkDigest(ctx, d); err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	file, err := os.Open(f.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, notFound(err))
	}
	return file, nil
}

// Put implements Store.
func (f *FS) Put(ctx context.Context, d digest.Digest, data []byte) error {
	if err := checkDigest(ctx, d); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if info, err := os.Stat(f.blobPath(d)); err == nil && info.Size() == int64(len(data)) {
		return nil
	}
	if err := f.put(d, data); err != nil {
		return fmt.Errorf("put blob %s: %w", d, err)
	}
	return nil
}

func (f *FS) put(d digest.Digest, data []byte) (err error) {
	tmp, err := f.createTemp()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name()) // a leftover is reaped by NewFS
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := syncClose(tmp); err != nil {
		return err
	}
	return f.install(tmp.Name(), d)
}

func (f *FS) createTemp() (*os.File, error) {
	return os.OpenFile(filepath.Join(f.uploads, tempPrefix+rand.Text()), os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
}

// install renames the complete, fsynced file src to the blob path of d and
// makes the rename durable. Renaming over an existing blob is harmless: it
// has the same content, and open readers keep the old inode.
func (f *FS) install(src string, d digest.Digest) error {
	dst := f.blobPath(d)
	dir, err := f.prefixDir(dst)
	if err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	return syncDir(dir)
}

// prefixDir returns the directory of blob path dst, created and with its entry synced.
func (f *FS) prefixDir(dst string) (string, error) {
	dir := filepath.Dir(dst)
	if _, ok := f.durable.Load(dir); ok {
		return dir, nil
	}
	if err := os.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	// Sync the parent even when someone else created dir: they may not have
	// synced it yet, and our blob must not vanish with their directory.
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return "", err
	}
	f.durable.Store(dir, struct{}{})
	return dir, nil
}

// Create implements Store.
func (f *FS) Create(ctx context.Context, d digest.Digest) (BlobWriter, error) {
	if err := checkDigest(ctx, d); err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	w := &fsBlobWriter{f: f, d: d}
	var err error
	if f.tmpfile {
		alg, _, _ := strings.Cut(string(d), ":")
		w.file, err = openTmpfile(filepath.Join(f.blobs, alg))
	} else {
		w.file, err = f.createTemp()
		w.named = true
	}
	if err != nil {
		return nil, fmt.Errorf("create blob %s: %w", d, err)
	}
	return w, nil
}

// fsBlobWriter is a blob being written by Create: an unnamed file, or a named temp file in
// uploads/ where unnamed files are not available.
type fsBlobWriter struct {
	f     *FS
	d     digest.Digest
	file  *os.File
	named bool
	n     int64
	wb    writeback
	done  bool
}

func (w *fsBlobWriter) Write(p []byte) (int, error) {
	n, err := w.file.Write(p)
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write blob %s: %w", w.d, err)
	}
	w.wb.wrote(w.file, w.n)
	return n, nil
}

// writebackChunk is how much of a blob being written may wait in the page cache before its
// write to disk is started (startWriteback); smaller blobs are left to the final fsync.
const writebackChunk = 8 << 20

// writeback tracks how much of a file being appended to has been handed to startWriteback.
type writeback struct {
	started int64 // bytes before this offset have had their writeback started
}

// wrote notes that the file now holds data up to end, and starts writing it to disk once
// writebackChunk of it waits in the page cache.
func (wb *writeback) wrote(f *os.File, end int64) {
	if end-wb.started >= writebackChunk {
		startWriteback(f, wb.started, end-wb.started)
		wb.started = end
	}
}

func (w *fsBlobWriter) Commit() error {
	if w.done {
		return fmt.Errorf("commit blob %s: already committed or aborted", w.d)
	}
	if err := w.commit(); err != nil {
		w.Abort()
		return fmt.Errorf("commit blob %s: %w", w.d, err)
	}
	return nil
}

func (w *fsBlobWriter) commit() error {
	dst := w.f.blobPath(w.d)
	if err := w.file.Sync(); err != nil {
		return err
	}
	if w.named {
		w.done = true
		if err := w.file.Close(); err != nil {
			os.Remove(w.file.Name())
			return err
		}
		if err := w.f.install(w.file.Name(), w.d); err != nil {
			os.Remove(w.file.Name())
			return err
		}
		return nil
	}
	dir, err := w.f.prefixDir(dst)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := linkTmpfile(w.file, dst)
		if err == nil || !errors.Is(err, fs.ErrExist) || attempt == 2 {
			if err != nil {
				return err
			}
			break
		}
		// Someone stored this blob already. The same size is the same content (the caller
		// verified ours, and theirs was verified when it was stored); another size is a
		// corrupt copy, which ours replaces.
		if info, serr := os.Stat(dst); serr == nil && info.Size() == w.n {
			break
		}
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	w.done = true
	if err := w.file.Close(); err != nil {
		return err
	}
	// Synced even when the blob was there already: whoever linked it may not have synced
	// the directory yet, and this commit is acknowledged as durable.
	return syncDir(dir)
}

func (w *fsBlobWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	err := w.file.Close()
	if w.named {
		if rerr := os.Remove(w.file.Name()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// Delete implements Store. Empty prefix directories are kept so that a
// concurrent install never renames into a directory that just disappeared.
func (f *FS) Delete(ctx context.Context, d digest.Digest) error {
	if err := checkDigest(ctx, d); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	p := f.blobPath(d)
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("delete blob %s: %w", d, notFound(err))
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk implements Store. Stray paths are absolute file system paths.
func (f *FS) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error, stray func(path string) error) error {
	return f.walk(ctx, func(d digest.Digest, info fs.FileInfo) error { return fn(d, info.Size()) }, stray)
}

// WalkModTime implements ModTimeWalker: the walk stats every blob anyway.
func (f *FS) WalkModTime(ctx context.Context, fn func(d digest.Digest, size int64, modified time.Time) error, stray func(path string) error) error {
	return f.walk(ctx, func(d digest.Digest, info fs.FileInfo) error { return fn(d, info.Size(), info.ModTime()) }, stray)
}

func (f *FS) walk(ctx context.Context, fn func(d digest.Digest, info fs.FileInfo) error, stray func(path string) error) error {
	err := filepath.WalkDir(f.blobs, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			// Entries deleted while walking are simply gone; a missing
			// root is a real error.
			if p != f.blobs && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == f.blobs {
			return nil
		}
		parts := strings.Split(filepath.ToSlash(p[len(f.blobs)+1:]), "/")
		switch {
		case e.IsDir() && len(parts) == 1 && (parts[0] == "sha256" || parts[0] == "sha512"):
			return nil
		case e.IsDir() && len(parts) == 2 && len(parts[1]) == 2 && isLowerHex(parts[1]):
			return nil
		case e.Type().IsRegular() && len(parts) == 3:
			d := digest.Digest(parts[0] + ":" + parts[2])
			if ValidateDigest(d) == nil && parts[2][:2] == parts[1] {
				info, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				if err != nil {
					return err
				}
				return fn(d, info)
			}
		}
		if stray != nil {
			if err := stray(p); err != nil {
				return err
			}
		}
		if e.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	return nil
}

// UploadWriter implements Store. The upload's data is one file whose length says how much has
// been written, so the driver keeps no state: it returns nil and ignores what it is given.
func (f *FS) UploadWriter(ctx context.Context, id string, offset int64, _ []byte) (UploadWriter, error) {
	if err := checkID(ctx, id); err != nil {
		return nil, fmt.Errorf("upload writer: %w", err)
	}
	w, err := f.uploadWriter(id, offset)
	if err != nil {
		return nil, fmt.Errorf("upload writer %s at %d: %w", id, offset, err)
	}
	return w, nil
}

func (f *FS) uploadWriter(id string, offset int64) (*uploadWriter, error) {
	if offset < 0 {
		return nil, ErrOffset
	}
	// Upload data is not fsynced, nor are the names of its directory and file: a chunk that a
	// power cut loses shows up as an offset mismatch when the client continues, and the client
	// starts the upload again. Nothing unverified can become a blob, since the digest is
	// checked over the data at commit, and commit makes the blob durable (fsync, rename, fsync
	// of the directory). Skipping these saves three fsyncs per chunk on the push path.
	flag := os.O_WRONLY
	if offset == 0 {
		if err := os.Mkdir(f.uploadDir(id), dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		flag |= os.O_CREATE
	}
	file, err := os.OpenFile(f.uploadData(id), flag, filePerm)
	if err != nil {
		return nil, notFound(err)
	}
	if err := truncateTo(file, offset); err != nil {
		file.Close()
		return nil, err
	}
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		file.Close()
		return nil, err
	}
	return &uploadWriter{id: id, f: file, off: offset, wb: writeback{started: offset}}, nil
}

// truncateTo cuts file down to size, or fails with ErrOffset if it is shorter.
func truncateTo(file *os.File, size int64) error {
	info, err := file.Stat()
	if err != nil {
		return err
	}
	switch {
	case info.Size() < size:
		return fmt.Errorf("%w: have %d bytes, want %d", ErrOffset, info.Size(), size)
	case info.Size() > size:
		return file.Truncate(size)
	}
	return nil
}

type uploadWriter struct {
	id   string
	f    *os.File
	off  int64 // where the next write goes
	wb   writeback
	done bool
}

func (w *uploadWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if err != nil {
		return n, fmt.Errorf("write upload %s: %w", w.id, err)
	}
	// Not for durability (see uploadWriter): so that the commit's fsync has little left to do.
	w.wb.wrote(w.f, w.off)
	return n, nil
}

func (w *uploadWriter) Commit() ([]byte, error) {
	if w.done {
		return nil, fmt.Errorf("commit upload %s: already committed or aborted", w.id)
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		return nil, fmt.Errorf("close upload %s: %w", w.id, err)
	}
	return nil, nil
}

// Abort leaves the bytes written in the file: the next UploadWriter truncates them.
func (w *uploadWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close upload %s: %w", w.id, err)
	}
	return nil
}

// UploadReader implements Store. The returned Reader is an *os.File.
func (f *FS) UploadReader(ctx context.Context, id string, _ []byte) (Reader, error) {
	if err := checkID(ctx, id); err != nil {
		return nil, fmt.Errorf("upload reader: %w", err)
	}
	file, err := os.Open(f.uploadData(id))
	if err != nil {
		return nil, fmt.Errorf("upload reader %s: %w", id, notFound(err))
	}
	return file, nil
}

// UploadSize implements Store.
func (f *FS) UploadSize(ctx context.Context, id string) (int64, error) {
	if err := checkID(ctx, id); err != nil {
		return 0, fmt.Errorf("upload size: %w", err)
	}
	info, err := os.Stat(f.uploadData(id))
	if err != nil {
		return 0, fmt.Errorf("upload size %s: %w", id, notFound(err))
	}
	return info.Size(), nil
}

// CommitUpload implements Store. An existing blob of a different size is
// corrupt, so it is replaced rather than deduplicated against.
func (f *FS) CommitUpload(ctx context.Context, id string, _ []byte, d digest.Digest, size int64) error {
	if err := checkID(ctx, id); err != nil {
		return fmt.Errorf("commit upload: %w", err)
	}
	if err := ValidateDigest(d); err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if err := f.commit(id, d, size); err != nil {
		return fmt.Errorf("commit upload %s to %s: %w", id, d, err)
	}
	// The blob is durable now. A leftover upload directory is harmless and
	// reaped by upload expiry, so failing here would only mislead the caller.
	_ = os.RemoveAll(f.uploadDir(id))
	return nil
}

func (f *FS) commit(id string, d digest.Digest, size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrOffset, size)
	}
	data := f.uploadData(id)
	file, err := os.OpenFile(data, os.O_RDWR, 0)
	if err != nil {
		return notFound(err)
	}
	if err := truncateTo(file, size); err != nil {
		file.Close()
		return err
	}
	if info, err := os.Stat(f.blobPath(d)); err == nil && info.Size() == size {
		return file.Close()
	}
	if err := syncClose(file); err != nil {
		return err
	}
	return f.install(data, d)
}

// DeleteUpload implements Store.
func (f *FS) DeleteUpload(ctx context.Context, id string) error {
	if err := checkID(ctx, id); err != nil {
		return fmt.Errorf("delete upload: %w", err)
	}
	if err := os.RemoveAll(f.uploadDir(id)); err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}

// Uploads implements Store. The modification time is that of the data, or
// of the upload directory if a crash left it without data.
func (f *FS) Uploads(ctx context.Context, fn func(id string, modified time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	entries, err := os.ReadDir(f.uploads)
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || ValidateUploadID(id) != nil {
			continue
		}
		info, err := os.Stat(f.uploadData(id))
		if errors.Is(err, fs.ErrNotExist) {
			info, err = os.Stat(f.uploadDir(id))
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // committed or deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("list uploads: %w", err)
		}
		if err := fn(id, info.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// Ping implements Store by creating and removing a temp file.
func (f *FS) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ping blob store: %w", err)
	}
	if _, err := os.Stat(f.blobs); err != nil {
		return fmt.Errorf("ping blob store: %w", err)
	}
	tmp, err := f.createTemp()
	if err != nil {
		return fmt.Errorf("ping blob store: %w", err)
	}
	err = errors.Join(tmp.Close(), os.Remove(tmp.Name()))
	if err != nil {
		return fmt.Errorf("ping blob store: %w", err)
	}
	return nil
}

func syncClose(file *os.File) error {
	if err := file.Sync(); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return syncClose(d)
}

// mkdirDurable creates dir if missing and syncs its parent so the new entry
// survives a crash.
func mkdirDurable(dir string) error {
	err := os.Mkdir(dir, dirPerm)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}
