package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/fsck"
	"github.com/berthreg/berth/internal/meta"
)

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no command", nil, 2, "Usage:"},
		{"unknown", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "berth "},
		{"help", []string{"help"}, 0, "berth serve"},
		{"serve help", []string{"serve", "--help"}, 0, "BERTH_DATABASE_URL"},
		{"invalid config", []string{"serve", "--addr", "nonsense"}, 2, "BERTH_ADDR (addr)"},
		{"passwd without user", []string{"admin", "passwd"}, 2, "usage: berth admin passwd USER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tt.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String()+errOut.String(), tt.contains) {
				t.Fatalf("output lacks %q: %q %q", tt.contains, out.String(), errOut.String())
			}
		})
	}
}

func TestAdminPasswd(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := meta.Open(ctx, "", dir+"/berth.db", meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashPassword("Old12345678")
	if _, err := db.CreateUser(ctx, meta.User{Username: "admin", PasswordHash: hash, SysAdmin: true}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cases := []struct {
		name, user, input string
		code              int
		contains          string
	}{
		{"weak password", "admin", "short\n", 1, "8 to 128"},
		{"no digit", "admin", "NoDigitsHere\n", 1, "digit"},
		{"unknown user", "nobody", "Valid12345\n", 1, `no local user "nobody"`},
		{"empty input", "admin", "", 1, "no password"},
		{"success", "admin", "New12345678\n", 0, "password of admin changed"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run([]string{"admin", "passwd", c.user, "--data-dir", dir}, strings.NewReader(c.input), &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.contains) {
			t.Fatalf("%s: exit %d (%q %q), want %d containing %q", c.name, code, out.String(), errOut.String(), c.code, c.contains)
		}
	}
	db, err = meta.Open(ctx, "", dir+"/berth.db", meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.VerifyPassword(u.PasswordHash, "New12345678"); !ok {
		t.Fatal("new password not stored")
	}
}

func TestFsck(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := meta.Open(ctx, "", filepath.Join(dir, "berth.db"), meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := blob.NewFS(filepath.Join(dir, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	uid, err := db.CreateUser(ctx, meta.User{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := db.CreateProject(ctx, meta.Project{Name: "proj", OwnerID: uid})
	if err != nil {
		t.Fatal(err)
	}
	layer := digest.FromString("layer")
	if err := store.Put(ctx, layer, []byte("layer")); err != nil {
		t.Fatal(err)
	}
	if err := db.LinkBlob(ctx, pid, "proj/app", layer.String(), 5, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// An object without a row, written two hours ago.
	unknown := digest.FromString("left behind")
	if err := store.Put(ctx, unknown, []byte("left behind")); err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "storage", "blobs", "sha256", unknown.Encoded()[:2], unknown.Encoded()), then, then); err != nil {
		t.Fatal(err)
	}

	missing := filepath.Join(dir, "nowhere")
	// A database without blob storage beside it.
	storeless := t.TempDir()
	if db, err := meta.Open(ctx, "", filepath.Join(storeless, "berth.db"), meta.Options{}); err != nil {
		t.Fatal(err)
	} else {
		db.Close()
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"help", []string{"fsck", "--help"}, 0, "--min-age"},
		{"bad min-age", []string{"fsck", "--min-age", "soon", "--data-dir", dir}, 2, `--min-age "soon"`},
		{"min-age without value", []string{"fsck", "--data-dir", dir, "--min-age"}, 2, "--min-age needs a value"},
		{"bad bool", []string{"fsck", "--repair=perhaps", "--data-dir", dir}, 2, "not true or false"},
		{"extra argument", []string{"fsck", "now", "--data-dir", dir}, 2, "unexpected arguments"},
		{"invalid config", []string{"fsck", "--addr", "nonsense"}, 2, "BERTH_ADDR (addr)"},
		{"no data directory", []string{"fsck", "--data-dir", missing}, 2, "no database"},
		{"no blob storage", []string{"fsck", "--data-dir", storeless}, 2, "no blob storage"},
		{"unknown object", []string{"fsck", "--data-dir", dir}, 1, "stored objects without a blob row:"},
		{"younger than min-age", []string{"fsck", "--min-age=3h", "--data-dir", dir}, 0, "no problems found"},
		{"quick", []string{"fsck", "--quick", "--data-dir", dir}, 1, "sizes only"},
		{"repair", []string{"fsck", "--repair", "--data-dir", dir}, 0, unknown.String() + " (11 B) — repaired"},
		{"clean after repair", []string{"fsck", "--data-dir", dir}, 0, "no problems found"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(tt.args, strings.NewReader(""), &out, &errOut)
		if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.contains) {
			t.Fatalf("%s: exit %d (stdout %q, stderr %q), want %d containing %q", tt.name, code, out.String(), errOut.String(), tt.code, tt.contains)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("fsck created the missing data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(storeless, "storage")); !os.IsNotExist(err) {
		t.Fatalf("fsck created the missing blob storage: %v", err)
	}

	var out bytes.Buffer
	if code := run([]string{"fsck", "--json", "--data-dir", dir}, nil, &out, &out); code != 0 {
		t.Fatalf("--json: exit %d: %s", code, out.String())
	}
	var rep fsck.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if rep.BlobRows != 1 || rep.HashedBytes != 5 || rep.Problems() != 0 || rep.Counts[fsck.UnknownObject].Repaired != 0 {
		t.Fatalf("--json report: %+v", rep)
	}
}

func TestGCCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := meta.Open(ctx, "", filepath.Join(dir, "berth.db"), meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.SetGCGrace(0)
	store, err := blob.NewFS(filepath.Join(dir, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	uid, err := db.CreateUser(ctx, meta.User{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := db.CreateProject(ctx, meta.Project{Name: "proj", OwnerID: uid})
	if err != nil {
		t.Fatal(err)
	}
	// A blob uploaded and never used by a manifest.
	stray := digest.FromString("stray layer")
	if err := store.Put(ctx, stray, []byte("stray layer")); err != nil {
		t.Fatal(err)
	}
	if err := db.LinkBlob(ctx, pid, "proj/app", stray.String(), 11, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Setenv("BERTH_GC_GRACE_PERIOD", "0s")

	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"help", []string{"gc", "--help"}, 0, "--delete-untagged"},
		{"bad workers", []string{"gc", "--workers", "11", "--data-dir", dir}, 2, `--workers "11"`},
		{"no data directory", []string{"gc", "--data-dir", filepath.Join(dir, "nowhere")}, 2, "no database"},
		{"dry run", []string{"gc", "--dry-run", "--data-dir", dir}, 0, "would free 11 B (11 bytes)"},
		{"run", []string{"gc", "--data-dir", dir}, 0, "deleted blob " + stray.String()},
		{"nothing left", []string{"gc", "--data-dir", dir}, 0, "0 blobs deleted"},
	} {
		var out, errOut bytes.Buffer
		code := run(tt.args, strings.NewReader(""), &out, &errOut)
		if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.contains) {
			t.Fatalf("%s: exit %d (stdout %q, stderr %q), want %d containing %q", tt.name, code, out.String(), errOut.String(), tt.code, tt.contains)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "storage", "blobs", "sha256", stray.Encoded()[:2], stray.Encoded())); !os.IsNotExist(err) {
		t.Fatalf("stray blob still stored: %v", err)
	}
	var out bytes.Buffer
	if code := run([]string{"gc", "--json", "--data-dir", dir}, nil, &out, &out); code != 0 {
		t.Fatalf("--json: exit %d: %s", code, out.String())
	}
	var res struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Blobs  int    `json:"blobs_deleted"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.ID != 4 || res.Status != "Success" || res.Blobs != 0 {
		t.Fatalf("--json output %q: %+v, %v", out.String(), res, err)
	}
	// The runs are in the history the API shows.
	db, err = meta.Open(ctx, "", filepath.Join(dir, "berth.db"), meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, total, err := db.ListExecutions(ctx, "gc", 0, meta.ListQuery{Limit: 10})
	if err != nil || total != 4 || !strings.Contains(es[2].Result, `"bytes_freed":11`) || !es[3].DryRun {
		t.Fatalf("history: %d runs, %+v, %v", total, es, err)
	}
}
