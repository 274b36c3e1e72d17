//go:build !(linux || darwin)

package api

import "errors"

// errNoDiskUsage means the platform cannot report a filesystem's size.
var errNoDiskUsage = errors.New("volume information is not available on this platform")

func diskUsage(string) (total, free uint64, err error) { return 0, 0, errNoDiskUsage }
