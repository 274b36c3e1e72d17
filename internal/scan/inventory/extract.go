package inventory

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Layer is one layer of an image. Extract takes them base first, as the manifest lists them.
type Layer struct {
	Digest    string
	MediaType string
	// Open returns the layer blob as stored (compressed). Extract closes it.
	Open func() (io.ReadCloser, error)
}

// Limits bound what a hostile or broken image can cost a scan. A zero field selects the
// default (DefaultLimits); a negative one removes that limit. Exceeding a limit ends Extract
// with a *LimitError naming it.
type Limits struct {
	// ScratchDir is where the scratch directory is created; "" is os.TempDir().
	ScratchDir string
	// MaxFileBytes is the largest file kept in the scratch directory. An executable that
	// only the Go and cargo-auditable extractors would read is skipped with a Problem
	// instead: native libraries of hundreds of megabytes (CUDA) are common and carry no
	// Go or Rust build information, and should not fail the scan.
	MaxFileBytes int64
	// MaxTotalBytes is the most the scratch directory holds at once.
	MaxTotalBytes int64
	// MaxEntries is the most archive entries (files, directories, links) over all layers.
	MaxEntries int64
	// MaxLayerBytes is the most bytes one layer may decompress to.
	MaxLayerBytes int64
	// MaxCompressionRatio is the most a layer may expand (decompressed to compressed bytes),
	// checked once it has produced ratioFloor bytes: a decompression bomb fails early,
	// before MaxLayerBytes. A layer that is mostly zeros (a sparse lastlog file) can trip it.
	MaxCompressionRatio int64
}

// ratioFloor is how much a layer must decompress to before MaxCompressionRatio applies, so
// that small, very compressible layers (a few configuration files) are not refused.
const ratioFloor = 64 << 20

// DefaultLimits are the limits a zero Limits field stands for.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes:        512 << 20,
		MaxTotalBytes:       4 << 30,
		MaxEntries:          1_000_000,
		MaxLayerBytes:       32 << 30,
		MaxCompressionRatio: 500,
	}
}

func (l Limits) withDefaults() Limits {
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
	l.MaxTotalBytes = pick(l.MaxTotalBytes, d.MaxTotalBytes)
	l.MaxEntries = pick(l.MaxEntries, d.MaxEntries)
	l.MaxLayerBytes = pick(l.MaxLayerBytes, d.MaxLayerBytes)
	l.MaxCompressionRatio = pick(l.MaxCompressionRatio, d.MaxCompressionRatio)
	return l
}

// LimitError reports that an image exceeded one of its Limits.
type LimitError struct {
	Limit string // the Limits field, e.g. "MaxLayerBytes"
	Max   int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit %s (%d) exceeded", e.Limit, e.Max)
}

var (
	// ErrUnsafePath reports an archive entry whose name, link target or symbolic link
	// resolution would leave the image root: an absolute name, a ".." element, a link that
	// climbs above the root.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrUnsupportedMediaType reports a layer that is not an (optionally gzip or zstd
	// compressed) tar archive.
	ErrUnsupportedMediaType = errors.New("unsupported layer media type")
)

