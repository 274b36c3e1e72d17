// Package auth authenticates Berth clients: local password hashing, Basic
// credential checks, and the Docker registry token service behind
// /service/token.
//
// The accounts themselves have a package each below: account (finding the
// account a login name stands for), user, robot, group and session (the rules
// of each, shared by every entry point).
package auth

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrBadCredentials is returned for an unknown user and for a wrong
	// password alike, so callers cannot reveal which names exist.
	ErrBadCredentials = errors.New("auth: invalid credentials")
	// ErrNoAccount is what an AccountLookup returns for a name it does not know.
	ErrNoAccount = errors.New("auth: no such account")
)

// PrincipalKind tells what kind of identity makes a request.
type PrincipalKind int

// The kinds of principal. Anonymous is the zero value, so a Principal nobody
// filled in grants nothing beyond public access.
const (
	Anonymous PrincipalKind = iota
	User
	Robot
)

// String returns the stable name of the kind; tokens carry this name rather
// than the number so that reordering the constants cannot change the meaning
// of tokens already issued.
func (k PrincipalKind) String() string {
	switch k {
	case Anonymous:
		return "anonymous"
	case User:
		return "user"
	case Robot:
		return "robot"
	}
	return fmt.Sprintf("PrincipalKind(%d)", int(k))
}

func parsePrincipalKind(s string) (PrincipalKind, error) {
	for _, k := range []PrincipalKind{Anonymous, User, Robot} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown principal kind %q", s)
}

// Principal is who makes a request.
type Principal struct {
	Kind     PrincipalKind
	ID       int64  // user id (robot id for robots)
	Name     string // login name; "" for anonymous
	SysAdmin bool
}

// IsAnonymous reports whether the request carries no identity.
func (p Principal) IsAnonymous() bool { return p.Kind == Anonymous }

type principalKey struct{}

// WithPrincipal returns a context that carries the caller, for services that record who did
// something (audit, events) without taking it as a parameter everywhere.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller carried by ctx, anonymous if none.
func PrincipalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
