package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// The scratch tree holds the files of the image that some extractor reads, at their paths in
// the image, and nothing else. Three rules keep it safe against hostile layers:
//
//   - Every operation goes through an os.Root opened on the scratch directory, so no name
//     can leave it whatever the name or the directory contents say.
//   - Symbolic links of the image are not created on disk. They are kept in memory (node.target)
//     and resolved by resolve with the image's semantics: an absolute target is relative to
//     the image root, and a target that climbs above the root is an error (ErrUnsafePath).
//     The disk therefore holds only directories and regular files, so neither Berth nor an
//     extractor that opens files by path (the rpm extractor hands a path to SQLite) can be
//     led anywhere by a link.
//   - Directories are created 0700 and files 0600 plus the image's executable bits, whatever
//     the archive asks, so the tree can always be read and removed.

// maxLinkHops bounds symbolic link resolution (Linux's MAXSYMLINKS).
const maxLinkHops = 40

type nodeKind int

const (
	dirNode nodeKind = iota
	fileNode
	linkNode
)

type node struct {
	kind   nodeKind
	layer  int    // index of the layer that created it
	size   int64  // bytes on disk (fileNode)
	target string // link target as written in the archive (linkNode)
}

type tree struct {
	dir    string
	root   *os.Root
	nodes  map[string]node // by resolved path in the image, without leading slash
	links  int             // number of linkNodes; zero lets resolve skip the lookups
	bytes  int64           // bytes held by fileNodes
	nfiles int64           // number of fileNodes
	names  int64           // bytes of the names and link targets in nodes (Limits.MaxNameBytes)
}

func openTree(dir string) (*tree, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &tree{dir: dir, root: root, nodes: map[string]node{}}, nil
}

func (t *tree) close() error { return t.root.Close() }

// resolve returns the path that p names in the image, with every symbolic link among its
// directories replaced by its target, and the last element too if followLast is set.
func (t *tree) resolve(p string, followLast bool) (string, error) {
	if t.links == 0 {
		return p, nil
	}
	var out []string
	rest := splitPath(p)
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(out) == 0 {
				return "", fmt.Errorf("%w: %q resolves above the image root", ErrUnsafePath, p)
			}
			out = out[:len(out)-1]
			continue
		}
		cur := strings.Join(append(out, c), "/")
		switch {
		// The cost of each step, and of creating what is at the end, grows with these.
		case len(cur) > maxNameLength:
			return "", limitErr("maxNameLength", maxNameLength, "", "%.64q… resolves to a path longer than %d bytes (PATH_MAX)", p, maxNameLength)
		case len(out) >= maxPathDepth:
			return "", limitErr("maxPathDepth", maxPathDepth, "", "%.64q… resolves to a path more than %d directories deep", p, maxPathDepth)
		}
		if n, ok := t.nodes[cur]; ok && n.kind == linkNode && (len(rest) > 0 || followLast) {
			if hops++; hops > maxLinkHops {
				return "", fmt.Errorf("%w: %q: too many levels of symbolic links", ErrUnsafePath, p)
			}
			if strings.HasPrefix(n.target, "/") {
				out = out[:0]
			}
			rest = append(splitPath(n.target), rest...)
			continue
		}
		out = append(out, c)
	}
	return strings.Join(out, "/"), nil
}

// resolveParent resolves the directories of p but not its last element.
func (t *tree) resolveParent(p string) (string, error) {
	dir, base := path.Split(p)
	if dir == "" {
		return base, nil
	}
	d, err := t.resolve(strings.TrimSuffix(dir, "/"), true)
	if err != nil {
		return "", err
	}
	return joinPath(d, base), nil
}

