package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/meta"
)

// Upload sessions follow the distribution spec: POST opens one, PATCH appends (in order, each
// chunk starting where the last ended), PUT with ?digest= closes it. After every chunk the hash
// state and the blob store's state of the upload are saved with the session row, so another
// replica, or this one after a restart, continues hashing and storing where the last chunk
// ended without re-reading the data.

func newHash(alg string) (hash.Hash, error) {
	switch alg {
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, errorf(CodeDigestInvalid, "unsupported digest algorithm %q: use sha256 or sha512", alg)
}

func restoreHash(u meta.Upload) (hash.Hash, error) {
	h, err := newHash(u.HashAlg)
	if err != nil {
		return nil, err
	}
	if len(u.HashState) > 0 {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
			return nil, fmt.Errorf("upload %s: restore hash state: %w", u.ID, err)
		}
	}
	return h, nil
}

func hashState(h hash.Hash) ([]byte, error) {
	return h.(encoding.BinaryMarshaler).MarshalBinary()
}

func newUploadID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSession is an upload session of repo hashing with alg, not yet stored.
func newSession(repo, alg string) (meta.Upload, error) {
	h, err := newHash(alg)
	if err != nil {
		return meta.Upload{}, err
	}
	state, err := hashState(h)
	if err != nil {
		return meta.Upload{}, err
	}
	return meta.Upload{ID: newUploadID(), Repository: repo, HashAlg: alg, HashState: state}, nil
}

// StartUpload opens an upload session in the repository. It hashes with sha256, the digest
// nearly every client completes with; a sha512 digest is checked by reading the data once more
// at completion.
func (s *Service) StartUpload(ctx context.Context, repo string) (meta.Upload, error) {
	u, err := newSession(repo, "sha256")
	if err != nil {
		return meta.Upload{}, err
	}
	if err := s.DB.CreateUpload(ctx, u); err != nil {
		return meta.Upload{}, err
	}
	return u, nil
}

// lockUpload serialises requests on one upload session within this process. Entries are
// reference-counted so the table holds only sessions with a request in flight.
func (s *Service) lockUpload(id string) func() {
	s.uploadLocksMu.Lock()
	if s.uploadLocks == nil {
		s.uploadLocks = map[string]*uploadLock{}
	}
	l := s.uploadLocks[id]
	if l == nil {
		l = &uploadLock{}
		s.uploadLocks[id] = l
	}
	l.users++
	s.uploadLocksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.uploadLocksMu.Lock()
		if l.users--; l.users == 0 {
			delete(s.uploadLocks, id)
		}
		s.uploadLocksMu.Unlock()
	}
}

type uploadLock struct {
	mu    sync.Mutex
	users int // requests holding or waiting for mu; guarded by Service.uploadLocksMu
}

// Upload returns the session, which must belong to the repository.
func (s *Service) Upload(ctx context.Context, repo, id string) (meta.Upload, error) {
	if blob.ValidateUploadID(id) != nil {
		return meta.Upload{}, errorf(CodeBlobUploadUnknown, "upload %q unknown", id)
	}
	u, err := s.DB.Upload(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && u.Repository != repo) {
		return meta.Upload{}, errorf(CodeBlobUploadUnknown, "upload %s unknown to repository %s", id, repo)
	}
	return u, err
}

// AppendUpload writes a chunk to the session. start is where the client says the chunk begins
// (-1 when it sent no Content-Range: a streamed chunk goes at the end). A chunk that does not
// start exactly at the current end is refused with RANGE_INVALID (416).
func (s *Service) AppendUpload(ctx context.Context, repo, id string, start int64, body io.Reader) (meta.Upload, error) {
	unlock := s.lockUpload(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return u, err
	}
	if start >= 0 && start != u.Size {
		return u, &Error{Code: CodeRangeInvalid, Message: fmt.Sprintf("chunk starts at %d but the upload has %d bytes", start, u.Size), Detail: u.Size}
	}
	return s.appendLocked(ctx, u, body)
}

func (s *Service) appendLocked(ctx context.Context, u meta.Upload, body io.Reader) (meta.Upload, error) {
	from := u.Size
	u, err := s.writeChunk(ctx, u, body)
	if err != nil || u.Size == from {
		return u, err
	}
	if err := s.DB.AdvanceUpload(ctx, u, from); err != nil {
		if errors.Is(err, meta.ErrConcurrentUpdate) {
			return u, &Error{Code: CodeRangeInvalid, Message: "the upload was changed by another request", Detail: from}
		}
		return u, err
	}
	return u, nil
}

