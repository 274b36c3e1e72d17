package group_test

import (
	"context"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/group"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/rbac"
)

// TestGroupTypeAndDN: a group without a type gets Harbor's (LDAP when it has a DN, HTTP
// otherwise); only LDAP groups have a DN; and an update may send the type and DN back as they
// are, but not change them.
func TestGroupTypeAndDN(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
		s := &group.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: db}}

		created := map[string]int64{}
		for _, c := range []struct {
			name     string
			in       meta.Group
			refusal  fault.Kind
			wantType int
		}{
			{"no type, no DN", meta.Group{Name: "web"}, 0, meta.GroupHTTP},
			{"no type, a DN", meta.Group{Name: "ops", LDAPDN: "cn=ops,dc=example,dc=com"}, 0, meta.GroupLDAP},
			{"OIDC", meta.Group{Name: "sso", Type: meta.GroupOIDC}, 0, meta.GroupOIDC},
			{"OIDC with a DN", meta.Group{Name: "sso2", Type: meta.GroupOIDC, LDAPDN: "cn=sso2"}, fault.Invalid, 0},
			{"HTTP group of a name taken by an LDAP group", meta.Group{Name: "ops", Type: meta.GroupHTTP}, 0, meta.GroupHTTP},
		} {
			t.Run("create "+c.name, func(t *testing.T) {
				id, err := s.Create(ctx, c.in)
				if fault.KindOf(err) != c.refusal || (c.refusal == 0 && err != nil) {
					t.Fatalf("create %+v: %v, want refusal kind %d", c.in, err, c.refusal)
				}
				if err != nil {
					return
				}
				g, err := s.Get(ctx, id)
				if err != nil || g.Type != c.wantType || g.LDAPDN != c.in.LDAPDN {
					t.Fatalf("created %+v (%v), want type %d and DN %q", g, err, c.wantType, c.in.LDAPDN)
				}
				created[c.name] = id
			})
		}

		ldap := created["no type, a DN"]
		for _, c := range []struct {
			name    string
			in      meta.Group
			refusal fault.Kind
		}{
			{"the name alone", meta.Group{Name: "ops2"}, 0},
			{"type and DN sent back", meta.Group{Name: "ops3", Type: meta.GroupLDAP, LDAPDN: "cn=ops,dc=example,dc=com"}, 0},
			{"another type", meta.Group{Name: "ops4", Type: meta.GroupHTTP}, fault.Invalid},
			{"another DN", meta.Group{Name: "ops5", LDAPDN: "cn=other,dc=example,dc=com"}, fault.Invalid},
		} {
			t.Run("update "+c.name, func(t *testing.T) {
				err := s.Update(ctx, ldap, c.in)
				if fault.KindOf(err) != c.refusal || (c.refusal == 0 && err != nil) {
					t.Fatalf("update with %+v: %v, want refusal kind %d", c.in, err, c.refusal)
				}
				g, err := s.Get(ctx, ldap)
				if err != nil || g.Type != meta.GroupLDAP || g.LDAPDN != "cn=ops,dc=example,dc=com" || (c.refusal == 0) != (g.Name == c.in.Name) {
					t.Fatalf("after update with %+v: %+v (%v)", c.in, g, err)
				}
			})
		}
	})
}

// TestCan: whether a caller may act on user groups is the system permission the methods check:
// system administrators may, other users may not.
func TestCan(t *testing.T) {
	t.Parallel()
	s := &group.Service{Authz: &rbac.Authorizer{}}
	for _, c := range []struct {
		name string
		p    auth.Principal
		act  rbac.Action
		want bool
	}{
		{"admin lists", auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true}, rbac.ActList, true},
		{"admin deletes", auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true}, rbac.ActDelete, true},
		{"user lists", auth.Principal{Kind: auth.User, ID: 2, Name: "alice"}, rbac.ActList, false},
		{"user creates", auth.Principal{Kind: auth.User, ID: 2, Name: "alice"}, rbac.ActCreate, false},
		{"anonymous", auth.Principal{}, rbac.ActList, false},
	} {
		got, err := s.Can(auth.WithPrincipal(context.Background(), c.p), c.act)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
}
