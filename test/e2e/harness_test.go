//go:build e2e

// Package e2e runs the berth binary as a real process and drives it with
// real registry clients (crane, skopeo, regctl, oras, helm, cosign, podman),
// raw HTTP and the OCI conformance suite, on SQLite and on PostgreSQL.
//
//	make clients   # once: installs the pinned clients
//	make e2e       # go test -count=1 -tags e2e -timeout 40m ./test/e2e/...
//
// Environment:
//
//	CI=true                 a missing client or an unreachable PostgreSQL fails instead of skipping
//	BERTH_E2E_BIN           use this berth binary instead of building ./cmd/berth
//	BERTH_E2E_POSTGRES_URL  admin connection (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
//	BERTH_SHARED_TOOLS      the shared tools folder (default: found by walking up from the repo root)
//	BERTH_E2E_LONG=1        the crash tests run many long rounds instead of a few (make e2e-long)
//
// TestPostgresRestartUnderLoad starts a PostgreSQL server of its own (initdb and pg_ctl from
// /usr/lib/postgresql/*/bin; as root, run as the postgres user through runuser), since it
// stops and starts it.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	adminUser         = "admin"
	readyTimeout      = 30 * time.Second
	stopTimeout       = 30 * time.Second
	clientTimeout     = 3 * time.Minute
	maxServersAtOnce  = 4
	defaultPgAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

var (
	berthBin string // the binary under test, built once by TestMain
	repoRoot string

	// serverSlots bounds how many berth processes run at once (2 cores).
	serverSlots = make(chan struct{}, maxServersAtOnce)

	// httpClient is used for every raw request: loopback only, no proxy.
	httpClient = &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
	}
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	repoRoot, err = findRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if bin := os.Getenv("BERTH_E2E_BIN"); bin != "" {
		berthBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	berthBin = filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", berthBin, "./cmd/berth")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/berth failed: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findRepoRoot walks up from the working directory to the go.mod of this module.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/berthreg/berth")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod of github.com/berthreg/berth)")
		}
		dir = parent
	}
}

// inCI reports whether missing prerequisites must fail rather than skip.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// skipOrFail skips the test locally and fails it in CI.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newPassword makes a random password that meets Harbor's rules (8-128
// characters with an upper-case letter, a lower-case letter and a digit).
func newPassword(prefix string) string {
	return prefix + "-Pw1-" + randomHex(8)
}

// ---------------------------------------------------------------------------
// Databases

var (
	pgOnce sync.Once
	pgErr  error
)

func pgAdminURL() string {
	if u := os.Getenv("BERTH_E2E_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultPgAdminURL
}

// requirePostgres skips (or, with CI=true, fails) the test when PostgreSQL is
// not reachable on 127.0.0.1:5432.
func requirePostgres(t *testing.T) {
	t.Helper()
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgAdminURL())
		if err != nil {
			pgErr = err
			return
		}
		pgErr = conn.Ping(ctx)
		conn.Close(ctx)
	})
	if pgErr != nil {
		skipOrFail(t, "start PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) to run this: %v", pgErr)
	}
}

// createDatabase creates a fresh database and drops it when the test ends.
// It returns the URL berth should use.
func createDatabase(t *testing.T) string {
	t.Helper()
	name := "berth_e2e_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgAdminURL())
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgAdminURL())
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	u, err := url.Parse(pgAdminURL())
	if err != nil {
		t.Fatalf("parse %q: %v", pgAdminURL(), err)
	}
	u.Path = "/" + name
	return u.String()
}

// forEachDB runs fn as two parallel subtests, "sqlite" and "postgres".
func forEachDB(t *testing.T, fn func(t *testing.T, db string)) {
	t.Helper()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			if db == "postgres" {
				requirePostgres(t)
			}
			fn(t, db)
		})
	}
}

// ---------------------------------------------------------------------------
// The server process

type serverOptions struct {
	DB  string            // "sqlite" (default) or "postgres"
	Env map[string]string // extra environment for berth serve
	// TLS serves HTTPS with a self-signed certificate for localhost, 127.0.0.1 and ::1
	// (server.CertFile; clients trust it through SSL_CERT_FILE or skip verification).
	TLS bool
	// FollowRequests leaves BERTH_EXTERNAL_URL unset: the server derives the URLs it writes
	// (token realm, Location) from each request.
	FollowRequests bool
	// DatabaseURL, with DB "postgres", is the database to use instead of a fresh one on the
	// shared PostgreSQL (a private instance the test controls).
	DatabaseURL string
}

