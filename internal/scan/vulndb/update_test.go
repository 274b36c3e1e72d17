package vulndb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// osvServer serves OSV archives as osv.dev's bucket does: <ecosystem>/all.zip with an ETag and
// a Last-Modified, answering conditional requests with 304.
type osvServer struct {
	*httptest.Server
	mu       sync.Mutex
	archives map[string][]byte // path → body
	status   map[string]int    // path → a status to answer instead
	requests []osvRequest
}

type osvRequest struct {
	Path        string
	Conditional bool
	Status      int
}

func newOSVServer(t *testing.T) *osvServer {
	t.Helper()
	s := &osvServer{archives: map[string][]byte{}, status: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, ok := s.archives[r.URL.Path]
		code := s.status[r.URL.Path]
		s.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		switch {
		case code != 0:
			http.Error(rec, http.StatusText(code), code)
		case !ok:
			http.NotFound(rec, r)
		default:
			sum := sha256.Sum256(body)
			rec.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
			rec.Header().Set("Content-Type", "application/zip")
			http.ServeContent(rec, r, "all.zip", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), bytes.NewReader(body))
		}
		s.mu.Lock()
		s.requests = append(s.requests, osvRequest{Path: r.URL.Path,
			Conditional: r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "", Status: rec.code})
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *osvServer) serve(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archives[path] = body
	delete(s.status, path)
}

func (s *osvServer) fail(path string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[path] = code
}

// takeRequests returns the requests since the last call, by path.
func (s *osvServer) takeRequests() []osvRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.requests
	s.requests = nil
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// archive is a zip of the fixture records whose file names start with prefix.
func archive(t *testing.T, prefix string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "all.zip")
	zipOf(t, p, func(name string) bool { return strings.HasPrefix(name, prefix) })
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func results(rep vulndb.UpdateReport) []string {
	var out []string
	for _, a := range rep.Archives {
		out = append(out, a.Ecosystem+" "+a.Result)
	}
	return out
}

