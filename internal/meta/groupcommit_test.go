package meta_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// TestGroupCommitIsolatesFailures: concurrent write transactions (on SQLite sharing commits)
// are each committed or rolled back alone: one that fails, or on SQLite panics, takes nobody
// else's work with it.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, 60)
		for i := range errs {
			wg.Go(func() {
				errs[i] = db.Tx(ctx, func(tx *meta.Tx) error {
					if _, err := tx.SetSettingIfAbsent(ctx, fmt.Sprintf("group-%d", i), "v"); err != nil {
						return err
					}
					switch i % 3 {
					case 1:
						return fmt.Errorf("refused %d", i)
					case 2:
						if db.Dialect() == "sqlite" {
							panic(fmt.Sprintf("panic %d", i))
						}
						return fmt.Errorf("refused %d", i)
					}
					return nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			_, stored, serr := db.Setting(ctx, fmt.Sprintf("group-%d", i))
			if serr != nil {
				t.Fatal(serr)
			}
			if ok := i%3 == 0; (err == nil) != ok || stored != ok {
				t.Errorf("tx %d: error %v, stored %v; want committed %v", i, err, stored, ok)
			}
		}
	})
}

// TestUploadSessionBeforeItsCommit: a session is usable as soon as CreateUpload returns, on
// SQLite before its row is committed: it is read back, advanced and deleted like any other.
func TestUploadSessionBeforeItsCommit(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		for i := range 50 {
			id := fmt.Sprintf("s%d", i)
			if err := db.CreateUpload(ctx, meta.Upload{ID: id, Repository: "proj/app", HashAlg: "sha256"}); err != nil {
				t.Fatal(err)
			}
			u, err := db.Upload(ctx, id)
			if err != nil || u.Repository != "proj/app" || u.Size != 0 || u.CreatedAt.IsZero() {
				t.Fatalf("%s read back: %+v, %v", id, u, err)
			}
			switch i % 3 {
			case 0:
				if err := db.AdvanceUpload(ctx, meta.Upload{ID: id, Size: 10, HashState: []byte("state")}, 0); err != nil {
					t.Fatalf("%s advance: %v", id, err)
				}
				if u, err := db.Upload(ctx, id); err != nil || u.Size != 10 {
					t.Fatalf("%s after advance: %+v, %v", id, u, err)
				}
			case 1:
				if err := db.DeleteUpload(ctx, id); err != nil {
					t.Fatalf("%s delete: %v", id, err)
				}
				if _, err := db.Upload(ctx, id); !errors.Is(err, meta.ErrNotFound) {
					t.Fatalf("%s after delete: %v", id, err)
				}
			}
		}
		// Every session not deleted is committed by the time a later write is.
		if err := db.Tx(ctx, func(*meta.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if n, err := db.CountUploads(ctx); err != nil || n != 50-17 {
			t.Fatalf("sessions stored: %d, %v; want %d", n, err, 50-17)
		}
	})
}

// TestClosedStoreRefusesWrites: writes after Close fail instead of waiting forever.
func TestClosedStoreRefusesWrites(t *testing.T) {
	t.Parallel()
	db := metatest.Open(t, "sqlite")
	ctx := context.Background()
	db.Close()
	if err := db.Tx(ctx, func(*meta.Tx) error { return nil }); err == nil {
		t.Error("Tx after Close succeeded")
	}
	if err := db.CreateUpload(ctx, meta.Upload{ID: "late", Repository: "proj/app", HashAlg: "sha256"}); err == nil {
		t.Error("CreateUpload after Close succeeded")
	}
}
