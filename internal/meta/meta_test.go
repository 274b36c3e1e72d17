package meta_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

func digestOf(i int) string { return fmt.Sprintf("sha256:%064x", i) }

func setup(t *testing.T, db *meta.DB) (userID, projectID int64) {
	t.Helper()
	ctx := context.Background()
	uid, err := db.CreateUser(ctx, meta.User{Username: "alice", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := db.CreateProject(ctx, meta.Project{Name: "proj", OwnerID: uid, Metadata: map[string]string{"auto_scan": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	return uid, pid
}

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	for _, d := range metatest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := metatest.Open(t, d)
			v, err := db.SchemaVersion(context.Background())
			if err != nil || v < 1 {
				t.Fatalf("schema version %d, %v", v, err)
			}
		})
	}
}

func TestProjects(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		uid, pid := setup(t, db)
		if _, err := db.CreateProject(ctx, meta.Project{Name: "proj", OwnerID: uid}); !errors.Is(err, meta.ErrConflict) {
			t.Fatalf("duplicate project: got %v, want ErrConflict", err)
		}
		p, err := db.ProjectByName(ctx, "proj")
		if err != nil || p.ID != pid || p.OwnerName != "alice" || p.Public {
			t.Fatalf("ProjectByName = %+v, %v", p, err)
		}
		md, err := db.ProjectMetadata(ctx, pid)
		if err != nil || md["auto_scan"] != "true" {
			t.Fatalf("metadata = %v, %v", md, err)
		}
		role, err := db.MemberRole(ctx, pid, uid)
		if err != nil || role != meta.RoleProjectAdmin {
			t.Fatalf("owner role = %d, %v", role, err)
		}
		if _, err := db.ProjectByName(ctx, "nope"); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("unknown project: %v", err)
		}
		other, _ := db.CreateUser(ctx, meta.User{Username: "bob"})
		ps, total, err := db.ListProjects(ctx, meta.ProjectFilter{UserID: other})
		if err != nil || total != 0 || len(ps) != 0 {
			t.Fatalf("bob sees %v (%d), %v", ps, total, err)
		}
		ps, total, err = db.ListProjects(ctx, meta.ProjectFilter{UserID: uid})
		if err != nil || total != 1 || ps[0].Name != "proj" {
			t.Fatalf("alice sees %v (%d), %v", ps, total, err)
		}
		if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: "proj/app", Digest: digestOf(1),
			MediaType: "m", Payload: []byte("x"), Tags: []string{"v1"}}); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteProject(ctx, pid); !errors.Is(err, meta.ErrNotEmpty) {
			t.Fatalf("delete non-empty project: %v", err)
		}
	})
}

