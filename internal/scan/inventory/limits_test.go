package inventory

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func wholeReader(s string) io.Reader { return strings.NewReader(s) }
func byteReader(s string) io.Reader  { return iotest.OneByteReader(strings.NewReader(s)) }

func TestCountParagraphs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		max   int64
		want  int64
		limit string // the LimitError expected, if any
	}{
		{name: "empty", in: "", max: 10, want: 0},
		{name: "only blank lines", in: "\n\n\r\n\n", max: 10, want: 0},
		{name: "one paragraph without a final newline", in: "Package: a\nVersion: 1", max: 10, want: 1},
		{name: "two paragraphs", in: "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n", max: 10, want: 2},
		{name: "CRLF blank lines separate", in: "P:a\r\nV:1\r\n\r\nP:b\r\n", max: 10, want: 2},
		{name: "many blank lines between", in: "P:a\n\n\n\n\nP:b\n\n\n", max: 10, want: 2},
		{name: "a line of spaces does not separate", in: "P:a\n  \nP:b\n", max: 10, want: 1},
		{name: "a lone CR before CR LF is not blank", in: "P:a\n\r\r\nP:b\n", max: 10, want: 1},
		{name: "leading blank lines", in: "\n\nP:a\n", max: 10, want: 1},
		{name: "stops once over the most", in: strings.Repeat(hostileStanza, 1000), max: 10, want: 11},
		{name: "exactly the most", in: strings.Repeat(hostileStanza, 10), max: 10, want: 10},
		{name: "a paragraph too large", in: "P:a\nD:" + strings.Repeat("x", maxEntryBytes) + "\n", max: 10, limit: "maxEntryBytes"},
		{name: "a line too large without a newline", in: "P:" + strings.Repeat("x", maxEntryBytes+1), max: 10, limit: "maxEntryBytes"},
		{name: "a paragraph of too many lines", in: strings.Repeat("a:\n", maxEntryLines+1), max: 10, limit: "maxEntryLines"},
		{name: "many lines in many paragraphs", in: strings.Repeat("a:\n\n", maxEntryLines+1), max: maxEntryLines + 1, want: maxEntryLines + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One byte at a time as well as whole: a line split between reads counts the same.
			for _, r := range []func(string) io.Reader{wholeReader, byteReader} {
				n, err := countParagraphs(context.Background(), r(tt.in), tt.max, "var/lib/dpkg/status")
				if tt.limit != "" {
					var le *LimitError
					if !errors.As(err, &le) || le.Limit != tt.limit || le.Path != "/var/lib/dpkg/status" {
						t.Fatalf("err = %v, want limit %s of /var/lib/dpkg/status", err, tt.limit)
					}
					continue
				}
				if err != nil || n != tt.want {
					t.Fatalf("countParagraphs = %d, %v; want %d", n, err, tt.want)
				}
				if len(tt.in) > 1<<16 {
					break // byte by byte would take a while
				}
			}
		})
	}
}

func TestCountOpeners(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		max  int64
		want int64
	}{
		{in: "", max: 10, want: 0},
		{in: "version = 3\n\n[[package]]\nname = \"a\"\n\n[[package]]\nname = \"b\"\ndependencies = [\n \"a\",\n]\n", max: 10, want: 2},
		{in: `package = [{name="a",version="1"},{name="b",version="2"}]`, max: 10, want: 2},
		{in: "[[[", max: 10, want: 2},
		{in: strings.Repeat("{}", 100), max: 10, want: 11},
		{in: `{"packages":[{"name":"a"},{"name":"b"}]}`, max: 10, want: 3},
	}
	for _, tt := range tests {
		for _, r := range []func(string) io.Reader{wholeReader, byteReader} {
			if n, err := countOpeners(context.Background(), r(tt.in), tt.max); err != nil || n != tt.want {
				t.Errorf("countOpeners(%.40q) = %d, %v; want %d", tt.in, n, err, tt.want)
			}
		}
	}
}

