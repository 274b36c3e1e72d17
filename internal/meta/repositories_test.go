package meta_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// TestRepositoryExistsFromItsFirstManifest: blobs uploaded or mounted into a name create no
// repository — it is in no catalog, no repository count, and keeps no project from being
// deleted — yet they are readable there and a manifest push can use them; the push that stores
// the first manifest creates the repository, and a push the quota refuses creates nothing.
func TestRepositoryExistsFromItsFirstManifest(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		const repo = "proj/app"
		expectNoRepository := func(when string) {
			t.Helper()
			if _, err := db.RepositoryByName(ctx, repo); !errors.Is(err, meta.ErrNotFound) {
				t.Fatalf("%s: repository row: %v, want ErrNotFound", when, err)
			}
			cat, err := db.Catalog(ctx, meta.CatalogFilter{Visibility: meta.ProjectVisibility{All: true}, N: 10})
			if err != nil || len(cat) != 0 {
				t.Fatalf("%s: catalog %v, %v; want none", when, cat, err)
			}
			p, err := db.ProjectByID(ctx, pid)
			if err != nil || p.RepoCount != 0 {
				t.Fatalf("%s: repo count %d, %v; want 0", when, p.RepoCount, err)
			}
			infos, total, err := db.ListRepositories(ctx, meta.RepositoryQuery{ProjectID: pid})
			if err != nil || total != 0 || len(infos) != 0 {
				t.Fatalf("%s: repositories %v (%d), %v; want none", when, infos, total, err)
			}
		}
		for i := 1; i <= 2; i++ {
			if err := db.LinkUploadedBlob(ctx, pid, repo, digestOf(i), int64(i), "", nil); err != nil {
				t.Fatal(err)
			}
		}
		expectNoRepository("after uploads")
		if size, err := db.LinkedBlobSize(ctx, repo, digestOf(2)); err != nil || size != 2 {
			t.Fatalf("uploaded blob in its repository: %d, %v", size, err)
		}
		if names, err := db.RepositoriesLinking(ctx, digestOf(1), 10); err != nil || fmt.Sprint(names) != "["+repo+"]" {
			t.Fatalf("names linking an uploaded blob: %v, %v", names, err)
		}

		// Refused by the quota: nothing of the push stays, the uploads still do.
		q, err := db.QuotaByProject(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetQuotaHard(ctx, q.ID, 2); err != nil {
			t.Fatal(err)
		}
		put := meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digestOf(100), MediaType: "application/vnd.oci.image.manifest.v1+json",
			ConfigDigest: digestOf(1), Payload: []byte(`{}`), Blobs: []meta.BlobRef{{digestOf(1), 1}, {digestOf(2), 2}}, Tags: []string{"v1"}}
		var qe *meta.QuotaExceededError
		if _, err := db.PutManifest(ctx, put); !errors.As(err, &qe) {
			t.Fatalf("push over quota: %v", err)
		}
		expectNoRepository("after a push over quota")
		if _, err := db.LinkedBlobSize(ctx, repo, digestOf(1)); err != nil {
			t.Fatalf("uploaded blob after a refused push: %v", err)
		}

		// A mount into another name is an upload too; deleting the project takes its links.
		if err := db.LinkBlob(ctx, pid, "proj/mounted", digestOf(1), 1, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.UnlinkBlob(ctx, "proj/mounted", digestOf(1)); err != nil {
			t.Fatalf("unlink an uploaded blob: %v", err)
		}
		if _, err := db.LinkedBlobSize(ctx, "proj/mounted", digestOf(1)); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("unlinked blob: %v", err)
		}

		if err := db.SetQuotaHard(ctx, q.ID, meta.Unlimited); err != nil {
			t.Fatal(err)
		}
		res, err := db.PutManifest(ctx, put)
		if err != nil || !res.Created {
			t.Fatalf("first push: %+v, %v", res, err)
		}
		r, err := db.RepositoryByName(ctx, repo)
		if err != nil || r.ProjectID != pid {
			t.Fatalf("repository after its first push: %+v, %v", r, err)
		}
		cat, err := db.Catalog(ctx, meta.CatalogFilter{Visibility: meta.ProjectVisibility{All: true}, N: 10})
		if err != nil || fmt.Sprint(cat) != "["+repo+"]" {
			t.Fatalf("catalog after the first push: %v, %v", cat, err)
		}
		if p, err := db.ProjectByID(ctx, pid); err != nil || p.RepoCount != 1 {
			t.Fatalf("repo count after the first push: %d, %v", p.RepoCount, err)
		}
		for i := 1; i <= 2; i++ {
			if size, err := db.LinkedBlobSize(ctx, repo, digestOf(i)); err != nil || size != int64(i) {
				t.Fatalf("blob %d after the first push: %d, %v", i, size, err)
			}
		}
		// The repository stays when its last artifact goes, as Harbor's does.
		if _, err := db.DeleteManifest(ctx, repo, digestOf(100)); err != nil {
			t.Fatal(err)
		}
		if p, err := db.ProjectByID(ctx, pid); err != nil || p.RepoCount != 1 {
			t.Fatalf("repo count after deleting the last artifact: %d, %v", p.RepoCount, err)
		}
	})
}

