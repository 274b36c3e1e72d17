package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

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
		{"no subcommand", []string{"vulndb"}, 2, "Usage: berth vulndb import"},
		{"help", []string{"vulndb", "import", "--help"}, 0, "all.zip"},
		{"unknown subcommand", []string{"vulndb", "export"}, 2, `unknown command "export"`},
		{"no path", []string{"vulndb", "import", "--data-dir", dir}, 2, "no PATH given"},
		{"status with arguments", []string{"vulndb", "status", "now", "--data-dir", dir}, 2, "unexpected arguments"},
		{"no data directory", []string{"vulndb", "status", "--data-dir", filepath.Join(dir, "nowhere")}, 2, "no database"},
		{"invalid config", []string{"vulndb", "status", "--addr", "nonsense"}, 2, "BERTH_ADDR (addr)"},
		{"nothing imported", []string{"vulndb", "status", "--data-dir", dir}, 0, "no vulnerability database imported"},
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
