package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/catalog"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/rbac"
)

// TestStorageUsed: the storage consumption alone is what Statistics shows administrators, and
// is refused to others.
func TestStorageUsed(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		owner, err := db.CreateUser(ctx, meta.User{Username: "owner", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		pid, err := db.CreateProject(ctx, meta.Project{Name: "p", OwnerID: owner})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: "p/app",
			Digest: "sha256:" + strings.Repeat("b", 64), MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: []byte(`{"schemaVersion":2}`)}); err != nil {
			t.Fatal(err)
		}
		s := &catalog.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: db}}
		admin := auth.WithPrincipal(ctx, auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
		st, err := s.Statistics(admin)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.StorageUsed(admin)
		if err != nil || n != st.StorageBytes || n == 0 {
			t.Errorf("StorageUsed %d %v, want the statistics' %d", n, err, st.StorageBytes)
		}
		if _, err := s.StorageUsed(auth.WithPrincipal(ctx, auth.Principal{Kind: auth.User, ID: owner, Name: "owner"})); !fault.Is(err, fault.Forbidden) {
			t.Errorf("a user: %v", err)
		}
		if _, err := s.StorageUsed(ctx); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("anonymous: %v", err)
		}
	})
}
