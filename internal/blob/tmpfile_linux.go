package blob

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openTmpfile opens an unnamed file in dir (O_TMPFILE): it has no name until linkTmpfile
// gives it one, and the kernel frees it if the process dies first, so a crash mid-upload
// leaves nothing to clean up.
func openTmpfile(dir string) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, filePerm)
}

// linkTmpfile names an unnamed file at dst; it fails with an error satisfying
// errors.Is(err, fs.ErrExist) when dst exists. Linking through /proc/self/fd needs no
// privilege (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
func linkTmpfile(f *os.File, dst string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "linkat", Old: f.Name(), New: dst, Err: err}
	}
	return nil
}

// startWriteback asks the kernel to start writing [off, off+n) of f to disk without waiting, so
// that a large blob's final fsync finds most of it written already: receiving the next bytes and
// writing the previous ones to disk overlap instead of following each other.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
