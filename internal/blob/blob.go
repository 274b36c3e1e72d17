// Package blob stores content-addressed blobs and in-progress uploads.
//
// Blobs are global: the same digest is stored once no matter how many
// repositories reference it. Callers verify digests; a Store only guarantees
// that what it was told to commit is stored durably and atomically.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrNotFound reports a missing blob or upload.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidDigest reports a digest that is not sha256/sha512 with lower-case hex of the right length.
	ErrInvalidDigest = errors.New("blob: invalid digest")
	// ErrInvalidID reports an upload id outside the allowed pattern.
	ErrInvalidID = errors.New("blob: invalid upload id")
	// ErrOffset reports an upload offset that does not match the stored data.
	ErrOffset = errors.New("blob: upload offset mismatch")
)

// maxUploadIDLen bounds ids so they stay well below file name limits.
const maxUploadIDLen = 64

// ValidateDigest accepts only "sha256:<64 lower hex>" and "sha512:<128 lower hex>".
// Drivers derive storage paths from digests, so nothing else may pass.
func ValidateDigest(d digest.Digest) error {
	alg, hex, _ := strings.Cut(string(d), ":")
	want := 0
	switch alg {
	case "sha256":
		want = 64
	case "sha512":
		want = 128
	}
	if want == 0 || len(hex) != want || !isLowerHex(hex) {
		return fmt.Errorf("%w: %.140q", ErrInvalidDigest, string(d))
	}
	return nil
}

// ValidateUploadID accepts 1..64 characters of [A-Za-z0-9_-]. Drivers derive
// storage paths from ids, so dots, slashes and escapes must never pass.
func ValidateUploadID(id string) error {
	ok := len(id) > 0 && len(id) <= maxUploadIDLen
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: %.80q", ErrInvalidID, id)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Reader reads a blob or upload. The filesystem driver returns *os.File so
// that net/http can serve it with sendfile.
type Reader interface {
	io.ReadSeekCloser
}

// UploadWriter appends one chunk to an upload.
type UploadWriter interface {
	io.Writer
	// Commit stores the chunk and returns the upload's state after it: the caller records the
	// state with the upload's session and hands it to the next UploadWriter, UploadReader or
	// CommitUpload of the upload, whichever process makes that call. Until a state is recorded
	// its chunk counts as never written: the next writer, given the previous state, writes over
	// it. After Commit, UploadSize and other processes sharing the storage see the data. Upload
	// data need not be durable (CommitUpload makes the blob durable), so drivers may skip fsync
	// here.
	Commit() (state []byte, err error)
	// Abort gives up the chunk; the upload stays as the previous state describes it. It does
	// nothing after Commit.
	Abort() error
}

// BlobWriter writes a new blob straight to where it is stored, for content sent whole (a
// monolithic upload): no upload area, no copy. The bytes become the blob only at Commit, which
// the caller calls after verifying them against the digest; Abort, or a crash before Commit,
// leaves nothing visible.
type BlobWriter interface {
	io.Writer
	// Commit makes the bytes written so far the blob, atomically and durably. A blob that
	// already exists with the same size is kept and the new copy discarded; one of another
	// size is corrupt and replaced.
	Commit() error
	// Abort discards the bytes. It does nothing after Commit.
	Abort() error
}

// Store is a blob storage driver. All methods are safe for concurrent use,
// except that a single upload id must not be written by two callers at once;
// the registry serialises work on one upload through its metadata.
//
// The chunks of one upload may reach different processes (replicas sharing the
// storage), so a driver keeps nothing about an upload in memory between calls:
// what it needs to continue or finish an upload beyond the data itself (an object
// store's multipart upload id and part list, say) goes into the state that
// UploadWriter's Commit returns, which the registry keeps with the upload session
// in its metadata store and passes back.
type Store interface {
	// Stat returns the size of a committed blob (ErrNotFound if absent).
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns a reader on a committed blob (ErrNotFound if absent).
	Open(ctx context.Context, d digest.Digest) (Reader, error)
	// Put stores a blob whose bytes the caller has already verified
	// against d, atomically and durably. It is idempotent.
	Put(ctx context.Context, d digest.Digest, data []byte) error
	// Create starts writing blob d directly (see BlobWriter); the caller verifies the bytes
	// against d before it commits them.
	Create(ctx context.Context, d digest.Digest) (BlobWriter, error)
	// Delete removes a committed blob (ErrNotFound if absent).
	Delete(ctx context.Context, d digest.Digest) error
	// Walk calls fn for every committed blob, in no particular order, and
	// stray for every entry in blob storage that is not a well-formed blob
	// (stray may be nil). An error from fn or stray stops the walk and is
	// returned.
	Walk(ctx context.Context, fn func(d digest.Digest, size int64) error, stray func(path string) error) error

	// UploadWriter opens upload id to append a chunk at offset, creating the upload when
	// offset is 0. state is what the Commit of the upload's last recorded chunk returned (nil
	// before the first). Stored data beyond offset (left by a process that died mid-chunk, or
	// whose chunk was not recorded) is dropped; data shorter than offset yields ErrOffset, a
	// missing upload with a non-zero offset ErrNotFound.
	UploadWriter(ctx context.Context, id string, offset int64, state []byte) (UploadWriter, error)
	// UploadReader reads the upload data that state describes, from the start. The caller
	// reads no further than the size it recorded: the data of a chunk that was written but
	// never recorded may follow.
	UploadReader(ctx context.Context, id string, state []byte) (Reader, error)
	// UploadSize returns the current length of the upload data (ErrNotFound if there is no
	// such upload). Like DeleteUpload and Uploads it needs no state, so that maintenance can
	// inspect uploads whose session is gone.
	UploadSize(ctx context.Context, id string) (int64, error)
	// CommitUpload durably moves the first size bytes of the upload data that state describes
	// to the blob location for d, which the caller has verified, and removes the upload. If
	// the blob already exists the upload is simply discarded. An upload shorter than size
	// yields ErrOffset. After a crash at any point, the blob either holds the complete content
	// or does not exist.
	CommitUpload(ctx context.Context, id string, state []byte, d digest.Digest, size int64) error
	// DeleteUpload removes an upload; a missing upload is not an error.
	DeleteUpload(ctx context.Context, id string) error
	// Uploads calls fn for every upload with its last modification time,
	// so abandoned uploads can be expired.
	Uploads(ctx context.Context, fn func(id string, modified time.Time) error) error
	// Ping checks that the storage is reachable and writable.
	Ping(ctx context.Context) error
}

// Optional abilities: a driver that has one implements the interface, and callers discover it
// by type assertion, so the Store contract stays what every driver can do.

// Redirector is a Store that can send clients elsewhere for a blob's bytes, such as to a
// pre-signed URL of an object store, so that pulls do not pass through the registry.
type Redirector interface {
	// RedirectURL returns a URL where an HTTP GET, with or without a Range header, fetches
	// blob d for a while (ErrNotFound if the blob is absent).
	RedirectURL(ctx context.Context, d digest.Digest) (string, error)
}

// UsageReporter is a Store whose storage has a size: a disk has one, an object store bucket
// does not.
type UsageReporter interface {
	// Usage returns the total size of the storage and the bytes still free for the registry
	// to write.
	Usage(ctx context.Context) (total, free uint64, err error)
}

// ModTimeWalker is a Store that can tell, while walking, when each blob was last written:
// maintenance must leave alone objects so new that their upload may still be recording them.
type ModTimeWalker interface {
	// WalkModTime is Walk with each blob's last modification time.
	WalkModTime(ctx context.Context, fn func(d digest.Digest, size int64, modified time.Time) error, stray func(path string) error) error
}
