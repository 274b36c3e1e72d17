package meta_test

import (
	"context"
	"database/sql"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// waitFor polls cond until it holds; a notification that never comes fails the test instead of
// hanging it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// changeCounts counts what a store announces to its watchers, as the registry's pull memory
// does.
type changeCounts struct{ content, removal atomic.Uint64 }

func watchChanges(db *meta.DB) *changeCounts {
	c := &changeCounts{}
	db.WatchChanges(func(ch meta.Changes) {
		if ch.Content {
			c.content.Add(1)
		}
		if ch.Removal {
			c.removal.Add(1)
		}
	})
	return c
}

// TestWriteGenerationAcrossReplicas: on PostgreSQL, a replica's write generation moves when
// another replica, or any other client of the database, commits a change to what pulls resolve,
// and moves at once for the replica's own commits.
func TestWriteGenerationAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := metatest.NewDatabase(t)
	open := func() *meta.DB {
		db, err := meta.Open(ctx, url, "", meta.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	ca, cb := watchChanges(a), watchChanges(b)
	generation := func(db *meta.DB) uint64 {
		if db == a {
			return ca.content.Load()
		}
		return cb.content.Load()
	}
	_, pid := setup(t, a)
	const repo = "proj/app"
	for i := 1; i <= 2; i++ {
		if err := a.LinkBlob(ctx, pid, repo, digestOf(i), int64(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	put := func(db *meta.DB, digest, tag string) {
		t.Helper()
		if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digest,
			MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigDigest: digestOf(1), Payload: []byte(`{"d":"` + digest + `"}`),
			Blobs: []meta.BlobRef{{Digest: digestOf(1), Size: 1}, {Digest: digestOf(2), Size: 2}}, Tags: []string{tag}}); err != nil {
			t.Fatal(err)
		}
	}
	metatest.WaitListening(t, a)
	metatest.WaitListening(t, b)

	put(a, digestOf(100), "v1")
	put(a, digestOf(101), "v2")

	// Its own commit that moves a tag moves a replica's generation before the call returns; a
	// push removes nothing, so the removal generation stays.
	g := generation(a)
	r := ca.removal.Load()
	put(a, digestOf(101), "v1")
	if generation(a) == g {
		t.Fatal("a's own tag move did not move its generation")
	}
	if r2 := ca.removal.Load(); r2 != r {
		t.Fatalf("a push announced a removal (%d to %d)", r, r2)
	}

	// Another replica's tag move reaches b by notification.
	g = generation(b)
	put(a, digestOf(100), "v1")
	waitFor(t, "b hears of a's push", func() bool { return generation(b) != g })

	// So does a write by a client that is not Berth (an operator's psql, another process).
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	g = generation(b)
	if _, err := raw.ExecContext(ctx, `UPDATE tags SET manifest_id = (SELECT id FROM manifests WHERE digest = $1) WHERE name = 'v1'`, digestOf(101)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b hears of the direct write", func() bool { return generation(b) != g })

	// A removal anywhere reaches b's removal generation; a's own moves at once.
	if err := a.LinkBlob(ctx, pid, repo, digestOf(3), 3, nil); err != nil {
		t.Fatal(err)
	}
	r = cb.removal.Load()
	ra := ca.removal.Load()
	if err := a.UnlinkBlob(ctx, repo, digestOf(3)); err != nil {
		t.Fatal(err)
	}
	if ca.removal.Load() == ra {
		t.Fatal("a's own removal was not announced before it returned")
	}
	waitFor(t, "b hears of the removal", func() bool { return cb.removal.Load() != r })

	// A lost listening connection stops the generation from being trusted until a new one
	// listens, and the generation moves past everything read before.
	g = generation(b)
	if _, err := raw.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN berth_content%'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b listening again", func() bool { return b.ChangesHeard() && generation(b) >= g+2 })
	g = generation(b)
	put(a, digestOf(102), "v2")
	waitFor(t, "b hears of a push after reconnecting", func() bool { return generation(b) != g })
}

// TestContentNotifications: the triggers notify, once per transaction and channel, for what can
// make a remembered answer wrong — a tag moved, renamed or deleted, a manifest or repository
// changed or deleted, a blob link or blob removed — and not for rows added or pull times
// recorded.
func TestContentNotifications(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := metatest.NewDatabase(t)
	db, err := meta.Open(ctx, url, "", meta.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, pid := setup(t, db)
	for i := 1; i <= 2; i++ {
		if err := db.LinkBlob(ctx, pid, "proj/app", digestOf(i), int64(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	for d, tags := range map[int][]string{100: {"v1", "v2"}, 101: {"v9"}} {
		if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: "proj/app", Digest: digestOf(d),
			MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigDigest: digestOf(1), Payload: []byte(`{}`),
			Blobs: []meta.BlobRef{{Digest: digestOf(1), Size: 1}, {Digest: digestOf(2), Size: 2}}, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}

	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN berth_content; LISTEN berth_removal"); err != nil {
		t.Fatal(err)
	}
	writer, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(ctx)
	// next returns the channel of the next notification, or its payload when it has one: a
	// notification of the test's own with a payload marks where those of the statement before
	// it end.
	next := func() string {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		n, err := listener.WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		if n.Payload != "" {
			return n.Payload
		}
		return n.Channel
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := writer.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	const content, removal = "berth_content", "berth_removal"
	blob3 := digestOf(3)
	for _, tc := range []struct {
		sql  string
		want []string // channels notified, in the order the triggers fire
	}{
		{"UPDATE manifests SET pulled_at = 1", nil},
		{"UPDATE tags SET pulled_at = 1", nil},
		{"UPDATE repositories SET pull_count = pull_count + 1", nil},
		{"UPDATE repositories SET description = 'x', updated_at = 5", nil},
		{"UPDATE tags SET updated_at = 2 WHERE name = 'v1'", nil},
		{"UPDATE tags SET manifest_id = manifest_id", nil},
		{"INSERT INTO blobs (digest, size, created_at) VALUES ('" + blob3 + "', 3, 0)", nil},
		{"INSERT INTO repository_blobs (repository_id, digest, created_at) SELECT id, '" + blob3 + "', 0 FROM repositories", nil},
		{"INSERT INTO repositories (project_id, name, created_at, updated_at) SELECT project_id, 'proj/other', 0, 0 FROM repositories", nil},
		{"INSERT INTO tags (repository_id, name, manifest_id, created_at, updated_at) SELECT repository_id, 'v4', manifest_id, 0, 0 FROM tags WHERE name = 'v1'", nil},
		{"INSERT INTO tags (repository_id, name, manifest_id, created_at, updated_at) SELECT repository_id, 'v4', manifest_id, 0, 0 FROM tags WHERE name = 'v1' ON CONFLICT (repository_id, name) DO UPDATE SET updated_at = 1", nil},
		{"UPDATE tags SET manifest_id = (SELECT id FROM manifests WHERE digest = '" + digestOf(101) + "') WHERE name = 'v1'", []string{content}},
		{"INSERT INTO tags (repository_id, name, manifest_id, created_at, updated_at) SELECT repository_id, 'v4', manifest_id, 0, 0 FROM tags WHERE name = 'v9' ON CONFLICT (repository_id, name) DO UPDATE SET manifest_id = excluded.manifest_id", []string{content}},
		{"UPDATE tags SET name = 'v3' WHERE name = 'v2'", []string{content}},
		{"DELETE FROM tags WHERE name = 'v3'", []string{content}},
		{"UPDATE manifests SET media_type = media_type", []string{content, removal}},
		{"BEGIN; UPDATE tags SET manifest_id = manifest_id; UPDATE manifests SET payload = payload; COMMIT", []string{content, removal}},
		{"UPDATE repositories SET name = name", []string{content, removal}},
		// Uploads into a name without a repository: a link added notifies nobody, nor does one
		// that a first push moves into repository_blobs; one removed is a removal.
		{"INSERT INTO pending_blobs (project_id, repository, digest, created_at) SELECT id, 'proj/other', '" + blob3 + "', 0 FROM projects", nil},
		{"BEGIN; INSERT INTO repository_blobs (repository_id, digest, created_at) SELECT r.id, pb.digest, 0 FROM pending_blobs pb JOIN repositories r ON r.name = pb.repository; DELETE FROM pending_blobs; COMMIT", nil},
		{"DELETE FROM pending_blobs", nil},
		{"INSERT INTO pending_blobs (project_id, repository, digest, created_at) SELECT id, 'proj/new', '" + blob3 + "', 0 FROM projects", nil},
		{"DELETE FROM pending_blobs WHERE repository = 'proj/new'", []string{removal}},
		{"DELETE FROM repository_blobs WHERE digest = '" + blob3 + "'", []string{removal}},
		{"DELETE FROM blobs WHERE digest = '" + blob3 + "'", []string{removal}},
	} {
		exec(tc.sql)
		exec("NOTIFY berth_content, 'fence'")
		var got []string
		for n := next(); n != "fence"; n = next() {
			got = append(got, n)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: notified %q, want %q", tc.sql, got, tc.want)
		}
	}
}

// TestGenerationsMoveWithContent: on both databases, a replica's own commits that can make a
// remembered answer wrong move its generations before they return; pushes that only add, and
// recorded pulls and audit entries, move none; a tag moved by a push leaves the removal
// generation alone.
func TestGenerationsMoveWithContent(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		_, pid := setup(t, db)
		const repo = "proj/app"
		c := watchChanges(db)
		metatest.WaitListening(t, db)
		generation := func(*meta.DB) uint64 { return c.content.Load() }
		removal := func() uint64 { return c.removal.Load() }
		put := func(digest, tag string) meta.PutManifestResult {
			t.Helper()
			res, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: pid, Repository: repo, Digest: digest,
				MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigDigest: digestOf(1), Payload: []byte(`{"d":"` + digest + `"}`),
				Blobs: []meta.BlobRef{{Digest: digestOf(1), Size: 1}}, Tags: []string{tag}})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		g, r := generation(db), removal()
		if err := db.LinkBlob(ctx, pid, repo, digestOf(1), 1, nil); err != nil {
			t.Fatal(err)
		}
		res := put(digestOf(100), "v1")
		put(digestOf(100), "v1")
		if err := db.RecordPulls(ctx, []meta.PullRecord{{ManifestID: res.ManifestID, Tag: "v1", At: time.Now(), Count: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertAudit(ctx, meta.AuditEntry{ProjectID: pid, Username: "alice", Resource: repo + ":v1", ResourceType: "artifact", Operation: "pull", OpTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if g2, r2 := generation(db), removal(); g2 != g || r2 != r {
			t.Fatalf("adding and recording moved the generations from %d/%d to %d/%d", g, r, g2, r2)
		}

		put(digestOf(101), "v1")
		if generation(db) == g {
			t.Fatal("moving a tag did not move the write generation")
		}
		if r2 := removal(); r2 != r {
			t.Fatalf("moving a tag moved the removal generation from %d to %d", r, r2)
		}
		g = generation(db)
		if _, err := db.DeleteTag(ctx, repo, "v1"); err != nil {
			t.Fatal(err)
		}
		if generation(db) == g {
			t.Fatal("deleting a tag did not move the write generation")
		}
		if _, err := db.DeleteManifest(ctx, repo, digestOf(100)); err != nil {
			t.Fatal(err)
		}
		if removal() == r {
			t.Fatal("deleting a manifest did not move the removal generation")
		}
	})
}

// TestProjectChangesReachEveryReplica: a change of a project's metadata, its CVE allowlist or
// the system's is announced as a change of projects — to the writing replica before the call
// returns, on both databases, and on PostgreSQL to another replica and for a write by any
// other client of the database.
func TestProjectChangesReachEveryReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	projectsSeen := func(db *meta.DB) *atomic.Uint64 {
		var n atomic.Uint64
		db.WatchChanges(func(ch meta.Changes) {
			if ch.Projects {
				n.Add(1)
			}
		})
		return &n
	}
	changes := []struct {
		name  string
		write func(db *meta.DB, pid int64) error
	}{
		{"metadata", func(db *meta.DB, pid int64) error {
			return db.Tx(ctx, func(tx *meta.Tx) error {
				return tx.UpdateProject(ctx, pid, meta.ProjectUpdate{Metadata: map[string]string{"prevent_vul": "true", "severity": "low"}})
			})
		}},
		{"project allowlist", func(db *meta.DB, pid int64) error {
			return db.Tx(ctx, func(tx *meta.Tx) error {
				return tx.UpdateProject(ctx, pid, meta.ProjectUpdate{Allowlist: &meta.CVEAllowlist{Items: []string{"CVE-2024-0001"}}})
			})
		}},
		{"system allowlist", func(db *meta.DB, _ int64) error {
			return db.SetCVEAllowlist(ctx, meta.CVEAllowlist{ProjectID: meta.SystemAllowlistProject, Items: []string{"CVE-2024-0002"}})
		}},
	}
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		_, pid := setup(t, db)
		seen := projectsSeen(db)
		for _, c := range changes {
			n := seen.Load()
			if err := c.write(db, pid); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if seen.Load() == n {
				t.Errorf("%s: the writing store did not announce a change of projects before returning", c.name)
			}
		}
	})

	url := metatest.NewDatabase(t)
	open := func() *meta.DB {
		db, err := meta.Open(ctx, url, "", meta.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	_, pid := setup(t, a)
	seen := projectsSeen(b)
	metatest.WaitListening(t, b)
	for _, c := range changes {
		n := seen.Load()
		if err := c.write(a, pid); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		waitFor(t, "the other replica hears of the change of "+c.name, func() bool { return seen.Load() != n })
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	n := seen.Load()
	if _, err := raw.ExecContext(ctx, "DELETE FROM project_metadata WHERE name = 'prevent_vul'"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica hears of a direct write", func() bool { return seen.Load() != n })
}
