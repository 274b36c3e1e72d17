package meta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// TestListGroupsSorted: group listings are in name order by default, sort by name, type or
// creation time either way with the id breaking ties, page after sorting, and refuse other keys.
func TestListGroupsSorted(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		for _, g := range []meta.Group{{Name: "ops", Type: meta.GroupOIDC}, {Name: "web", Type: meta.GroupHTTP}, {Name: "db", Type: meta.GroupOIDC}} {
			if _, err := db.CreateGroup(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			name   string
			sort   []meta.SortKey
			offset int
			limit  int
			want   []string
		}{
			{"default", nil, 0, 10, []string{"db", "ops", "web"}},
			{"name descending", []meta.SortKey{{Key: "name", Desc: true}}, 0, 10, []string{"web", "ops", "db"}},
			{"type, then id", []meta.SortKey{{Key: "type"}}, 0, 10, []string{"web", "ops", "db"}},
			{"created, newest first", []meta.SortKey{{Key: "creation_time", Desc: true}, {Key: "name", Desc: true}}, 0, 10, nil},
			{"second page by name descending", []meta.SortKey{{Key: "name", Desc: true}}, 1, 1, []string{"ops"}},
		} {
			gs, total, err := db.ListGroups(ctx, meta.GroupFilter{Sort: c.sort, Offset: c.offset, Limit: c.limit})
			if err != nil || total != 3 {
				t.Fatalf("%s: %v, total %d", c.name, err, total)
			}
			var got []string
			for _, g := range gs {
				got = append(got, g.Name)
			}
			if c.want == nil {
				if len(got) != 3 {
					t.Errorf("%s: %v", c.name, got)
				}
				continue
			}
			if len(got) != len(c.want) {
				t.Fatalf("%s: %v, want %v", c.name, got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%s: %v, want %v", c.name, got, c.want)
					break
				}
			}
		}
		if _, _, err := db.ListGroups(ctx, meta.GroupFilter{Sort: []meta.SortKey{{Key: "ldap_group_dn"}}, Limit: 10}); !errors.Is(err, meta.ErrBadQuery) {
			t.Errorf("sort by an unknown key: %v, want ErrBadQuery", err)
		}
	})
}