// Extract applies layers in order into a scratch directory under lim.ScratchDir, runs the
// extractors over the files they need, and returns what is installed. The scratch directory
// is removed before Extract returns, whatever happens.
//
// A corrupt layer (its compression or archive), an entry that would leave the image root
// (ErrUnsafePath), an unknown media type (ErrUnsupportedMediaType) and an exceeded limit
// (*LimitError) are errors naming the layer's digest. A package database or manifest an
// extractor cannot parse is not: it is listed in Inventory.Problems.
func Extract(ctx context.Context, layers []Layer, lim Limits) (Inventory, error) {
	lim = lim.withDefaults()
	dir, err := os.MkdirTemp(lim.ScratchDir, "berth-inventory-")
	if err != nil {
		return Inventory{}, fmt.Errorf("create scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	t, err := openTree(dir)
	if err != nil {
		return Inventory{}, fmt.Errorf("open scratch directory: %w", err)
	}
	defer t.close()

	ex, err := wiredExtractors()
	if err != nil {
		return Inventory{}, err
	}
	a := &applier{t: t, lim: lim, ex: ex, layers: layers, buf: make([]byte, 32<<10)}
	for i, l := range layers {
		if err := a.apply(ctx, i, l); err != nil {
			return Inventory{}, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
	}
	return a.inventory(ctx)
}

// applier applies layers to the scratch tree, keeping only the files extractors need.
type applier struct {
	t        *tree
	lim      Limits
	ex       []wiredExtractor
	layers   []Layer
	entries  int64
	problems []Problem
	buf      []byte
}

func (a *applier) apply(ctx context.Context, layer int, l Layer) error {
	if l.Open == nil {
		return errors.New("layer has no content")
	}
	rc, err := l.Open()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer rc.Close()

	compressed := &meter{ctx: ctx, r: rc}
	dec, closeDec, err := decompressor(l.MediaType, compressed)
	if err != nil {
		return err
	}
	defer closeDec()
	plain := &meter{ctx: ctx, r: dec, compressed: compressed, lim: a.lim}

	tr := tar.NewReader(plain)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := a.entry(layer, hdr, tr); err != nil {
			return err
		}
	}
	// Read the rest of the stream (the archive's padding, usually) so that the compression
	// format's checksum is verified: a corrupt layer fails rather than scanning half of it.
	if _, err := io.CopyBuffer(io.Discard, plain, a.buf); err != nil {
		return fmt.Errorf("read archive: %w", err)
	}
	return nil
}

// decompressor picks the decompression for a layer media type (OCI image spec and Docker
// image manifest v2 names); an empty media type is detected from the first bytes.
func decompressor(mediaType string, r io.Reader) (io.Reader, func(), error) {
	kind := ""
	switch mediaType {
	case "application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.docker.image.rootfs.diff.tar":
		kind = "tar"
	case "application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		kind = "gzip"
	case "application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar.zstd":
		kind = "zstd"
	case "":
		br := bufio.NewReader(r)
		magic, _ := br.Peek(4)
		switch {
		case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
			kind = "gzip"
		case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			kind = "zstd"
		default:
			kind = "tar"
		}
		r = br
	default:
		return nil, nil, fmt.Errorf("%w: %q", ErrUnsupportedMediaType, mediaType)
	}
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err // gzip's errors say "gzip: …"
		}
		return zr, func() { zr.Close() }, nil
	case "zstd":
		// One goroutine and a bounded window: a layer is read once, in order, and a
		// crafted frame must not make the decoder reserve gigabytes.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return r, func() {}, nil
}

// meter counts the bytes read through it and stops on cancellation. With lim set it meters
// decompressed bytes, checking MaxLayerBytes and MaxCompressionRatio against compressed.
type meter struct {
	ctx        context.Context
	r          io.Reader
	n          int64
	compressed *meter
	lim        Limits
}

func (m *meter) Read(p []byte) (int, error) {
	if err := m.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	if m.compressed != nil {
		if max := m.lim.MaxLayerBytes; max > 0 && m.n > max {
			return n, &LimitError{Limit: "MaxLayerBytes", Max: max}
		}
		if max := m.lim.MaxCompressionRatio; max > 0 && m.n > ratioFloor && m.n/max64(m.compressed.n, 1) > max {
			return n, &LimitError{Limit: "MaxCompressionRatio", Max: max}
		}
	}
	return n, err
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// OCI whiteouts (image-spec layer.md): ".wh.<name>" hides <name> of lower layers,
// ".wh..wh..opq" hides everything lower layers put in its directory.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	opaqueMarker   = ".wh..wh..opq"
)

func (a *applier) entry(layer int, hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	a.entries++
	if max := a.lim.MaxEntries; max > 0 && a.entries > max {
		return &LimitError{Limit: "MaxEntries", Max: max}
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the root directory itself
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(base, whiteoutPrefix) {
		if err := a.whiteout(layer, dir, base); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		return nil
	}

	switch hdr.Typeflag {
	case tar.TypeReg:
		err = a.regular(layer, name, hdr, r)
	case tar.TypeSymlink:
		err = a.symlink(layer, name, hdr.Linkname)
	case tar.TypeLink:
		err = a.hardlink(layer, name, hdr.Linkname)
	default:
		// A directory replaces what is not a directory; a device, FIFO or socket replaces
		// anything. Neither is kept. A name whose directories cannot be resolved cannot
		// hold anything of ours and is passed over.
		real, rerr := a.t.resolveParent(name)
		if rerr != nil {
			return nil
		}
		if n, ok := a.t.nodes[real]; ok && (hdr.Typeflag != tar.TypeDir || n.kind != dirNode) {
			err = a.t.remove(real)
		}
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	return nil
}

// cleanName validates an entry name and returns it relative to the image root, "" for the
// root itself.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name %q", ErrUnsafePath, name)
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: NUL in name %q", ErrUnsafePath, name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: %q has a \"..\" element", ErrUnsafePath, name)
		}
	}
	p := path.Clean(name)
	if p == "." {
		return "", nil
	}
	return p, nil
}

