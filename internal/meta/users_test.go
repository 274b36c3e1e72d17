package meta_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

func TestDeleteUserFreesNameAndEmail(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		long := strings.Repeat("é", 127) + "x" // 255 bytes: the "#id" suffix must shorten it
		id, err := db.CreateUser(ctx, meta.User{Username: long, Email: "long@example.com", PasswordHash: "h", SysAdmin: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateUser(ctx, meta.User{Username: "other", Email: "long@example.com"}); !errors.Is(err, meta.ErrConflict) {
			t.Fatalf("duplicate e-mail: %v, want ErrConflict", err)
		}
		if err := db.CreateSession(ctx, "hash", id, time.Hour); err != nil {
			t.Fatal(err)
		}
		deleteUser := func() error {
			return db.Tx(ctx, func(tx *meta.Tx) error {
				_, err := tx.DeleteUser(ctx, id)
				return err
			})
		}
		if err := deleteUser(); err != nil {
			t.Fatal(err)
		}
		if err := deleteUser(); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("second delete: %v, want ErrNotFound", err)
		}
		if _, err := db.UserByID(ctx, id); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("deleted user by id: %v", err)
		}
		if _, err := db.SessionByHash(ctx, "hash"); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("session of a deleted user: %v", err)
		}
		var name, email string
		var admin bool
		if err := db.QueryRowForTest(ctx, "SELECT username, email, sysadmin FROM users WHERE id = $1", id).Scan(&name, &email, &admin); err != nil {
			t.Fatal(err)
		}
		if len(name) > 255 || !strings.HasSuffix(name, "#"+strconv.FormatInt(id, 10)) || !strings.HasPrefix(name, "é") || strings.ContainsRune(name, '\uFFFD') || admin {
			t.Errorf("deleted row: username %q (%d bytes), sysadmin %v", name, len(name), admin)
		}
		if email != "long@example.com#"+strconv.FormatInt(id, 10) {
			t.Errorf("deleted row: email %q", email)
		}
		if _, err := db.CreateUser(ctx, meta.User{Username: long, Email: "long@example.com"}); err != nil {
			t.Fatalf("re-create with the freed name and e-mail: %v", err)
		}
	})
}

// Concurrent updates of different keys must not lose each other's change.
func TestUpdateSystemConfigIsAtomic(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := 1; i <= 20; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := db.UpdateSystemConfig(ctx, func(c *meta.SystemConfig) error { c.TokenExpiration++; return nil })
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, err := db.UpdateSystemConfig(ctx, func(c *meta.SystemConfig) error { c.RobotTokenDuration++; return nil })
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		c, err := db.SystemConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		def := meta.DefaultSystemConfig()
		if c.TokenExpiration != def.TokenExpiration+20 || c.RobotTokenDuration != def.RobotTokenDuration+20 {
			t.Errorf("after 20 increments each: token_expiration %d, robot_token_duration %d", c.TokenExpiration, c.RobotTokenDuration)
		}
		// An error from the function stores nothing.
		boom := errors.New("boom")
		if _, err := db.UpdateSystemConfig(ctx, func(c *meta.SystemConfig) error { c.ReadOnly = true; return boom }); !errors.Is(err, boom) {
			t.Fatalf("failed update: %v", err)
		}
		if c, _ := db.SystemConfig(ctx); c.ReadOnly {
			t.Error("a failed update was stored")
		}
	})
}