// copyBuffers are the buffers chunks are copied through: large, because hashing and writing
// in 32 KiB pieces costs more system calls than the data is worth.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writeChunk appends body to the upload's data and returns the session as it is in memory
// afterwards (size, hash state and store state); recording it is the caller's choice.
func (s *Service) writeChunk(ctx context.Context, u meta.Upload, body io.Reader) (meta.Upload, error) {
	h, err := restoreHash(u)
	if err != nil {
		return u, err
	}
	w, err := s.Blobs.UploadWriter(ctx, u.ID, u.Size, u.StoreState)
	if err != nil {
		return u, fmt.Errorf("upload %s: %w", u.ID, err)
	}
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(w, h), body, *buf)
	copyBuffers.Put(buf)
	if err != nil {
		// Nothing is recorded: the next chunk (or retry) starts from the recorded state, and
		// the store drops whatever part of this one it received.
		w.Abort()
		return u, fmt.Errorf("upload %s: write chunk: %w", u.ID, err)
	}
	stored, err := w.Commit()
	if err != nil {
		return u, fmt.Errorf("upload %s: write chunk: %w", u.ID, err)
	}
	if n == 0 {
		return u, nil
	}
	state, err := hashState(h)
	if err != nil {
		return u, err
	}
	u.Size += n
	u.HashState = state
	u.StoreState = stored
	return u, nil
}

// FinishUpload appends the final chunk (possibly empty), verifies the digest and commits the
// blob into the repository. On a digest mismatch the session and its data are removed: nothing
// of it is ever visible as a blob.
func (s *Service) FinishUpload(ctx context.Context, projectID int64, repo, id, dgst string, start int64, body io.Reader) (digest.Digest, error) {
	d, err := ParseDigest(dgst)
	if err != nil {
		return "", err
	}
	unlock := s.lockUpload(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return "", err
	}
	if start >= 0 && start != u.Size {
		return "", &Error{Code: CodeRangeInvalid, Message: fmt.Sprintf("chunk starts at %d but the upload has %d bytes", start, u.Size), Detail: u.Size}
	}
	if u.Size == 0 {
		// Nothing was sent before this request: the whole blob is in its body.
		return d, s.putWhole(ctx, projectID, repo, u.ID, d, body)
	}
	// The final chunk is not recorded on its own: the commit below ends the session, and if
	// it fails the session still says where the last recorded chunk ended.
	if u, err = s.writeChunk(ctx, u, body); err != nil {
		return "", err
	}
	return d, s.completeUpload(ctx, projectID, repo, u, d)
}

// PutBlob stores a blob sent whole in one request (POST ?digest=), without an upload session.
func (s *Service) PutBlob(ctx context.Context, projectID int64, repo, dgst string, body io.Reader) (digest.Digest, error) {
	d, err := ParseDigest(dgst)
	if err != nil {
		return "", err
	}
	return d, s.putWhole(ctx, projectID, repo, "", d, body)
}

// putWhole stores a blob whose bytes all come in body, ending session id (none when empty).
// The bytes go straight to where the blob is stored, hashed on the way, and become the blob
// only once verified and within the quota; a failure or a crash before that leaves nothing,
// and the session (still empty) may be sent again.
func (s *Service) putWhole(ctx context.Context, projectID int64, repo, id string, d digest.Digest, body io.Reader) error {
	h, err := newHash(d.Algorithm().String())
	if err != nil {
		return err
	}
	w, err := s.Blobs.Create(ctx, d)
	if err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(w, h), body, *buf)
	copyBuffers.Put(buf)
	if err != nil {
		w.Abort()
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	sum := digest.NewDigestFromBytes(d.Algorithm(), h.Sum(nil))
	if err := s.admit(ctx, projectID, id, d, sum, n); err != nil {
		w.Abort()
		return err
	}
	if err := w.Commit(); err != nil {
		return err
	}
	return s.linkStored(ctx, projectID, repo, id, d, n)
}

// completeUpload verifies the data of u against d, checks the quota, commits the blob and
// links it, ending the session.
func (s *Service) completeUpload(ctx context.Context, projectID int64, repo string, u meta.Upload, d digest.Digest) error {
	sum, err := s.uploadDigest(ctx, u, d.Algorithm().String())
	if err != nil {
		return err
	}
	if err := s.admit(ctx, projectID, u.ID, d, sum, u.Size); err != nil {
		return err
	}
	if err := s.Blobs.CommitUpload(ctx, u.ID, u.StoreState, d, u.Size); err != nil {
		return fmt.Errorf("commit blob %s: %w", d, err)
	}
	return s.linkStored(ctx, projectID, repo, u.ID, d, u.Size)
}

