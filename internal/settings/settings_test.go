package settings_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/settings"
)

var admin = auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})

// TestCachedConfigurationFreshness: hot paths see a change made through the service at once,
// and one made elsewhere (another replica) within a second.
func TestCachedConfigurationFreshness(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s := &settings.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: db}}
		readOnly := func() bool {
			t.Helper()
			c, err := s.CachedSystemConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return c.ReadOnly
		}
		if readOnly() {
			t.Fatal("read-only by default")
		}
		if err := s.Update(admin, map[string]any{"read_only": true}); err != nil {
			t.Fatal(err)
		}
		if !readOnly() {
			t.Fatal("a change through the service is not seen at once")
		}
		c := meta.DefaultSystemConfig() // another replica turns read-only mode off
		if err := db.SetSystemConfig(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for readOnly() {
			if time.Now().After(deadline) {
				t.Fatal("another writer's change is not seen after two seconds")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestUpdateTakesGoValues: the portal and the CLI give plain Go values, the API numbers as
// written (json.Number); integers are refused in any other form.
func TestUpdateTakesGoValues(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		s := &settings.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: db}}
		for _, c := range []struct {
			value any
			want  int // the stored token_expiration; 0: refused
		}{
			{45, 45},
			{int64(46), 46},
			{json.Number("47"), 47},
			{json.Number("48.0"), 0},
			{json.Number("1e2"), 0},
			{49.0, 0},
			{"50", 0},
			{nil, 0},
		} {
			err := s.Update(admin, map[string]any{"token_expiration": c.value})
			if c.want == 0 {
				if !fault.Is(err, fault.Invalid) {
					t.Errorf("token_expiration %#v: %v, want a refusal", c.value, err)
				}
				continue
			}
			items, gerr := s.Configuration(admin)
			if err != nil || gerr != nil || items["token_expiration"].Value != c.want {
				t.Errorf("token_expiration %#v: %v, %v; stored %v", c.value, err, gerr, items["token_expiration"])
			}
		}
	})
}
