package meta_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/meta"
)

// TestSQLiteTemporaryFilesStayInTheDataDirectory: a temporary table too large for SQLite's
// page cache spills to a temporary file, which is in the tmp directory beside the database,
// not in /var/tmp or /tmp (so a read-only root filesystem does not stop Berth). SQLite removes
// its temporary files as it opens them, so the test finds them among the process's open,
// deleted files.
// The first SQLite store a process opens sets the directory, so the check runs in a process of
// its own.
func TestSQLiteTemporaryFilesStayInTheDataDirectory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds deleted open files through /proc/self/fd")
	}
	dir := os.Getenv("BERTH_TEST_SQLITE_TEMP_DIR")
	if dir == "" {
		dir = t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteTemporaryFilesStayInTheDataDirectory$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "BERTH_TEST_SQLITE_TEMP_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSQLiteTemporaryFilesStayInTheDataDirectory") {
			t.Fatalf("the check in its own process failed (%v):\n%s", err, out)
		}
		return
	}

	ctx := context.Background()
	db, err := meta.Open(ctx, "", filepath.Join(dir, "berth.db"), meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.WritePool().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		"CREATE TEMP TABLE spill (b BLOB)",
		// 20 MB, ten times SQLite's default page cache.
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) INSERT INTO spill SELECT randomblob(1000) FROM n",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	want := filepath.Join(dir, "tmp") + string(filepath.Separator)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var inside, outside []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		// SQLite's temporary files are the files this process holds open and has deleted.
		if err != nil || !strings.HasSuffix(target, " (deleted)") {
			continue
		}
		if strings.HasPrefix(target, want) {
			inside = append(inside, target)
		} else {
			outside = append(outside, target)
		}
	}
	if len(outside) > 0 {
		t.Errorf("SQLite temporary files outside %s: %v", want, outside)
	}
	if len(inside) == 0 {
		t.Errorf("no SQLite temporary file in %s: the temporary table did not spill, or went elsewhere", want)
	}
	if _, err := conn.ExecContext(ctx, "DROP TABLE spill"); err != nil {
		t.Fatal(err)
	}
}
