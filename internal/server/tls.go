package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often a TLS handshake may look at the certificate files' sizes and
// modification times to see whether they were replaced.
const certCheckInterval = 5 * time.Second

// tlsConfig is the server's TLS configuration: TLS 1.2 at least; on TLS 1.2 only forward-secret
// key exchange with authenticated encryption (Go's defaults without their CBC suites: Mozilla's
// "intermediate" set, which every registry client supports); TLS 1.3's suites are all fine
// and not configurable; and the certificate from certs, which follows the files.
func tlsConfig(certs *certReloader) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: certs.GetCertificate,
	}
}

// certReloader serves the certificate and key in tls_cert and tls_key and loads them again
// when they change — checked at most every interval, on a handshake, or at once on Reload
// (SIGHUP) — so that a renewed certificate needs no restart. A pair that does not load (a
// certificate without its new key yet, a broken file) is logged and the one loaded before
// stays in use.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  pairStamp // the files cert was loaded from
	failed  pairStamp // the files that last failed to load, not tried again until they change
	checked time.Time
	lastErr string
}

// pairStamp tells one state of the two files from another.
type pairStamp struct{ cert, key fileStamp }

type fileStamp struct {
	info os.FileInfo
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == b.info
	}
	// A file replaced by a rename (or a symbolic link pointed at a new file) is another file,
	// whatever its time says.
	return os.SameFile(a.info, b.info) && a.info.ModTime().Equal(b.info.ModTime()) && a.info.Size() == b.info.Size()
}

func (a pairStamp) same(b pairStamp) bool { return a.cert.same(b.cert) && a.key.same(b.key) }

// newCertReloader loads the pair; it fails if it cannot.
func newCertReloader(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, interval: interval, log: log}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.loadLocked(true); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= r.interval {
		if changed, err := r.loadLocked(false); err != nil && changed {
			r.log.Error("TLS certificate files changed but do not load; still serving the certificate loaded before", "err", err)
		}
	}
	return r.cert, nil
}

// Reload loads the pair now, changed or not (SIGHUP).
func (r *certReloader) Reload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.loadLocked(true); err != nil {
		r.log.Error("TLS certificate not reloaded; still serving the certificate loaded before", "err", err)
	}
}

// loadLocked loads the pair if the files changed since they were last loaded or failed to, or
// if force is set. changed reports an error that differs from the last one.
func (r *certReloader) loadLocked(force bool) (changed bool, err error) {
	r.checked = time.Now()
	var st pairStamp
	ci, cerr := os.Stat(r.certFile)
	ki, kerr := os.Stat(r.keyFile)
	if cerr == nil && kerr == nil {
		st = pairStamp{fileStamp{ci}, fileStamp{ki}}
		if !force && (st.same(r.loaded) || st.same(r.failed)) {
			return false, nil
		}
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		err = fmt.Errorf("load TLS key pair (tls_cert %s, tls_key %s): %w", r.certFile, r.keyFile, err)
		changed = err.Error() != r.lastErr
		r.failed, r.lastErr = st, err.Error()
		return changed, err
	}
	if r.cert != nil {
		r.log.Info("TLS certificate loaded", "cert", r.certFile, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	r.cert, r.loaded, r.failed, r.lastErr = &cert, st, pairStamp{}, ""
	return true, nil
}
