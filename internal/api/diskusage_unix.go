//go:build linux || darwin

package api

import (
	"errors"
	"syscall"
)

// errNoDiskUsage means the platform cannot report a filesystem's size.
var errNoDiskUsage = errors.New("volume information is not available on this platform")

// diskUsage returns the total and available bytes of the filesystem holding dir (available to
// unprivileged writers, as df shows it).
func diskUsage(dir string) (total, free uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize)
	return uint64(st.Blocks) * bs, uint64(st.Bavail) * bs, nil
}
