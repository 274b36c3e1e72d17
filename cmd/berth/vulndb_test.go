package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

func TestVulndbCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// The server's store stays open throughout: the command runs beside it.
	db, err := meta.Open(ctx, "", filepath.Join(dir, "berth.db"), meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fixtures := filepath.Join("..", "..", "internal", "scan", "vulndb", "testdata", "osv")
	goRecord := filepath.Join(fixtures, "GO-2023-1571.json")

	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no subcommand", []string{"vulndb"}, 2, "Usage: berth vulndb update"},
		{"help", []string{"vulndb", "import", "--help"}, 0, "all.zip"},
		{"unknown subcommand", []string{"vulndb", "export"}, 2, `unknown command "export" (update, import or status)`},
		{"update with arguments", []string{"vulndb", "update", "Debian", "--data-dir", dir}, 2, "unexpected arguments"},
		{"no path", []string{"vulndb", "import", "--data-dir", dir}, 2, "no PATH given"},
		{"status with arguments", []string{"vulndb", "status", "now", "--data-dir", dir}, 2, "unexpected arguments"},
		{"no data directory", []string{"vulndb", "status", "--data-dir", filepath.Join(dir, "nowhere")}, 2, "no database"},
		{"invalid config", []string{"vulndb", "status", "--addr", "nonsense"}, 2, "BERTH_ADDR (addr)"},
		{"nothing imported", []string{"vulndb", "status", "--data-dir", dir}, 0, "no vulnerability database: run berth vulndb update or import"},
		{"no schedule", []string{"vulndb", "status", "--data-dir", dir}, 0, "no scheduled update"},
		{"missing path", []string{"vulndb", "import", filepath.Join(dir, "all.zip"), "--data-dir", dir}, 1, "no such file"},
		{"import, paths first", []string{"vulndb", "import", fixtures, "--data-dir", dir}, 0, "imported vulnerability database generation 1"},
		{"malformed records listed", []string{"vulndb", "import", fixtures, "--data-dir", dir}, 0, "malformed: osv: broken/truncated.json"},
		{"per ecosystem", []string{"vulndb", "import", fixtures, "--data-dir", dir}, 0, "  crates.io  1\n"},
		{"import, flags first", []string{"vulndb", "import", "--data-dir", dir, goRecord}, 0, "(replaces generation 3)"},
		{"only malformed", []string{"vulndb", "import", filepath.Join(fixtures, "broken"), "--data-dir", dir}, 1, "no valid vulnerability records"},
		{"status", []string{"vulndb", "status", "--data-dir", dir}, 0, "generation 4, imported"},
		{"status shows the failed import", []string{"vulndb", "status", "--data-dir", dir}, 0, "last import: generation 5 failed"},
	} {
		var out, errOut bytes.Buffer
		code := run(tt.args, strings.NewReader(""), &out, &errOut)
		if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.contains) {
			t.Fatalf("%s: exit %d (stdout %q, stderr %q), want %d containing %q", tt.name, code, out.String(), errOut.String(), tt.code, tt.contains)
		}
	}

	var out bytes.Buffer
	if code := run([]string{"vulndb", "import", "--json", fixtures, "--data-dir", dir}, nil, &out, &out); code != 0 {
		t.Fatalf("import --json: exit %d: %s", code, out.String())
	}
	var rep vulndb.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Generation != 6 || rep.Records != 13 || rep.Malformed != 3 {
		t.Fatalf("import --json output %q: %+v, %v", out.String(), rep, err)
	}
	out.Reset()
	if code := run([]string{"vulndb", "status", "--json", "--data-dir", dir}, nil, &out, &out); code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, out.String())
	}
	var st vulndb.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Generation != 6 || st.Vulnerabilities != 13 || st.Ecosystems["Go"] != 3 {
		t.Fatalf("status --json output %q: %+v, %v", out.String(), st, err)
	}
	// The server's store sees the command's import.
	if gen, err := vulndb.New(db).Generation(ctx); err != nil || gen != 6 {
		t.Fatalf("the server sees generation %d, %v; want 6", gen, err)
	}
}

// TestVulndbUpdateCommand runs berth vulndb update against a local archive server: it downloads
// and imports, finds nothing new the second time, refuses a corrupt archive, and refuses to run
// at all when air-gapped.
func TestVulndbUpdateCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := meta.Open(ctx, "", filepath.Join(dir, "berth.db"), meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	goRecord, err := os.ReadFile(filepath.Join("..", "..", "internal", "scan", "vulndb", "testdata", "osv", "GO-2023-1571.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("GO-2023-1571.json")
	w.Write(goRecord)
	zw.Close()
	var mu sync.Mutex
	body := buf.Bytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := body
		mu.Unlock()
		if r.URL.Path != "/Go/all.zip" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", fmt.Sprintf(`"%d-%x"`, len(b), b[len(b)-8:]))
		http.ServeContent(w, r, "all.zip", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), bytes.NewReader(b))
	}))
	defer srv.Close()
	conf := filepath.Join(dir, "berth.yaml")
	os.WriteFile(conf, []byte("vulndb_update_url: "+srv.URL+"\nvulndb_update_ecosystems: Go, Debian\n"), 0o600)
	gapped := filepath.Join(dir, "gapped.yaml")
	os.WriteFile(gapped, []byte("vulndb_update_url: "+srv.URL+"\nair_gapped: true\n"), 0o600)

	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"first update", []string{"vulndb", "update", "--config", conf, "--data-dir", dir}, 0, "imported generation 1 (1 vulnerabilities)"},
		{"archives listed", []string{"vulndb", "status", "--data-dir", dir}, 0, "from " + srv.URL + "/Go/all.zip (zip, "},
		{"an archive not published", []string{"vulndb", "update", "--config", conf, "--data-dir", dir}, 0, srv.URL + "/Debian/all.zip  missing"},
		{"unchanged", []string{"vulndb", "update", "--config", conf, "--data-dir", dir}, 0, "archives: 0 downloaded, 1 unchanged, 1 not published; the database is current"},
		{"status shows the last update", []string{"vulndb", "status", "--data-dir", dir}, 0, "last update (manual): Success"},
		{"air-gapped", []string{"vulndb", "update", "--config", gapped, "--data-dir", dir}, 2, "air_gapped is set"},
	} {
		var out, errOut bytes.Buffer
		code := run(tt.args, strings.NewReader(""), &out, &errOut)
		if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.contains) {
			t.Fatalf("%s: exit %d (stdout %q, stderr %q), want %d containing %q", tt.name, code, out.String(), errOut.String(), tt.code, tt.contains)
		}
	}

	// A corrupt archive: exit 1, the database in use unchanged.
	mu.Lock()
	body = body[:len(body)/2]
	mu.Unlock()
	var out bytes.Buffer
	if code := run([]string{"vulndb", "update", "--json", "--config", conf, "--data-dir", dir}, nil, &out, &out); code != 1 ||
		!strings.Contains(out.String(), "not a readable zip archive") {
		t.Fatalf("corrupt archive: exit %d: %s", code, out.String())
	}
	if gen, err := vulndb.New(db).Generation(ctx); err != nil || gen != 1 {
		t.Fatalf("generation %d, %v after a corrupt archive; want 1", gen, err)
	}
}
