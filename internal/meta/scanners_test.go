package meta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

func defaultScanner(t *testing.T, db *meta.DB) string {
	t.Helper()
	ctx := context.Background()
	r, err := db.DefaultScannerRegistration(ctx)
	if errors.Is(err, meta.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowForTest(ctx, "SELECT COUNT(*) FROM scanner_registrations WHERE is_default").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d default registrations, %v", n, err)
	}
	return r.Name
}

func TestScannerRegistrationRules(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)

		builtin, err := db.EnsureBuiltinScanner(ctx, "berth-builtin", "Berth", "builtin://berth")
		if err != nil || !builtin.Immutable || !builtin.IsDefault || builtin.UUID != "berth-builtin" {
			t.Fatalf("built-in: %+v, %v", builtin, err)
		}
		if again, err := db.EnsureBuiltinScanner(ctx, "berth-builtin", "Berth", "builtin://berth"); err != nil || again.ID != builtin.ID {
			t.Fatalf("second start: %+v, %v", again, err)
		}
		if _, err := db.EnsureBuiltinScanner(ctx, "other-uuid", "Berth", "builtin://berth"); err == nil {
			t.Fatal("the built-in's uuid changed")
		}

		trivy, err := db.CreateScannerRegistration(ctx, meta.ScannerRegistration{Name: "Trivy", URL: "http://trivy:8080",
			Auth: "Bearer", AccessCredential: "secret"})
		if err != nil || trivy.UUID == "" || trivy.IsDefault || trivy.Immutable {
			t.Fatalf("create: %+v, %v", trivy, err)
		}
		for _, dup := range []meta.ScannerRegistration{{Name: "Trivy", URL: "http://other:8080"}, {Name: "Other", URL: "http://trivy:8080"}, {Name: "Berth", URL: "http://x"}} {
			if _, err := db.CreateScannerRegistration(ctx, dup); !errors.Is(err, meta.ErrConflict) {
				t.Errorf("create %+v: %v, want ErrConflict", dup, err)
			}
		}
		got, err := db.ScannerRegistrationByUUID(ctx, trivy.UUID)
		if err != nil || got.AccessCredential != "secret" || got.Auth != "Bearer" {
			t.Fatalf("read back: %+v, %v", got, err)
		}

		if err := db.SetDefaultScannerRegistration(ctx, trivy.UUID); err != nil {
			t.Fatal(err)
		}
		if d := defaultScanner(t, db); d != "Trivy" {
			t.Fatalf("default %q after switching to Trivy", d)
		}
		trivy.Disabled = true
		if err := db.UpdateScannerRegistration(ctx, trivy); !errors.Is(err, meta.ErrScannerDisabled) {
			t.Errorf("disable the default: %v", err)
		}
		builtin.Name = "Renamed"
		if err := db.UpdateScannerRegistration(ctx, builtin); !errors.Is(err, meta.ErrImmutableScanner) {
			t.Errorf("update the built-in: %v", err)
		}
		if _, err := db.DeleteScannerRegistration(ctx, builtin.UUID); !errors.Is(err, meta.ErrImmutableScanner) {
			t.Errorf("delete the built-in: %v", err)
		}

		other, err := db.CreateScannerRegistration(ctx, meta.ScannerRegistration{Name: "Other", URL: "https://other.example.com", Disabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetDefaultScannerRegistration(ctx, other.UUID); !errors.Is(err, meta.ErrScannerDisabled) {
			t.Errorf("make a disabled registration the default: %v", err)
		}
		list, total, err := db.ListScannerRegistrations(ctx, meta.ListQuery{Limit: 10})
		if err != nil || total != 3 || list[0].Name != "Trivy" || list[1].Name != "Other" || list[2].Name != "Berth" {
			t.Fatalf("list (default first, then newest): %d %+v, %v", total, list, err)
		}
		list, total, err = db.ListScannerRegistrations(ctx, meta.ListQuery{Limit: 10,
			Filters: []meta.Filter{{Key: "name", Op: meta.OpFuzzy, Values: []string{"ERT"}}}})
		if err != nil || total != 1 || list[0].Name != "Berth" {
			t.Fatalf("list name=~ERT: %d %+v, %v", total, list, err)
		}

		// A project uses the default until it picks one; a pick goes with the registration.
		if r, err := db.ScannerForProject(ctx, pid); err != nil || r.Name != "Trivy" {
			t.Fatalf("project scanner: %+v, %v", r, err)
		}
		if err := db.SetProjectScanner(ctx, pid, other.UUID); err != nil {
			t.Fatal(err)
		}
		if r, err := db.ScannerForProject(ctx, pid); err != nil || r.Name != "Other" {
			t.Fatalf("picked scanner: %+v, %v", r, err)
		}
		if err := db.SetProjectScanner(ctx, pid, "no-such-uuid"); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("pick an unknown registration: %v", err)
		}
		if _, err := db.DeleteScannerRegistration(ctx, other.UUID); err != nil {
			t.Fatal(err)
		}
		if r, err := db.ScannerForProject(ctx, pid); err != nil || r.Name != "Trivy" {
			t.Fatalf("after deleting the pick: %+v, %v", r, err)
		}

		// Deleting the default hands the role back to the built-in.
		if deleted, err := db.DeleteScannerRegistration(ctx, trivy.UUID); err != nil || deleted.Name != "Trivy" {
			t.Fatalf("delete: %+v, %v", deleted, err)
		}
		if d := defaultScanner(t, db); d != "Berth" {
			t.Fatalf("default %q after deleting Trivy", d)
		}
		if _, err := db.DeleteScannerRegistration(ctx, trivy.UUID); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
	})
}

func TestFirstScannerBecomesDefault(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		a, err := db.CreateScannerRegistration(ctx, meta.ScannerRegistration{Name: "A", URL: "http://a"})
		if err != nil || !a.IsDefault {
			t.Fatalf("first: %+v, %v", a, err)
		}
		b, err := db.CreateScannerRegistration(ctx, meta.ScannerRegistration{Name: "B", URL: "http://b"})
		if err != nil || b.IsDefault {
			t.Fatalf("second: %+v, %v", b, err)
		}
		// The built-in arriving later leaves the default alone.
		if r, err := db.EnsureBuiltinScanner(ctx, "berth-builtin", "Berth", "builtin://berth"); err != nil || r.IsDefault {
			t.Fatalf("built-in: %+v, %v", r, err)
		}
		if d := defaultScanner(t, db); d != "A" {
			t.Fatalf("default %q", d)
		}
	})
}
