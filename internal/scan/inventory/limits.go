package inventory

import "fmt"

// Limits bound what a hostile or broken image can cost a scan, in disk space, memory and
// time. A zero field selects the default (DefaultLimits); a negative one removes that limit.
// Exceeding a limit ends Extract with a *LimitError naming it.
//
// The bounds come in three scopes:
//
//   - per file: MaxFileBytes, MaxDatabaseBytes and MaxManifestBytes (how large a kept file may
//     be, by what reads it), MaxFilePackages (how many packages one file may list);
//   - per layer: MaxLayerBytes and MaxCompressionRatio;
//   - per image: MaxEntries, MaxTotalBytes, MaxKeptFiles, MaxNameBytes and MaxPackages.
//
// What all the scans of a process share (scratch space, parse slots) is a Budget.
//
// The osv-scalibr extractors hold every package of a file in memory, and some read a whole
// file (package.json, Cargo.lock) or a whole embedded section (cargo-auditable) before
// parsing. The byte limits bound what they read; the package limits, checked by a streaming
// count before an extractor is given a file (checks.go), bound what they keep.
type Limits struct {
	// ScratchDir is where the scratch directory is created; "" is os.TempDir().
	ScratchDir string
	// Budget is shared by the scans of a process: a total for their scratch space and slots
	// for their parses. nil shares nothing (each scan is bounded only by its own Limits).
	Budget *Budget

	// MaxFileBytes is the largest file kept in the scratch directory: executables, rpm
	// databases, Python archives. An executable that only the Go and cargo-auditable
	// extractors would read is skipped with a Problem instead: native libraries of hundreds
	// of megabytes (CUDA) are common and carry no Go or Rust build information, and should
	// not fail the scan.
	MaxFileBytes int64
	// MaxDatabaseBytes is the largest text package database (dpkg status and status.d files,
	// the apk installed database). The largest real ones, of images with thousands of
	// packages, are a few megabytes.
	MaxDatabaseBytes int64
	// MaxManifestBytes is the largest language manifest (package.json, Python metadata, a
	// gemspec, Cargo.lock) and the largest dependency list embedded in an executable or a
	// Python archive, decompressed. Those are read whole before they are parsed.
	MaxManifestBytes int64
	// MaxFilePackages is the most packages one file (a package database, a manifest, an
	// executable) may list.
	MaxFilePackages int64

	// MaxLayerBytes is the most bytes one layer may decompress to.
	MaxLayerBytes int64
	// MaxCompressionRatio is the most a layer may expand (decompressed to compressed bytes),
	// checked once it has produced ratioFloor bytes: a decompression bomb fails early,
	// before MaxLayerBytes. A layer that is mostly zeros (a sparse lastlog file) can trip it.
	MaxCompressionRatio int64

	// MaxEntries is the most archive entries (files, directories, links) over all layers.
	MaxEntries int64
	// MaxTotalBytes is the most the scratch directory of one scan holds at once.
	MaxTotalBytes int64
	// MaxKeptFiles is the most files the scratch directory of one scan holds at once.
	MaxKeptFiles int64
	// MaxNameBytes bounds the memory the scratch tree's index takes: the bytes of the names of
	// what it holds (files, directories, every symbolic link of the image, and their targets).
	MaxNameBytes int64
	// MaxPackages is the most packages an image's inventory may hold, over all its files.
	MaxPackages int64
}

// ratioFloor is how much a layer must decompress to before MaxCompressionRatio applies, so
// that small, very compressible layers (a few configuration files) are not refused.
const ratioFloor = 64 << 20

// DefaultLimits are the limits a zero Limits field stands for. Each is far above what real
// images need (docs/operations.md compares them with the largest images of the common
// distributions), and low enough that the worst input they admit is parsed in bounded memory.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes:        512 << 20,
		MaxDatabaseBytes:    64 << 20,
		MaxManifestBytes:    4 << 20,
		MaxFilePackages:     50_000,
		MaxLayerBytes:       32 << 30,
		MaxCompressionRatio: 500,
		MaxEntries:          1_000_000,
		MaxTotalBytes:       4 << 30,
		MaxKeptFiles:        200_000,
		MaxNameBytes:        64 << 20,
		MaxPackages:         100_000,
	}
}

// WithDefaults returns l with its zero fields set to their defaults, and its negative ones to
// zero (no limit).
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int64) int64 {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0 // no limit
		}
		return v
	}
	l.MaxFileBytes = pick(l.MaxFileBytes, d.MaxFileBytes)
	l.MaxDatabaseBytes = pick(l.MaxDatabaseBytes, d.MaxDatabaseBytes)
	l.MaxManifestBytes = pick(l.MaxManifestBytes, d.MaxManifestBytes)
	l.MaxFilePackages = pick(l.MaxFilePackages, d.MaxFilePackages)
	l.MaxLayerBytes = pick(l.MaxLayerBytes, d.MaxLayerBytes)
	l.MaxCompressionRatio = pick(l.MaxCompressionRatio, d.MaxCompressionRatio)
	l.MaxEntries = pick(l.MaxEntries, d.MaxEntries)
	l.MaxTotalBytes = pick(l.MaxTotalBytes, d.MaxTotalBytes)
	l.MaxKeptFiles = pick(l.MaxKeptFiles, d.MaxKeptFiles)
	l.MaxNameBytes = pick(l.MaxNameBytes, d.MaxNameBytes)
	l.MaxPackages = pick(l.MaxPackages, d.MaxPackages)
	return l
}

// Bounds of the file formats themselves, not configurable: real files stay orders of
// magnitude below them, and the parsers' memory grows with them.
const (
	// maxEntryBytes and maxEntryLines bound one entry (paragraph) of a dpkg or apk database
	// and one rpm header. The largest real ones are apk entries listing the files of big
	// packages (tens of thousands of lines, a few megabytes) and rpm headers of the same
	// packages.
	maxEntryBytes = 16 << 20
	maxEntryLines = 200_000
	// maxOSReleaseBytes bounds an os-release file (a few hundred bytes in practice), which
	// every operating system extractor reads again.
	maxOSReleaseBytes = 64 << 10
	// maxNameLength is Linux's PATH_MAX: no container runtime can create a longer name.
	maxNameLength = 4096
	// maxPathDepth bounds how many directories deep a name is, in the archive or once its
	// symbolic links are resolved: creating a file walks its directories one by one, and
	// the deepest real trees (nested node_modules) are some tens of levels deep.
	maxPathDepth = 256
)

// LimitError reports that an image exceeded one of its Limits, or a bound of a file format.
type LimitError struct {
	Limit string // the Limits field (e.g. "MaxFilePackages") or format bound exceeded
	Max   int64
	// Path is the file in the image the limit was exceeded by, if the limit is per file.
	Path string
	// What says what exceeded Max: the rest of a sentence starting with Path when there is
	// one ("holds more than 100000 packages"), a whole one otherwise ("the layer decompresses
	// to more than 34359738368 bytes").
	What string
}

func (e *LimitError) Error() string {
	what := e.What
	if what == "" {
		what = fmt.Sprintf("exceeds %d", e.Max)
	}
	if e.Path != "" {
		what = e.Path + " " + what
	}
	return fmt.Sprintf("inventory limit exceeded: %s (%s)", what, e.Limit)
}

// limitErr builds a LimitError about the file at p (relative to the image root; "" for the
// image or layer as a whole).
func limitErr(limit string, max int64, p, format string, args ...any) *LimitError {
	if p != "" {
		p = "/" + p
	}
	return &LimitError{Limit: limit, Max: max, Path: p, What: fmt.Sprintf(format, args...)}
}