// server is one berth process (and its data), restartable on the same port,
// data dir and database.
type server struct {
	DB          string
	Addr        string // 127.0.0.1:PORT
	Host        string // same as Addr; what clients put in references
	URL         string // http://127.0.0.1:PORT, or https:// with TLS
	CertFile    string // with TLS: the server's self-signed certificate (PEM), its own CA
	DataDir     string
	DatabaseURL string // empty for SQLite
	User        string
	Password    string
	LogPath     string

	baseEnv []string // environment without BERTH_EXTERNAL_URL
	env     []string
	tls     bool
	follow  bool
	client  *http.Client // trusts CertFile; httpClient without TLS
	starts  int
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// startServer starts berth serve on a free loopback port with a fresh data
// dir (and, for PostgreSQL, a fresh database), waits for /readyz and stops it
// when the test ends. On failure the server log is printed.
func startServer(t *testing.T, opts serverOptions) *server {
	t.Helper()
	if opts.DB == "" {
		opts.DB = "sqlite"
	}
	dir := t.TempDir()

	serverSlots <- struct{}{}
	t.Cleanup(func() { <-serverSlots })

	s := &server{
		DB:       opts.DB,
		DataDir:  filepath.Join(dir, "data"),
		User:     adminUser,
		Password: newPassword("E2e"),
		LogPath:  filepath.Join(dir, "berth.log"),
		tls:      opts.TLS,
		follow:   opts.FollowRequests,
		client:   httpClient,
	}
	switch {
	case opts.DB == "postgres" && opts.DatabaseURL != "":
		s.DatabaseURL = opts.DatabaseURL
	case opts.DB == "postgres":
		requirePostgres(t)
		s.DatabaseURL = createDatabase(t)
	}
	if err := os.MkdirAll(s.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			s.baseEnv = append(s.baseEnv, kv)
		}
	}
	s.baseEnv = append(s.baseEnv,
		"BERTH_ADMIN_PASSWORD="+s.Password,
		"BERTH_DATABASE_URL="+s.DatabaseURL,
		"BERTH_LOG_FORMAT=text",
		// No test downloads the vulnerability database from the internet.
		"BERTH_VULNDB_UPDATE_INTERVAL=0s",
	)
	if opts.TLS {
		keyFile := filepath.Join(dir, "tls.key")
		s.CertFile = filepath.Join(dir, "tls.crt")
		s.client = writeSelfSignedCert(t, s.CertFile, keyFile)
		s.baseEnv = append(s.baseEnv, "BERTH_TLS_CERT="+s.CertFile, "BERTH_TLS_KEY="+keyFile)
	}
	for k, v := range opts.Env {
		s.baseEnv = append(s.baseEnv, k+"="+v)
	}

	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("berth server log (%s, %s), last lines:\n%s", s.DB, s.LogPath, tailFile(s.LogPath, 150))
		}
	})
	// A port picked as free can be taken by another test before berth binds
	// it: then try another one.
	for attempt := 1; ; attempt++ {
		s.setAddr(freePort(t))
		s.launch(t)
		exitedEarly, err := s.waitReady()
		if err == nil {
			return s
		}
		if exitedEarly && attempt < 3 && strings.Contains(tailFile(s.LogPath, 20), "address already in use") {
			t.Logf("%s was taken; retrying on another port", s.Addr)
			continue
		}
		t.Fatal(err)
	}
}

// setAddr sets the listen address and the URLs derived from it.
func (s *server) setAddr(addr string) {
	s.Addr = addr
	s.Host = addr
	s.URL = "http://" + addr
	if s.tls {
		s.URL = "https://" + addr
	}
	s.env = append([]string(nil), s.baseEnv...)
	if !s.follow {
		s.env = append(s.env, "BERTH_EXTERNAL_URL="+s.URL)
	}
}

// writeSelfSignedCert writes a self-signed certificate for localhost, 127.0.0.1 and ::1 and
// its key as PEM files, and returns an HTTP client that trusts it.
func writeSelfSignedCert(t *testing.T, certFile, keyFile string) *http.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "berth e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &http.Client{
		Timeout: httpClient.Timeout,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64,
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
	}
}

// freePort returns 127.0.0.1:PORT with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start launches berth serve on the same address, data dir and database
// and waits until /readyz answers 200.
func (s *server) start(t *testing.T) {
	t.Helper()
	s.launch(t)
	if _, err := s.waitReady(); err != nil {
		t.Fatal(err)
	}
}

