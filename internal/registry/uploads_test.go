package registry

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/settings"
)

// statefulStore is the filesystem driver with an upload state, "<id>@<size>", that it insists
// on getting back: a chunk must start from the state the previous chunk's Commit returned, and
// reading or committing an upload needs the state of its last chunk, as an object store's
// multipart upload would.
type statefulStore struct {
	blob.Store
}

func uploadState(id string, size int64) []byte { return []byte(id + "@" + strconv.FormatInt(size, 10)) }

func checkState(id string, size int64, state []byte) error {
	if size == 0 && state == nil || bytes.Equal(state, uploadState(id, size)) {
		return nil
	}
	return fmt.Errorf("upload %s at %d: state %q, want %q", id, size, state, uploadState(id, size))
}

func (s statefulStore) UploadWriter(ctx context.Context, id string, offset int64, state []byte) (blob.UploadWriter, error) {
	if err := checkState(id, offset, state); err != nil {
		return nil, err
	}
	w, err := s.Store.UploadWriter(ctx, id, offset, nil)
	if err != nil {
		return nil, err
	}
	return &statefulWriter{UploadWriter: w, id: id, size: offset}, nil
}

func (s statefulStore) UploadReader(ctx context.Context, id string, state []byte) (blob.Reader, error) {
	size, err := s.UploadSize(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := checkState(id, size, state); err != nil {
		return nil, err
	}
	return s.Store.UploadReader(ctx, id, nil)
}

func (s statefulStore) CommitUpload(ctx context.Context, id string, state []byte, d digest.Digest, size int64) error {
	if err := checkState(id, size, state); err != nil {
		return err
	}
	return s.Store.CommitUpload(ctx, id, nil, d, size)
}

type statefulWriter struct {
	blob.UploadWriter
	id   string
	size int64
}

func (w *statefulWriter) Write(p []byte) (int, error) {
	n, err := w.UploadWriter.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *statefulWriter) Commit() ([]byte, error) {
	if _, err := w.UploadWriter.Commit(); err != nil {
		return nil, err
	}
	return uploadState(w.id, w.size), nil
}

// TestUploadStoreStateTravelsWithTheSession: the chunks of an upload reach two replicas, each
// with its own Store over the same storage; every chunk, the final PUT and a digest that needs
// the data read again get the store state of the last recorded chunk, from the session row.
func TestUploadStoreStateTravelsWithTheSession(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		pid := metatest.NewProject(t, db, "alice", "proj")
		const repo = "proj/app"
		root := filepath.Join(t.TempDir(), "storage")
		replica := func() *Service {
			fs, err := blob.NewFS(root)
			if err != nil {
				t.Fatal(err)
			}
			return &Service{DB: db, Blobs: statefulStore{fs}, Log: slog.New(slog.DiscardHandler), Config: &settings.Service{Store: db}}
		}
		a, b := replica(), replica()

		for _, alg := range []string{"sha256", "sha512"} {
			u, err := a.StartUpload(ctx, repo)
			if err != nil {
				t.Fatal(err)
			}
			var all []byte
			for i, s := range []*Service{a, b, a} {
				chunk := []byte(strings.Repeat(fmt.Sprintf("%s chunk %d;", alg, i), 1000))
				start := int64(len(all))
				if i == 1 {
					start = -1 // streamed: goes at the end
				}
				if _, err := s.AppendUpload(ctx, repo, u.ID, start, bytes.NewReader(chunk)); err != nil {
					t.Fatalf("%s chunk %d: %v", alg, i, err)
				}
				all = append(all, chunk...)
			}
			last := []byte("the end")
			all = append(all, last...)
			want := digest.FromBytes(all)
			if alg == "sha512" {
				sum := sha512.Sum512(all)
				want = digest.NewDigestFromEncoded(digest.SHA512, hex.EncodeToString(sum[:]))
			}
			d, err := b.FinishUpload(ctx, pid, repo, u.ID, want.String(), int64(len(all)-len(last)), bytes.NewReader(last))
			if err != nil || d != want {
				t.Fatalf("%s finish: %s, %v", alg, d, err)
			}
			r, size, err := a.OpenBlob(ctx, repo, d.String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || size != int64(len(all)) || !bytes.Equal(got, all) {
				t.Fatalf("%s blob: %d bytes (size %d), %v; want %d bytes", alg, len(got), size, err, len(all))
			}
		}
	})
}
