package inventory

// Fuzz targets of the parsers Berth owns in the scan path. Their seed corpora are in
// testdata/fuzz/<target>; go test runs them as ordinary tests, and
// go test -run XXX -fuzz <target> ./internal/scan/inventory/ explores further.

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/rust-secure-code/go-rustaudit"
)

// hangAfter fails an input that runs this long: the fuzzer does not notice a hung input by
// itself. The watchdog panics in a goroutine of its own, which ends the process, so the
// fuzzer records the input as a failure. It is orders of magnitude above what any input
// takes.
const hangAfter = time.Minute

// watchdog starts the timer of one input; the returned function stops it.
func watchdog(target string, args ...[]byte) func() {
	t := time.AfterFunc(hangAfter, func() {
		panic(fmt.Sprintf("%s: an input of %d bytes still runs after %v", target, len(bytes.Join(args, nil)), hangAfter))
	})
	return func() { t.Stop() }
}

// fuzzLimits are small, so that an input cannot make one run slow.
var fuzzLimits = Limits{
	MaxFileBytes:     256 << 10,
	MaxDatabaseBytes: 64 << 10,
	MaxManifestBytes: 64 << 10,
	MaxFilePackages:  500,
	MaxLayerBytes:    4 << 20,
	MaxEntries:       10_000,
	MaxTotalBytes:    1 << 20,
	MaxKeptFiles:     1000,
	MaxNameBytes:     1 << 20,
	MaxPackages:      1000,
}

// FuzzExtractLayers applies two layers of any content (tar, or gzip or zstd compressed tar,
// told apart by their first bytes): Extract must end, without a panic, leaving nothing in
// its scratch directory and writing nothing outside it.
func FuzzExtractLayers(f *testing.F) {
	f.Fuzz(func(t *testing.T, first, second []byte) {
		defer watchdog("FuzzExtractLayers", first, second)()
		base := t.TempDir()
		lim := fuzzLimits
		lim.ScratchDir = filepath.Join(base, "scratch")
		sentinel := filepath.Join(base, "sentinel")
		for _, d := range []string{lim.ScratchDir, sentinel} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		layer := func(b []byte) Layer {
			return Layer{Digest: "sha256:fuzz", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		inv, err := Extract(ctx, []Layer{layer(first), layer(second)}, lim)
		if err == nil && int64(len(inv.Packages)) > lim.MaxPackages {
			t.Errorf("%d packages, over MaxPackages %d", len(inv.Packages), lim.MaxPackages)
		}
		assertEmpty(t, lim.ScratchDir)
		assertEmpty(t, sentinel)
	})
}

// FuzzCountParagraphs compares the streaming paragraph count with a plain one: the runs of
// lines that are neither "" nor "\r".
func FuzzCountParagraphs(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog("FuzzCountParagraphs", data)()
		var want int64
		in := false
		for _, line := range strings.Split(string(data), "\n") {
			empty := line == "" || line == "\r"
			if !empty && !in {
				want++
			}
			in = !empty
		}
		got, err := countParagraphs(context.Background(), bytes.NewReader(data), 1<<40, "status")
		var le *LimitError
		if errors.As(err, &le) {
			return // a paragraph over maxEntryBytes or maxEntryLines
		}
		if err != nil || got != want {
			t.Fatalf("countParagraphs = %d, %v; want %d", got, err, want)
		}
		if max := want - 1; max >= 0 {
			if got, _ := countParagraphs(context.Background(), bytes.NewReader(data), max, "status"); got != max+1 {
				t.Fatalf("with a limit of %d: %d, want it to stop at %d", max, got, max+1)
			}
		}
	})
}

// FuzzRPMDatabase reads any bytes as an NDB or Berkeley DB rpm database (SQLite is left to
// SQLite): the reader must end without a panic, handing on headers no larger than the file.
func FuzzRPMDatabase(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog("FuzzRPMDatabase", data)()
		if bytes.HasPrefix(data, []byte("SQLite format 3\x00")) {
			return
		}
		readRPMDB(context.Background(), "", bytes.NewReader(data), int64(len(data)), func(h []byte) error {
			if len(h) > len(data) || len(h) > maxEntryBytes {
				t.Fatalf("a header of %d bytes from %d", len(h), len(data))
			}
			parseRPMHeader(h)
			return nil
		})
	})
}