// launch starts the berth serve process.
func (s *server) launch(t *testing.T) {
	t.Helper()
	if s.cmd != nil {
		t.Fatalf("server on %s is already running", s.Addr)
	}
	s.starts++
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== e2e: start #%d of berth serve --addr %s --data-dir %s (%s) at %s\n",
		s.starts, s.Addr, s.DataDir, s.DB, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(berthBin, "serve", "--addr", s.Addr, "--data-dir", s.DataDir)
	cmd.Env = s.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	// The server must not outlive a killed test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", berthBin, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func(exited chan struct{}) {
		s.exitErr = cmd.Wait()
		logf.Close()
		close(exited)
	}(s.exited)
}

// waitReady polls GET /readyz until it answers 200, the process exits
// (exitedEarly) or readyTimeout passes.
func (s *server) waitReady() (exitedEarly bool, err error) {
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		resp, err := s.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return false, nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		cancel()
		select {
		case <-s.exited:
			s.cmd = nil
			return true, fmt.Errorf("berth serve (%s) on %s exited before it was ready: %v\nlog:\n%s", s.DB, s.Addr, s.exitErr, tailFile(s.LogPath, 60))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("berth serve (%s) on %s not ready after %s: last GET /readyz: %s", s.DB, s.Addr, readyTimeout, last)
		}
	}
}

// stop sends SIGTERM and waits for a graceful exit; after stopTimeout it kills
// the process and marks the test failed.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	cmd := s.cmd
	s.cmd = nil
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		t.Logf("berth serve (%s) stopped %.1fs after SIGTERM: %v", s.DB, time.Since(start).Seconds(), exitStatus(s.exitErr))
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-s.exited
		t.Errorf("berth serve (%s) did not exit within %s of SIGTERM; killed", s.DB, stopTimeout)
	}
}

// restart stops the server gracefully and starts it again on the same port,
// data dir and database.
func (s *server) restart(t *testing.T) {
	t.Helper()
	s.stop(t)
	s.start(t)
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// logText returns the whole server log so far.
func (s *server) logText() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = append(lines[:0], lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------------------
// The Harbor API

// createProject creates a project through POST /api/v2.0/projects as admin.
func createProject(t *testing.T, s *server, name string, public bool) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"project_name": name,
		"metadata":     map[string]string{"public": fmt.Sprint(public)},
	})
	res := s.admin().do(t, http.MethodPost, "/api/v2.0/projects", body, "Content-Type", "application/json")
	if res.Status != http.StatusCreated {
		t.Fatalf("POST /api/v2.0/projects %s: want 201, got %s", body, res)
	}
	res = s.admin().do(t, http.MethodGet, "/api/v2.0/projects/"+name, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /api/v2.0/projects/%s after creating it: want 200, got %s", name, res)
	}
}

// ---------------------------------------------------------------------------
// Clients

var clientDirs = []string{"/usr/local/bin"}

