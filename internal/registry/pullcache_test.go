package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// TestPullManifestPrefetchesBlobLinks: resolving a manifest for a GET also remembers the links
// of its blobs, with their sizes, as linkedBlobSize would have looked them up; a HEAD does not,
// and nor does an index, whose children are manifests.
func TestPullManifestPrefetchesBlobLinks(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		pid := metatest.NewProject(t, db, "alice", "proj")
		const repo = "proj/app"
		dg := func(i int) string { return fmt.Sprintf("sha256:%064x", i) }
		for i := 1; i <= 4; i++ {
			if err := db.LinkBlob(ctx, pid, repo, dg(i), int64(100*i), nil); err != nil {
				t.Fatal(err)
			}
		}
		for tag, blobs := range map[string][]int{"v1": {1, 2}, "v2": {3, 4}} {
			refs := []meta.BlobRef{}
			for _, i := range blobs {
				refs = append(refs, meta.BlobRef{Digest: dg(i), Size: int64(100 * i)})
			}
			if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: dg(1000 + blobs[0]),
				MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigDigest: dg(blobs[0]), Payload: []byte(`{"t":"` + tag + `"}`),
				Blobs: refs, Tags: []string{tag}}); err != nil {
				t.Fatal(err)
			}
		}
		metatest.WaitListening(t, db)
		s := &Service{DB: db}
		remembered := func(i int) (int64, bool) {
			gen, _ := s.RemovalGeneration()
			return s.pullCaches.blobs.get(repoRef{repo, dg(i)}, gen, time.Now())
		}

		if _, err := s.PullManifest(ctx, repo, "v2", false); err != nil {
			t.Fatal(err)
		}
		if _, ok := remembered(3); ok {
			t.Error("a HEAD remembered the blobs' links")
		}
		if _, err := s.PullManifest(ctx, repo, "v1", true); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{1, 2} {
			if size, ok := remembered(i); !ok || size != int64(100*i) {
				t.Errorf("blob %d after a GET: remembered %v, size %d, want %d", i, ok, size, 100*i)
			}
		}
		if _, ok := remembered(3); ok {
			t.Error("another manifest's blob was remembered")
		}
	})
}