// FuzzRPMHeader parses any bytes as an rpm header: no panic, and strings without NUL.
func FuzzRPMHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, h []byte) {
		defer watchdog("FuzzRPMHeader", h)()
		p, err := parseRPMHeader(h)
		if err != nil {
			return
		}
		for _, s := range []string{p.name, p.version, p.release, p.arch, p.sourceRPM, p.license, p.vendor} {
			if strings.IndexByte(s, 0) >= 0 || len(s) > len(h) {
				t.Fatalf("field %q of a header of %d bytes", s, len(h))
			}
		}
	})
}

// FuzzGoBuildInfo checks any bytes as a Go executable. When the check lets it through,
// debug/buildinfo must read no more than the check measured: a version within
// MaxManifestBytes and no more modules than the check counted.
func FuzzGoBuildInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog("FuzzGoBuildInfo", data)()
		in := checkInput{ctx: context.Background(), path: "bin", f: bytes.NewReader(data), info: sizeInfo(len(data)),
			lim: fuzzLimits, maxPackages: fuzzLimits.MaxFilePackages}
		n, err := checkGoBinary(in)
		if err != nil || n > in.maxPackages {
			return
		}
		bi, err := buildinfo.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		if n < 1 || int64(len(bi.GoVersion)) > fuzzLimits.MaxManifestBytes || int64(len(bi.Deps)) > n {
			t.Fatalf("the check measured %d packages; debug/buildinfo read version %.40q and %d modules", n, bi.GoVersion, len(bi.Deps))
		}
	})
}

// FuzzCargoAuditable checks any bytes as an executable with cargo-auditable data. When the
// check lets it through, go-rustaudit must find no more crates than the check counted.
func FuzzCargoAuditable(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog("FuzzCargoAuditable", data)()
		in := checkInput{ctx: context.Background(), path: "bin", f: bytes.NewReader(data), info: sizeInfo(len(data)),
			lim: fuzzLimits, maxPackages: fuzzLimits.MaxFilePackages}
		n, err := checkCargoAuditable(in)
		if err != nil || n > in.maxPackages {
			return
		}
		info, err := rustaudit.GetDependencyInfo(bytes.NewReader(data))
		if err != nil {
			return
		}
		if int64(len(info.Packages)) > n {
			t.Fatalf("the check counted %d crates; go-rustaudit found %d", n, len(info.Packages))
		}
	})
}

// FuzzPythonArchive checks any bytes as a wheel. When the check lets it through, the metadata
// files the extractor would read decompress to no more than MaxManifestBytes together.
func FuzzPythonArchive(f *testing.F) {
	ex, err := wheelegg.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog("FuzzPythonArchive", data)()
		in := checkInput{ctx: context.Background(), path: "x-1-py3-none-any.whl", f: bytes.NewReader(data), info: sizeInfo(len(data)),
			lim: fuzzLimits, maxPackages: fuzzLimits.MaxFilePackages, ex: ex}
		n, err := checkPython(in)
		if err != nil || n > in.maxPackages {
			return
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var total int64
		for _, zf := range zr.File {
			if !ex.FileRequired(fileAPI{path: zf.Name, info: zf.FileInfo()}) {
				continue
			}
			r, err := zf.Open()
			if err != nil {
				continue
			}
			k, _ := io.Copy(io.Discard, io.LimitReader(r, fuzzLimits.MaxManifestBytes+1))
			r.Close()
			if total += k; total > fuzzLimits.MaxManifestBytes {
				t.Fatalf("the check let through metadata of more than %d bytes", fuzzLimits.MaxManifestBytes)
			}
		}
	})
}

// sizeInfo is a FileInfo of a file of n bytes.
type sizeInfo int

func (s sizeInfo) Name() string       { return "fuzz" }
func (s sizeInfo) Size() int64        { return int64(s) }
func (s sizeInfo) Mode() os.FileMode  { return 0o755 }
func (s sizeInfo) ModTime() time.Time { return time.Time{} }
func (s sizeInfo) IsDir() bool        { return false }
func (s sizeInfo) Sys() any           { return nil }