// clientPath finds a client binary on PATH, in $GOBIN or in /usr/local/bin.
func clientPath(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	dirs := clientDirs
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append([]string{gobin}, dirs...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// requireClient skips the test when a client is not installed (fails with CI=true).
func requireClient(t *testing.T, name string) string {
	t.Helper()
	p, ok := clientPath(name)
	if !ok {
		skipOrFail(t, "%s is not installed: run `make clients` (scripts/install-clients.sh)", name)
	}
	return p
}

// clientEnv is a throw-away HOME and set of auth/config files for one test,
// so that no client ever reads or writes the user's ~/.docker and friends.
type clientEnv struct {
	Dir          string
	Home         string
	DockerConfig string // DOCKER_CONFIG dir (crane, oras, cosign, regctl read config.json there)
	AuthFile     string // REGISTRY_AUTH_FILE (podman, skopeo)
	HelmRegistry string // HELM_REGISTRY_CONFIG
	RegctlConfig string // REGCTL_CONFIG
	vars         []string
}

var clientEnvs sync.Map // *testing.T -> *clientEnv

// envFor returns the client environment of this test, creating it on first use.
func envFor(t *testing.T) *clientEnv {
	t.Helper()
	if e, ok := clientEnvs.Load(t); ok {
		return e.(*clientEnv)
	}
	dir := t.TempDir()
	e := &clientEnv{
		Dir:          dir,
		Home:         filepath.Join(dir, "home"),
		DockerConfig: filepath.Join(dir, "docker"),
		AuthFile:     filepath.Join(dir, "containers", "auth.json"),
		HelmRegistry: filepath.Join(dir, "helm", "registry", "config.json"),
		RegctlConfig: filepath.Join(dir, "regctl", "config.json"),
	}
	for _, d := range []string{e.Home, e.DockerConfig, filepath.Dir(e.AuthFile), filepath.Dir(e.HelmRegistry), filepath.Dir(e.RegctlConfig)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	override := map[string]string{
		"HOME":                 e.Home,
		"DOCKER_CONFIG":        e.DockerConfig,
		"REGISTRY_AUTH_FILE":   e.AuthFile,
		"HELM_REGISTRY_CONFIG": e.HelmRegistry,
		"HELM_CACHE_HOME":      filepath.Join(dir, "helm", "cache"),
		"HELM_CONFIG_HOME":     filepath.Join(dir, "helm", "config"),
		"HELM_DATA_HOME":       filepath.Join(dir, "helm", "data"),
		"REGCTL_CONFIG":        e.RegctlConfig,
		"TUF_ROOT":             filepath.Join(dir, "sigstore"),
		"COSIGN_PASSWORD":      "",
		"XDG_CONFIG_HOME":      filepath.Join(e.Home, ".config"),
		"XDG_CACHE_HOME":       filepath.Join(e.Home, ".cache"),
		"XDG_DATA_HOME":        filepath.Join(e.Home, ".local", "share"),
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := override[k]; ok || strings.HasPrefix(k, "BERTH_") {
			continue
		}
		e.vars = append(e.vars, kv)
	}
	for k, v := range override {
		e.vars = append(e.vars, k+"="+v)
	}
	clientEnvs.Store(t, e)
	t.Cleanup(func() { clientEnvs.Delete(t) })
	return e
}

// runOpts tunes runWith; the zero value runs in the test's client env dir.
type runOpts struct {
	Dir     string   // working directory (default: the client env dir)
	Env     []string // extra KEY=VALUE
	Stdin   string
	Timeout time.Duration // default clientTimeout
}

// runResult is what a client printed.
type runResult struct {
	Stdout, Stderr string
	Err            error
	Elapsed        time.Duration
}

func (r runResult) String() string {
	return fmt.Sprintf("%v after %.1fs\n--- stdout:\n%s\n--- stderr:\n%s", exitStatus(r.Err), r.Elapsed.Seconds(), clip(r.Stdout, 6000), clip(r.Stderr, 6000))
}

// runWith runs a client in the test's throw-away environment with a timeout.
func runWith(t *testing.T, o runOpts, name string, args ...string) runResult {
	t.Helper()
	env := envFor(t)
	path, ok := clientPath(name)
	if !ok {
		path = name
	}
	if o.Timeout == 0 {
		o.Timeout = clientTimeout
	}
	if o.Dir == "" {
		o.Dir = env.Dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = o.Dir
	cmd.Env = append(append([]string(nil), env.vars...), o.Env...)
	cmd.WaitDelay = 5 * time.Second
	if o.Stdin != "" {
		cmd.Stdin = strings.NewReader(o.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", o.Timeout, err)
	}
	r := runResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err, Elapsed: time.Since(start)}
	t.Logf("$ %s %s  (%s, %.1fs)", name, strings.Join(redact(args), " "), exitStatus(err), r.Elapsed.Seconds())
	return r
}

// run runs a client that must succeed and returns its standard output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	return mustRun(t, runOpts{}, name, args...)
}

// mustRun is run with options.
func mustRun(t *testing.T, o runOpts, name string, args ...string) string {
	t.Helper()
	r := runWith(t, o, name, args...)
	if r.Err != nil {
		t.Fatalf("%s %s failed: %s", name, strings.Join(redact(args), " "), r)
	}
	return r.Stdout
}

// mustFail runs a client that must fail and returns what it printed.
func mustFail(t *testing.T, o runOpts, name string, args ...string) runResult {
	t.Helper()
	r := runWith(t, o, name, args...)
	if r.Err == nil {
		t.Fatalf("%s %s succeeded but must fail: %s", name, strings.Join(redact(args), " "), r)
	}
	return r
}

// redact hides passwords given as the value of -p/--password/--pass.
func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := 1; i < len(out); i++ {
		switch out[i-1] {
		case "-p", "--password", "--pass":
			out[i] = "***"
		}
	}
	return out
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func clipHead(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
