package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/berthreg/berth/internal/config"
	"github.com/berthreg/berth/internal/server"
)

// The stream must not depend on how it is read: the digest is computed from one pass and the
// upload sends another.
func TestRandStreamIndependentOfReadSizes(t *testing.T) {
	const size = 100_003
	whole := sha256.New()
	io.Copy(whole, io.LimitReader(newRandStream(42, size), size))
	odd := sha256.New()
	r := newRandStream(42, size)
	buf := make([]byte, 7)
	n := int64(0)
	for {
		k, err := r.Read(buf[:1+int(n%7)])
		odd.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
	}
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	if !bytes.Equal(whole.Sum(nil), odd.Sum(nil)) {
		t.Fatal("stream differs with the read size")
	}
	if bytes.Equal(randBytes(1, 64), randBytes(2, 64)) {
		t.Fatal("different seeds gave the same bytes")
	}
}

func TestParseChallenge(t *testing.T) {
	scheme, p := parseChallenge(`Bearer realm="http://127.0.0.1:5000/service/token",service="harbor-registry",scope="repository:library/a:pull,push",error="insufficient_scope"`)
	if scheme != "bearer" || p["realm"] != "http://127.0.0.1:5000/service/token" || p["service"] != "harbor-registry" ||
		p["scope"] != "repository:library/a:pull,push" || p["error"] != "insufficient_scope" {
		t.Fatalf("got %q %v", scheme, p)
	}
	if scheme, p := parseChallenge(`Basic realm="berth"`); scheme != "basic" || p["realm"] != "berth" {
		t.Fatalf("got %q %v", scheme, p)
	}
}

func TestNextLink(t *testing.T) {
	for h, want := range map[string]string{
		`</v2/_catalog?last=b&n=2>; rel="next"`:          "/v2/_catalog?last=b&n=2",
		`<http://x/v2/a/tags/list?n=1&last=t>; rel=next`: "http://x/v2/a/tags/list?n=1&last=t",
		``:                    "",
		`</v2/a>; rel="prev"`: "",
	} {
		if got := nextLink(h); got != want {
			t.Errorf("nextLink(%q) = %q, want %q", h, got, want)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	if _, err := newClient("http://10.1.2.3:5000", "", "", 1); err == nil {
		t.Fatal("a non-loopback registry was accepted")
	}
	if _, err := newClient("http://127.0.0.1:5000", "", "", 1); err != nil {
		t.Fatal(err)
	}
}

// Many workers meeting a Basic challenge at once must all switch to Basic, not take each
// other's switch for a refusal.
func TestConcurrentBasicChallenge(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && u == "u" && p == "p" {
			return
		}
		time.Sleep(10 * time.Millisecond) // let the challenges overlap
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer hs.Close()
	c, err := newClient(hs.URL, "u", "p", 8)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, _, err := c.Do(context.Background(), &Request{Method: http.MethodGet, URL: "/v2/"})
			if err != nil {
				t.Error(err)
				return
			}
			drain(resp)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
}

func TestReportRatios(t *testing.T) {
	log := strings.Join([]string{
		"IDLE registry=b rss_mb=40.00",
		"BENCH scenario=small-push registry=b images_per_s=30.00 p50_ms=1 p99_ms=2 errors=0 primary=images_per_s better=higher",
		"BENCH scenario=small-push registry=d images_per_s=10.00 p50_ms=1 p99_ms=2 errors=0 primary=images_per_s better=higher",
		"BENCH scenario=tags-catalog registry=b list_s=0.5 errors=0 primary=list_s better=lower",
		"BENCH scenario=tags-catalog registry=d list_s=10 errors=0 primary=list_s better=lower",
		// Repeated runs: the median counts (of an even number, the worse middle one).
		"BENCH scenario=large-push registry=b mib_per_s=900 peak_rss_mb=1 errors=0 primary=mib_per_s better=higher",
		"BENCH scenario=large-push registry=d mib_per_s=100 peak_rss_mb=4 errors=0 primary=mib_per_s better=higher",
		"BENCH scenario=large-push registry=b mib_per_s=300 peak_rss_mb=2 errors=0 primary=mib_per_s better=higher",
		"BENCH scenario=large-push registry=d mib_per_s=200 peak_rss_mb=5 errors=0 primary=mib_per_s better=higher",
		"BENCH scenario=large-push registry=b mib_per_s=600 peak_rss_mb=3 errors=0 primary=mib_per_s better=higher",
		"BENCH scenario=large-push registry=d mib_per_s=300 peak_rss_mb=6 errors=0 primary=mib_per_s better=higher",
		"BENCH scenario=large-push registry=d mib_per_s=400 peak_rss_mb=7 errors=0 primary=mib_per_s better=higher",
	}, "\n")
	path := filepath.Join(t.TempDir(), "log")
	os.WriteFile(path, []byte(log), 0o644)
	var out bytes.Buffer
	if err := writeReport(&out, path, []string{"b", "d"}, "d"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| small-push | images_per_s | 30.00 | 10.00 | 3.00× | ≥ 2×: b met |", "| 20.00× |", "40.00 / -",
		"| large-push | mib_per_s | 600 | 200 | 3.00× |", "| large-push | - / - | - / - | 3 / 5 | 0 / 0 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

const benchPassword = "bench-Secret-1"

// startBerth starts an in-process Berth with token auth and an admin whose password is
// benchPassword, configured further by configure, and returns its URL; it is stopped when the
// test ends.
func startBerth(t *testing.T, configure func(*config.Config)) string {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = benchPassword
	cfg.VulnDBUpdateInterval = 0 // no downloads from the internet
	configure(&cfg)
	hs := httptest.NewUnstartedServer(nil)
	cfg.ExternalURL = "http://" + hs.Listener.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		hs.Close()
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		time.Sleep(20 * time.Millisecond) // background pull-time writes
		srv.Close()
	})
	return hs.URL
}

// runBench runs berthbench as admin with args, requires exit 0, and returns its BENCH lines by
// scenario and its whole output.
func runBench(t *testing.T, args ...string) (map[string]string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append([]string{"-user", "admin", "-password", benchPassword, "-name", "berth-test", "-pid", "0"}, args...)
	out := func() string { return "stdout:\n" + stdout.String() + "\nstderr:\n" + stderr.String() }
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, out())
	}
	lines := map[string]string{}
	for _, l := range strings.Split(stdout.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "BENCH scenario="); ok {
			name, _, _ := strings.Cut(rest, " ")
			lines[name] = l
		}
	}
	return lines, out()
}