func (a *applier) whiteout(layer int, dir, base string) error {
	realDir, err := a.t.resolve(dir, true)
	if err != nil {
		return err
	}
	if base == opaqueMarker {
		return a.t.hide(realDir, false, layer)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // other AUFS metadata (.wh..wh.plnk, …) hides nothing
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("%w: whiteout %q", ErrUnsafePath, base)
	}
	return a.t.hide(joinPath(realDir, victim), true, layer)
}

// regular keeps a regular file if an extractor needs it (or it is an os-release file).
func (a *applier) regular(layer int, name string, hdr *tar.Header, r io.Reader) error {
	real, rerr := a.t.resolveParent(name)
	want, binaryOnly, names := a.wanted(name, hdr.FileInfo())
	if !want {
		if rerr == nil {
			return a.t.remove(real)
		}
		return nil
	}
	if rerr != nil {
		return rerr
	}
	if err := a.t.remove(real); err != nil {
		return err
	}
	if max := a.lim.MaxFileBytes; max > 0 && hdr.Size > max {
		if !binaryOnly {
			return &LimitError{Limit: "MaxFileBytes", Max: max}
		}
		a.problems = append(a.problems, Problem{
			Path:      "/" + name,
			Extractor: strings.Join(names, ", "),
			Message:   fmt.Sprintf("not inspected: %d bytes is over MaxFileBytes (%d)", hdr.Size, max),
		})
		return nil
	}

	var sniff *markerScanner
	if binaryOnly {
		// Most executables and shared libraries are neither Go nor cargo-auditable
		// binaries: look at the header before writing anything, and at the content while
		// writing, and keep only those carrying the marker of one of the two.
		head := make([]byte, 16)
		n, err := io.ReadFull(r, head)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || (err == nil && !executableHeader(head)) {
			return nil
		}
		if err != nil {
			return err
		}
		sniff = &markerScanner{}
		r = io.MultiReader(bytes.NewReader(head[:n]), r)
	}

	if d := path.Dir(real); d != "." {
		if err := a.t.mkdirAll(d, layer); err != nil {
			return err
		}
	}
	f, err := a.t.create(real, hdr.FileInfo().Mode(), layer)
	if err != nil {
		return err
	}
	err = a.copyFile(f, real, r, sniff)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if sniff != nil && !sniff.found {
		return a.t.remove(real)
	}
	return nil
}

