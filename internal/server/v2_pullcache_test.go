package server

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestPullsSeeEveryWrite: manifests and blob links resolved for pulls may come from memory,
// but never one a write has replaced — a tag moved by a push, a tag, manifest or blob deleted
// through /v2/ or the API, a tag moved behind the API's back by a direct database write —
// however soon the pull follows.
func TestPullsSeeEveryWrite(t *testing.T) {
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		const repo = "library/cached"
		get := func(ref string) (int, string) {
			t.Helper()
			resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, http.Header{"Accept": {mtOCIManifest}}, nil)
			respBody(t, resp)
			return resp.StatusCode, resp.Header.Get("Docker-Content-Digest")
		}
		want := func(ref string, status int, digest string) {
			t.Helper()
			for range 3 { // the second and third answers may come from memory
				if s, d := get(ref); s != status || d != digest {
					t.Fatalf("GET %s: %d %s, want %d %s", ref, s, d, status, digest)
				}
			}
		}
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
	get := func(ts *testServer, ref string) (int, string) {
		t.Helper()
		resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, http.Header{"Accept": {mtOCIManifest}}, nil)
		respBody(t, resp)
		return resp.StatusCode, resp.Header.Get("Docker-Content-Digest")
	}
	want := func(ref string, status int, digest string) {
		t.Helper()
		for range 3 {
			if s, d := get(b, ref); s != status || d != digest {
				t.Fatalf("GET %s from the other replica: %d %s, want %d %s", ref, s, d, status, digest)
			}
		}
	}
	// afterWrite runs write on a and waits until b has heard of it (of a removal, when
	// generation is RemovalGeneration).
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
	get(b, "v1")
	deadline := time.Now().Add(15 * time.Second)
	for _, ok := b.srv.db.WriteGeneration(); !ok; _, ok = b.srv.db.WriteGeneration() {
		if time.Now().After(deadline) {
			t.Fatal("replica b never listened for content changes")
		}
		time.Sleep(2 * time.Millisecond)
	}
	want("v1", http.StatusOK, d1)

	written, removed := b.srv.db.WriteGeneration, b.srv.db.RemovalGeneration
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
