package blob

// DisableTmpfile makes Create use named temp files, as on systems without O_TMPFILE.
func DisableTmpfile(f *FS) { f.tmpfile = false }

// UsesTmpfile reports whether Create writes unnamed files.
func UsesTmpfile(f *FS) bool { return f.tmpfile }
