package audit

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

func TestRecordsAreWrittenWithTheCaller(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		r := New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "alice"})
		for i := 0; i < 300; i++ {
			r.Record(ctx, 7, "pull", "artifact", "library/app:v1")
		}
		r.Record(context.Background(), 0, "create", "user", "bob")
		r.Close()
		var n, anon int
		if err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM audit_log WHERE username = 'alice' AND project_id = 7 AND operation = 'pull'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM audit_log WHERE username = 'anonymous' AND resource = 'bob'").Scan(&anon); err != nil {
			t.Fatal(err)
		}
		if n != 300 || anon != 1 {
			t.Fatalf("stored %d pulls by alice and %d anonymous entries, want 300 and 1", n, anon)
		}
	})
}