// copyFile copies r into f (the tree's file p), enforcing MaxFileBytes (again: a sparse
// entry may expand beyond its header's size) and MaxTotalBytes.
func (a *applier) copyFile(f io.Writer, p string, r io.Reader, sniff *markerScanner) error {
	var written int64
	for {
		n, rerr := r.Read(a.buf)
		if n > 0 {
			written += int64(n)
			if max := a.lim.MaxFileBytes; max > 0 && written > max {
				return &LimitError{Limit: "MaxFileBytes", Max: max}
			}
			if max := a.lim.MaxTotalBytes; max > 0 && a.t.bytes+int64(n) > max {
				return &LimitError{Limit: "MaxTotalBytes", Max: max}
			}
			if sniff != nil {
				sniff.feed(a.buf[:n])
			}
			if _, err := f.Write(a.buf[:n]); err != nil {
				return err
			}
			a.t.grow(p, int64(n))
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

func (a *applier) symlink(layer int, name, target string) error {
	real, err := a.t.resolveParent(name)
	if err != nil {
		return err
	}
	if err := a.t.remove(real); err != nil {
		return err
	}
	if target == "" || strings.ContainsRune(target, 0) {
		return nil
	}
	if d := path.Dir(real); d != "." {
		if err := a.t.mkdirAll(d, layer); err != nil {
			return err
		}
	}
	a.t.symlink(real, target, layer)
	return nil
}

// hardlink links name to an earlier entry of the image, if that entry was kept.
func (a *applier) hardlink(layer int, name, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil {
		return err
	}
	real, err := a.t.resolveParent(name)
	if err != nil {
		return err
	}
	if err := a.t.remove(real); err != nil {
		return err
	}
	realTarget, err := a.t.resolveParent(target)
	if err != nil {
		return err
	}
	n, ok := a.t.nodes[realTarget]
	if !ok || n.kind == dirNode {
		return nil
	}
	if n.kind == linkNode {
		return a.symlink(layer, name, n.target)
	}
	info, err := a.t.root.Lstat(realTarget)
	if err != nil {
		return err
	}
	if want, _, _ := a.wanted(name, info); !want {
		return nil
	}
	if d := path.Dir(real); d != "." {
		if err := a.t.mkdirAll(d, layer); err != nil {
			return err
		}
	}
	if err := a.t.root.Link(realTarget, real); err != nil {
		return err
	}
	a.t.nodes[real] = node{kind: fileNode, layer: layer}
	return nil
}

// osReleaseFiles are kept for every image: the extractors read the distribution from them.
var osReleaseFiles = map[string]bool{"etc/os-release": true, "usr/lib/os-release": true}

// companion tells whether a file is read along with a package database without being one:
// the write-ahead log of an rpm SQLite database holds transactions not yet copied into it.
func companion(name string) bool {
	return path.Base(name) == "rpmdb.sqlite-wal"
}

// wanted tells whether some extractor needs the file at name, whether only the binary
// extractors do, and which ones.
func (a *applier) wanted(name string, info os.FileInfo) (want, binaryOnly bool, names []string) {
	api := fileAPI{path: name, info: info}
	binaryOnly = true
	for _, w := range a.ex {
		if w.wants(api) {
			want = true
			binaryOnly = binaryOnly && w.binary
			names = append(names, w.ex.Name())
		}
	}
	if osReleaseFiles[name] || companion(name) {
		want, binaryOnly = true, false
	}
	return want, want && binaryOnly, names
}

// executableHeader tells whether a file starts like an ELF, PE, Mach-O or WebAssembly
// binary, the formats debug/buildinfo and go-rustaudit read.
func executableHeader(h []byte) bool {
	for _, magic := range [][]byte{
		[]byte("\x7fELF"),
		[]byte("MZ"),
		{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf},
		{0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
		{0xca, 0xfe, 0xba, 0xbe},
		[]byte("\x00asm"),
	} {
		if bytes.HasPrefix(h, magic) {
			return true
		}
	}
	return false
}

// binaryMarkers are strings every binary the binary extractors can read contains: Go's
// build information header (debug/buildinfo), and the names of the sections where
// cargo-auditable (and its predecessor rust-audit) store the dependency list.
var binaryMarkers = [][]byte{
	[]byte("\xff Go buildinf:"),
	[]byte("dep-v0"),       // .dep-v0 (ELF, PE, Mach-O, WebAssembly), rdep-v0 (old PE)
	[]byte("rust-deps-v0"), // .rust-deps-v0, rust-deps-v0 (rust-audit)
}

// markerScanner looks for binaryMarkers in a stream fed in chunks.
type markerScanner struct {
	tail  []byte
	found bool
}

func (s *markerScanner) feed(p []byte) {
	const keep = 15 // longest marker - 1: a marker split between chunks is seen in edge
	if s.found {
		return
	}
	edge := append(s.tail, p[:min(len(p), keep)]...)
	for _, m := range binaryMarkers {
		if bytes.Contains(edge, m) || bytes.Contains(p, m) {
			s.found = true
			return
		}
	}
	if len(p) >= keep {
		s.tail = append(s.tail[:0], p[len(p)-keep:]...)
		return
	}
	s.tail = append(s.tail, p...)
	if len(s.tail) > keep {
		s.tail = s.tail[len(s.tail)-keep:]
	}
}
