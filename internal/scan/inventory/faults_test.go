package inventory

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// bomb is a gzip-compressed layer holding one file of 200 MB of zeros (about 200 KB).
var bomb = sync.OnceValue(func() []byte {
	const size = 200 << 20
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	zeros := make([]byte, 1<<20)
	for range size / len(zeros) {
		tw.Write(zeros)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
})

func TestFaultsFailTheScanAndLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	corruptGzip := func(t *testing.T) []Layer {
		b := gzipped(t, tarball(t, reg("var/lib/dpkg/status", "debian/status"), reg("etc/os-release", "debian/os-release")))
		b = bytes.Clone(b)
		for i := len(b) / 2; i < len(b)/2+16; i++ {
			b[i] ^= 0x55
		}
		return []Layer{blob(mtGzip, b)}
	}
	tests := []struct {
		name   string
		lim    Limits
		layers func(t *testing.T) []Layer
		is     error  // errors.Is target, or
		limit  string // the LimitError expected
	}{
		{
			name:   "corrupt gzip",
			layers: corruptGzip,
			is:     gzip.ErrChecksum, // or a flate error, checked below by message
		},
		{
			name: "not gzip at all",
			layers: func(t *testing.T) []Layer {
				return []Layer{blob(mtGzip, []byte("this is not a gzip stream"))}
			},
			is: gzip.ErrHeader,
		},
		{
			name: "truncated tar",
			layers: func(t *testing.T) []Layer {
				b := tarball(t, reg("var/lib/dpkg/status", "debian/status"))
				return []Layer{blob(mtTar, b[:1024])}
			},
			is: io.ErrUnexpectedEOF,
		},
		{
			name: "truncated gzip",
			layers: func(t *testing.T) []Layer {
				b := gzipped(t, tarball(t, reg("var/lib/dpkg/status", "debian/status")))
				return []Layer{blob(mtGzip, b[:len(b)/2])}
			},
			is: io.ErrUnexpectedEOF,
		},
		{
			name: "absolute path",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text("/etc/os-release", "ID=debian\n"))}
			},
			is: ErrUnsafePath,
		},
		{
			name: "dot-dot escape",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text("../../sentinel/var/lib/dpkg/status", "Package: x\n"))}
			},
			is: ErrUnsafePath,
		},
		{
			name: "dot-dot inside the name",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text("var/lib/../../../sentinel/os-release", "ID=x\n"))}
			},
			is: ErrUnsafePath,
		},
		{
			name: "symbolic link out of the root, then a file through it",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t, symlink("var/lib/dpkg", "../../../../sentinel")),
					gzLayer(t, reg("var/lib/dpkg/status", "debian/status")),
				}
			},
			is: ErrUnsafePath,
		},
		{
			name: "symbolic link out of the root in the same layer",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t,
					symlink("escape", "../.."),
					reg("escape/sentinel/node_modules/lodash/package.json", "npm/package.json"),
				)}
			},
			is: ErrUnsafePath,
		},
		{
			name: "hard link out of the root",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, hardlink("etc/os-release", "../../sentinel/secret"))}
			},
			is: ErrUnsafePath,
		},
		{
			name: "decompression bomb, layer size",
			lim:  Limits{MaxLayerBytes: 16 << 20, MaxCompressionRatio: -1},
			layers: func(t *testing.T) []Layer {
				return []Layer{blob(mtGzip, bomb())}
			},
			limit: "MaxLayerBytes",
		},
		{
			name: "decompression bomb, compression ratio",
			lim:  Limits{MaxCompressionRatio: 100},
			layers: func(t *testing.T) []Layer {
				return []Layer{blob(mtGzip, bomb())}
			},
			limit: "MaxCompressionRatio",
		},
		{
			name: "file over the per-file cap",
			lim:  Limits{MaxFileBytes: 1024},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, reg("var/lib/rpm/rpmdb.sqlite", "rocky/rpmdb.sqlite"))}
			},
			limit: "MaxFileBytes",
		},
		{
			name: "package database over its cap",
			lim:  Limits{MaxDatabaseBytes: 1024},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, reg("var/lib/dpkg/status", "debian/status"))}
			},
			limit: "MaxDatabaseBytes",
		},
		{
			name: "manifest over its cap",
			lim:  Limits{MaxManifestBytes: 100},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, reg("app/node_modules/lodash/package.json", "npm/package.json"))}
			},
			limit: "MaxManifestBytes",
		},
		{
			name: "os-release over its cap",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text("etc/os-release", strings.Repeat("X=y\n", 20<<10)))}
			},
			limit: "maxOSReleaseBytes",
		},
		{
			name: "scratch directory over the total cap",
			lim:  Limits{MaxTotalBytes: 4096},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t,
					reg("var/lib/dpkg/status", "debian/status"),
					reg("lib/apk/db/installed", "alpine/installed"),
				)}
			},
			limit: "MaxTotalBytes",
		},
		{
			name: "too many entries",
			lim:  Limits{MaxEntries: 3},
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t, dir("a/"), dir("b/")),
					gzLayer(t, dir("c/"), dir("d/")),
				}
			},
			limit: "MaxEntries",
		},
		{
			name: "unsupported media type",
			layers: func(t *testing.T) []Layer {
				return []Layer{blob(mtUnknown, []byte("hsqs"))}
			},
			is: ErrUnsupportedMediaType,
		},
		{
			name: "layer that cannot be opened",
			layers: func(t *testing.T) []Layer {
				return []Layer{{Digest: "sha256:gone", MediaType: mtGzip, Open: func() (io.ReadCloser, error) { return nil, os.ErrNotExist }}}
			},
			is: os.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			lim := tt.lim
			lim.ScratchDir = filepath.Join(base, "scratch")
			sentinel := filepath.Join(base, "sentinel")
			for _, d := range []string{lim.ScratchDir, sentinel} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			layers := tt.layers(t)
			inv, err := Extract(context.Background(), layers, lim)
			if err == nil {
				t.Fatalf("Extract succeeded: %s", describe(inv))
			}
			t.Log(err)
			switch {
			case tt.limit != "":
				var le *LimitError
				if !errors.As(err, &le) || le.Limit != tt.limit {
					t.Errorf("error %v, want limit %s exceeded", err, tt.limit)
				}
				if !strings.Contains(err.Error(), tt.limit) {
					t.Errorf("error %q does not name %s", err, tt.limit)
				}
			case tt.is == gzip.ErrChecksum:
				if !errors.Is(err, gzip.ErrChecksum) && !strings.Contains(err.Error(), "flate") && !errors.Is(err, tar.ErrHeader) {
					t.Errorf("error %v, want a decompression error", err)
				}
			case !errors.Is(err, tt.is):
				t.Errorf("error %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), layers[len(layers)-1].Digest) && !strings.Contains(err.Error(), layers[0].Digest) {
				t.Errorf("error %q does not name the layer", err)
			}
			assertEmpty(t, lim.ScratchDir)
			assertEmpty(t, sentinel)
		})
	}
}

