package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1 and its key, as PEM.
type testCert struct {
	name      string
	cert, key []byte
}

func newTestCert(t *testing.T, name string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{name: name,
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
}

// installPair writes a certificate and a key over the files by renaming new files onto them,
// as a renewal would.
func installPair(t *testing.T, certFile, keyFile string, cert, key []byte) {
	t.Helper()
	for _, f := range []struct {
		path string
		data []byte
	}{{certFile, cert}, {keyFile, key}} {
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// servedName is the common name of the certificate a new TLS handshake with addr sees.
func servedName(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test reads which certificate is served
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if st.Version < tls.VersionTLS12 {
		t.Errorf("negotiated TLS version %x, below 1.2", st.Version)
	}
	return st.PeerCertificates[0].Subject.CommonName
}

// serveTLS runs Berth over TLS with the certificate files given, checking them for changes
// every 20 ms; it returns the address and what the server logs.
func serveTLS(t *testing.T, certFile, keyFile string) (string, *logLines) {
	t.Helper()
	cfg := testConfig(t, "sqlite")
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	logs := &logLines{}
	s, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.certCheckInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a net.Addr) { addrc <- a }) }()
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	select {
	case a := <-addrc:
		return a.String(), logs
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	return "", nil
}

// TestTLSVersionsAndSuites: TLS 1.2 and 1.3 with authenticated encryption only.
func TestTLSVersionsAndSuites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c := newTestCert(t, "suites")
	installPair(t, certFile, keyFile, c.cert, c.key)
	addr, _ := serveTLS(t, certFile, keyFile)
	tests := []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"TLS 1.2 with AES-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 with ChaCha20-Poly1305", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.2 with CBC only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.InsecureSkipVerify = true //nolint:gosec // the test checks the handshake, not the name
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, tc.cfg)
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("handshake: %v, want success %v", err, tc.ok)
			}
		})
	}
}

// TestTLSCertificateReload: certificate files replaced on disk are served to new handshakes
// without a restart; a pair that does not load is logged and the previous certificate kept.
func TestTLSCertificateReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, second, third := newTestCert(t, "first"), newTestCert(t, "second"), newTestCert(t, "third")
	installPair(t, certFile, keyFile, first.cert, first.key)

	addr, logs := serveTLS(t, certFile, keyFile)

	if got := servedName(t, addr); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(generous)
		for {
			got := servedName(t, addr)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still serving %q %v after the files were replaced, want %q", got, generous, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	installPair(t, certFile, keyFile, second.cert, second.key)
	waitFor("second")

	// A certificate whose key does not match (the new key not written yet): the old one stays.
	installPair(t, certFile, keyFile, third.cert, second.key)
	deadline := time.Now().Add(generous)
	for !strings.Contains(logs.String(), "do not load") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged for a mismatched pair:\n%s", logs.String())
		}
		if got := servedName(t, addr); got != "second" {
			t.Fatalf("served %q after a mismatched pair was written, want second", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 5 {
		if got := servedName(t, addr); got != "second" {
			t.Fatalf("served %q after a mismatched pair was written, want second", got)
		}
		time.Sleep(30 * time.Millisecond)
	}
	// Garbage in the certificate file: still the old one.
	installPair(t, certFile, keyFile, []byte("not a certificate"), third.key)
	time.Sleep(100 * time.Millisecond)
	if got := servedName(t, addr); got != "second" {
		t.Fatalf("served %q after a broken certificate file was written, want second", got)
	}
	// The key arrives: the third pair is whole and served.
	installPair(t, certFile, keyFile, third.cert, third.key)
	waitFor("third")
}

// TestCertReloaderReload: Reload (what SIGHUP calls) loads the files at once, even when the
// interval has not passed and the files look unchanged.
func TestCertReloaderReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, second := newTestCert(t, "first"), newTestCert(t, "second")
	installPair(t, certFile, keyFile, first.cert, first.key)
	r, err := newCertReloader(certFile, keyFile, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	name := func() string {
		c, _ := r.GetCertificate(nil)
		return c.Leaf.Subject.CommonName
	}
	installPair(t, certFile, keyFile, second.cert, second.key)
	if got := name(); got != "first" {
		t.Fatalf("served %q before the interval passed, want first", got)
	}
	r.Reload()
	if got := name(); got != "second" {
		t.Fatalf("served %q after Reload, want second", got)
	}
	// A broken pair on Reload keeps the loaded one.
	installPair(t, certFile, keyFile, first.cert, second.key)
	r.Reload()
	if got := name(); got != "second" {
		t.Fatalf("served %q after Reload of a mismatched pair, want second", got)
	}

	if _, err := newCertReloader(certFile, keyFile, time.Hour, slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "tls_cert") {
		t.Fatalf("a mismatched pair at start: %v, want an error naming tls_cert", err)
	}
}
