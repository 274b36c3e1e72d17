package inventory

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Media types used by the tests.
const (
	mtTar     = "application/vnd.oci.image.layer.v1.tar"
	mtGzip    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtZstd    = "application/vnd.oci.image.layer.v1.tar+zstd"
	mtDocker  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtUnknown = "application/vnd.example.squashfs"
)

// ent is one archive entry of a test layer.
type ent struct {
	name string
	typ  byte   // tar.TypeReg when zero
	body []byte // content of a regular file
	file string // testdata file to take the content from instead
	mode int64  // 0644 (0755 for directories) when zero
	link string // target of a symbolic or hard link
}

func reg(name, testdataFile string) ent    { return ent{name: name, file: testdataFile} }
func text(name, content string) ent        { return ent{name: name, body: []byte(content)} }
func dir(name string) ent                  { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, target string) ent      { return ent{name: name, typ: tar.TypeSymlink, link: target} }
func hardlink(name, target string) ent     { return ent{name: name, typ: tar.TypeLink, link: target} }
func whiteout(name string) ent             { return ent{name: name, body: nil} }
func executable(name string, b []byte) ent { return ent{name: name, body: b, mode: 0o755} }

// tarball writes entries as a tar archive.
func tarball(t testing.TB, entries ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		body := e.body
		if e.file != "" {
			b, err := os.ReadFile(filepath.Join("testdata", e.file))
			if err != nil {
				t.Fatal(err)
			}
			body = b
		}
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.link, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("write %s: %v", e.name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// blob is a layer whose content is b, with b's digest.
func blob(mediaType string, b []byte) Layer {
	sum := sha256.Sum256(b)
	return Layer{
		Digest:    "sha256:" + hex.EncodeToString(sum[:]),
		MediaType: mediaType,
		Open:      func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

// gzLayer is a gzip-compressed layer of entries.
func gzLayer(t testing.TB, entries ...ent) Layer {
	return blob(mtGzip, gzipped(t, tarball(t, entries...)))
}

// scratch returns Limits whose ScratchDir is a fresh directory, and a check that
// Extract left it empty.
func scratch(t *testing.T, lim Limits) (Limits, func()) {
	t.Helper()
	lim.ScratchDir = filepath.Join(t.TempDir(), "scratch")
	if err := os.Mkdir(lim.ScratchDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return lim, func() {
		t.Helper()
		assertEmpty(t, lim.ScratchDir)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s not empty: %s left behind", dir, e.Name())
	}
}

// pkgIn returns the package of inv with that ecosystem and name.
func pkgIn(t *testing.T, inv Inventory, ecosystem, name string) Package {
	t.Helper()
	for _, p := range inv.Packages {
		if p.Ecosystem == ecosystem && p.Name == name {
			return p
		}
	}
	t.Fatalf("no %s package %q in %s", ecosystem, name, describe(inv))
	return Package{}
}

func describe(inv Inventory) string {
	var b bytes.Buffer
	b.WriteString("[")
	for i, p := range inv.Packages {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Ecosystem + "/" + p.Name + "@" + p.Version)
	}
	b.WriteString("]")
	return b.String()
}
