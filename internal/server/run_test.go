package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/meta/metatest"
)

func testConfig(t *testing.T, dialect string) config.Config {
	t.Helper()
	cfg := offlineConfig()
	cfg.DataDir = t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	cfg.VulnDBUpdateInterval = 0 // no downloads from the internet
	cfg.ShutdownTimeout = 10 * time.Second
	if dialect == "postgres" {
		cfg.DatabaseURL = metatest.NewDatabase(t)
	}
	return cfg
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestFirstStartCreatesAdminOnce(t *testing.T) {
	t.Parallel()
	for _, d := range metatest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := testConfig(t, d)
			s, err := New(ctx, cfg, discard())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(cfg.DataDir, AdminPasswordFile)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatalf("generated password file: %v", err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Fatalf("password file mode %v, want 0600", st.Mode().Perm())
			}
			b, _ := os.ReadFile(path)
			password := strings.TrimSpace(string(b))
			if _, err := s.auth.Basic(ctx, "admin", password); err != nil {
				t.Fatalf("generated password does not log in: %v", err)
			}
			if p, err := s.db.ProjectByName(ctx, "library"); err != nil || !p.Public {
				t.Fatalf("library project: %+v %v", p, err)
			}
			s.Close()

			// A second start, even with BERTH_ADMIN_PASSWORD now set, keeps the account as it is.
			os.Remove(path)
			cfg.AdminPassword = "Other12345"
			s, err = New(ctx, cfg, discard())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("second start wrote the password file again: %v", err)
			}
			if _, err := s.auth.Basic(ctx, "admin", "Other12345"); err == nil {
				t.Fatal("second start changed the admin password")
			}
			if _, err := s.auth.Basic(ctx, "admin", password); err != nil {
				t.Fatalf("original password stopped working: %v", err)
			}
		})
	}
}

func TestAdminPasswordFromEnvironment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testConfig(t, "sqlite")
	cfg.AdminPassword = "Harbor12345"
	s, err := New(ctx, cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(cfg.DataDir, AdminPasswordFile)); !os.IsNotExist(err) {
		t.Fatalf("password file written although BERTH_ADMIN_PASSWORD was set: %v", err)
	}
	if p, err := s.auth.Basic(ctx, "admin", "Harbor12345"); err != nil || !p.SysAdmin {
		t.Fatalf("admin login: %+v %v", p, err)
	}
}

// start runs the server on a free port and returns its base URL and a stop function that
// cancels Run and waits for it.
func start(t *testing.T, cfg config.Config) (string, func() error) {
	t.Helper()
	s, err := New(context.Background(), cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a net.Addr) { addr <- a }) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		s.Close()
		return err
	}
	t.Cleanup(func() { stop() })
	return base, stop
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sqlite")
	cfg.AdminPassword = "Harbor12345"
	base, _ := start(t, cfg)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s = %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(base + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`berth_http_requests_total{code="401",method="GET",route="v2_base"} 1`,
		`berth_http_request_duration_seconds_bucket{method="GET",route="v2_base"`,
		`berth_upload_sessions_active 0`,
		`berth_http_response_bytes_total{route="v2_base"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// slowBody hands out its bytes only when told, to keep a request in flight.
type slowBody struct {
	first, rest []byte
	release     chan struct{}
	sent        bool
}

func (b *slowBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, b.first), nil
	}
	if b.release != nil {
		<-b.release
		b.release = nil
	}
	if len(b.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	return n, nil
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sqlite")
	cfg.AdminPassword = "Harbor12345"
	base, stop := start(t, cfg)

	req, _ := http.NewRequest(http.MethodPost, base+"/v2/library/drain/blobs/uploads/", nil)
	req.SetBasicAuth("admin", "Harbor12345")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %v %v", resp, err)
	}
	resp.Body.Close()
	// The external URL is the default one, so use only the Location's path.
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	loc := base + u.Path

	body := &slowBody{first: []byte("hello "), rest: []byte("world"), release: make(chan struct{})}
	patch, _ := http.NewRequest(http.MethodPatch, loc, body)
	patch.SetBasicAuth("admin", "Harbor12345")
	patch.Header.Set("Content-Type", "application/octet-stream")
	result := make(chan *http.Response, 1)
	go func() {
		r, err := http.DefaultClient.Do(patch)
		if err != nil {
			t.Errorf("in-flight PATCH failed: %v", err)
			result <- nil
			return
		}
		r.Body.Close()
		result <- r
	}()
	time.Sleep(200 * time.Millisecond) // the request is now being served
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(200 * time.Millisecond) // shutdown has begun and is waiting
	select {
	case <-stopped:
		t.Fatal("shutdown finished while a request was in flight")
	default:
	}
	close(body.release)
	r := <-result
	if r == nil || r.StatusCode != http.StatusAccepted || r.Header.Get("Range") != "0-10" {
		t.Fatalf("in-flight PATCH answered %+v", r)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown did not finish after the last request")
	}
}
