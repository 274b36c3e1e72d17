// Package outbound makes the HTTP clients of every request Berth itself sends — to scanner
// adapters, to the vulnerability database's archive server, to registries the built-in
// scanner pulls from for another registry, and to replication endpoints, webhooks and OIDC
// providers as they come. No other package builds an http.Client or http.Transport
// (TestOnlyOutboundMakesClients keeps it so), because the addresses those requests go to are
// chosen by users: a scanner registered at http://169.254.169.254/ would otherwise make the
// registry fetch its cloud credentials.
//
// A client's dialer checks each address it is about to connect to, after DNS resolution and
// before the connection is attempted (net.Dialer.Control), so a name that resolves to a
// refused address — whether at registration or later, DNS rebinding — is refused, and so is a
// redirect to one. By default it refuses link-local addresses (169.254.0.0/16, fe80::/10),
// where cloud metadata services answer, the metadata addresses outside that range
// (fd00:ec2::254, 100.100.100.200, 192.0.0.192, 168.63.129.16), unspecified addresses
// (0.0.0.0/8, ::), multicast and broadcast. Loopback and private ranges (127.0.0.0/8, 10/8,
// 172.16/12, 192.168/16, fc00::/7) stay reachable, since on-premises scanners and mirrors
// live there; Policy.Deny refuses more, Policy.Allow lets through what would be refused.
package outbound

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Policy decides which addresses outbound connections may reach: an address in Allow always,
// else none in Deny or in the refused ranges above.
type Policy struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
}

// refused are the ranges refused by default, the most specific first (the first that holds an
// address gives the reason).
var refused = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "a cloud metadata address (AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle)"},
	{netip.MustParsePrefix("169.254.170.2/32"), "a cloud metadata address (AWS ECS task credentials)"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "a cloud metadata address (AWS, IPv6)"},
	{netip.MustParsePrefix("100.100.100.200/32"), "a cloud metadata address (Alibaba Cloud)"},
	{netip.MustParsePrefix("192.0.0.192/32"), "a cloud metadata address (Oracle Cloud)"},
	{netip.MustParsePrefix("168.63.129.16/32"), "a cloud platform address (Azure WireServer)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address, where cloud metadata services answer"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
}

// RefusedError is a connection the policy refused; it was never attempted.
type RefusedError struct {
	Addr   netip.Addr
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("outbound connection to %s refused: it is %s (outbound_allowed_cidrs lets it through)", e.Addr, e.Reason)
}

// Check returns a *RefusedError if the policy refuses ip.
func (p Policy) Check(ip netip.Addr) error {
	// ::ffff:169.254.169.254 reaches 169.254.169.254; a zone changes nothing.
	ip = ip.Unmap().WithZone("")
	for _, a := range p.Allow {
		if a.Contains(ip) {
			return nil
		}
	}
	for _, d := range p.Deny {
		if d.Contains(ip) {
			return &RefusedError{Addr: ip, Reason: "in outbound_denied_cidrs (" + d.String() + ")"}
		}
	}
	for _, r := range refused {
		if r.prefix.Contains(ip) {
			return &RefusedError{Addr: ip, Reason: r.why}
		}
	}
	return nil
}

// control is net.Dialer.Control: it runs once the address is resolved and the socket made,
// before the connection is attempted, so a refusal sends nothing.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound connection to %q (%s) refused: not an IP address and port", address, network)
	}
	return p.Check(ap.Addr())
}

// checkHost refuses a URL host that is an IP address the policy refuses (a name is checked
// when it is dialled).
func (p Policy) checkHost(host string) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.Check(ip)
	}
	return nil
}

// Options configure a client; zero durations take the defaults.
type Options struct {
	Policy Policy
	// DialTimeout bounds a connection's establishment (default 10 s).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds a TLS handshake (default 10 s).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an answer's headers once the request is sent
	// (default 1 min).
	ResponseHeaderTimeout time.Duration
	// Timeout bounds a whole request, reading the answer's body included; 0: no bound (large
	// downloads bound themselves by their context).
	Timeout time.Duration
	// InsecureSkipVerify skips the server certificate's check (a scanner registration that
	// asks for it).
	InsecureSkipVerify bool
}

// Defaults of Options.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = time.Minute
	maxRedirects                 = 10
)

// NewClient returns a client that follows up to 10 redirects, each to an http(s) URL the policy
// allows (the address of each connection is checked as well).
func NewClient(o Options) *http.Client {
	return &http.Client{Transport: NewTransport(o), Timeout: o.Timeout, CheckRedirect: o.Policy.checkRedirect}
}

// NewTransport returns the transport of NewClient, for callers that wrap it (credentials,
// a registry client's own redirect rules).
func NewTransport(o Options) *http.Transport {
	return &http.Transport{
		Proxy:                 o.Policy.proxy,
		DialContext:           newDialer(o).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   orDefault(o.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout: orDefault(o.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify}, //nolint:gosec // only when a registration asks for it
	}
}

func newDialer(o Options) *net.Dialer {
	return &net.Dialer{Timeout: orDefault(o.DialTimeout, DefaultDialTimeout), KeepAlive: 30 * time.Second, Control: o.Policy.control}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// proxy is http.ProxyFromEnvironment (HTTPS_PROXY, NO_PROXY …). Through a proxy, Berth dials
// only the proxy (whose address the dialer checks); the proxy resolves and reaches the target,
// so a target given as an IP address is checked here, and a name is the proxy's to refuse.
func (p Policy) proxy(req *http.Request) (*url.URL, error) {
	u, err := http.ProxyFromEnvironment(req)
	if err != nil || u == nil {
		return u, err
	}
	if err := p.checkHost(req.URL.Hostname()); err != nil {
		return nil, err
	}
	return u, nil
}

func (p Policy) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirected to %q, which is not an http(s) URL", req.URL.Redacted())
	}
	return p.checkHost(req.URL.Hostname())
}

// TooLargeError is an answer longer than its reader's limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the answer is larger than %s", size(e.Limit))
}

func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// LimitReader reads r until it ends or passes limit bytes: the bytes up to the limit are
// returned, then a *TooLargeError (not io.EOF), so a cut answer is never taken for a whole one.
func LimitReader(r io.Reader, limit int64) io.Reader {
	return &limitedReader{r: r, left: limit, limit: limit}
}

type limitedReader struct {
	r           io.Reader
	left, limit int64
	err         error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// One byte more than is left tells a body that ends at the limit from one that goes on.
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) <= l.left {
		l.left -= int64(n)
		if err != nil {
			l.err = err
		}
		return n, err
	}
	n = int(l.left)
	l.left = 0
	l.err = &TooLargeError{Limit: l.limit}
	return n, l.err
}

// ReadAll reads r whole, or fails with a *TooLargeError if it is longer than limit bytes.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(LimitReader(r, limit))
	var tl *TooLargeError
	if errors.As(err, &tl) {
		return nil, err
	}
	return b, err
}
