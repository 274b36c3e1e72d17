//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// privatePostgres is a PostgreSQL server of the test's own, in a temporary directory on a
// loopback port, which the test may stop and start (the shared one on 5432 it may not). It is
// made with initdb and pg_ctl from the installed PostgreSQL; as root, which PostgreSQL
// refuses, they run as the postgres user through runuser.
type privatePostgres struct {
	bin    string // the directory of initdb and pg_ctl
	dir    string // owned by the server's user: data/, the socket, the log
	port   int
	asUser []string // runuser -u postgres -- when running as root
}

// findPostgresBin returns the bin directory of the newest installed PostgreSQL.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on PATH")
}

// startPrivatePostgres makes and starts a PostgreSQL server; it is stopped and removed when
// the test ends.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bin, err := findPostgresBin()
	if err != nil {
		skipOrFail(t, "%v: install PostgreSQL's server package to run this", err)
	}
	// Not t.TempDir: its parents are private to this user, and the server may run as another.
	dir, err := os.MkdirTemp("", "berth-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &privatePostgres{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root, which PostgreSQL refuses, and there is no postgres user to run it as: %v", err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			skipOrFail(t, "running as root, which PostgreSQL refuses, and runuser is missing to run it as postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = []string{runuser, "-u", "postgres", "--"}
	}
	if out, err := p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	p.port, _ = strconv.Atoi(port)
	p.start(t)
	t.Cleanup(func() {
		if out, err := p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop"); err != nil && !strings.Contains(string(out), "Is server running?") {
			t.Logf("pg_ctl stop: %v\n%s", err, out)
		}
		if t.Failed() {
			t.Logf("private PostgreSQL log, last lines:\n%s", tailFile(p.logPath(), 60))
		}
	})
	return p
}

func (p *privatePostgres) data() string    { return filepath.Join(p.dir, "data") }
func (p *privatePostgres) logPath() string { return filepath.Join(p.dir, "postgres.log") }

// URL is the server's postgres database, where Berth keeps its tables.
func (p *privatePostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *privatePostgres) run(tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append(append(append([]string(nil), p.asUser...), filepath.Join(p.bin, tool)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = p.dir
	return cmd.CombinedOutput()
}

// start starts the server and waits until it accepts connections. fsync is off: the test
// restarts PostgreSQL, never the machine, and a clean stop writes everything out anyway.
func (p *privatePostgres) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c full_page_writes=off -c max_connections=200", p.port, p.dir)
	if out, err := p.run("pg_ctl", "-D", p.data(), "-l", p.logPath(), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\nlog:\n%s", err, out, tailFile(p.logPath(), 30))
	}
}

// stop stops the server the fast way: open sessions are ended at once, what was committed is
// kept.
func (p *privatePostgres) stop(t *testing.T) {
	t.Helper()
	if out, err := p.run("pg_ctl", "-D", p.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		t.Fatalf("pg_ctl stop -m fast: %v\n%s", err, out)
	}
}
