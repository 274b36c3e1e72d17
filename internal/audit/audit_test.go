package audit

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/rbac"
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

// TestExtendedLog: the extended audit log describes entries as Harbor does, from what their
// events carried; names members "member"; describes entries written before descriptions were
// kept from their other columns; and filters and sorts on what it shows.
func TestExtendedLog(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		admin := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
		err := db.Tx(admin, func(tx *meta.Tx) error {
			tx.Emit(events.OfRepository(admin, events.ArtifactPushed, 7, "p/app", "p/app:v1",
				events.Artifact{Repository: "p/app", Digest: "sha256:aa", Tags: []string{"v1"}}),
				events.OfProject(admin, events.MemberAdded, 7, "alice", events.Member{Project: "p"}),
				events.OfProject(admin, events.MemberRemoved, 7, "devs", events.Member{Project: "p", Group: true}),
				events.OfProject(admin, events.ProjectUpdated, 7, "p", nil),
				events.OfSystem(admin, events.UserCreated, "bob", nil),
				events.OfSystem(admin, events.ScannerCreated, "Trivy", nil))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SequenceEvents(admin, 10); err != nil {
			t.Fatal(err)
		}
		evs, err := db.EventsAfter(admin, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := Subscriber(db, slog.New(slog.DiscardHandler))(admin, evs); err != nil {
			t.Fatal(err)
		}
		// An entry of a release that kept no descriptions.
		if err := db.InsertAudit(admin, meta.AuditEntry{ProjectID: 7, Username: "carol", Resource: "p/old:1",
			ResourceType: "tag", Operation: "delete", OpTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		s := &Service{Store: db, Authz: &rbac.Authorizer{}}
		list := func(lq meta.ListQuery) []string {
			t.Helper()
			es, total, err := s.ListExt(admin, lq)
			if err != nil {
				t.Fatal(err)
			}
			if total < int64(len(es)) {
				t.Fatalf("total %d below %d entries", total, len(es))
			}
			var out []string
			for _, e := range es {
				out = append(out, e.Operation+" "+e.ResourceType+" | "+e.OpDesc)
			}
			return out
		}
		// Entries are written in the order of their events' streams; compare as sets.
		sorted := func(s []string) []string { return slices.Sorted(slices.Values(s)) }
		want := []string{
			"create artifact | push artifact: p/app@sha256:aa",
			"create member | create user member alice in project p",
			"delete member | delete group member devs from project p",
			"update project | update project: p",
			"create user | create user with name: bob",
			"create scanner | create scanner: Trivy",
			"delete tag | delete tag: p/old:1",
		}
		if got := list(meta.ListQuery{}); !slices.Equal(sorted(got), sorted(want)) {
			t.Fatalf("extended log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, c := range []struct {
			f    meta.Filter
			want []string
		}{
			{meta.Filter{Key: "resource_type", Op: meta.OpExact, Values: []string{"member"}}, want[1:3]},
			{meta.Filter{Key: "resource_type", Op: meta.OpExact, Values: []string{"project_member"}}, nil},
			{meta.Filter{Key: "operation_description", Op: meta.OpFuzzy, Values: []string{"P/OLD"}}, want[6:]},
			{meta.Filter{Key: "operation_description", Op: meta.OpFuzzy, Values: []string{"sha256:aa"}}, want[:1]},
		} {
			got := list(meta.ListQuery{Filters: []meta.Filter{c.f}})
			if !slices.Equal(sorted(got), sorted(c.want)) {
				t.Errorf("%+v: %q, want %q", c.f, got, c.want)
			}
		}
		if got := list(meta.ListQuery{Sort: []meta.SortKey{{Key: "resource_type", Desc: true}, {Key: "id"}}, Limit: 2}); !slices.Equal(got, []string{want[4], want[6]}) {
			t.Errorf("sorted by resource type, descending: %q", got)
		}
		// The audit log itself keeps its own names.
		es, _, err := s.List(admin, meta.ListQuery{Filters: []meta.Filter{{Key: "resource_type", Op: meta.OpExact, Values: []string{"project_member"}}}})
		if err != nil || len(es) != 2 {
			t.Fatalf("audit log members: %+v, %v", es, err)
		}
		types, err := s.EventTypes(admin)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(types, "create_member") || !slices.Contains(types, "update_project") || slices.Contains(types, "login_user") ||
			types[0] != "create_artifact" || !slices.Contains(types, "create_scanner") {
			t.Errorf("event types %q", types)
		}
	})
}
