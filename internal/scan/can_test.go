package scan_test

import (
	"context"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/scan"
)

// TestCanScannersAndScanAll: whether a caller may act on scanner registrations and scan-all
// is the system permission the methods check: system administrators may, other users may not.
func TestCanScannersAndScanAll(t *testing.T) {
	t.Parallel()
	s := &scan.Service{Authz: &rbac.Authorizer{}}
	admin := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
	user := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 2, Name: "alice"})
	for _, c := range []struct {
		name string
		can  func(context.Context, rbac.Action) (bool, error)
		act  rbac.Action
	}{
		{"scanners list", s.CanScanners, rbac.ActList},
		{"scanners create", s.CanScanners, rbac.ActCreate},
		{"scanners delete", s.CanScanners, rbac.ActDelete},
		{"scan all read", s.CanScanAll, rbac.ActRead},
		{"scan all create", s.CanScanAll, rbac.ActCreate},
		{"scan all stop", s.CanScanAll, rbac.ActStop},
	} {
		if ok, err := c.can(admin, c.act); err != nil || !ok {
			t.Errorf("%s as admin: %v %v, want true", c.name, ok, err)
		}
		if ok, err := c.can(user, c.act); err != nil || ok {
			t.Errorf("%s as a user: %v %v, want false", c.name, ok, err)
		}
	}
}
