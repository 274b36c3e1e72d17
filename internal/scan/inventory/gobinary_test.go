package inventory

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// buildGoBinary builds a small program that depends on github.com/package-url/packageurl-go
// (in Berth's module graph, so in the module cache) without touching the network.
func buildGoBinary(t *testing.T) (bin []byte, goVersion string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not available")
	}
	src := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/hello\n\ngo 1.22\n\nrequire github.com/package-url/packageurl-go v0.1.7\n",
		"main.go": `package main

import (
	"fmt"

	"github.com/package-url/packageurl-go"
)

func main() { fmt.Println(packageurl.TypeGolang) }
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command(goCmd, "build", "-o", out, ".")
	cmd.Dir = src
	// The module cache has the dependency; GOFLAGS=-mod=mod with GOSUMDB=off lets the go
	// command record its checksum from the cache instead of asking the network.
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOSUMDB=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	bin, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	v, err := exec.Command(goCmd, "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	return bin, strings.TrimSpace(string(v))
}

func TestExtractGoBinary(t *testing.T) {
	t.Parallel()
	bin, goVersion := buildGoBinary(t)
	lim, clean := scratch(t, Limits{})
	base := gzLayer(t,
		executable("usr/local/bin/hello", bin),
		hardlink("usr/local/bin/hello-again", "usr/local/bin/hello"),
		symlink("usr/bin/hello", "/usr/local/bin/hello"),
		// Executables that are no Go binaries are passed over.
		executable("usr/local/bin/run.sh", []byte("#!/bin/sh\nexec hello\n")),
		executable("usr/lib/libfake.so", append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{0}, 4096)...)),
	)
	inv, err := Extract(context.Background(), []Layer{base}, lim)
	if err != nil {
		t.Fatal(err)
	}
	clean()

	locations := []string{"/usr/local/bin/hello", "/usr/local/bin/hello-again"}
	for _, w := range []want{
		{"Go", "stdlib", "", strings.TrimPrefix(goVersion, "go"), ""},
		{"Go", "github.com/package-url/packageurl-go", "", "0.1.7", ""},
		{"Go", "example.com/hello", "", "(devel)", ""},
	} {
		p := pkgIn(t, inv, w.ecosystem, w.name)
		if p.Version != w.version {
			t.Errorf("%s: version %q, want %q", w.name, p.Version, w.version)
		}
		if !slices.Equal(p.Locations, locations) {
			t.Errorf("%s: locations %v, want %v", w.name, p.Locations, locations)
		}
		if p.Layer != base.Digest {
			t.Errorf("%s: layer %q, want %q", w.name, p.Layer, base.Digest)
		}
	}
	if p := pkgIn(t, inv, "Go", "stdlib"); p.PURL != "pkg:golang/stdlib@"+strings.TrimPrefix(goVersion, "go") {
		t.Errorf("stdlib PURL = %q", p.PURL)
	}
	if len(inv.Packages) != 3 {
		t.Errorf("packages: %s, want 3", describe(inv))
	}
}

func TestBinaryMarkers(t *testing.T) {
	t.Parallel()
	marker := []byte("\xff Go buildinf:")
	tests := []struct {
		name   string
		chunks [][]byte
		found  bool
	}{
		{"none", [][]byte{bytes.Repeat([]byte("x"), 100), []byte("yz")}, false},
		{"in a chunk", [][]byte{[]byte("abc"), append([]byte("..."), marker...)}, true},
		{"split between chunks", [][]byte{append(bytes.Repeat([]byte("a"), 50), marker[:5]...), append(marker[5:], 'b')}, true},
		{"split over three small chunks", [][]byte{marker[:3], marker[3:6], marker[6:]}, true},
		{"cargo-auditable section name", [][]byte{[]byte("\x00.dep-v0\x00")}, true},
	}
	for _, tt := range tests {
		var s markerScanner
		for _, c := range tt.chunks {
			s.feed(c)
		}
		if s.found != tt.found {
			t.Errorf("%s: found = %v, want %v", tt.name, s.found, tt.found)
		}
	}
}