// admit decides whether content that hashed to sum may become blob d: it must match, and fit
// the project's quota. A refused upload's session (id, when not empty) ends and its data goes:
// nothing of a refused push stays behind.
func (s *Service) admit(ctx context.Context, projectID int64, id string, d, sum digest.Digest, size int64) error {
	if sum != d {
		s.discardUpload(ctx, id)
		return errorf(CodeDigestInvalid, "digest %s does not match the uploaded content (%s)", d, sum)
	}
	if err := s.checkBlobQuota(ctx, projectID, d.String(), size); err != nil {
		if denied := quotaDenied(err); denied != nil {
			s.discardUpload(ctx, id)
			return denied
		}
		return err
	}
	return nil
}

// checkBlobQuota is the early quota check at upload completion (the binding one runs in the
// manifest transaction that charges the blob, so this one may read the cached configuration).
// Most projects have no limit: the registry remembers which for a moment rather than ask for
// every blob.
func (s *Service) checkBlobQuota(ctx context.Context, projectID int64, d string, size int64) error {
	c, err := s.Config.CachedSystemConfig(ctx)
	if err != nil || !c.QuotaPerProjectEnable {
		return err
	}
	s.subscribe()
	_, gen, ok := s.unlimited.get(projectID)
	if ok {
		return nil
	}
	limited, err := s.DB.CheckBlobQuota(ctx, projectID, d, size)
	if err == nil && !limited {
		s.unlimited.put(projectID, true, gen)
	}
	return err
}

// linkStored records blob d, now stored, in the repository and ends session id.
func (s *Service) linkStored(ctx context.Context, projectID int64, repo, id string, d digest.Digest, size int64) error {
	err := s.DB.LinkUploadedBlob(ctx, projectID, repo, d.String(), size, id, s.objectPresent(ctx, d))
	if errors.Is(err, meta.ErrBlobCollected) {
		// Garbage collection removed an older copy of this blob just as it was stored again:
		// the data is gone with it, and the client must send it once more.
		s.discardUpload(ctx, id)
		return errorf(CodeBlobUploadInvalid, "blob %s was being garbage-collected while it was uploaded; upload it again", d)
	}
	return err
}

// objectPresent confirms, inside the transaction that records a new blob row, that the stored
// object exists with the size recorded.
func (s *Service) objectPresent(ctx context.Context, d digest.Digest) func() error {
	return func() error {
		_, err := s.Blobs.Stat(ctx, d)
		return err
	}
}

// uploadDigest returns the digest of the session's data with the requested algorithm, from the
// saved hash state when it matches, otherwise by reading the data once more.
func (s *Service) uploadDigest(ctx context.Context, u meta.Upload, alg string) (digest.Digest, error) {
	h, err := restoreHash(u)
	if err != nil {
		return "", err
	}
	if u.HashAlg != alg {
		if h, err = newHash(alg); err != nil {
			return "", err
		}
		r, err := s.Blobs.UploadReader(ctx, u.ID, u.StoreState)
		if err != nil {
			return "", fmt.Errorf("upload %s: %w", u.ID, err)
		}
		_, err = io.Copy(h, io.LimitReader(r, u.Size))
		r.Close()
		if err != nil {
			return "", fmt.Errorf("upload %s: rehash: %w", u.ID, err)
		}
	}
	return digest.NewDigestFromBytes(digest.Algorithm(alg), h.Sum(nil)), nil
}

// discardUpload ends session id (none when empty) and removes its data.
func (s *Service) discardUpload(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if err := s.DB.DeleteUpload(ctx, id); err != nil && !errors.Is(err, meta.ErrNotFound) {
		s.Log.WarnContext(ctx, "discard upload", "upload", id, "err", err)
	}
	if err := s.Blobs.DeleteUpload(ctx, id); err != nil {
		s.Log.WarnContext(ctx, "discard upload data", "upload", id, "err", err)
	}
}

// CancelUpload ends a session and removes its data.
func (s *Service) CancelUpload(ctx context.Context, repo, id string) error {
	unlock := s.lockUpload(id)
	defer unlock()
	if _, err := s.Upload(ctx, repo, id); err != nil {
		return err
	}
	s.discardUpload(ctx, id)
	return nil
}

// Mount links a blob of another repository into repo. The caller has checked that it may pull
// from `from`. It returns false when the source does not have the blob, in which case the
// client gets an ordinary upload session instead.
func (s *Service) Mount(ctx context.Context, projectID int64, repo, from, dgst string) (bool, error) {
	d, err := ParseDigest(dgst)
	if err != nil {
		return false, err
	}
	size, err := s.DB.LinkedBlobSize(ctx, from, d.String())
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := s.Blobs.Stat(ctx, d); err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	err = s.DB.LinkBlob(ctx, projectID, repo, d.String(), size, s.objectPresent(ctx, d))
	if errors.Is(err, meta.ErrBlobCollected) {
		return false, nil // collected meanwhile: the client uploads it instead
	}
	return err == nil, err
}