func TestManifestLifecycle(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		repo := "proj/app"
		put := meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digestOf(100), MediaType: "application/vnd.oci.image.manifest.v1+json",
			ConfigDigest: digestOf(1), Payload: []byte(`{}`), Blobs: []meta.BlobRef{{digestOf(1), 1}, {digestOf(2), 2}}, Tags: []string{"v1"}}
		var bu *meta.BlobUnknownError
		if _, err := db.PutManifest(ctx, put); !errors.As(err, &bu) || bu.Digest != digestOf(1) {
			t.Fatalf("manifest with unlinked blobs: %v", err)
		}
		for i := 1; i <= 2; i++ {
			if err := db.LinkBlob(ctx, pid, repo, digestOf(i), int64(i), nil); err != nil {
				t.Fatal(err)
			}
		}
		res, err := db.PutManifest(ctx, put)
		if err != nil || !res.Created || len(res.Moved) != 0 {
			t.Fatalf("put: %+v %v", res, err)
		}
		m, err := db.ManifestByTag(ctx, repo, "v1")
		if err != nil || m.Digest != digestOf(100) || string(m.Payload) != "{}" || m.ConfigDigest != digestOf(1) {
			t.Fatalf("by tag: %+v %v", m, err)
		}
		// A referrer and an index.
		ref := meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digestOf(101), MediaType: "application/vnd.oci.image.manifest.v1+json",
			ArtifactType: "application/x-sbom", SubjectDigest: digestOf(100), Payload: []byte(`{"a":1}`), Annotations: `{"k":"v"}`}
		if _, err := db.PutManifest(ctx, ref); err != nil {
			t.Fatal(err)
		}
		idx := meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digestOf(102), MediaType: "application/vnd.oci.image.index.v1+json",
			Payload: []byte(`[]`), Children: []string{digestOf(100)}, Tags: []string{"v1"}}
		res, err = db.PutManifest(ctx, idx)
		if err != nil || len(res.Moved) != 1 || res.Moved[0] != digestOf(100) {
			t.Fatalf("index moving v1: %+v %v", res, err)
		}
		refs, err := db.Referrers(ctx, repo, digestOf(100), "")
		if err != nil || len(refs) != 1 || refs[0].Annotations != `{"k":"v"}` {
			t.Fatalf("referrers: %+v %v", refs, err)
		}
		refs, _ = db.Referrers(ctx, repo, digestOf(100), "application/other")
		if len(refs) != 0 {
			t.Fatalf("filtered referrers: %+v", refs)
		}
		if _, err := db.DeleteManifest(ctx, repo, digestOf(100)); !errors.Is(err, meta.ErrReferenced) {
			t.Fatalf("delete child of index: %v", err)
		}
		tags, err := db.DeleteManifest(ctx, repo, digestOf(102))
		if err != nil || len(tags) != 1 || tags[0] != "v1" {
			t.Fatalf("delete index: %v %v", tags, err)
		}
		if _, err := db.ManifestByTag(ctx, repo, "v1"); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("tag should be gone: %v", err)
		}
		if _, err := db.DeleteManifest(ctx, repo, digestOf(100)); err != nil {
			t.Fatalf("delete former child: %v", err)
		}
	})
}

func TestTagsAndCatalogInByteOrder(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		repo := "proj/app"
		names := []string{"b", "B", "a", "_x", "a-1", "a.1", "Z"}
		for i, n := range names {
			if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digestOf(i), MediaType: "m", Payload: []byte("x"), Tags: []string{n}}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.ListTags(ctx, repo, "", 100)
		want := []string{"B", "Z", "_x", "a", "a-1", "a.1", "b"}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("tags = %v, want %v (%v)", got, want, err)
		}
		got, _ = db.ListTags(ctx, repo, "Z", 2)
		if fmt.Sprint(got) != "[_x a]" {
			t.Fatalf("page after Z = %v", got)
		}
		for _, r := range []string{"proj/b", "proj/a/x", "proj/A"} {
			if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: r, Digest: digestOf(1), MediaType: "m", Payload: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		// A name blobs were uploaded into, with no manifest, is no repository.
		if err := db.LinkBlob(ctx, pid, "proj/0-uploads-only", digestOf(1), 1, nil); err != nil {
			t.Fatal(err)
		}
		cat, err := db.Catalog(ctx, meta.CatalogFilter{Visibility: meta.ProjectVisibility{All: true}, N: 10})
		if err != nil || fmt.Sprint(cat) != "[proj/A proj/a/x proj/app proj/b]" {
			t.Fatalf("catalog = %v %v", cat, err)
		}
		cat, _ = db.Catalog(ctx, meta.CatalogFilter{Visibility: meta.ProjectVisibility{UserID: 999}, N: 10})
		if len(cat) != 0 {
			t.Fatalf("outsider sees %v", cat)
		}
	})
}

func TestUploadsAdvanceOnce(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		if err := db.CreateUpload(ctx, meta.Upload{ID: "u1", Repository: "proj/app", HashAlg: "sha256"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := db.AdvanceUpload(ctx, meta.Upload{ID: "u1", Size: 5, HashState: []byte("state"), StoreState: []byte("parts")}, 0); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, meta.ErrConcurrentUpdate) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d writers advanced the same offset", wins)
		}
		u, err := db.Upload(ctx, "u1")
		if err != nil || u.Size != 5 || string(u.HashState) != "state" || string(u.StoreState) != "parts" {
			t.Fatalf("upload = %+v %v", u, err)
		}
	})
}

func TestSettingIfAbsentKeepsFirst(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		v, err := db.SetSettingIfAbsent(ctx, "k", "first")
		if err != nil || v != "first" {
			t.Fatal(v, err)
		}
		v, err = db.SetSettingIfAbsent(ctx, "k", "second")
		if err != nil || v != "first" {
			t.Fatal(v, err)
		}
	})
}

