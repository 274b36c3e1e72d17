package project_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
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

// TestQuotaUsed: the total is the sum of the quotas' use, for those who may list quotas.
func TestQuotaUsed(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		for i, n := range []string{"used-a", "used-b"} {
			id, err := e.svc.Create(e.admin, project.Spec{Name: n})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.PutManifest(e.admin, meta.PutManifestParams{ProjectID: id, Repository: n + "/app",
				Digest: fmt.Sprintf("sha256:%064d", i), MediaType: "application/vnd.oci.image.manifest.v1+json",
				Payload: []byte(`{"schemaVersion":2,"padding":"` + strings.Repeat("x", 100*(i+1)) + `"}`)}); err != nil {
				t.Fatal(err)
			}
		}
		qs, _, err := e.svc.Quotas(e.admin, meta.ListQuery{Limit: 100}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, q := range qs {
			want += q.Used
		}
		if n, err := e.svc.QuotaUsed(e.admin); err != nil || n != want || want < 200 {
			t.Errorf("QuotaUsed %d %v, want %d", n, err, want)
		}
		user := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 99, Name: "alice"})
		if _, err := e.svc.QuotaUsed(user); !fault.Is(err, fault.Forbidden) {
			t.Errorf("a user: %v", err)
		}
	})
}
