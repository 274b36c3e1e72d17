// Package metatest opens real metadata stores for tests: a SQLite file in a temp directory and
// a fresh database on the PostgreSQL server named by BERTH_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/postgres). Every test that touches the store runs on both.
package metatest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// Dialects are the databases every store test runs on.
var Dialects = []string{"sqlite", "postgres"}

// ServerURL is the PostgreSQL server tests create their databases on.
func ServerURL() string {
	if u := os.Getenv("BERTH_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// ForEachDB runs fn as a subtest on a fresh SQLite store and a fresh PostgreSQL store.
func ForEachDB(t *testing.T, fn func(t *testing.T, db *meta.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a migrated store of the given dialect, closed (and for PostgreSQL dropped) when
// the test ends.
func Open(t testing.TB, dialect string) *meta.DB {
	t.Helper()
	var url, path string
	if dialect == "postgres" {
		url = NewDatabase(t)
	} else {
		path = filepath.Join(t.TempDir(), "berth.db")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := meta.Open(ctx, url, path, meta.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("open %s store: %v", dialect, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// NewDatabase creates an empty PostgreSQL database for the test and returns its URL. Without a
// reachable server the test is skipped, except under CI=true where it fails.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL()
	admin, err := sql.Open("pgx", server)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable (CI=true requires it): %v", server, err)
		}
		t.Skipf("PostgreSQL unreachable (%v): start PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) or set BERTH_TEST_POSTGRES to run this test", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "berth_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("BERTH_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	return fmt.Sprint(u)
}

// NewProject creates a user and a project that user owns, and returns the project's id.
func NewProject(t testing.TB, db *meta.DB, user, project string) int64 {
	t.Helper()
	ctx := context.Background()
	uid, err := db.CreateUser(ctx, meta.User{Username: user, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := db.CreateProject(ctx, meta.Project{Name: project, OwnerID: uid})
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// WaitListening waits until db hears of every change (meta.DB.ChangesHeard): at once on SQLite,
// on PostgreSQL once it listens for other writers' changes.
func WaitListening(t testing.TB, db *meta.DB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !db.ChangesHeard() {
		if time.Now().After(deadline) {
			t.Fatal("the store never listened for changes")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Events reads the events a store has written, in delivery order, as a subscriber of the
// event stream would get them.
type Events struct {
	t   testing.TB
	db  *meta.DB
	pos int64
}

// NewEvents returns a reader of db's events that starts at the beginning of the stream.
func NewEvents(t testing.TB, db *meta.DB) *Events { return &Events{t: t, db: db} }

// Next returns the events written since the last call (all of them on the first), after
// sequencing what was written.
func (r *Events) Next() []meta.Event {
	r.t.Helper()
	ctx := context.Background()
	for {
		n, err := r.db.SequenceEvents(ctx, 1000)
		if err != nil {
			r.t.Fatal(err)
		}
		if n < 1000 {
			break
		}
	}
	evs, err := r.db.EventsAfter(ctx, r.pos, 100000)
	if err != nil {
		r.t.Fatal(err)
	}
	if len(evs) > 0 {
		r.pos = evs[len(evs)-1].Pos
	}
	return evs
}
