package inventory

// Checks of files before osv-scalibr's extractors read them.
//
// An extractor keeps every package of a file in memory until it returns, and some formats
// let a small file list very many packages (a dpkg status database of one three-line
// paragraph repeated: 128 MiB of it compresses to 390 KB and made the dpkg extractor take
// 4 GB). A check reads the file first, streaming or through the format's index, in bounded
// memory, and tells how many packages the extractor can find in it at most; the file is not
// given to the extractor when that is over MaxFilePackages or would take the image over
// MaxPackages. Checks also refuse what would make an extractor's own reading unbounded: a
// paragraph of many megabytes, a file whose structure sends a parser out of its buffers.

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/google/osv-scalibr/extractor/filesystem"
)

// check looks at the file in.f before in.ex reads it. It returns how many packages the
// extractor can find in it at most, stopping at in.maxPackages+1 once over. A *LimitError
// fails the scan; another error means the extractor is not given the file, which is then a
// Problem of the inventory.
type check func(in checkInput) (int64, error)

type checkInput struct {
	ctx         context.Context
	path        string // in the image, without leading slash
	f           checkFile
	info        fs.FileInfo
	lim         Limits
	maxPackages int64 // MaxFilePackages, or math.MaxInt64 without one
	ex          filesystem.Extractor
}

// checkFile is a kept file as a check reads it: from its start, or anywhere.
type checkFile interface {
	io.Reader
	io.ReaderAt
}

func (a *applier) check(ctx context.Context, w wiredExtractor, p string, info fs.FileInfo) (int64, error) {
	f, err := a.t.root.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	maxPackages := a.lim.MaxFilePackages
	if maxPackages <= 0 {
		maxPackages = 1<<63 - 2
	}
	return w.check(checkInput{ctx: ctx, path: p, f: f, info: info, lim: a.lim, maxPackages: maxPackages, ex: w.ex})
}

// checkParagraphs counts the paragraphs of a dpkg status file or an apk installed database:
// each package is one paragraph, a run of non-empty lines. Both extractors read a paragraph
// whole (dpkg through net/textproto, apk into a slice of its lines), so a paragraph is
// bounded too, by maxEntryBytes and maxEntryLines.
func checkParagraphs(in checkInput) (int64, error) {
	return countParagraphs(in.ctx, in.f, in.maxPackages, in.path)
}

// countParagraphs reads r to its end, or until it holds more than max paragraphs. A line is
// empty when it is "" or "\r" before its "\n", as net/textproto and bufio.ScanLines read
// lines.
func countParagraphs(ctx context.Context, r io.Reader, max int64, p string) (int64, error) {
	var (
		buf        = make([]byte, 64<<10)
		n          int64 // paragraphs begun
		in         bool  // inside a paragraph
		entryBytes int64 // bytes of the current paragraph
		entryLines int64
		lineLen    int64 // bytes of the current line before its "\n"
		firstCR    bool  // the current line starts with "\r"
	)
	// nonEmpty tells whether the current line so far makes it non-empty.
	nonEmpty := func() bool { return lineLen > 1 || lineLen == 1 && !firstCR }
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := r.Read(buf)
		for chunk := buf[:k]; len(chunk) > 0; {
			seg := chunk
			end := bytes.IndexByte(chunk, '\n')
			if end >= 0 {
				seg = chunk[:end]
			}
			if lineLen == 0 && len(seg) > 0 {
				firstCR = seg[0] == '\r'
			}
			lineLen += int64(len(seg))
			if nonEmpty() {
				if !in {
					in, entryBytes, entryLines = true, 0, 0
					if n++; n > max {
						return n, nil
					}
				}
				entryBytes += int64(len(seg))
				if entryBytes > maxEntryBytes {
					return n, limitErr("maxEntryBytes", maxEntryBytes, p, "has an entry of more than %d bytes (paragraph %d)", maxEntryBytes, n)
				}
			}
			if end < 0 {
				break
			}
			if nonEmpty() {
				entryBytes++
				if entryLines++; entryLines > maxEntryLines {
					return n, limitErr("maxEntryLines", maxEntryLines, p, "has an entry of more than %d lines (paragraph %d)", maxEntryLines, n)
				}
			} else {
				in = false
			}
			lineLen, firstCR = 0, false
			chunk = chunk[end+1:]
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("read: %w", rerr)
		}
	}
}

// checkTables bounds the packages of a Cargo.lock: the extractor decodes the whole TOML
// document, and a package is a table, which takes a "[[package]]" header or an inline
// table's "{". Their count is an upper bound of the packages, whatever the layout.
func checkTables(in checkInput) (int64, error) {
	return countOpeners(in.ctx, in.f, in.maxPackages)
}

// countOpeners counts the "{" and "[[" of r (an upper bound of the tables of a TOML
// document and of the objects of a JSON one), stopping once over max.
func countOpeners(ctx context.Context, r io.Reader, max int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	prevBracket := false
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := r.Read(buf)
		for _, c := range buf[:k] {
			if c == '{' || c == '[' && prevBracket {
				if n++; n > max {
					return n, nil
				}
			}
			prevBracket = c == '['
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("read: %w", rerr)
		}
	}
}

// checkPython bounds what the python/wheelegg extractor reads of an egg or wheel archive:
// archive/zip reads its whole central directory, then the extractor reads every metadata
// file it holds (a wheel has one), decompressed. The directory must lie in the last
// MaxManifestBytes of the archive, and the metadata files it lists must not decompress to
// more than MaxManifestBytes together (archive/zip refuses to decompress a file beyond the
// size the directory gives it). A metadata file outside an archive is one package.
func checkPython(in checkInput) (int64, error) {
	if !strings.HasSuffix(in.path, ".egg") && !strings.HasSuffix(in.path, ".whl") {
		return 1, nil
	}
	size := in.info.Size()
	floor := int64(0)
	if max := in.lim.MaxManifestBytes; max > 0 {
		floor = size - max
	}
	zr, err := zip.NewReader(&tailReader{r: in.f, floor: floor}, size)
	if errors.Is(err, errBeforeTail) {
		return 0, limitErr("MaxManifestBytes", in.lim.MaxManifestBytes, in.path, "has a zip directory of more than %d bytes", in.lim.MaxManifestBytes)
	}
	if err != nil {
		return 0, fmt.Errorf("zip: %w", err)
	}
	var n int64
	var total uint64
	for _, f := range zr.File {
		if !in.ex.FileRequired(fileAPI{path: f.Name, info: f.FileInfo()}) {
			continue
		}
		if n++; n > in.maxPackages {
			return n, nil
		}
		total += f.UncompressedSize64
		if max := in.lim.MaxManifestBytes; max > 0 && total > uint64(max) {
			return n, limitErr("MaxManifestBytes", max, in.path, "holds more than %d bytes of package metadata, decompressed", max)
		}
	}
	return n, nil
}

var errBeforeTail = errors.New("read before the part of the file allowed")

// tailReader reads r from floor on only.
type tailReader struct {
	r     io.ReaderAt
	floor int64
}

func (t *tailReader) ReadAt(p []byte, off int64) (int, error) {
	if off < t.floor {
		return 0, errBeforeTail
	}
	return t.r.ReadAt(p, off)
}
