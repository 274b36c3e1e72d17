package meta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

func TestImmutableRules(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		rule := func(key string, priority int) meta.ImmutableRule {
			return meta.ImmutableRule{ProjectID: pid, Priority: priority, Rule: `{"key":"` + key + `"}`, Key: key}
		}
		a, err := db.CreateImmutableRule(ctx, rule("a", 2), 3)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateImmutableRule(ctx, rule("a", 0), 3); !errors.Is(err, meta.ErrConflict) {
			t.Fatalf("same key: %v, want ErrConflict", err)
		}
		b, err := db.CreateImmutableRule(ctx, rule("b", 1), 3)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateImmutableRule(ctx, rule("c", 0), 3); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateImmutableRule(ctx, rule("d", 0), 3); !errors.Is(err, meta.ErrRuleLimit) {
			t.Fatalf("fourth rule: %v, want ErrRuleLimit", err)
		}
		if _, err := db.CreateImmutableRule(ctx, meta.ImmutableRule{ProjectID: 99999, Rule: "{}", Key: "x"}, 3); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("unknown project: %v, want ErrNotFound", err)
		}

		keys := func() string {
			rs, err := db.EnabledImmutableRules(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			s := ""
			for _, r := range rs {
				s += r.Key
			}
			return s
		}
		// By priority, then id; every change is seen at once despite the cache.
		if got := keys(); got != "cba" {
			t.Fatalf("enabled rules %q, want cba", got)
		}
		if err := db.SetImmutableRuleDisabled(ctx, pid, b, true); err != nil {
			t.Fatal(err)
		}
		if got := keys(); got != "ca" {
			t.Fatalf("enabled rules after disabling b: %q", got)
		}
		upd := rule("c", 9)
		upd.ID = a
		if err := db.UpdateImmutableRule(ctx, upd); !errors.Is(err, meta.ErrConflict) {
			t.Fatalf("update to a taken key: %v, want ErrConflict", err)
		}
		upd = rule("e", 9)
		upd.ID = a
		if err := db.UpdateImmutableRule(ctx, upd); err != nil {
			t.Fatal(err)
		}
		if got := keys(); got != "ce" {
			t.Fatalf("enabled rules after updating a: %q", got)
		}
		got, err := db.ImmutableRuleByID(ctx, pid, a)
		if err != nil || got.Rule != `{"key":"e"}` || got.Priority != 9 || got.Disabled {
			t.Fatalf("rule %+v, %v", got, err)
		}
		if _, err := db.ImmutableRuleByID(ctx, pid+1, a); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("rule of another project: %v", err)
		}
		list, total, err := db.ListImmutableRules(ctx, pid, meta.ListQuery{Limit: 2, Sort: []meta.SortKey{{Key: "priority", Desc: true}}})
		if err != nil || total != 3 || len(list) != 2 || list[0].ID != a {
			t.Fatalf("list: %d of %d, %v", len(list), total, err)
		}
		if err := db.DeleteImmutableRule(ctx, pid, a); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteImmutableRule(ctx, pid, a); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if got := keys(); got != "c" {
			t.Fatalf("enabled rules after deleting a: %q", got)
		}
		// Rules go with their project.
		if err := db.DeleteProject(ctx, pid); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM immutable_rules WHERE project_id = $1", pid).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d rules left after the project's deletion (%v)", n, err)
		}
	})
}
