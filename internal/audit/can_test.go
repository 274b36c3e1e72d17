package audit

import (
	"context"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/rbac"
)

// TestCanListAll: only those List gives the whole log to may read all of it.
func TestCanListAll(t *testing.T) {
	t.Parallel()
	s := &Service{Authz: &rbac.Authorizer{}}
	for _, c := range []struct {
		name string
		p    auth.Principal
		want bool
	}{
		{"administrator", auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true}, true},
		{"user", auth.Principal{Kind: auth.User, ID: 2, Name: "alice"}, false},
		{"anonymous", auth.Principal{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			if !c.p.IsAnonymous() {
				ctx = auth.WithPrincipal(ctx, c.p)
			}
			if got, err := s.CanListAll(ctx); err != nil || got != c.want {
				t.Errorf("CanListAll: %v %v, want %v", got, err, c.want)
			}
		})
	}
}