// An image over a limit fails with a LimitError whose message names the file and the limit.
func TestInventoryLimits(t *testing.T) {
	t.Parallel()
	statusOf := func(n int) string { return strings.Repeat(hostileStanza, n) }
	tests := []struct {
		name   string
		lim    Limits
		layers func(t *testing.T) []Layer
		want   string // the error's message after "layer <digest>: ", if any
	}{
		{
			name: "a status database listing too many packages",
			lim:  Limits{MaxFilePackages: 10},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text("var/lib/dpkg/status", statusOf(11)))}
			},
			want: "inventory limit exceeded: /var/lib/dpkg/status holds more than 10 packages (MaxFilePackages)",
		},
		{
			name: "an apk database listing too many packages",
			lim:  Limits{MaxFilePackages: 10},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text("lib/apk/db/installed", strings.Repeat("P:a\nV:1\n\n", 11)))}
			},
			want: "inventory limit exceeded: /lib/apk/db/installed holds more than 10 packages (MaxFilePackages)",
		},
		{
			name: "a Cargo.lock listing too many packages",
			lim:  Limits{MaxFilePackages: 10},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text("src/Cargo.lock", "version = 3\npackage = ["+strings.Repeat(`{name="a",version="1.0.0"},`, 11)+"]\n"))}
			},
			want: "inventory limit exceeded: /src/Cargo.lock holds more than 10 packages (MaxFilePackages)",
		},
		{
			name: "packages of an image over many files",
			lim:  Limits{MaxPackages: 3},
			layers: func(t *testing.T) []Layer {
				var ents []ent
				for i := range 4 {
					ents = append(ents, text(fmt.Sprintf("var/lib/dpkg/status.d/p%d", i), fmt.Sprintf("Package: p%d\nVersion: 1\n", i)))
				}
				return []Layer{gzLayer(t, ents...)}
			},
			want: "inventory limit exceeded: the image holds more than 3 packages (MaxPackages)",
		},
		{
			name: "packages of an image counted before a database is parsed",
			lim:  Limits{MaxPackages: 15},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t,
					text("app/node_modules/a/package.json", npmPackage("a", "1.0.0")),
					text("var/lib/dpkg/status", statusOf(15)),
				)}
			},
			want: "inventory limit exceeded: the image holds more than 15 packages (MaxPackages)",
		},
		{
			name: "a wheel listing too many metadata files",
			lim:  Limits{MaxFilePackages: 2},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, ent{name: "usr/share/python-wheels/x-1-py3-none-any.whl", body: wheel(t, 3, 100, 0)})}
			},
			want: "inventory limit exceeded: /usr/share/python-wheels/x-1-py3-none-any.whl holds more than 2 packages (MaxFilePackages)",
		},
		{
			name: "a wheel whose metadata decompresses to too much",
			lim:  Limits{MaxManifestBytes: 10 << 10},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, ent{name: "usr/share/python-wheels/x-1-py3-none-any.whl", body: wheel(t, 1, 20<<10, 0)})}
			},
			want: "inventory limit exceeded: /usr/share/python-wheels/x-1-py3-none-any.whl holds more than 10240 bytes of package metadata, decompressed (MaxManifestBytes)",
		},
		{
			name: "a wheel with a large zip directory",
			lim:  Limits{MaxManifestBytes: 10 << 10},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, ent{name: "usr/share/python-wheels/x-1-py3-none-any.whl", body: wheel(t, 1, 100, 1000)})}
			},
			want: "inventory limit exceeded: /usr/share/python-wheels/x-1-py3-none-any.whl has a zip directory of more than 10240 bytes (MaxManifestBytes)",
		},
		{
			name: "too many files kept",
			lim:  Limits{MaxKeptFiles: 2},
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t,
					text("a/node_modules/x/package.json", npmPackage("x", "1.0.0")),
					text("b/node_modules/x/package.json", npmPackage("x", "1.0.0")),
					text("c/node_modules/x/package.json", npmPackage("x", "1.0.0")),
				)}
			},
			want: "inventory limit exceeded: the image has more than 2 files for the extractors to read (MaxKeptFiles)",
		},
		{
			name: "names of symbolic links",
			lim:  Limits{MaxNameBytes: 1000},
			layers: func(t *testing.T) []Layer {
				var ents []ent
				for i := range 20 {
					ents = append(ents, symlink(fmt.Sprintf("usr/share/link%d", i), strings.Repeat("t", 40)))
				}
				return []Layer{gzLayer(t, ents...)}
			},
			want: "inventory limit exceeded: the names of the files, directories and symbolic links kept take more than 1000 bytes (MaxNameBytes)",
		},
		{
			name: "a name longer than PATH_MAX",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, symlink("usr/lib/x", strings.Repeat("a/", 2100)))}
			},
			want: `inventory limit exceeded: entry "usr/lib/x"… has a name or link target longer than 4096 bytes (PATH_MAX) (maxNameLength)`,
		},
		{
			name: "a name too many directories deep",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text(strings.Repeat("d/", 256)+"node_modules/x/package.json", "{}"))}
			},
			want: `inventory limit exceeded: entry "d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/"… is more than 256 directories deep (maxPathDepth)`,
		},
		{
			// Each name is short enough; the symbolic links make them deeper at every step.
			name: "a name resolving too many directories deep",
			layers: func(t *testing.T) []Layer {
				deep := strings.Repeat("d/", 200)
				return []Layer{gzLayer(t, symlink("a", deep+"b"), symlink(deep+"b", deep+"c"),
					text("a/node_modules/x/package.json", "{}"))}
			},
			want: `inventory limit exceeded: "a/node_modules/x"… resolves to a path more than 256 directories deep (maxPathDepth)`,
		},
		{
			name: "a paragraph of many megabytes",
			layers: func(t *testing.T) []Layer {
				return []Layer{gzLayer(t, text("var/lib/dpkg/status", "Package: a\nDescription: "+strings.Repeat("x", maxEntryBytes)+"\n"))}
			},
			want: "inventory limit exceeded: /var/lib/dpkg/status has an entry of more than 16777216 bytes (paragraph 1) (maxEntryBytes)",
		},
		{
			// A hard link keeps the content on disk when the name it links to is removed:
			// it is counted as a copy, so removing and writing again cannot grow the
			// scratch directory past its limit.
			name: "hard links count as copies",
			lim:  Limits{MaxTotalBytes: 3000},
			layers: func(t *testing.T) []Layer {
				big := text("app/node_modules/a/package.json", `{"name":"a","version":"1","x":"`+strings.Repeat("x", 1000)+`"}`)
				var layers []Layer
				for i := range 3 {
					layers = append(layers, gzLayer(t, big, hardlink(fmt.Sprintf("app/node_modules/b%d/package.json", i), "app/node_modules/a/package.json")),
						gzLayer(t, whiteout("app/node_modules/a/.wh.package.json")))
				}
				return layers
			},
			want: "inventory limit exceeded: the files kept for the extractors take more than 3000 bytes (MaxTotalBytes)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim, clean := scratch(t, tt.lim)
			inv, err := Extract(context.Background(), tt.layers(t), lim)
			clean()
			if err == nil {
				t.Fatalf("Extract succeeded: %s", describe(inv))
			}
			var le *LimitError
			if !errors.As(err, &le) || le.Error() != tt.want {
				t.Fatalf("error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// Under the limits, the same files are read as before.
func TestInventoryWithinLimits(t *testing.T) {
	t.Parallel()
	lim, clean := scratch(t, Limits{MaxFilePackages: 4, MaxPackages: 6, MaxKeptFiles: 4})
	inv, err := Extract(context.Background(), []Layer{gzLayer(t,
		reg("etc/os-release", "debian/os-release"),
		reg("var/lib/dpkg/status", "debian/status"), // five paragraphs, four installed
		reg("app/node_modules/lodash/package.json", "npm/package.json"),
	)}, lim)
	clean()
	if err == nil {
		t.Fatalf("five paragraphs over MaxFilePackages 4 were read: %s", describe(inv))
	}
	lim, clean = scratch(t, Limits{MaxFilePackages: 5, MaxPackages: 6, MaxKeptFiles: 3})
	inv, err = Extract(context.Background(), []Layer{gzLayer(t,
		reg("etc/os-release", "debian/os-release"),
		reg("var/lib/dpkg/status", "debian/status"),
		reg("app/node_modules/lodash/package.json", "npm/package.json"),
	)}, lim)
	clean()
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 5 {
		t.Errorf("packages: %s", describe(inv))
	}
}

// wheel is a Python wheel holding metadata files of about size bytes each, and other files.
func wheel(t *testing.T, metadata, size, others int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range metadata {
		w, err := zw.Create(fmt.Sprintf("x%d-1.dist-info/METADATA", i))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "Metadata-Version: 2.1\nName: x%d\nVersion: 1\n\n%s", i, strings.Repeat("d", size))
	}
	for i := range others {
		if _, err := zw.Create(fmt.Sprintf("x/module_with_a_long_name_%d.py", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The metadata of a wheel within the limits is read.
func TestPythonWheelIsRead(t *testing.T) {
	t.Parallel()
	lim, clean := scratch(t, Limits{})
	inv, err := Extract(context.Background(), []Layer{gzLayer(t,
		ent{name: "usr/share/python-wheels/x-1-py3-none-any.whl", body: wheel(t, 2, 100, 50)})}, lim)
	clean()
	if err != nil {
		t.Fatal(err)
	}
	pkgIn(t, inv, "PyPI", "x0")
	pkgIn(t, inv, "PyPI", "x1")
}
