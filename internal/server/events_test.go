package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// The event stream end to end: what a push records reaches the audit log and scan-on-push even
// when the process that took the push is killed before delivering it.

// subscribers are the names the server registers its subscribers under.
var subscribers = []string{"audit", "scan-on-push"}

// TestPushEventsSurviveAKilledServer pushes to a server that cannot deliver (another process,
// which then vanishes, holds every subscriber), kills the server with SIGKILL right after the
// push is acknowledged, and starts it again: the push reaches the audit log and is scanned.
func TestPushEventsSurviveAKilledServer(t *testing.T) {
	t.Parallel()
	for _, dialect := range metatest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			cfg := offlineConfig()
			cfg.DataDir = t.TempDir()
			cfg.AdminPassword = adminPassword
			cfg.VulnDBUpdateInterval = 0 // no downloads from the internet
			if dialect == "postgres" {
				cfg.DatabaseURL = metatest.NewDatabase(t)
			}
			ctx := context.Background()
			// A first start registers the subscribers.
			srv, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := meta.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath(), meta.Options{MaxConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, name := range subscribers {
				if _, err := db.ClaimSubscriber(ctx, name, "vanished-replica", time.Now().Add(time.Hour)); err != nil {
					t.Fatalf("hold subscriber %s: %v", name, err)
				}
			}

			child := startChildServer(t, cfg)
			expectStatus(t, child.do(t, http.MethodPost, "/api/v2.0/projects", nil,
				[]byte(`{"project_name":"evk","metadata":{"auto_scan":"true"}}`)), http.StatusCreated)
			_, dgst := child.pushImage(t, "evk/app", "v1", mtOCIManifest)
			child.kill(t)

			if n := count(t, db, "SELECT COUNT(*) FROM audit_log WHERE operation = 'create' AND resource = 'evk/app:v1'"); n != 0 {
				t.Fatalf("the push reached the audit log before the kill (%d entries): the test proves nothing", n)
			}
			for _, name := range subscribers {
				if err := db.ReleaseSubscriber(ctx, name, "vanished-replica"); err != nil {
					t.Fatal(err)
				}
			}

			ts := startTestServer(t, cfg, dialect, slog.DiscardHandler)
			waitUntil(t, "the push in the audit log", func() bool {
				resp := ts.do(t, http.MethodGet, "/api/v2.0/audit-logs?q=operation%3Dcreate%2Cresource_type%3Dartifact", nil, nil)
				var logs []struct {
					Resource string `json:"resource"`
					Username string `json:"username"`
				}
				json.Unmarshal(respBody(t, resp), &logs)
				return len(logs) == 1 && logs[0].Resource == "evk/app:v1" && logs[0].Username == adminUser
			})
			waitUntil(t, "the pushed artifact's scan", func() bool {
				return count(t, db, "SELECT COUNT(*) FROM scan_reports WHERE digest = $1", dgst) > 0
			})
		})
	}
}

func count(t *testing.T, db *meta.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowForTest(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childServer is Berth running in another process (this test binary, see TestServeChild).
type childServer struct {
	*testServer
	cmd *exec.Cmd
}

func startChildServer(t *testing.T, cfg config.Config) *childServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
	cmd.Env = append(os.Environ(), "BERTH_TEST_CHILD_ADDR="+addr, "BERTH_TEST_CHILD_DATA_DIR="+cfg.DataDir,
		"BERTH_TEST_CHILD_DATABASE_URL="+cfg.DatabaseURL, "BERTH_TEST_CHILD_ADMIN_PASSWORD="+cfg.AdminPassword)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childServer{cmd: cmd, testServer: &testServer{URL: "http://" + addr, DataDir: cfg.DataDir, cfg: cfg,
		client: &http.Client{Timeout: time.Minute}}}
	t.Cleanup(func() { c.kill(t) })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "serving") {
		t.Fatalf("child server said %q, %v", line, err)
	}
	return c
}

// kill ends the child with SIGKILL: nothing it has not yet written survives.
func (c *childServer) kill(t *testing.T) {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// TestServeChild is the server process of startChildServer.
func TestServeChild(t *testing.T) {
	addr, ok := os.LookupEnv("BERTH_TEST_CHILD_ADDR")
	if !ok {
		t.Skip("runs as the child of the tests that kill a server")
	}
	cfg := offlineConfig()
	cfg.VulnDBUpdateInterval = 0 // no downloads from the internet
	cfg.Addr = addr
	cfg.ExternalURL = "http://" + addr
	cfg.DataDir = os.Getenv("BERTH_TEST_CHILD_DATA_DIR")
	cfg.DatabaseURL = os.Getenv("BERTH_TEST_CHILD_DATABASE_URL")
	cfg.AdminPassword = os.Getenv("BERTH_TEST_CHILD_ADMIN_PASSWORD")
	srv, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Run(context.Background(), func(net.Addr) { fmt.Println("serving") })
	t.Fatal(err)
}