// TestConcurrentPushesOfOneManifest: many clients putting the same new manifest under
// different tags at once all succeed (PostgreSQL lets them race on the insert).
func TestConcurrentPushesOfOneManifest(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: "proj/race", Digest: digestOf(7),
					MediaType: "m", Payload: []byte("x"), Tags: []string{fmt.Sprintf("t%d", i)}})
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
		tags, err := db.ListTags(ctx, "proj/race", "", 100)
		if err != nil || len(tags) != 16 {
			t.Fatalf("tags %v %v", tags, err)
		}
	})
}

func TestSQLitePlaceholders(t *testing.T) {
	tests := []struct {
		query string
		args  []any
		want  string
		out   []any
	}{
		{"SELECT $1, $2", []any{1, 2}, "SELECT ?, ?", []any{1, 2}},
		{"VALUES ($1, $2, $3, $3)", []any{1, 2, 3}, "VALUES (?, ?, ?, ?)", []any{1, 2, 3, 3}},
		{"WHERE a = $2 AND b = $1", []any{"x", "y"}, "WHERE a = ? AND b = ?", []any{"y", "x"}},
		{"LIMIT $10 OFFSET $11", []any{0, 1, 2, 3, 4, 5, 6, 7, 8, "l", "o"}, "LIMIT ? OFFSET ?", []any{"l", "o"}},
		{"SELECT 1", nil, "SELECT 1", nil},
	}
	for _, tt := range tests {
		got, out := meta.SQLiteRebindForTest(tt.query, tt.args)
		if got != tt.want || fmt.Sprint(out) != fmt.Sprint(tt.out) {
			t.Errorf("rebind(%q, %v) = %q, %v; want %q, %v", tt.query, tt.args, got, out, tt.want, tt.out)
		}
	}
}

// TestAccessoriesOfMany: one query gives each manifest the same accessories as Accessories
// does for it alone — referrers by subject and cosign's legacy signature tag, a manifest that
// is both listed once, nothing for a manifest without any.
func TestAccessoriesOfMany(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		repo := "proj/signed"
		put := func(d int, subject int, tags ...string) {
			t.Helper()
			p := meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digestOf(d), MediaType: "application/vnd.oci.image.manifest.v1+json",
				Payload: []byte(fmt.Sprintf(`{"n":%d}`, d)), Tags: tags}
			if subject != 0 {
				p.SubjectDigest = digestOf(subject)
			}
			if _, err := db.PutManifest(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		put(100, 0, "a")
		put(200, 0, "b")
		put(300, 0, "c")
		put(400, 0, "d")
		put(101, 100)
		put(102, 100)
		put(201, 200)
		put(150, 0, meta.LegacyCosignTag(digestOf(200)))
		put(301, 300, meta.LegacyCosignTag(digestOf(300)))
		m, err := db.ManifestByTag(ctx, repo, "a")
		if err != nil {
			t.Fatal(err)
		}
		subjects := []string{digestOf(100), digestOf(200), digestOf(300), digestOf(400)}
		got, err := db.AccessoriesOfMany(ctx, m.RepositoryID, subjects)
		if err != nil {
			t.Fatal(err)
		}
		digests := func(ms []meta.Manifest) []string {
			var out []string
			for _, m := range ms {
				out = append(out, m.Digest)
			}
			return out
		}
		want := map[string][]string{
			digestOf(100): {digestOf(101), digestOf(102)},
			digestOf(200): {digestOf(201), digestOf(150)},
			digestOf(300): {digestOf(301)},
		}
		for _, s := range subjects {
			one, err := db.Accessories(ctx, m.RepositoryID, s)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(digests(got[s]), digests(one)) {
				t.Errorf("accessories of %s: together %v, alone %v", s, digests(got[s]), digests(one))
			}
			if !slices.Equal(slices.Sorted(slices.Values(digests(got[s]))), slices.Sorted(slices.Values(want[s]))) {
				t.Errorf("accessories of %s: %v, want %v", s, digests(got[s]), want[s])
			}
		}
	})
}
