package project_test

import (
	"context"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// TestCanQuotasAndSystemAllowlist: the Can methods agree with the rules of Quotas, SetQuota and
// SetSystemAllowlist.
func TestCanQuotasAndSystemAllowlist(t *testing.T) {
	t.Parallel()
	s := &project.Service{Authz: &rbac.Authorizer{}}
	admin := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
	user := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 2, Name: "alice"})
	for _, c := range []struct {
		name string
		ctx  context.Context
		want bool
	}{{"administrator", admin, true}, {"user", user, false}, {"anonymous", context.Background(), false}} {
		for _, act := range []rbac.Action{rbac.ActList, rbac.ActUpdate} {
			if got, err := s.CanQuotas(c.ctx, act); err != nil || got != c.want {
				t.Errorf("%s CanQuotas(%s): %v %v, want %v", c.name, act, got, err, c.want)
			}
		}
		if got := s.CanSetSystemAllowlist(c.ctx); got != c.want {
			t.Errorf("%s CanSetSystemAllowlist: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestQuotasByProjectName: quotas filter and sort by their project's name.
func TestQuotasByProjectName(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		for _, n := range []string{"team-b", "team-a", "other"} {
			if _, err := e.svc.Create(e.admin, project.Spec{Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		qs, total, err := e.svc.Quotas(e.admin, meta.ListQuery{Limit: 10,
			Filters: []meta.Filter{{Key: "name", Op: meta.OpFuzzy, Values: []string{"TEAM"}}},
			Sort:    []meta.SortKey{{Key: "name"}}}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if total != 2 || len(qs) != 2 || qs[0].ProjectName != "team-a" || qs[1].ProjectName != "team-b" {
			t.Errorf("quotas of team-*: %d %+v", total, qs)
		}
	})
}
