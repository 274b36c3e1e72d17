package server

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/blob/blobtest"
)

// Tests of the blob store's optional abilities as the server uses them. The abilities do not
// depend on the database, so SQLite suffices.

// useBlobs makes the server use s as its blob store from now on.
func (ts *testServer) useBlobs(s blob.Store) { ts.srv.reg.Blobs, ts.srv.catalog.Blobs = s, s }

// TestSystemVolumesWithoutUsage: a blob store whose storage has no size (an object store)
// leaves /systeminfo/volumes nothing to report.
func TestSystemVolumesWithoutUsage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	ts.useBlobs(struct{ blob.Store }{ts.srv.blobs}) // without the filesystem driver's abilities
	assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/systeminfo/volumes", nil, nil), http.StatusNotFound, "NOT_FOUND")
}

// TestBlobRedirect: with a blob store that can redirect, a blob GET sends the client to the
// store's URL, where the bytes are, whole or in ranges. HEAD is answered by the registry, and
// who may pull what, and what a repository links, are decided before any redirect.
func TestBlobRedirect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	ts.useBlobs(blobtest.Redirecting(t, ts.srv.blobs))
	repo := newRepo("redirect")
	data := randomBytes(50_000)
	d := ts.pushBlob(t, repo, data)

	resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d, nil, nil)
	expectStatus(t, resp, http.StatusTemporaryRedirect)
	if got := resp.Header.Get("Docker-Content-Digest"); got != d {
		t.Errorf("redirect: Docker-Content-Digest %q, want %q", got, d)
	}
	loc := resp.Header.Get("Location")
	for _, c := range []struct {
		rng    string
		status int
		want   []byte
	}{{"", http.StatusOK, data}, {"bytes=100-199", http.StatusPartialContent, data[100:200]}} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != c.status || !bytes.Equal(body, c.want) {
			t.Errorf("GET %s (range %q): status %d, %d bytes, %v; want %d, %d bytes", loc, c.rng, resp.StatusCode, len(body), err, c.status, len(c.want))
		}
	}

	resp = ts.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+d, nil, nil)
	expectStatus(t, resp, http.StatusOK)
	if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(data)) {
		t.Errorf("HEAD: Content-Length %q, want %d", got, len(data))
	}

	expectBlobUnknown(t, ts, newRepo("redirect-other"), d)
	expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects", hdr(nil, "Content-Type", "application/json"),
		[]byte(`{"project_name":"redirect-private","metadata":{"public":"false"}}`)), http.StatusCreated)
	private := "redirect-private/app"
	ts.pushBlob(t, private, data)
	assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+private+"/blobs/"+d, anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")

	// The row says the blob is there, the storage has lost it: no redirect to nothing.
	if err := ts.srv.blobs.Delete(t.Context(), digest.Digest(d)); err != nil {
		t.Fatal(err)
	}
	assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d, nil, nil), http.StatusNotFound, "BLOB_UNKNOWN")
}
