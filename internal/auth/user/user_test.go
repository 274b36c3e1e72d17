package user_test

import (
	"context"
	"slices"
	"testing"

	"github.com/berthreg/berth/internal/audit/audittest"
	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/user"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/rbac"
)

// TestUserCreationAndDeletionAreAuditedWithTheChange: creating and deleting a user are events
// written with the change, which the audit log reads as Harbor's entries — by the caller
// (anonymous for a self-registration), naming the user as it was — and a refused change writes
// none.
func TestUserCreationAndDeletionAreAuditedWithTheChange(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		bg := context.Background()
		adminID, err := db.CreateUser(bg, meta.User{Username: "admin", PasswordHash: "x", SysAdmin: true})
		if err != nil || adminID != meta.DefaultAdminID {
			t.Fatalf("create the default administrator: id %d, %v", adminID, err)
		}
		admin := auth.WithPrincipal(bg, auth.Principal{Kind: auth.User, ID: adminID, Name: "admin", SysAdmin: true})
		s := &user.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: db}}
		trail := audittest.New(t, db)

		var alice int64
		newUser := func(name string) user.New {
			return user.New{Username: name, Password: "Passw0rd-" + name,
				Profile: user.Profile{Email: name + "@example.com", Realname: name}}
		}
		for _, step := range []struct {
			name    string
			do      func() error
			refusal fault.Kind
			want    []string
		}{
			{"an administrator creates alice", func() (err error) { alice, err = s.Create(admin, newUser("alice")); return err },
				0, []string{"admin create user alice in 0"}},
			{"alice again", func() error { _, err := s.Create(admin, newUser("alice")); return err }, fault.Conflict, nil},
			{"anonymous without self-registration", func() error { _, err := s.Create(bg, newUser("bob")); return err }, fault.Unauthorized, nil},
			{"anonymous with self-registration", func() error {
				if _, err := db.UpdateSystemConfig(bg, func(c *meta.SystemConfig) error { c.SelfRegistration = true; return nil }); err != nil {
					return err
				}
				_, err := s.Create(bg, newUser("bob"))
				return err
			}, 0, []string{"anonymous create user bob in 0"}},
			{"the default administrator", func() error { return s.Delete(admin, adminID) }, fault.Forbidden, nil},
			{"delete alice", func() error { return s.Delete(admin, alice) }, 0, []string{"admin delete user alice in 0"}},
			{"delete alice again", func() error { return s.Delete(admin, alice) }, fault.NotFound, nil},
		} {
			err := step.do()
			if fault.KindOf(err) != step.refusal || (step.refusal == 0 && err != nil) {
				t.Fatalf("%s: %v, want refusal kind %d", step.name, err, step.refusal)
			}
			if got := trail.Next(); !slices.Equal(got, step.want) {
				t.Errorf("%s: audit entries %q, want %q", step.name, got, step.want)
			}
		}
	})
}
