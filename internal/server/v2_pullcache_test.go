package server

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/meta/metatest"
)

// wantPulls GETs repo's manifest ref three times from ts (the second and third answers may come
// from memory) and requires status and digest each time.
func wantPulls(t *testing.T, ts *testServer, repo, ref string, status int, digest string) {
	t.Helper()
	for range 3 {
		resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, http.Header{"Accept": {mtOCIManifest}}, nil)
		respBody(t, resp)
		if s, d := resp.StatusCode, resp.Header.Get("Docker-Content-Digest"); s != status || d != digest {
			t.Fatalf("GET %s from %s: %d %s, want %d %s", ref, ts.URL, s, d, status, digest)
		}
	}
}

// TestPullsSeeEveryWrite: manifests and blob links resolved for pulls may come from memory,
// but never one a write has replaced — a tag moved by a push, a tag, manifest or blob deleted
// through /v2/ or the API, a tag moved behind the API's back by a direct database write —
// however soon the pull follows.
func TestPullsSeeEveryWrite(t *testing.T) {
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		const repo = "library/cached"
		want := func(ref string, status int, digest string) { wantPulls(t, ts, repo, ref, status, digest) }
		_, a := ts.pushImage(t, repo, "v1", mtOCIManifest)
		want("v1", http.StatusOK, a)
		want(a, http.StatusOK, a)
		_, b := ts.pushImage(t, repo, "v1", mtOCIManifest)
		want("v1", http.StatusOK, b)

		// The tag moved back to a by a write the registry did not make through its own paths.
		var id int64
		if err := ts.srv.db.QueryRowForTest(context.Background(), `UPDATE tags SET manifest_id = (SELECT id FROM manifests WHERE digest = $1)
			WHERE name = 'v1' RETURNING id`, a).Scan(&id); err != nil {
			t.Fatal(err)
		}
		want("v1", http.StatusOK, a)

		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/v1", nil, nil), http.StatusAccepted)
		want("v1", http.StatusNotFound, "")
		expectStatus(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/library/repositories/cached/artifacts/"+b, nil, nil), http.StatusOK)
		want(b, http.StatusNotFound, "")
		want(a, http.StatusOK, a)

		// A manifest GET looks up its blobs' links with it; a blob unlinked after that is gone.
		body, _ := ts.pushImage(t, repo, "v9", mtOCIManifest)
		wantPulls(t, ts, repo, "v9", http.StatusOK, sha256Digest(body))
		var m struct {
			Config struct{ Digest string } `json:"config"`
			Layers []struct {
				Digest string
				Size   int64
			} `json:"layers"`
		}
		mustUnmarshal(t, body, &m)
		for _, l := range m.Layers {
			resp := ts.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+l.Digest, nil, nil)
			expectStatus(t, resp, http.StatusOK)
			if resp.Header.Get("Content-Length") != strconv.FormatInt(l.Size, 10) {
				t.Errorf("HEAD %s: Content-Length %s, want %d", l.Digest, resp.Header.Get("Content-Length"), l.Size)
			}
		}
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/blobs/"+m.Config.Digest, nil, nil), http.StatusAccepted)
		expectStatus(t, ts.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+m.Config.Digest, nil, nil), http.StatusNotFound)

		blob := ts.pushBlob(t, repo, []byte("a blob that goes"))
		for range 3 {
			expectStatus(t, ts.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+blob, nil, nil), http.StatusOK)
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+blob, nil, nil), http.StatusOK)
		}
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/blobs/"+blob, nil, nil), http.StatusAccepted)
		expectStatus(t, ts.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+blob, nil, nil), http.StatusNotFound)
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+blob, nil, nil), http.StatusNotFound)
	})
}

// TestReplicasPullWhatAnotherPushed: two replicas on one PostgreSQL database. A replica that
// has resolved a tag from memory learns of another replica's push or delete from the database's
// notification and then answers with the new state.
func TestReplicasPullWhatAnotherPushed(t *testing.T) {
	t.Parallel()
	a := newTestServer(t, "postgres")
	b := a.replica(t)
	const repo = "library/replicated"
	want := func(ref string, status int, digest string) { wantPulls(t, b, repo, ref, status, digest) }
	// afterWrite runs write on a and waits until b's pull memory has heard of it (of a
	// removal, when generation is RemovalGeneration).
	afterWrite := func(generation func() (uint64, bool), write func()) {
		t.Helper()
		g, _ := generation()
		write()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if gen, ok := generation(); ok && gen != g {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the other replica never heard of the write")
			}
			time.Sleep(2 * time.Millisecond)
		}
	}

	_, d1 := a.pushImage(t, repo, "v1", mtOCIManifest)
	respBody(t, b.do(t, http.MethodGet, "/v2/"+repo+"/manifests/v1", http.Header{"Accept": {mtOCIManifest}}, nil))
	metatest.WaitListening(t, b.srv.db)
	want("v1", http.StatusOK, d1)

	written, removed := b.srv.reg.WriteGeneration, b.srv.reg.RemovalGeneration
	var d2 string
	afterWrite(written, func() { _, d2 = a.pushImage(t, repo, "v1", mtOCIManifest) })
	want("v1", http.StatusOK, d2)
	want(d1, http.StatusOK, d1)

	afterWrite(written, func() {
		expectStatus(t, a.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/v1", nil, nil), http.StatusAccepted)
	})
	want("v1", http.StatusNotFound, "")
	afterWrite(removed, func() {
		expectStatus(t, a.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+d1, nil, nil), http.StatusAccepted)
	})
	want(d1, http.StatusNotFound, "")
	want(d2, http.StatusOK, d2)

	blob := a.pushBlob(t, repo, []byte("a blob that goes"))
	for range 3 {
		expectStatus(t, b.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+blob, nil, nil), http.StatusOK)
	}
	afterWrite(removed, func() {
		expectStatus(t, a.do(t, http.MethodDelete, "/v2/"+repo+"/blobs/"+blob, nil, nil), http.StatusAccepted)
	})
	expectStatus(t, b.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+blob, nil, nil), http.StatusNotFound)
}
