package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan/inventory"
)

// storedImages is a BuiltinStore holding manifests and the inventories taken of them.
type storedImages struct {
	manifests   map[string]meta.Manifest
	inventories map[string]meta.Inventory
}

func (s *storedImages) ManifestByDigest(_ context.Context, _, d string) (meta.Manifest, error) {
	if m, ok := s.manifests[d]; ok {
		return m, nil
	}
	return meta.Manifest{}, meta.ErrNotFound
}

func (s *storedImages) LinkedBlobSize(context.Context, string, string) (int64, error) {
	return 0, meta.ErrNotFound
}

func (s *storedImages) InventoryOf(_ context.Context, d string) (meta.Inventory, error) {
	if inv, ok := s.inventories[d]; ok {
		return inv, nil
	}
	return meta.Inventory{}, meta.ErrNotFound
}

func (s *storedImages) PutInventory(_ context.Context, inv meta.Inventory) error {
	s.inventories[inv.Digest] = inv
	return nil
}

// indexOf stores an index of images whose stored inventories list packages packages each.
func indexOf(t *testing.T, images, packages int) (*storedImages, string) {
	t.Helper()
	s := &storedImages{manifests: map[string]meta.Manifest{}, inventories: map[string]meta.Inventory{}}
	var children []map[string]any
	for i := range images {
		d := fmt.Sprintf("sha256:%064d", i+1)
		body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + fmt.Sprintf("%064d", 0)},
			"layers": []any{}})
		s.manifests[d] = meta.Manifest{Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: body}
		var inv inventory.Inventory
		for p := range packages {
			inv.Packages = append(inv.Packages, inventory.Package{Ecosystem: "npm", Name: fmt.Sprintf("p%d", p), Version: "1.0.0"})
		}
		js, _ := json.Marshal(inv)
		s.inventories[d] = meta.Inventory{Digest: d, JSON: string(js), Extractor: ExtractorVersion}
		children = append(children, map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d,
			"platform": map[string]string{"os": "linux", "architecture": fmt.Sprintf("arch%d", i)}})
	}
	body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children})
	idx := "sha256:" + fmt.Sprintf("%064x", 0xabc)
	s.manifests[idx] = meta.Manifest{Digest: idx, MediaType: "application/vnd.oci.image.index.v1+json", Payload: body}
	return s, idx
}

// A scan holds the inventories of all the images of an index until it ends: together they
// are bounded by MaxPackages, as one image's are.
func TestScanHoldsAtMostMaxPackages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logf := func(string, ...any) {}
	store, idx := indexOf(t, 3, 4)
	b := &Builtin{DB: store, Limits: inventory.Limits{MaxPackages: 12}}
	var held int64
	ims, err := b.images(ctx, &localSource{db: store, repo: "library/app"}, idx, logf, &held)
	if err != nil || len(ims) != 3 || held != 12 {
		t.Fatalf("within the limit: %d images, %d packages held, %v", len(ims), held, err)
	}
	b.Limits.MaxPackages = 11
	held = 0
	_, err = b.images(ctx, &localSource{db: store, repo: "library/app"}, idx, logf, &held)
	var le *inventory.LimitError
	if !errors.As(err, &le) || le.Limit != "MaxPackages" ||
		err.Error() != "platform linux/arch2: inventory limit exceeded: the images of the artifact hold more than 11 packages together (MaxPackages)" {
		t.Fatalf("over the limit: %v", err)
	}
}
