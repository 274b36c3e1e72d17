package layering

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/berthreg/berth/"

// layers assigns every package of the module (outside tests) its layer; a package may import
// packages of its own layer and of the layers below it, never above.
var layers = map[string]int{
	// 0: the stores and the plain data and errors every layer shares.
	"internal/fault":          0,
	"internal/config":         0,
	"internal/logctx":         0,
	"internal/origin":         0,
	"internal/input":          0,
	"internal/outbound":       0,
	"internal/meta":           0,
	"internal/blob":           0,
	"internal/scan/report":    0,
	"internal/scan/inventory": 0,
	// 1: identity, the authorization decision, the job queue, the event stream.
	"internal/auth":        1,
	"internal/rbac":        1,
	"internal/jobs":        1,
	"internal/events":      1,
	"internal/scan/vulndb": 1,
	// 2: services, which hold the rules.
	"internal/audit":        2,
	"internal/jobmonitor":   2,
	"internal/project":      2,
	"internal/registry":     2,
	"internal/retention":    2,
	"internal/gc":           2,
	"internal/scan":         2,
	"internal/scan/adapter": 2,
	"internal/fsck":         2,
	"internal/settings":     2,
	"internal/catalog":      2,
	"internal/health":       2,
	"internal/label":        2,
	"internal/auth/account": 2,
	"internal/auth/session": 2,
	"internal/auth/user":    2,
	"internal/auth/robot":   2,
	"internal/auth/group":   2,
	// 3: HTTP entry points, which parse and answer through the services.
	"internal/oci":    3,
	"internal/api":    3,
	"internal/portal": 3,
	// 4: wiring; 5: commands and tools.
	"internal/server":      4,
	"cmd/berth":            5,
	"bench/cmd/berthbench": 5,
}

// stores never speak HTTP; httpPackages never use the metadata store but through services.
var (
	stores       = []string{"internal/meta", "internal/blob"}
	httpPackages = []string{"internal/oci", "internal/api", "internal/portal"}
)

type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
	Export     string
	Standard   bool
}

// goList runs go list -json over patterns with the given extra flags.
func goList(t *testing.T, flags []string, patterns ...string) []listed {
	t.Helper()
	args := append(append([]string{"list", "-json"}, flags...), patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestDependenciesPointDown(t *testing.T) {
	for _, p := range goList(t, nil, "./...") {
		name := strings.TrimPrefix(p.ImportPath, module)
		if testSupport(name) || strings.HasPrefix(name, "test/") || name == "internal/layering" {
			continue // used only by tests
		}
		layer, ok := layers[name]
		if !ok {
			t.Errorf("package %s has no layer: give it one in layers (internal/layering)", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if testSupport(dep) {
				t.Errorf("%s imports the test support package %s outside its tests", name, dep)
				continue
			}
			if l, ok := layers[dep]; ok && l > layer {
				t.Errorf("%s (layer %d) imports %s (layer %d): dependencies point down", name, layer, dep, l)
			}
		}
	}
}

// testSupport reports whether a package only helps tests (metatest, blobtest, audittest).
func testSupport(name string) bool {
	base := name[strings.LastIndex(name, "/")+1:]
	return strings.HasSuffix(base, "test") && base != "test"
}

func TestStoresDoNotSpeakHTTP(t *testing.T) {
	for _, s := range stores {
		for _, p := range goList(t, nil, "./"+s) {
			deps := goList(t, []string{"-deps"}, "./"+s)
			for _, d := range deps {
				if d.ImportPath == "net/http" {
					t.Errorf("%s depends on net/http (through its imports %v): a store knows nothing of HTTP", p.ImportPath, p.Imports)
				}
			}
		}
	}
}

// TestHTTPPackagesUseServices type-checks the HTTP packages and fails on any use of the
// metadata store itself (its DB and Tx types, or their methods) instead of a service.
func TestHTTPPackagesUseServices(t *testing.T) {
	var pkgs []string
	for _, p := range httpPackages {
		if _, err := os.Stat(filepath.Join("../..", p)); err == nil {
			pkgs = append(pkgs, "./"+p)
		}
	}
	all := goList(t, []string{"-deps", "-export"}, pkgs...)
	exports := map[string]string{}
	for _, p := range all {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	for _, p := range all {
		name := strings.TrimPrefix(p.ImportPath, module)
		if !slices.Contains(httpPackages, name) {
			continue
		}
		var files []*ast.File
		for _, f := range p.GoFiles {
			af, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, af)
		}
		info := &types.Info{Uses: map[*ast.Ident]types.Object{}, Selections: map[*ast.SelectorExpr]*types.Selection{}}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-check %s: %v", name, err)
		}
		for id, obj := range info.Uses {
			if isStoreType(obj) {
				t.Errorf("%s: %s uses the metadata store's %s: go through a service", fset.Position(id.Pos()), name, obj.Name())
			}
		}
		for sel, s := range info.Selections {
			if s.Kind() == types.MethodVal && isStoreReceiver(s.Recv()) {
				t.Errorf("%s: %s calls the metadata store's %s: go through a service", fset.Position(sel.Pos()), name, s.Obj().Name())
			}
		}
	}
}

func isStoreType(obj types.Object) bool {
	tn, ok := obj.(*types.TypeName)
	return ok && tn.Pkg() != nil && tn.Pkg().Path() == module+"internal/meta" && (tn.Name() == "DB" || tn.Name() == "Tx")
}

func isStoreReceiver(t types.Type) bool {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && isStoreType(n.Obj())
}