// TestProjectWithOnlyUploadsIsDeletable: a project whose names hold uploaded blobs but no
// manifest is empty; deleting it takes the links, and the blobs are left to garbage collection.
func TestProjectWithOnlyUploadsIsDeletable(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		if err := db.LinkBlob(ctx, pid, "proj/app", digestOf(1), 1, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteProject(ctx, pid); err != nil {
			t.Fatalf("delete a project holding only uploads: %v", err)
		}
		if _, err := db.LinkedBlobSize(ctx, "proj/app", digestOf(1)); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("link of the deleted project's upload: %v", err)
		}
		if size, err := db.BlobSize(ctx, digestOf(1)); err != nil || size != 1 {
			t.Fatalf("the blob itself: %d, %v", size, err)
		}
	})
}

// TestCollectorTakesUploadedBlobsAfterTheGracePeriod: a blob uploaded into a name without a
// repository is kept for the grace period like any unreferenced blob, and then collected with
// its link; one a first push referenced meanwhile is kept.
func TestCollectorTakesUploadedBlobsAfterTheGracePeriod(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		db.SetGCGrace(0)
		for i := 1; i <= 2; i++ {
			if err := db.LinkBlob(ctx, pid, "proj/app", digestOf(i), int64(i), nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: "proj/app", Digest: digestOf(100),
			MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigDigest: digestOf(1), Payload: []byte(`{}`),
			Blobs: []meta.BlobRef{{digestOf(1), 1}}, Tags: []string{"v1"}}); err != nil {
			t.Fatal(err)
		}
		if err := db.LinkBlob(ctx, pid, "proj/other", digestOf(3), 3, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // due now, not in the same microsecond
		due, err := db.DueBlobReviews(ctx, time.Now(), 10)
		if err != nil {
			t.Fatal(err)
		}
		collected := map[string]bool{}
		for _, d := range due {
			v, err := db.CollectBlob(ctx, d)
			if err != nil {
				t.Fatalf("collect %s: %v", d, err)
			}
			collected[d] = v.Collected
		}
		if collected[digestOf(1)] || !collected[digestOf(2)] || !collected[digestOf(3)] {
			t.Fatalf("collected %v: want the unreferenced uploads (2, 3), not the referenced blob (1)", collected)
		}
		if _, err := db.LinkedBlobSize(ctx, "proj/other", digestOf(3)); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("link of a collected upload: %v", err)
		}
		if _, err := db.LinkedBlobSize(ctx, "proj/app", digestOf(1)); err != nil {
			t.Fatalf("referenced blob: %v", err)
		}
	})
}

