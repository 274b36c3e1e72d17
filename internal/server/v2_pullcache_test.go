package server

import (
	"context"
	"net/http"
	"testing"
)

// TestPullsSeeEveryWrite: manifests resolved for pulls may come from memory, but never one a
// write has replaced — a tag moved by a push, a tag or manifest deleted through /v2/ or the
// API, a tag moved behind the API's back by a direct database write — however soon the pull
// follows.
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
	})
}
