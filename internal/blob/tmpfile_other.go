//go:build !linux

package blob

import (
	"errors"
	"os"
)

// Unnamed files are a Linux feature; elsewhere Create writes a named temp file and renames it.

func openTmpfile(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkTmpfile(*os.File, string) error { return errors.ErrUnsupported }

// startWriteback has no portable equivalent: the final fsync writes everything.
func startWriteback(*os.File, int64, int64) {}
