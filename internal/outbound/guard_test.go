package outbound

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOnlyOutboundMakesClients fails on any HTTP client made outside this package: an
// http.Client or http.Transport literal, http.DefaultClient or http.DefaultTransport, or
// http.Get/Head/Post/PostForm (which use http.DefaultClient) — in the module's code, tests,
// test-support packages (…test) and the benchmark tool (bench/), which send nothing for the
// server, excepted.
func TestOnlyOutboundMakesClients(t *testing.T) {
	root := filepath.Join("..", "..")
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			base := d.Name()
			switch {
			case rel == "bench", rel == "test", rel == filepath.Join("internal", "outbound"),
				strings.HasPrefix(base, ".") && rel != ".", base == "testdata",
				strings.HasSuffix(base, "test") && base != "test":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		found = append(found, clientsIn(t, path, rel)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s: make outbound HTTP clients with internal/outbound (NewClient, NewTransport)", f)
	}
}

// clientsIn lists what makes an HTTP client in one file.
func clientsIn(t *testing.T, path, rel string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	httpName := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "net/http" {
			httpName = "http"
			if imp.Name != nil {
				httpName = imp.Name.Name
			}
		}
	}
	if httpName == "" {
		return nil
	}
	isHTTP := func(e ast.Expr, names ...string) (string, bool) {
		sel, ok := e.(*ast.SelectorExpr)
		if !ok {
			return "", false
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok || id.Name != httpName {
			return "", false
		}
		for _, n := range names {
			if sel.Sel.Name == n {
				return n, true
			}
		}
		return "", false
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if name, ok := isHTTP(n.Type, "Client", "Transport"); ok {
				out = append(out, rel+":"+strconv.Itoa(fset.Position(n.Pos()).Line)+": http."+name+" literal")
			}
		case *ast.SelectorExpr:
			if name, ok := isHTTP(n, "DefaultClient", "DefaultTransport"); ok {
				out = append(out, rel+":"+strconv.Itoa(fset.Position(n.Pos()).Line)+": http."+name)
			}
		case *ast.CallExpr:
			if name, ok := isHTTP(n.Fun, "Get", "Head", "Post", "PostForm"); ok {
				out = append(out, rel+":"+strconv.Itoa(fset.Position(n.Pos()).Line)+": http."+name+" (http.DefaultClient)")
			}
		}
		return true
	})
	return out
}