// cacheFiles lists the files of the cache directory.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestUpdateDownloadsAndImports runs updates against a local archive server: the first
// downloads and imports, the next asks conditionally and imports nothing on 304, a changed
// archive is downloaded alone, and a corrupt or missing one is refused with the database in use
// and the cached archives left as they were.
func TestUpdateDownloadsAndImports(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		srv := newOSVServer(t)
		debian, goV1 := archive(t, "D"), archive(t, "GO-2023")
		srv.serve("/Debian/all.zip", debian)
		srv.serve("/Go/all.zip", goV1)
		cache := t.TempDir()
		d := vulndb.New(db)
		opt := vulndb.UpdateOptions{URL: srv.URL + "/", Ecosystems: []string{"Debian", "Go"}, CacheDir: cache, Trigger: "MANUAL"}
		generation := func() int64 {
			t.Helper()
			gen, err := d.Generation(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return gen
		}

		// The first update downloads both archives and imports them.
		rep, err := d.Update(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Imported || rep.Import.Generation != 1 || rep.Import.Records != 3 ||
			!reflect.DeepEqual(results(rep), []string{"Debian downloaded", "Go downloaded"}) || rep.Archives[0].SHA256 != sha(debian) {
			t.Fatalf("first update: %+v", rep)
		}
		if got := srv.takeRequests(); !reflect.DeepEqual(got, []osvRequest{{"/Debian/all.zip", false, 200}, {"/Go/all.zip", false, 200}}) {
			t.Fatalf("first update asked %+v", got)
		}
		if src := rep.Import.Sources[1]; src.URL != srv.URL+"/Go/all.zip" || src.SHA256 != sha(goV1) || src.Kind != "zip" {
			t.Fatalf("source of the Go archive: %+v", src)
		}
		wantCache := []string{"Debian/" + sha(debian) + ".zip", "Debian/state.json", "Go/" + sha(goV1) + ".zip", "Go/state.json"}
		if got := cacheFiles(t, cache); !reflect.DeepEqual(got, wantCache) {
			t.Fatalf("cache after the first update: %q, want %q", got, wantCache)
		}
		st, err := d.Status(ctx)
		if err != nil || st.Generation != 1 || st.LastUpdate == nil || st.LastUpdate.Status != meta.StatusSuccess ||
			st.LastUpdate.Trigger != "MANUAL" || !strings.Contains(st.LastUpdate.Message, "imported generation 1") {
			t.Fatalf("status after the first update: %+v (last update %+v), %v", st, st.LastUpdate, err)
		}

		// Nothing changed: conditional requests, 304, no import.
		rep, err = d.Update(ctx, opt)
		if err != nil || rep.Imported || !reflect.DeepEqual(results(rep), []string{"Debian not-modified", "Go not-modified"}) {
			t.Fatalf("update of unchanged archives: %+v, %v", rep, err)
		}
		if got := srv.takeRequests(); !reflect.DeepEqual(got, []osvRequest{{"/Debian/all.zip", true, 304}, {"/Go/all.zip", true, 304}}) {
			t.Fatalf("second update asked %+v", got)
		}
		if generation() != 1 {
			t.Fatal("an update of unchanged archives imported")
		}

		// A new Go archive is downloaded alone, and both become generation 2.
		goV2 := archive(t, "GO-")
		srv.serve("/Go/all.zip", goV2)
		rep, err = d.Update(ctx, opt)
		if err != nil || !rep.Imported || rep.Import.Generation != 2 || rep.Import.Records != 5 ||
			!reflect.DeepEqual(results(rep), []string{"Debian not-modified", "Go downloaded"}) {
			t.Fatalf("update with a new Go archive: %+v, %v", rep, err)
		}
		wantCache = []string{"Debian/" + sha(debian) + ".zip", "Debian/state.json", "Go/" + sha(goV2) + ".zip", "Go/state.json"}
		if got := cacheFiles(t, cache); !reflect.DeepEqual(got, wantCache) {
			t.Fatalf("cache after the new Go archive: %q, want %q", got, wantCache)
		}
		srv.takeRequests()

		// Corrupt archives are refused; generation 2 stays, and so do the cached archives.
		truncated := goV1[:len(goV1)*2/3]
		garbled := bytes.Clone(goV1)
		i := bytes.Index(garbled, []byte(`"details"`))
		if i < 0 {
			t.Fatal("no details in the Go archive")
		}
		garbled[i+3] ^= 0x20 // stored uncompressed: the entry's checksum no longer matches
		for _, c := range []struct {
			name, want string
			body       []byte
		}{
			{"truncated", "not a readable zip archive", truncated},
			{"garbled entry", "checksum", garbled},
		} {
			srv.serve("/Go/all.zip", c.body)
			rep, err = d.Update(ctx, opt)
			if err == nil || !strings.Contains(err.Error(), c.want) || rep.Imported || !strings.Contains(rep.Error, c.want) {
				t.Fatalf("%s archive: %+v, %v", c.name, rep, err)
			}
			if generation() != 2 {
				t.Fatalf("%s archive: the database in use changed", c.name)
			}
			if got := cacheFiles(t, cache); !reflect.DeepEqual(got, wantCache) {
				t.Fatalf("%s archive: cache %q, want %q", c.name, got, wantCache)
			}
		}
		st, err = d.Status(ctx)
		if err != nil || st.LastUpdate.Status != meta.StatusError || !strings.Contains(st.LastUpdate.Message, "checksum") {
			t.Fatalf("status after a failed update: %+v, %v", st.LastUpdate, err)
		}
		var wantDebianGo []match
		for _, m := range wantMatches {
			if strings.HasPrefix(m.ID, "GO-") || strings.HasPrefix(m.ID, "D") {
				wantDebianGo = append(wantDebianGo, m)
			}
		}
		checkGoMatches := func() {
			t.Helper()
			fs, err := d.Match(ctx, installed)
			if err != nil {
				t.Fatal(err)
			}
			if got := matches(fs); !reflect.DeepEqual(got, wantDebianGo) {
				t.Fatalf("findings of generation %d:\n%s\nwant\n%s", generation(), dump(got), dump(wantDebianGo))
			}
		}
		checkGoMatches()

		// A server error fails the update too; an ecosystem the server has no archive for is
		// skipped, and none at all fails.
		srv.serve("/Go/all.zip", goV2)
		srv.fail("/Debian/all.zip", http.StatusInternalServerError)
		if rep, err = d.Update(ctx, opt); err == nil || !strings.Contains(err.Error(), "Debian: GET "+srv.URL+"/Debian/all.zip: 500") ||
			!reflect.DeepEqual(results(rep), []string{"Debian failed", "Go not-modified"}) {
			t.Fatalf("server error: %+v, %v", rep, err)
		}
		srv.serve("/Debian/all.zip", debian)
		withMissing := opt
		withMissing.Ecosystems = []string{"Debian", "Go", "Nonexistent"}
		if rep, err = d.Update(ctx, withMissing); err != nil || rep.Imported ||
			!reflect.DeepEqual(results(rep), []string{"Debian not-modified", "Go not-modified", "Nonexistent missing"}) {
			t.Fatalf("an ecosystem without an archive: %+v, %v", rep, err)
		}
		none := opt
		none.Ecosystems = []string{"Nonexistent"}
		if _, err = d.Update(ctx, none); err == nil || !strings.Contains(err.Error(), "no archive found") {
			t.Fatalf("no archive at all: %v", err)
		}
		if generation() != 2 {
			t.Fatal("failed updates changed the database")
		}

		// Another replica's empty cache: it downloads what is already imported, and imports
		// nothing.
		fresh := opt
		fresh.CacheDir = t.TempDir()
		srv.takeRequests()
		if rep, err = d.Update(ctx, fresh); err != nil || rep.Imported || !reflect.DeepEqual(results(rep), []string{"Debian downloaded", "Go downloaded"}) {
			t.Fatalf("update with an empty cache: %+v, %v", rep, err)
		}
		if generation() != 2 {
			t.Fatal("an update of the archives in use imported them again")
		}
		checkGoMatches()

		// Every run is an execution, with its report.
		es, total, err := db.ListExecutions(ctx, vulndb.UpdateKind, 0, meta.ListQuery{Limit: 20})
		if err != nil || total != 9 {
			t.Fatalf("%d update executions, %v; want 9", total, err)
		}
		var statuses []string
		for _, e := range es {
			statuses = append(statuses, e.Status)
		}
		want := []string{"Success", "Error", "Success", "Error", "Error", "Error", "Success", "Success", "Success"}
		if !reflect.DeepEqual(statuses, want) || !strings.Contains(es[8].Params, srv.URL) || !strings.Contains(es[8].Result, `"imported":true`) {
			t.Fatalf("executions, newest first: %q (first: %+v)", statuses, es[8])
		}
	})
}

