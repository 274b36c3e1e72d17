package label_test

import (
	"context"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/label"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/rbac"
)

// TestCanGlobal: CanGlobal answers as the service decides: every signed-in user reads global
// labels, only system administrators change them, and an anonymous caller may do neither.
func TestCanGlobal(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		bg := context.Background()
		s := &label.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: db}}
		adminID, err := db.CreateUser(bg, meta.User{Username: "admin", PasswordHash: "x", SysAdmin: true})
		if err != nil {
			t.Fatal(err)
		}
		userID, err := db.CreateUser(bg, meta.User{Username: "alice", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		admin := auth.WithPrincipal(bg, auth.Principal{Kind: auth.User, ID: adminID, Name: "admin", SysAdmin: true})
		alice := auth.WithPrincipal(bg, auth.Principal{Kind: auth.User, ID: userID, Name: "alice"})
		for _, c := range []struct {
			name string
			ctx  context.Context
			act  rbac.Action
			want bool
		}{
			{"admin creates", admin, rbac.ActCreate, true},
			{"admin deletes", admin, rbac.ActDelete, true},
			{"alice lists", alice, rbac.ActList, true},
			{"alice creates", alice, rbac.ActCreate, false},
			{"alice updates", alice, rbac.ActUpdate, false},
			{"anonymous lists", bg, rbac.ActList, false},
			{"anonymous creates", bg, rbac.ActCreate, false},
		} {
			got, err := s.CanGlobal(c.ctx, c.act)
			if err != nil || got != c.want {
				t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
			}
			// What the service then does agrees.
			if c.act == rbac.ActCreate {
				_, err := s.Create(c.ctx, meta.Label{Name: "l-" + c.name[:3], Scope: meta.LabelScopeGlobal})
				if (err == nil) != c.want {
					t.Errorf("%s: Create says %v", c.name, err)
				}
				if err != nil && !fault.Is(err, fault.Forbidden) && !fault.Is(err, fault.Unauthorized) {
					t.Errorf("%s: Create refused with %v", c.name, err)
				}
			}
		}
	})
}
