// Package origin tells the URL a client reached Berth at, for the absolute URLs Berth writes:
// the realm of its token challenges (WWW-Authenticate), the Location of uploads and manifests,
// and the registry URL of /api/v2.0/systeminfo.
//
// With external_url configured that URL is the answer for every request. Without it, the answer
// follows the request, because a client checks the URLs it is sent against the name it used:
// go-containerregistry (crane, ko, …) refuses a token realm whose host is a private address
// other than the registry's, so a realm of https://127.0.0.1:5443 breaks a push to
// localhost:5443. The scheme is https when the connection is TLS, the host is the request's Host
// header; X-Forwarded-Proto, X-Forwarded-Host and the standard Forwarded header are believed only
// from a peer within the trusted proxies, since anyone else could use them to point a client's
// credentials elsewhere. A host that is not a plain host[:port] is never written back: it would
// let a request inject quotes and parameters into the challenge.
package origin

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver answers the URL a request reached Berth at. Its zero value is not usable; use New.
type Resolver struct {
	fixed    string         // external_url without trailing slash; "" follows the request
	fallback string         // host:port for a request without a usable Host
	trusted  []netip.Prefix // peers whose forwarding headers are believed
}

// New returns a resolver. externalURL, when not empty, is the answer to every request (its
// trailing slash removed). Otherwise fallbackHost (host:port, from the listen address) stands
// in for a request that names no usable host and whose connection's local address is unknown,
// and the X-Forwarded-* and Forwarded headers count only from peers within trusted.
func New(externalURL, fallbackHost string, trusted []netip.Prefix) *Resolver {
	t := make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		t[i] = p.Masked()
	}
	return &Resolver{fixed: strings.TrimRight(externalURL, "/"), fallback: fallbackHost, trusted: t}
}

// URL is scheme://host[:port] (plus the path of external_url, if it has one) of the request,
// without a trailing slash.
func (o *Resolver) URL(r *http.Request) string {
	if o.fixed != "" {
		return o.fixed
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := ""
	if o.fromTrustedProxy(r) {
		if p, h := forwarded(r.Header); p != "" || h != "" {
			if p != "" {
				scheme = p
			}
			host = h
		}
	}
	if host == "" && ValidHost(r.Host) {
		host = r.Host
	}
	if host == "" {
		host = localHost(r.Context(), o.fallback)
	}
	return scheme + "://" + host
}

// SecureCookie reports whether a cookie set in answer to r (the portal's session cookie) must
// only travel over TLS: when r came over TLS, directly or through a proxy that says so, or the
// URL the client reached Berth at is https. Any proxy is believed here: a cookie marked Secure
// for no reason only stays off plain HTTP.
func (o *Resolver) SecureCookie(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") ||
		strings.HasPrefix(strings.ToLower(o.URL(r)), "https://")
}

// fromTrustedProxy reports whether the TCP peer is within the trusted proxies.
func (o *Resolver) fromTrustedProxy(r *http.Request) bool {
	if len(o.trusted) == 0 {
		return false
	}
	ip, ok := peerIP(r.RemoteAddr)
	return ok && o.trusts(ip)
}

// peerIP parses http.Request.RemoteAddr, "ip:port" (IPv6 in brackets), as the server sets it.
func peerIP(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), true
	}
	if ip, err := netip.ParseAddr(remote); err == nil {
		return ip.Unmap(), true
	}
	return netip.Addr{}, false
}

// forwarded reads the scheme and host a proxy says the client used: X-Forwarded-Proto and
// X-Forwarded-Host, or else the proto and host of the Forwarded header's first element (the
// hop nearest the client). A value that is not http(s) or not a valid host[:port] is ignored.
// Proxies append to these headers when they carry several hops; the first value is the
// client's.
func forwarded(h http.Header) (scheme, host string) {
	scheme = proto(firstValue(h.Get("X-Forwarded-Proto")))
	if v := firstValue(h.Get("X-Forwarded-Host")); ValidHost(v) {
		host = v
	}
	if scheme != "" || host != "" {
		return scheme, host
	}
	fwd := h.Get("Forwarded")
	if fwd == "" {
		return "", ""
	}
	for _, pair := range strings.Split(firstValue(fwd), ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		switch strings.ToLower(k) {
		case "proto":
			scheme = proto(v)
		case "host":
			if ValidHost(v) {
				host = v
			}
		}
	}
	return scheme, host
}

// firstValue is the first element of a comma-separated header value.
func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

func proto(v string) string {
	switch {
	case strings.EqualFold(v, "https"):
		return "https"
	case strings.EqualFold(v, "http"):
		return "http"
	}
	return ""
}

// localHost is the local address of the request's connection (the address the client
// dialled), or fallback when it is unknown or not writable as a host.
func localHost(ctx context.Context, fallback string) string {
	if a, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr); ok {
		if s := a.String(); ValidHost(s) {
			return s
		}
	}
	return fallback
}

// maxHostLen bounds a host[:port]: a DNS name is at most 253 characters, and a port adds six.
const maxHostLen = 253 + 6

// ValidHost reports whether s is a host[:port] fit to write into a URL and a quoted header
// parameter: a DNS name or IPv4 address (letters, digits, '-', '.', '_'), or an IPv6 address
// in brackets without a zone, optionally followed by ':' and a port of one to five digits.
func ValidHost(s string) bool {
	if s == "" || len(s) > maxHostLen {
		return false
	}
	name, port := s, ""
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		ip, err := netip.ParseAddr(s[1:end])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return false
		}
		rest := s[end+1:]
		if rest == "" {
			return true
		}
		if rest[0] != ':' {
			return false
		}
		return validPort(rest[1:])
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		name, port = s[:i], s[i+1:]
		if !validPort(port) {
			return false
		}
	}
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// Client is the address of the client a request comes from. It is the TCP peer, unless the
// peer is a trusted proxy: then X-Forwarded-For is read from its right end (the hop the proxy
// itself appended) leftwards, past further trusted proxies, and the first address not among
// them is the client. Addresses left of it were written by the client or by proxies nobody
// vouches for, so they are never believed. A malformed entry stops the walk at the last
// address known to be good. A nil Resolver trusts no proxy.
func (o *Resolver) Client(r *http.Request) netip.Addr {
	peer, ok := peerIP(r.RemoteAddr)
	if !ok || o == nil || !o.trusts(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			ip, err := netip.ParseAddr(strings.TrimSpace(list[j]))
			if err != nil {
				return client
			}
			client = ip.Unmap()
			if !o.trusts(client) {
				return client
			}
		}
	}
	return client
}

func (o *Resolver) trusts(ip netip.Addr) bool {
	for _, p := range o.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
