package account

import (
	"context"
	"log/slog"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
)

// LockoutStore is what recording lockouts writes: an event with no change to go with it.
type LockoutStore interface {
	EmitEvents(ctx context.Context, evs ...meta.Event) error
}

// Lockouts records the lockouts of login throttling (auth.Throttle) as they begin: a warning in
// the log, and an events.LoginLocked event, which the audit log keeps.
type Lockouts struct {
	Store LockoutStore
	Log   *slog.Logger
}

// Record is an Authenticator's lockout handler (auth.Authenticator.OnLockout). It runs on the
// failed request, but outlives its cancellation: the client going away must not lose the
// record. A failure to write is logged, never the login's answer.
func (l *Lockouts) Record(ctx context.Context, lo auth.Lockout) {
	ctx = context.WithoutCancel(ctx)
	client := clientString(lo)
	l.Log.WarnContext(ctx, "login locked out after failed attempts",
		"account", lo.Account, "client", client, "scope", lo.Scope, "failures", lo.Failures, "duration", lo.For.String())
	err := l.Store.EmitEvents(ctx, events.Locked(events.Lockout{
		Account: lo.Account, Client: client, Scope: lo.Scope, Failures: lo.Failures, Seconds: int64(lo.For / time.Second),
	}))
	if err != nil {
		l.Log.ErrorContext(ctx, "record login lockout", "account", lo.Account, "client", client, "err", err)
	}
}

// clientString is the client's address as the audit log shows it; "unknown" when the request
// carried none.
func clientString(lo auth.Lockout) string {
	if !lo.Client.IsValid() {
		return "unknown"
	}
	return lo.Client.String()
}
