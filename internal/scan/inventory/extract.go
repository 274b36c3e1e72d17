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
// (*LimitError) are errors naming the layer's digest; a limit of the image as a whole (its
// packages, the scratch space its scans share) is an error of its own. A package database
// or manifest an extractor cannot parse is not an error: it is listed in Inventory.Problems.
//
// Applying layers streams them, in a few megabytes of memory whatever the layer (a zstd
// layer's window aside, at most 128 MiB). Running the extractors takes a parse slot of
// lim.Budget, waiting for one if need be.
func Extract(ctx context.Context, layers []Layer, lim Limits) (Inventory, error) {
	lim = lim.WithDefaults()
	ex, err := wiredExtractors(lim)
	if err != nil {
		return Inventory{}, err
	}
	scratch := lim.Budget.lease()
	defer scratch.release() // whatever happens, a panic included
	for {
		inv, err := extract(ctx, layers, lim, ex, scratch)
		if !errors.Is(err, errGiveWay) {
			return inv, err
		}
		scratch.release()
	}
}

// extract is one attempt of Extract, which the scratch space budget may ask to start again.
func extract(ctx context.Context, layers []Layer, lim Limits, ex []wiredExtractor, scratch *lease) (Inventory, error) {
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

	a := &applier{ctx: ctx, t: t, lim: lim, scratch: scratch, ex: ex, layers: layers, buf: make([]byte, 32<<10)}
	for i, l := range layers {
		if err := a.apply(ctx, i, l); err != nil {
			return Inventory{}, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
	}
	release, err := lim.Budget.Acquire(ctx)
	if err != nil {
		return Inventory{}, err
	}
	defer release()
	return a.inventory(ctx)
}

// applier applies layers to the scratch tree, keeping only the files extractors need.
type applier struct {
	ctx      context.Context
	t        *tree
	lim      Limits
	scratch  *lease
	ex       []wiredExtractor
	layers   []Layer
	entries  int64
	packages int64 // found so far (Limits.MaxPackages)
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
			return n, limitErr("MaxLayerBytes", max, "", "the layer decompresses to more than %d bytes", max)
		}
		if max := m.lim.MaxCompressionRatio; max > 0 && m.n > ratioFloor && m.n/max64(m.compressed.n, 1) > max {
			return n, limitErr("MaxCompressionRatio", max, "", "the layer expands more than %d times (%d bytes from %d)", max, m.n, m.compressed.n)
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

func (a *applier) entry(layer int, hdr *tar.Header, r io.Reader) (err error) {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	a.entries++
	if max := a.lim.MaxEntries; max > 0 && a.entries > max {
		return limitErr("MaxEntries", max, "", "the image has more than %d archive entries", max)
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if len(name) > maxNameLength || len(hdr.Linkname) > maxNameLength {
		return limitErr("maxNameLength", maxNameLength, "", "entry %.64q… has a name or link target longer than %d bytes (PATH_MAX)", hdr.Name, maxNameLength)
	}
	if strings.Count(name, "/") >= maxPathDepth {
		return limitErr("maxPathDepth", maxPathDepth, "", "entry %.64q… is more than %d directories deep", hdr.Name, maxPathDepth)
	}
	defer func() {
		if err == nil {
			err = a.checkTree()
		}
	}()
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
	want := a.wanted(name, hdr.FileInfo())
	if !want.any {
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
	if max := want.maxBytes; max > 0 && hdr.Size > max {
		if !want.binaryOnly {
			return limitErr(want.limit, max, name, "is larger than %d bytes (%d)", max, hdr.Size)
		}
		a.problems = append(a.problems, Problem{
			Path:      "/" + name,
			Extractor: strings.Join(want.names, ", "),
			Message:   fmt.Sprintf("not inspected: %d bytes is over MaxFileBytes (%d)", hdr.Size, max),
		})
		return nil
	}
	if err := a.checkKept(); err != nil {
		return err
	}

	var sniff *markerScanner
	if want.binaryOnly {
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
	err = a.copyFile(f, real, r, want, sniff)
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

// copyFile copies r into f (the tree's file p), enforcing the file's size limit (again: a
// sparse entry may expand beyond its header's size) and MaxTotalBytes, and reserving the
// scratch space it takes from the budget shared with other scans.
func (a *applier) copyFile(f io.Writer, p string, r io.Reader, want wanted, sniff *markerScanner) error {
	var written int64
	for {
		n, rerr := r.Read(a.buf)
		if n > 0 {
			written += int64(n)
			if max := want.maxBytes; max > 0 && written > max {
				return limitErr(want.limit, max, p, "is larger than %d bytes", max)
			}
			if err := a.reserve(int64(n)); err != nil {
				return err
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

// reserve makes room for n more bytes in the scratch directory: within MaxTotalBytes, and
// reserved from the budget all scans share.
func (a *applier) reserve(n int64) error {
	if max := a.lim.MaxTotalBytes; max > 0 && a.t.bytes+n > max {
		return limitErr("MaxTotalBytes", max, "", "the files kept for the extractors take more than %d bytes", max)
	}
	return a.scratch.reserve(a.ctx, a.t.bytes+n)
}

// checkKept is called before a file is added to the tree.
func (a *applier) checkKept() error {
	if max := a.lim.MaxKeptFiles; max > 0 && a.t.nfiles >= max {
		return limitErr("MaxKeptFiles", max, "", "the image has more than %d files for the extractors to read", max)
	}
	return nil
}

// checkTree is called after each archive entry.
func (a *applier) checkTree() error {
	if max := a.lim.MaxNameBytes; max > 0 && a.t.names > max {
		return limitErr("MaxNameBytes", max, "", "the names of the files, directories and symbolic links kept take more than %d bytes", max)
	}
	return nil
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
	if !a.wanted(name, info).any {
		return nil
	}
	if err := a.checkKept(); err != nil {
		return err
	}
	// A link is accounted as a copy: the content stays on disk as long as either name does,
	// so removing one must not let the scan write the same bytes again.
	if err := a.reserve(n.size); err != nil {
		return err
	}
	if d := path.Dir(real); d != "." {
		if err := a.t.mkdirAll(d, layer); err != nil {
			return err
		}
	}
	if err := a.t.root.Link(realTarget, real); err != nil {
		return err
	}
	a.t.link(real, n.size, layer)
	return nil
}

// osReleaseFiles are kept for every image: the extractors read the distribution from them.
var osReleaseFiles = map[string]bool{"etc/os-release": true, "usr/lib/os-release": true}

// companion tells whether a file is read along with a package database without being one:
// the write-ahead log of an rpm SQLite database holds transactions not yet copied into it.
func companion(name string) bool {
	return path.Base(name) == "rpmdb.sqlite-wal"
}

// wanted is what the extractors want of a file.
type wanted struct {
	any        bool     // some extractor reads it
	binaryOnly bool     // only the binary extractors do
	names      []string // the extractors that do
	// maxBytes is the file's size limit, the least of those of the extractors reading it
	// (0: none), and limit the name of that limit.
	maxBytes int64
	limit    string
}

// wanted tells what the extractors want of the file at name.
func (a *applier) wanted(name string, info os.FileInfo) wanted {
	api := fileAPI{path: name, info: info}
	w := wanted{binaryOnly: true}
	bound := func(limit string, max int64) {
		if max > 0 && (w.maxBytes == 0 || max < w.maxBytes) {
			w.limit, w.maxBytes = limit, max
		}
	}
	for _, e := range a.ex {
		if e.wants(api) {
			w.any = true
			w.binaryOnly = w.binaryOnly && e.binary
			w.names = append(w.names, e.ex.Name())
			bound(e.sizeLimit(a.lim, name))
		}
	}
	switch {
	case osReleaseFiles[name]:
		w.any, w.binaryOnly = true, false
		bound("maxOSReleaseBytes", maxOSReleaseBytes)
	case companion(name):
		w.any, w.binaryOnly = true, false
		bound("MaxFileBytes", a.lim.MaxFileBytes)
	}
	w.binaryOnly = w.any && w.binaryOnly
	return w
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
