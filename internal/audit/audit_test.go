package audit

import (
	"context"
	"log/slog"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

func TestSubscriberWritesEachEventOnce(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "alice"})
		err := db.Tx(ctx, func(tx *meta.Tx) error {
			tx.Emit(events.OfRepository(ctx, events.ArtifactPushed, 7, "p/app", "p/app:v1", events.Artifact{Repository: "p/app"}),
				events.OfRepository(context.Background(), events.ArtifactPulled, 7, "p/app", "p/app:v1", nil),
				events.OfRepository(ctx, events.ScanCompleted, 7, "p/app", "p/app@sha256:x", nil),
				events.OfSystem(ctx, events.UserCreated, "bob", nil))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SequenceEvents(ctx, 10); err != nil {
			t.Fatal(err)
		}
		evs, err := db.EventsAfter(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		handle := Subscriber(db, slog.New(slog.DiscardHandler))
		for range 2 { // delivered twice, written once
			if err := handle(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
		want := []struct{ user, op, typ, resource string }{
			{"alice", "create", "artifact", "p/app:v1"},
			{"anonymous", "pull", "artifact", "p/app:v1"},
			{"alice", "create", "user", "bob"},
		}
		var n int
		if err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM audit_log").Scan(&n); err != nil || n != len(want) {
			t.Fatalf("%d entries (%v), want %d", n, err, len(want))
		}
		for _, w := range want {
			var n int
			err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM audit_log WHERE username = $1 AND operation = $2 AND resource_type = $3 AND resource = $4",
				w.user, w.op, w.typ, w.resource).Scan(&n)
			if err != nil || n != 1 {
				t.Errorf("entry %+v: %d (%v)", w, n, err)
			}
		}
	})
}
