package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/account"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/settings"
)

// TestPrincipalOfLogin: the principal a login name stands for now, as the token service
// rebuilds it for a refresh token — a user with their current administrator flag, a robot by
// its prefixed name — and no account for a name that is gone, a robot that may not log in, or a
// robot's name without the prefix.
func TestPrincipalOfLogin(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		alice, err := db.CreateUser(ctx, meta.User{Username: "alice", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetSysAdmin(ctx, alice, true); err != nil {
			t.Fatal(err)
		}
		gone, err := db.CreateUser(ctx, meta.User{Username: "gone", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(tx *meta.Tx) error {
			_, err := tx.DeleteUser(ctx, gone)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		robots := map[string]int64{}
		err = db.Tx(ctx, func(tx *meta.Tx) error {
			for _, r := range []meta.Robot{
				{Name: "bot", ExpiresAt: -1},
				{Name: "off", ExpiresAt: -1, Disabled: true},
				{Name: "old", ExpiresAt: time.Now().Add(-time.Hour).Unix()},
			} {
				r.SecretHash, r.CreatorType = "x", "local"
				id, err := tx.CreateRobot(ctx, r)
				if err != nil {
					return err
				}
				robots[r.Name] = id
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		lookup := &account.Lookup{Store: db, Config: &settings.Service{Store: db}}
		for _, c := range []struct {
			login string
			want  auth.Principal // zero: no account
		}{
			{"alice", auth.Principal{Kind: auth.User, ID: alice, Name: "alice", SysAdmin: true}},
			{"robot$bot", auth.Principal{Kind: auth.Robot, ID: robots["bot"], Name: "robot$bot"}},
			{"gone", auth.Principal{}},
			{"nobody", auth.Principal{}},
			{"bot", auth.Principal{}},
			{"robot$off", auth.Principal{}},
			{"robot$old", auth.Principal{}},
		} {
			t.Run(c.login, func(t *testing.T) {
				p, err := lookup.Principal(ctx, c.login)
				if c.want == (auth.Principal{}) {
					if !errors.Is(err, auth.ErrNoAccount) {
						t.Fatalf("%+v, %v; want ErrNoAccount", p, err)
					}
					return
				}
				if err != nil || p != c.want {
					t.Fatalf("%+v, %v; want %+v", p, err, c.want)
				}
			})
		}
	})
}
