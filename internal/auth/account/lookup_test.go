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

// TestAccountOfLogin: the account a login name stands for now, as the Authenticator checks a
// password and the token service a refresh token against it — a user with their current
// administrator flag and password hash, a robot by its prefixed name with its secret's hash —
// and no account for a name that is gone, a robot that may not log in, or a robot's name
// without the prefix.
func TestAccountOfLogin(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		alice, err := db.CreateUser(ctx, meta.User{Username: "alice", PasswordHash: "alice-hash"})
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
				r.SecretHash, r.CreatorType = r.Name+"-hash", "local"
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
			want  auth.Account // zero: no account
		}{
			{"alice", auth.Account{ID: alice, Name: "alice", PasswordHash: "alice-hash", SysAdmin: true}},
			{"robot$bot", auth.Account{ID: robots["bot"], Name: "robot$bot", PasswordHash: "bot-hash", Robot: true}},
			{"gone", auth.Account{}},
			{"nobody", auth.Account{}},
			{"bot", auth.Account{}},
			{"robot$off", auth.Account{}},
			{"robot$old", auth.Account{}},
		} {
			t.Run(c.login, func(t *testing.T) {
				a, err := lookup.Account(ctx, c.login)
				if c.want == (auth.Account{}) {
					if !errors.Is(err, auth.ErrNoAccount) {
						t.Fatalf("%+v, %v; want ErrNoAccount", a, err)
					}
					return
				}
				if err != nil || a != c.want {
					t.Fatalf("%+v, %v; want %+v", a, err, c.want)
				}
			})
		}
	})
}
