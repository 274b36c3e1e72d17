//go:build linux || darwin

package blob

import (
	"context"
	"fmt"
	"syscall"
)

var _ UsageReporter = (*FS)(nil)

// Usage implements UsageReporter for the filesystem holding the root: free is what
// unprivileged writers may still use, as df shows it. Other platforms have no portable statfs,
// so there the driver lacks the ability.
func (f *FS) Usage(ctx context.Context) (total, free uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("blob store usage: %w", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.root, &st); err != nil {
		return 0, 0, fmt.Errorf("blob store usage of %s: %w", f.root, err)
	}
	bs := uint64(st.Bsize)
	return uint64(st.Blocks) * bs, uint64(st.Bavail) * bs, nil
}