// TestMigrationRemovesRepositoriesOnlyUploadsCreated: migration 0017 turns the repository rows
// that uploads created before it (no manifest ever pushed, never pulled, never described) into
// links of their names, and leaves every other repository, empty ones included.
func TestMigrationRemovesRepositoriesOnlyUploadsCreated(t *testing.T) {
	t.Parallel()
	for _, dialect := range metatest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var url, path string
			if dialect == "postgres" {
				url = metatest.NewDatabase(t)
			} else {
				path = t.TempDir() + "/berth.db"
			}
			db, err := meta.Open(ctx, url, path, meta.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, pid := setup(t, db)
			// "proj/pushed" had an artifact, deleted since: it stays, as Harbor keeps it.
			if err := db.LinkBlob(ctx, pid, "proj/pushed", digestOf(1), 1, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: "proj/pushed", Digest: digestOf(100),
				MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigDigest: digestOf(1), Payload: []byte(`{}`),
				Blobs: []meta.BlobRef{{digestOf(1), 1}}, Tags: []string{"v1"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeleteManifest(ctx, "proj/pushed", digestOf(100)); err != nil {
				t.Fatal(err)
			}
			// Back to the schema before 0017, with a repository row as an upload made one then,
			// and one that was described.
			err = db.Tx(ctx, func(tx *meta.Tx) error {
				stmts := []string{"DROP TABLE pending_blobs", "DELETE FROM schema_migrations WHERE version = 17"}
				if dialect == "postgres" {
					stmts = append(stmts, "DROP FUNCTION berth_pending_blob_removed()", "DROP TRIGGER projects_changed ON projects",
						"DROP TRIGGER project_metadata_changed ON project_metadata", "DROP TRIGGER cve_allowlists_changed ON cve_allowlists")
				}
				stmts = append(stmts,
					fmt.Sprintf("INSERT INTO repositories (project_id, name, created_at, updated_at) VALUES (%d, 'proj/uploaded', 5, 5)", pid),
					fmt.Sprintf("INSERT INTO repositories (project_id, name, description, created_at, updated_at) VALUES (%d, 'proj/described', 'd', 5, 5)", pid),
					"INSERT INTO repository_blobs (repository_id, digest, created_at) SELECT id, '"+digestOf(1)+"', 7 FROM repositories WHERE name = 'proj/uploaded'")
				for _, s := range stmts {
					if _, err := tx.ExecForTest(ctx, s); err != nil {
						return fmt.Errorf("%s: %w", s, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			db, err = meta.Open(ctx, url, path, meta.Options{})
			if err != nil {
				t.Fatalf("migrate: %v", err)
			}
			defer db.Close()
			cat, err := db.Catalog(ctx, meta.CatalogFilter{Visibility: meta.ProjectVisibility{All: true}, N: 10})
			if err != nil || fmt.Sprint(cat) != "[proj/described proj/pushed]" {
				t.Fatalf("catalog after the migration: %v, %v", cat, err)
			}
			if size, err := db.LinkedBlobSize(ctx, "proj/uploaded", digestOf(1)); err != nil || size != 1 {
				t.Fatalf("upload of the removed repository: %d, %v", size, err)
			}
			if err := db.DeleteProject(ctx, pid); !errors.Is(err, meta.ErrNotEmpty) {
				t.Fatalf("delete the project: %v", err)
			}
		})
	}
}

// TestConcurrentFirstPushesKeepTheirUploads: several clients push their first images into one
// new repository at once, each after uploading its own blobs and a shared one. The first
// manifest creates the repository and adopts the uploads; the others, whose uploads that
// adoption may or may not have taken, must still find every blob they uploaded.
func TestConcurrentFirstPushesKeepTheirUploads(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		const pushers = 4
		for round := range 10 {
			repo := fmt.Sprintf("proj/first-%d", round)
			shared := digestOf(1000 + round)
			var wg sync.WaitGroup
			errs := make(chan error, pushers)
			for w := range pushers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					own := digestOf(2000 + 10*round + w)
					for _, b := range []string{shared, own} {
						if err := db.LinkUploadedBlob(ctx, pid, repo, b, 1, "", nil); err != nil {
							errs <- fmt.Errorf("pusher %d: upload %s: %w", w, b, err)
							return
						}
					}
					_, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digestOf(3000 + 10*round + w),
						MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigDigest: own, Payload: []byte(`{}`),
						Blobs: []meta.BlobRef{{shared, 1}, {own, 1}}, Tags: []string{fmt.Sprintf("w%d", w)}})
					if err != nil {
						errs <- fmt.Errorf("pusher %d: push: %w", w, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("round %d: %v", round, err)
			}
		}
	})
}
