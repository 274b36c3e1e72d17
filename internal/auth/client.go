package auth

import (
	"context"
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
