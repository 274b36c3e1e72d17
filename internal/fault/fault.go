// Package fault names the ways a request can be refused, for every service and every entry
// point. A service says what is wrong and why (fault.NotFoundf("project %s not found", name));
// each protocol turns the kind into its own status and error body in one place (the REST API in
// api.fail, the portal in its error page), so the same refusal reads the same everywhere.
package fault

import (
	"errors"
	"fmt"
)

// Kind is what sort of refusal an error is.
type Kind int

const (
	// Invalid: the request itself is wrong (a malformed name, a missing field).
	Invalid Kind = iota + 1
	// Unauthorized: the caller must sign in.
	Unauthorized
	// Forbidden: the caller may not do this.
	Forbidden
	// NotFound: what the request names does not exist, or the caller may not know it does.
	NotFound
	// Conflict: it exists already, or a concurrent change got there first.
	Conflict
	// Precondition: the current state forbids it (in use, immutable, not empty).
	Precondition
	// TooLarge: the request is over a limit.
	TooLarge
	// Upstream: a system Berth called (a scanner, another registry) failed.
	Upstream
	// Unavailable: the service cannot do it now (a feature switched off, a dependency down).
	Unavailable
)

// Error is a refusal with the message the caller reads.
type Error struct {
	Kind    Kind
	Message string
	// Code is the Harbor error code of a refusal more specific than its kind (DENIED for a
	// write in read-only mode or over quota, VIOLATE_FOREIGN_KEY_CONSTRAINT); empty for the
	// kind's own code.
	Code string
}

func (e *Error) Error() string { return e.Message }

// New returns a refusal of kind k.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// WithCode returns a refusal of kind k with Harbor's specific code.
func WithCode(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

func Invalidf(format string, args ...any) *Error      { return New(Invalid, format, args...) }
func Forbiddenf(format string, args ...any) *Error    { return New(Forbidden, format, args...) }
func NotFoundf(format string, args ...any) *Error     { return New(NotFound, format, args...) }
func Conflictf(format string, args ...any) *Error     { return New(Conflict, format, args...) }
func Preconditionf(format string, args ...any) *Error { return New(Precondition, format, args...) }

// ErrUnauthorized and ErrForbidden are the plain refusals of authorization, with Harbor's
// messages.
var (
	ErrUnauthorized = &Error{Kind: Unauthorized, Message: "unauthorized"}
	ErrForbidden    = &Error{Kind: Forbidden, Message: "forbidden"}
)

// KindOf returns the kind of the refusal in err's chain, or 0 when err is not a refusal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// Is reports whether err is a refusal of kind k.
func Is(err error, k Kind) bool { return KindOf(err) == k }