// TestAllScenariosAgainstBerth is the harness's smoke test inside `go test ./...`: every
// scenario, at tiny sizes, against an in-process Berth with token auth, must run without a
// single error and print its BENCH line.
func TestAllScenariosAgainstBerth(t *testing.T) {
	url := startBerth(t, func(*config.Config) {})
	lines, _ := runBench(t, "-url", url, "-scale", "0.001", "-duration", "300ms", "-list-repeats", "1", "-large-pulls", "1",
		"-mget-clients", "8", "-mixed-clients", "4")
	for _, s := range scenarioOrder {
		if l := lines[s]; !strings.Contains(l, " errors=0 ") {
			t.Errorf("%s: want a BENCH line with errors=0, got %q", s, l)
		}
	}
}

// TestScanScenariosAgainstBerth runs the scanning scenarios at tiny sizes against an
// in-process Berth that imports OSV bundles pushed to library/vulndb: both must run without
// an error (which includes every image's report listing exactly the expected findings).
func TestScanScenariosAgainstBerth(t *testing.T) {
	url := startBerth(t, func(c *config.Config) { c.VulnDBRepo = "library/vulndb" })
	const packages = 12
	lines, output := runBench(t, "-url", url, "-scenarios", "scan", "-scale", "0.01", "-scan-packages", fmt.Sprint(packages),
		"-scan-images", "1", "-scan-layer-mib", "0.25", "-scan-all-layer-kib", "16", "-scan-clients", "4", "-max-time", "50s")
	for s, want := range map[string][]string{
		"scan-one": {" errors=0 ", fmt.Sprintf(" vulns=%d ", packages), " images=1 "},
		"scan-all": {" errors=0 ", " images=10 ", " failed=0 "},
	} {
		for _, w := range want {
			if !strings.Contains(lines[s], w) {
				t.Errorf("%s: want a BENCH line with %q, got %q", s, w, lines[s])
			}
		}
	}
	t.Log(output)
}

// The generated packages' two records per package must straddle the installed version as
// intended: the affecting fix above it, the other at or below it (Debian version order).
func TestScanPackagesVersions(t *testing.T) {
	pkgs := scanPackages(7, 40)
	sources := 0
	for _, p := range pkgs {
		if p.fixed == p.version || p.benignFixed == p.fixed || p.cve == "" {
			t.Errorf("%+v", p)
		}
		if p.source != "" {
			sources++
		}
	}
	if sources != 20 {
		t.Errorf("%d of 40 packages have a Source:, want 20", sources)
	}
	if s := expectedSummary(pkgs); s.Total != 40 || s.Counts["Critical"]+s.Counts["High"]+s.Counts["Medium"]+s.Counts["Low"] != 40 {
		t.Errorf("summary %+v", s)
	}
}

// TestHashPipelined: the pipelined copy hashes exactly what was read, whatever the size against
// the chunk, and reports a failed read.
func TestHashPipelined(t *testing.T) {
	data := make([]byte, 5<<20+3)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, n := range []int{0, 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, len(data)} {
		h := sha256.New()
		got, err := hashPipelined(h, bytes.NewReader(data[:n]))
		if want := sha256.Sum256(data[:n]); err != nil || got != int64(n) || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("%d bytes: read %d, %v, hash mismatch %v", n, got, err, !bytes.Equal(h.Sum(nil), want[:]))
		}
	}
	broken := io.MultiReader(bytes.NewReader(data[:3<<20]), iotest.ErrReader(errors.New("connection reset")))
	if _, err := hashPipelined(sha256.New(), broken); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("failed read: %v", err)
	}
}
