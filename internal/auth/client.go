package auth

import (
	"context"
	"net/http"
	"net/netip"
)

type clientAddrKey struct{}

// WithClientAddr returns a context that carries the address of the client a request comes
// from. The server puts it in every request's context, so that whatever checks a password on
// the request's behalf (the Authenticator, for every entry point) throttles by it.
func WithClientAddr(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrFrom returns the client address carried by ctx: the zero Addr if there is none,
// which the login throttle treats as one client of its own.
func ClientAddrFrom(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientAddrKey{}).(netip.Addr)
	return a
}

// PeerAddr is the address of the TCP peer of a request (r.RemoteAddr, "host:port" as
// net/http sets it), IPv4-mapped IPv6 addresses as IPv4; the zero Addr if it cannot be read.
// It never looks at X-Forwarded-For: a header any client can write must not choose the
// address a login is throttled by.
func PeerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}
