package account_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/account"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// TestLockoutRecorded: a lockout, as it begins, is a warning in the log and a login.locked
// event naming the account tried and the client's address, even when the failed request's
// context is already cancelled.
func TestLockoutRecorded(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		var logs bytes.Buffer
		l := &account.Lockouts{Store: db, Log: slog.New(slog.NewTextHandler(&logs, nil))}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		l.Record(ctx, auth.Lockout{Account: "alice", Client: netip.MustParseAddr("192.0.2.7"), Scope: auth.LockAccountAddress,
			Failures: 5, For: 30 * time.Second})
		l.Record(ctx, auth.Lockout{Account: "nobody", Scope: auth.LockAddress, Failures: 20, For: time.Minute})

		if _, err := db.SequenceEvents(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		evs, err := db.EventsAfter(context.Background(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 {
			t.Fatalf("%d events, want 2", len(evs))
		}
		for i, want := range []events.Lockout{
			{Account: "alice", Client: "192.0.2.7", Scope: "account_address", Failures: 5, Seconds: 30},
			{Account: "nobody", Client: "unknown", Scope: "address", Failures: 20, Seconds: 60},
		} {
			e := evs[i]
			var got events.Lockout
			if err := events.Decode(e, &got); err != nil {
				t.Fatal(err)
			}
			if e.Type != events.LoginLocked || e.Actor != want.Client || e.Resource != want.Account || got != want {
				t.Errorf("event %d: %s by %q on %q, payload %+v; want login.locked by %q on %q, %+v",
					i, e.Type, e.Actor, e.Resource, got, want.Client, want.Account, want)
			}
		}
		if !strings.Contains(logs.String(), "login locked out after failed attempts") || !strings.Contains(logs.String(), "client=192.0.2.7") {
			t.Errorf("log lacks the lockout warning:\n%s", logs.String())
		}
	})
}
