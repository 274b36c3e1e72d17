package blob_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/blob"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := filepath.Join(t.TempDir(), "storage")

	_, err := blob.Open(ctx, blob.Config{Driver: blob.DriverFilesystem, Root: root, Existing: true})
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("opening missing storage as existing: %v, want ErrNotFound", err)
	}
	s, err := blob.Open(ctx, blob.Config{Driver: blob.DriverFilesystem, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*blob.FS); !ok {
		t.Fatalf("the filesystem driver opened %T", s)
	}
	if _, err := blob.Open(ctx, blob.Config{Driver: blob.DriverFilesystem, Root: root, Existing: true}); err != nil {
		t.Fatalf("opening the storage just created as existing: %v", err)
	}

	for _, driver := range []string{"", "s3", "Filesystem"} {
		_, err := blob.Open(ctx, blob.Config{Driver: driver, Root: root})
		if err == nil || !strings.Contains(err.Error(), "unknown driver") || !strings.Contains(err.Error(), "filesystem") {
			t.Errorf("driver %q: %v, want an error naming the known drivers", driver, err)
		}
	}
}
