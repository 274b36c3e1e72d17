package settings_test

import (
	"context"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/settings"
)

// TestCan: Can agrees with what Configuration and Update allow.
func TestCan(t *testing.T) {
	t.Parallel()
	s := &settings.Service{Authz: &rbac.Authorizer{}}
	user := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 2, Name: "alice"})
	for _, c := range []struct {
		name string
		ctx  context.Context
		act  rbac.Action
		want bool
	}{
		{"administrator reads", admin, rbac.ActRead, true},
		{"administrator changes", admin, rbac.ActUpdate, true},
		{"user reads", user, rbac.ActRead, false},
		{"user changes", user, rbac.ActUpdate, false},
		{"anonymous reads", context.Background(), rbac.ActRead, false},
	} {
		if got, err := s.Can(c.ctx, c.act); err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
}