// TestUpdateNamesEcosystemsInURLs: names with spaces become one escaped path segment.
func TestUpdateNamesEcosystemsInURLs(t *testing.T) {
	t.Parallel()
	db := metatest.Open(t, "sqlite")
	srv := newOSVServer(t)
	srv.serve("/Red Hat/all.zip", archive(t, "D"))
	rep, err := vulndb.New(db).Update(context.Background(), vulndb.UpdateOptions{URL: srv.URL, Ecosystems: []string{"Red Hat"}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Archives[0].URL; got != srv.URL+"/Red%20Hat/all.zip" {
		t.Fatalf("URL %s", got)
	}
	if s := rep.Summary(); !strings.HasPrefix(s, "archives: 1 downloaded, 0 unchanged; imported generation 1") {
		t.Fatalf("summary %q", s)
	}
}

// TestUpdateRunsOneAtATime: an update is refused while another one is running, and goes ahead
// once that one has shown no sign of life for long (its process died).
func TestUpdateRunsOneAtATime(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		srv := newOSVServer(t)
		srv.serve("/Go/all.zip", archive(t, "GO-"))
		running, err := db.CreateExecution(ctx, meta.Execution{Kind: vulndb.UpdateKind, Trigger: "SCHEDULE"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetExecutionStatus(ctx, running, meta.StatusRunning, ""); err != nil {
			t.Fatal(err)
		}
		d := vulndb.New(db)
		opt := vulndb.UpdateOptions{URL: srv.URL, Ecosystems: []string{"Go"}, CacheDir: t.TempDir(), Trigger: "MANUAL"}
		if _, err := d.Update(ctx, opt); !errors.Is(err, vulndb.ErrUpdateRunning) {
			t.Fatalf("update beside a running one: %v", err)
		}
		if got := srv.takeRequests(); len(got) != 0 {
			t.Fatalf("a refused update asked %+v", got)
		}
		var id int64
		if err := db.QueryRowForTest(ctx, "UPDATE executions SET updated_at = $1 WHERE id = $2 RETURNING id",
			time.Now().Add(-time.Hour).UnixMicro(), running).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if st, err := d.Status(ctx); err != nil || st.LastUpdate.Status != meta.StatusError || !strings.Contains(st.LastUpdate.Message, "interrupted") {
			t.Fatalf("status of an update whose process died: %+v, %v", st.LastUpdate, err)
		}
		if rep, err := d.Update(ctx, opt); err != nil || !rep.Imported {
			t.Fatalf("update after a dead one: %+v, %v", rep, err)
		}
	})
}
