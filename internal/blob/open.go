package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DriverFilesystem keeps blobs in a directory (see FS).
const DriverFilesystem = "filesystem"

// Drivers lists the names Config.Driver accepts.
var Drivers = []string{DriverFilesystem}

// Config says which driver stores the blobs, and where.
type Config struct {
	// Driver is one of Drivers.
	Driver string
	// Root is the filesystem driver's directory.
	Root string
	// Existing makes Open fail with ErrNotFound where there is no storage yet, instead of
	// creating it: a maintenance command pointed at the wrong place would otherwise find an
	// empty store and call it clean.
	Existing bool
}

// Open returns the blob store cfg describes. The server and the maintenance commands open
// their store here, so that both see the same storage for the same configuration.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	switch cfg.Driver {
	case DriverFilesystem:
		if cfg.Existing {
			// The blobs directory is the part of the layout that only a store creates.
			_, err := os.Stat(filepath.Join(cfg.Root, "blobs"))
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("open blob store: %w: no blobs directory in %s", ErrNotFound, cfg.Root)
			}
			if err != nil {
				return nil, fmt.Errorf("open blob store in %s: %w", cfg.Root, err)
			}
		}
		f, err := NewFS(cfg.Root)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	return nil, fmt.Errorf("open blob store: unknown driver %q (known: %s)", cfg.Driver, strings.Join(Drivers, ", "))
}