func TestCancelledScanStops(t *testing.T) {
	t.Parallel()
	lim, clean := scratch(t, Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Extract(ctx, []Layer{gzLayer(t, reg("var/lib/dpkg/status", "debian/status"))}, lim)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	clean()
}

// A panic leaves neither scratch files nor a reservation of the shared budget behind.
func TestScratchRemovedOnPanic(t *testing.T) {
	t.Parallel()
	b := NewBudget(64<<20, 1)
	lim, clean := scratch(t, Limits{Budget: b})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		Extract(context.Background(), []Layer{
			gzLayer(t, reg("var/lib/dpkg/status", "debian/status")),
			{Digest: "sha256:boom", MediaType: mtGzip, Open: func() (io.ReadCloser, error) { panic("boom") }},
		}, lim)
	}()
	clean()
	if n := b.ScratchInUse(); n != 0 {
		t.Errorf("%d bytes of scratch space still reserved", n)
	}
}

// A package database that cannot be parsed does not fail the scan: the problem is recorded
// and the rest of the image is still inventoried.
func TestMalformedDatabaseIsAProblem(t *testing.T) {
	t.Parallel()
	lim, clean := scratch(t, Limits{})
	inv, err := Extract(context.Background(), []Layer{gzLayer(t,
		reg("etc/os-release", "debian/os-release"),
		reg("var/lib/dpkg/status", "debian/status.malformed"),
		text("app/node_modules/broken/package.json", `{"name": "broken", "version": `),
		reg("app/node_modules/lodash/package.json", "npm/package.json"),
	)}, lim)
	if err != nil {
		t.Fatal(err)
	}
	clean()
	problems := map[string]string{}
	for _, p := range inv.Problems {
		problems[p.Path] = p.Extractor + ": " + p.Message
	}
	if got := problems["/var/lib/dpkg/status"]; !strings.HasPrefix(got, "os/dpkg: ") {
		t.Errorf("dpkg problem = %q, problems %+v", got, inv.Problems)
	}
	if got := problems["/app/node_modules/broken/package.json"]; !strings.HasPrefix(got, "javascript/packagejson: ") {
		t.Errorf("package.json problem = %q, problems %+v", got, inv.Problems)
	}
	// What was read before the fault is kept, and other files are still read.
	pkgIn(t, inv, "Debian:12", "libc6")
	pkgIn(t, inv, "npm", "lodash")
}

// A large native library that only the binary extractors would read is skipped with a
// problem rather than failing the scan.
func TestLargeExecutableIsSkipped(t *testing.T) {
	t.Parallel()
	lim, clean := scratch(t, Limits{MaxFileBytes: 4096})
	big := append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{1}, 8192)...)
	inv, err := Extract(context.Background(), []Layer{gzLayer(t,
		executable("usr/lib/libhuge.so", big),
		reg("lib/apk/db/installed", "alpine/installed"),
	)}, lim)
	if err != nil {
		t.Fatal(err)
	}
	clean()
	if len(inv.Problems) != 1 || inv.Problems[0].Path != "/usr/lib/libhuge.so" || !strings.Contains(inv.Problems[0].Message, "MaxFileBytes") {
		t.Errorf("problems = %+v", inv.Problems)
	}
	pkgIn(t, inv, "Alpine", "musl")
}