// mkdirAll creates the directory d (already resolved) and its parents. A file in the way is
// replaced, as a later layer's directory would replace it. The directories are created each
// in its parent, opened once, so that a deep path costs a system call or two per level rather
// than a walk from the root per level.
func (t *tree) mkdirAll(d string, layer int) error {
	if d == "" {
		return nil
	}
	parts := splitPath(d)
	i := 0 // the first level that is not a directory of the tree yet
	for ; i < len(parts); i++ {
		if n, ok := t.nodes[strings.Join(parts[:i+1], "/")]; !ok || n.kind != dirNode {
			break
		}
	}
	if i == len(parts) {
		return nil
	}
	parent := t.root
	if i > 0 {
		r, err := t.root.OpenRoot(strings.Join(parts[:i], "/"))
		if err != nil {
			return err
		}
		parent = r
	}
	defer func() {
		if parent != t.root {
			parent.Close()
		}
	}()
	for ; i < len(parts); i++ {
		p := strings.Join(parts[:i+1], "/")
		if n, ok := t.nodes[p]; ok && n.kind != dirNode {
			if err := t.remove(p); err != nil {
				return err
			}
		}
		if err := parent.Mkdir(parts[i], 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		t.put(p, node{kind: dirNode, layer: layer})
		if i == len(parts)-1 {
			break
		}
		next, err := parent.OpenRoot(parts[i])
		if err != nil {
			return err
		}
		if parent != t.root {
			parent.Close()
		}
		parent = next
	}
	return nil
}

// remove deletes p (resolved) and everything under it.
func (t *tree) remove(p string) error {
	n, ok := t.nodes[p]
	if !ok {
		return nil
	}
	if n.kind != linkNode {
		if err := t.root.RemoveAll(p); err != nil {
			return err
		}
	}
	t.forget(p, n)
	if n.kind == dirNode {
		for k, c := range t.nodes {
			if strings.HasPrefix(k, p+"/") {
				t.forget(k, c)
			}
		}
	}
	return nil
}

// put records n at p, accounting for what it replaces.
func (t *tree) put(p string, n node) {
	if old, ok := t.nodes[p]; ok {
		t.forget(p, old)
	}
	switch n.kind {
	case fileNode:
		t.bytes += n.size
		t.nfiles++
	case linkNode:
		t.links++
	}
	t.names += int64(len(p) + len(n.target))
	t.nodes[p] = n
}

func (t *tree) forget(p string, n node) {
	switch n.kind {
	case fileNode:
		t.bytes -= n.size
		t.nfiles--
	case linkNode:
		t.links--
	}
	t.names -= int64(len(p) + len(n.target))
	delete(t.nodes, p)
}

// hide applies a whiteout of layer to p (resolved): what lower layers put at p (if self) and
// below p disappears; what layer itself put there stays, as OCI whiteouts only hide lower
// layers. Directories of lower layers stay as empty containers, which changes nothing the
// extractors see.
func (t *tree) hide(p string, self bool, layer int) error {
	var victims []string
	for k, n := range t.nodes {
		if n.layer >= layer || n.kind == dirNode {
			continue
		}
		if (self && k == p) || p == "" || strings.HasPrefix(k, p+"/") {
			victims = append(victims, k)
		}
	}
	for _, k := range victims {
		n := t.nodes[k]
		if n.kind == fileNode {
			if err := t.root.Remove(k); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		t.forget(k, n)
	}
	return nil
}

// files returns the regular files of the tree, sorted.
func (t *tree) files() []string {
	var out []string
	for k, n := range t.nodes {
		if n.kind == fileNode {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// fsys returns the tree as osv-scalibr's file system interface (fs.FS, fs.ReadDirFS,
// fs.StatFS), resolving the image's symbolic links in memory.
func (t *tree) fsys() *treeFS { return &treeFS{t: t} }

type treeFS struct{ t *tree }

func (f *treeFS) path(op, name string, followLast bool) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return ".", nil
	}
	p, err := f.t.resolve(name, followLast)
	if err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	if p == "" {
		return ".", nil
	}
	return p, nil
}

func (f *treeFS) Open(name string) (fs.File, error) {
	p, err := f.path("open", name, true)
	if err != nil {
		return nil, err
	}
	return f.t.root.Open(p)
}

func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	p, err := f.path("stat", name, true)
	if err != nil {
		return nil, err
	}
	return f.t.root.Stat(p)
}

// ReadDir lists a directory: what is on disk plus the symbolic links kept in memory.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.path("readdir", name, true)
	if err != nil {
		return nil, err
	}
	d, err := f.t.root.Open(p)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	prefix := p + "/"
	if p == "." {
		prefix = ""
	}
	for k, n := range f.t.nodes {
		if n.kind == linkNode && strings.HasPrefix(k, prefix) && !strings.Contains(k[len(prefix):], "/") {
			entries = append(entries, linkEntry{name: k[len(prefix):], target: n.target})
		}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// linkEntry is a symbolic link kept in memory, as a directory entry and its FileInfo.
type linkEntry struct{ name, target string }

func (l linkEntry) Name() string               { return l.name }
func (l linkEntry) IsDir() bool                { return false }
func (l linkEntry) Type() fs.FileMode          { return fs.ModeSymlink }
func (l linkEntry) Info() (fs.FileInfo, error) { return l, nil }
func (l linkEntry) Size() int64                { return int64(len(l.target)) }
func (l linkEntry) Mode() fs.FileMode          { return fs.ModeSymlink | 0o777 }
func (l linkEntry) ModTime() time.Time         { return time.Time{} }
func (l linkEntry) Sys() any                   { return nil }

// create creates the regular file p (resolved, its directory existing) with the image's
// executable bits. The file is recorded at once so that it is removed with the tree even if
// writing it fails; grow accounts for what is written.
func (t *tree) create(p string, mode fs.FileMode, layer int) (*os.File, error) {
	f, err := t.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600|mode&0o111)
	if err != nil {
		return nil, err
	}
	t.put(p, node{kind: fileNode, layer: layer})
	return f, nil
}

func (t *tree) grow(p string, n int64) {
	nd := t.nodes[p]
	nd.size += n
	t.nodes[p] = nd
	t.bytes += n
}

// symlink records a symbolic link at p (resolved) to target.
func (t *tree) symlink(p, target string, layer int) {
	t.put(p, node{kind: linkNode, layer: layer, target: target})
}

// link records the regular file p (resolved), just hard-linked on disk to another file of
// size bytes.
func (t *tree) link(p string, size int64, layer int) {
	t.put(p, node{kind: fileNode, layer: layer, size: size})
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func joinPath(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}
