package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Protocol tests of the /v2/ API (OCI distribution spec v1.1) through the complete server
// handler, on SQLite and on PostgreSQL. Each table shares one server per database; every case
// works in repositories of its own, so the cases run in parallel.

// v2Case is one behaviour of the /v2/ API.
type v2Case struct {
	name string
	run  func(t *testing.T, ts *testServer)
}

// runV2Cases runs the table on a SQLite server and a PostgreSQL server, cases in parallel, and
// checks the data directory after each case.
func runV2Cases(t *testing.T, cases []v2Case) {
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, ts)
				ts.assertDataDir(t)
			})
		}
	})
}

// newRepo names a fresh repository in the public project "library".
func newRepo(prefix string) string { return "library/" + prefix + "-" + uniqueSuffix() }

const octet = "application/octet-stream"

// startUpload opens an upload session and returns its path (from Location) and id.
func (ts *testServer) startUpload(t *testing.T, repo string) (string, string) {
	t.Helper()
	resp := ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	expectStatus(t, resp, http.StatusAccepted)
	id := resp.Header.Get("Docker-Upload-UUID")
	loc := resp.Header.Get("Location")
	if id == "" || loc != ts.URL+"/v2/"+repo+"/blobs/uploads/"+id {
		t.Fatalf("start upload: Location %q, Docker-Upload-UUID %q", loc, id)
	}
	if r := resp.Header.Get("Range"); r != "0-0" {
		t.Errorf("start upload: Range %q, want 0-0", r)
	}
	return strings.TrimPrefix(loc, ts.URL), id
}

// patchChunk sends chunk with Content-Range <start>-<end>.
func (ts *testServer) patchChunk(t *testing.T, path string, start int, chunk []byte) *http.Response {
	t.Helper()
	h := hdr(nil, "Content-Type", octet, "Content-Range", fmt.Sprintf("%d-%d", start, start+len(chunk)-1))
	return ts.do(t, http.MethodPatch, path, h, chunk)
}

// expectUploadState checks a 202/204 upload answer: Location, Docker-Upload-UUID and Range.
func expectUploadState(t *testing.T, ts *testServer, resp *http.Response, status int, path, wantRange string) {
	t.Helper()
	expectStatus(t, resp, status)
	if got := resp.Header.Get("Range"); got != wantRange {
		t.Errorf("%s %s: Range %q, want %q", resp.Request.Method, path, got, wantRange)
	}
	if got := resp.Header.Get("Location"); got != ts.URL+path {
		t.Errorf("%s %s: Location %q, want %q", resp.Request.Method, path, got, ts.URL+path)
	}
	if id := resp.Header.Get("Docker-Upload-UUID"); id == "" || !strings.HasSuffix(path, "/"+id) {
		t.Errorf("%s %s: Docker-Upload-UUID %q", resp.Request.Method, path, id)
	}
}

// expectBlob checks that repo serves exactly data under d (GET and HEAD).
func expectBlob(t *testing.T, ts *testServer, repo, d string, data []byte) {
	t.Helper()
	resp := ts.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+d, nil, nil)
	expectStatus(t, resp, http.StatusOK)
	if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(data)) {
		t.Errorf("HEAD blob %s: Content-Length %q, want %d", d, got, len(data))
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != d {
		t.Errorf("HEAD blob: Docker-Content-Digest %q, want %q", got, d)
	}
	if n := len(respBody(t, resp)); n != 0 {
		t.Errorf("HEAD blob: %d body bytes", n)
	}
	resp = ts.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d, nil, nil)
	expectStatus(t, resp, http.StatusOK)
	if !bytes.Equal(respBody(t, resp), data) {
		t.Errorf("GET blob %s: content differs (%d bytes, want %d)", d, len(respBody(t, resp)), len(data))
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != d {
		t.Errorf("GET blob: Docker-Content-Digest %q, want %q", got, d)
	}
}

// expectBlobUnknown checks that repo does not serve d (another repository may).
func expectBlobUnknown(t *testing.T, ts *testServer, repo, d string) {
	t.Helper()
	assertOCIError(t, ts.do(t, http.MethodHead, "/v2/"+repo+"/blobs/"+d, nil, nil), http.StatusNotFound, "BLOB_UNKNOWN")
	assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d, nil, nil), http.StatusNotFound, "BLOB_UNKNOWN")
}

// expectNoBlob checks that repo does not serve d and that storage holds no file for it.
func expectNoBlob(t *testing.T, ts *testServer, repo, d string) {
	t.Helper()
	expectBlobUnknown(t, ts, repo, d)
	ts.assertNoBlobFile(t, d)
}

// expectNoUploadDir checks that the session's data is gone from storage.
func expectNoUploadDir(t *testing.T, ts *testServer, id string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(ts.DataDir, "storage", "uploads", id)); !os.IsNotExist(err) {
		t.Errorf("upload %s: data directory still exists (stat: %v)", id, err)
	}
}

func expectManifest(t *testing.T, ts *testServer, repo, ref, mediaType, d string, body []byte) {
	t.Helper()
	resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, hdr(nil, "Accept", mediaType), nil)
	expectStatus(t, resp, http.StatusOK)
	if !bytes.Equal(respBody(t, resp), body) {
		t.Errorf("GET manifest %s: body differs from what was pushed", ref)
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		if m == http.MethodHead {
			resp = ts.do(t, m, "/v2/"+repo+"/manifests/"+ref, hdr(nil, "Accept", mediaType), nil)
			expectStatus(t, resp, http.StatusOK)
			if n := len(respBody(t, resp)); n != 0 {
				t.Errorf("HEAD manifest %s: %d body bytes", ref, n)
			}
		}
		if got := resp.Header.Get("Content-Type"); got != mediaType {
			t.Errorf("%s manifest %s: Content-Type %q, want %q", m, ref, got, mediaType)
		}
		if got := resp.Header.Get("Docker-Content-Digest"); got != d {
			t.Errorf("%s manifest %s: Docker-Content-Digest %q, want %q", m, ref, got, d)
		}
		if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
			t.Errorf("%s manifest %s: Content-Length %q, want %d", m, ref, got, len(body))
		}
	}
}

// expectNoManifest checks that ref is unknown in repo.
func expectNoManifest(t *testing.T, ts *testServer, repo, ref string) {
	t.Helper()
	assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	assertOCIError(t, ts.do(t, http.MethodHead, "/v2/"+repo+"/manifests/"+ref, nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
}

type tagList struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

func decodeJSON[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(respBody(t, resp), &v); err != nil {
		t.Fatalf("%s %s: decode %T: %v; body %.300s", resp.Request.Method, resp.Request.URL.Opaque, v, err, respBody(t, resp))
	}
	return v
}

var linkRE = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// nextLinkTarget returns the target of a Link: <...>; rel="next" header, or "" without one.
func nextLinkTarget(t *testing.T, resp *http.Response) string {
	t.Helper()
	l := resp.Header.Get("Link")
	if l == "" {
		return ""
	}
	m := linkRE.FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("malformed Link header %q", l)
	}
	return m[1]
}

// tIndex builds an image index of mediaType over the given manifests.
func tIndex(mediaType string, children ...tDescriptor) tManifest {
	return tManifest{SchemaVersion: 2, MediaType: mediaType, Manifests: children}
}

// pushChild pushes an image manifest by digest (untagged) and returns its descriptor.
func (ts *testServer) pushChild(t *testing.T, repo, mediaType, arch string) tDescriptor {
	t.Helper()
	b := mustJSON(t, ts.imageManifest(t, repo, mediaType))
	d := ts.pushManifest(t, repo, sha256Digest(b), mediaType, b)
	return tDescriptor{MediaType: mediaType, Digest: d, Size: int64(len(b)), Platform: map[string]string{"architecture": arch, "os": "linux"}}
}

func TestV2RejectsBadUploads(t *testing.T) {
	runV2Cases(t, []v2Case{
		{"monolithic POST with a wrong sha256 digest is DIGEST_INVALID and stores nothing", func(t *testing.T, ts *testServer) {
			repo := newRepo("badpost")
			ts.pushBlob(t, repo, randomBytes(16)) // the repository exists
			data := randomBytes(1000)
			wrong := sha256Digest(randomBytes(8))
			resp := ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+wrong, hdr(nil, "Content-Type", octet), data)
			assertOCIError(t, resp, http.StatusBadRequest, "DIGEST_INVALID")
			expectNoBlob(t, ts, repo, wrong)
			expectNoBlob(t, ts, repo, sha256Digest(data))
			ts.assertNoUploadHolds(t, data)
		}},
		{"monolithic POST with a wrong sha512 digest is DIGEST_INVALID and stores nothing", func(t *testing.T, ts *testServer) {
			repo := newRepo("badpost512")
			data := randomBytes(500)
			wrong := sha512Digest(randomBytes(8))
			resp := ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+wrong, hdr(nil, "Content-Type", octet), data)
			assertOCIError(t, resp, http.StatusBadRequest, "DIGEST_INVALID")
			expectNoBlob(t, ts, repo, wrong)
			expectNoBlob(t, ts, repo, sha512Digest(data))
			expectNoBlob(t, ts, repo, sha256Digest(data))
			ts.assertNoUploadHolds(t, data)
		}},
		{"PUT completing a chunked upload with a wrong digest is DIGEST_INVALID and discards the session", func(t *testing.T, ts *testServer) {
			repo := newRepo("badput")
			ts.pushBlob(t, repo, randomBytes(16))
			path, id := ts.startUpload(t, repo)
			data := randomBytes(300)
			expectStatus(t, ts.patchChunk(t, path, 0, data[:100]), http.StatusAccepted)
			expectStatus(t, ts.patchChunk(t, path, 100, data[100:200]), http.StatusAccepted)
			wrong := sha256Digest(randomBytes(8))
			resp := ts.do(t, http.MethodPut, path+"?digest="+wrong, hdr(nil, "Content-Type", octet, "Content-Range", "200-299"), data[200:])
			assertOCIError(t, resp, http.StatusBadRequest, "DIGEST_INVALID")
			expectNoBlob(t, ts, repo, wrong)
			expectNoBlob(t, ts, repo, sha256Digest(data))
			assertOCIError(t, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			expectNoUploadDir(t, ts, id)
		}},
		{"PUT completing an upload with an empty body and a wrong digest is DIGEST_INVALID", func(t *testing.T, ts *testServer) {
			repo := newRepo("badputempty")
			path, id := ts.startUpload(t, repo)
			data := randomBytes(64)
			expectStatus(t, ts.do(t, http.MethodPatch, path, hdr(nil, "Content-Type", octet), data), http.StatusAccepted)
			wrong := sha512Digest(data[:63])
			assertOCIError(t, ts.do(t, http.MethodPut, path+"?digest="+wrong, nil, nil), http.StatusBadRequest, "DIGEST_INVALID")
			expectNoBlob(t, ts, repo, wrong)
			expectNoBlob(t, ts, repo, sha256Digest(data))
			expectNoBlob(t, ts, repo, sha512Digest(data))
			expectNoUploadDir(t, ts, id)
		}},
		{"PUT without a digest is DIGEST_INVALID and keeps the session", func(t *testing.T, ts *testServer) {
			repo := newRepo("nodigest")
			path, _ := ts.startUpload(t, repo)
			data := randomBytes(10)
			expectStatus(t, ts.patchChunk(t, path, 0, data), http.StatusAccepted)
			assertOCIError(t, ts.do(t, http.MethodPut, path, nil, nil), http.StatusBadRequest, "DIGEST_INVALID")
			expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, "0-9")
		}},
		{"out-of-order chunks are 416 with the current Range and the upload continues", func(t *testing.T, ts *testServer) {
			repo := newRepo("order")
			path, _ := ts.startUpload(t, repo)
			data := randomBytes(30)
			expectUploadState(t, ts, ts.patchChunk(t, path, 0, data[:10]), http.StatusAccepted, path, "0-9")
			for _, c := range []struct {
				name  string
				start int
			}{{"starting after the end", 20}, {"overlapping", 5}, {"restarting at zero", 0}} {
				resp := ts.patchChunk(t, path, c.start, data[c.start:c.start+10])
				assertOCIError(t, resp, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
				if got := resp.Header.Get("Range"); got != "0-9" {
					t.Errorf("chunk %s: Range %q, want 0-9 (the bytes received so far)", c.name, got)
				}
			}
			// A final chunk out of order is refused the same way.
			resp := ts.do(t, http.MethodPut, path+"?digest="+sha256Digest(data), hdr(nil, "Content-Type", octet, "Content-Range", "20-29"), data[20:])
			assertOCIError(t, resp, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
			expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, "0-9")
			expectUploadState(t, ts, ts.patchChunk(t, path, 10, data[10:20]), http.StatusAccepted, path, "0-19")
			resp = ts.do(t, http.MethodPut, path+"?digest="+sha256Digest(data), hdr(nil, "Content-Type", octet, "Content-Range", "20-29"), data[20:])
			expectStatus(t, resp, http.StatusCreated)
			expectBlob(t, ts, repo, sha256Digest(data), data)
		}},
		{"a streamed chunk longer than its Content-Range is 416 and not stored", func(t *testing.T, ts *testServer) {
			repo := newRepo("overlong")
			path, _ := ts.startUpload(t, repo)
			data := randomBytes(20)
			// No Content-Length: the server only learns the body is too long while reading it.
			resp := ts.doReader(t, http.MethodPatch, path, hdr(nil, "Content-Type", octet, "Content-Range", "0-9"), io.MultiReader(bytes.NewReader(data)))
			assertOCIError(t, resp, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
			resp = ts.doReader(t, http.MethodPut, path+"?digest="+sha256Digest(data[:10]), hdr(nil, "Content-Type", octet, "Content-Range", "0-9"), io.MultiReader(bytes.NewReader(data)))
			assertOCIError(t, resp, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
			expectNoBlob(t, ts, repo, sha256Digest(data[:10]))
			expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, "0-0")
			// With a Content-Length that disagrees, it is refused before reading.
			resp = ts.do(t, http.MethodPatch, path, hdr(nil, "Content-Type", octet, "Content-Range", "0-9"), data)
			assertOCIError(t, resp, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
			expectUploadState(t, ts, ts.patchChunk(t, path, 0, data[:10]), http.StatusAccepted, path, "0-9")
		}},
		{"concurrent chunks at the same offset: exactly one is accepted", func(t *testing.T, ts *testServer) {
			repo := newRepo("race")
			path, _ := ts.startUpload(t, repo)
			data := randomBytes(10)
			codes := make(chan int, 4)
			var wg sync.WaitGroup
			for range cap(codes) {
				wg.Go(func() { codes <- ts.patchChunk(t, path, 0, data).StatusCode })
			}
			wg.Wait()
			close(codes)
			var got []int
			for c := range codes {
				got = append(got, c)
			}
			slices.Sort(got)
			if !slices.Equal(got, []int{http.StatusAccepted, 416, 416, 416}) {
				t.Errorf("concurrent PATCH 0-9 statuses %v, want one 202 and three 416", got)
			}
			expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, "0-9")
			expectStatus(t, ts.do(t, http.MethodPut, path+"?digest="+sha256Digest(data), nil, nil), http.StatusCreated)
			expectBlob(t, ts, repo, sha256Digest(data), data)
		}},
		{"unknown upload ids are BLOB_UPLOAD_UNKNOWN", func(t *testing.T, ts *testServer) {
			repo := newRepo("noupload")
			id := hex.EncodeToString(randomBytes(16))
			expectUploadIDUnknown(t, ts, repo, id)
		}},
		{"malformed upload ids are BLOB_UPLOAD_UNKNOWN", func(t *testing.T, ts *testServer) {
			repo := newRepo("badid")
			for _, id := range []string{"..", "a.b", strings.Repeat("a", 65), ".", "a~b"} {
				t.Run(id[:min(len(id), 8)], func(t *testing.T) { expectUploadIDUnknown(t, ts, repo, id) })
			}
		}},
		{"an upload id used under another repository is BLOB_UPLOAD_UNKNOWN", func(t *testing.T, ts *testServer) {
			repoA, repoB := newRepo("owner"), newRepo("other")
			ts.pushBlob(t, repoB, randomBytes(4)) // B exists too
			path, id := ts.startUpload(t, repoA)
			data := randomBytes(8)
			expectStatus(t, ts.patchChunk(t, path, 0, data[:4]), http.StatusAccepted)
			expectUploadIDUnknown(t, ts, repoB, id)
			// The session in A is untouched.
			expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, "0-3")
			resp := ts.do(t, http.MethodPut, path+"?digest="+sha256Digest(data), hdr(nil, "Content-Type", octet), data[4:])
			expectStatus(t, resp, http.StatusCreated)
			expectBlob(t, ts, repoA, sha256Digest(data), data)
			expectBlobUnknown(t, ts, repoB, sha256Digest(data))
		}},
	})
}

// expectUploadIDUnknown checks every upload-session method on /v2/<repo>/blobs/uploads/<id>.
func expectUploadIDUnknown(t *testing.T, ts *testServer, repo, id string) {
	t.Helper()
	path := "/v2/" + repo + "/blobs/uploads/" + id
	chunk := []byte("abcd")
	for _, r := range []struct {
		method, query string
		h             http.Header
		body          []byte
	}{
		{http.MethodGet, "", nil, nil},
		{http.MethodPatch, "", hdr(nil, "Content-Type", octet, "Content-Range", "0-3"), chunk},
		{http.MethodPatch, "", hdr(nil, "Content-Type", octet), chunk},
		{http.MethodPut, "?digest=" + sha256Digest(chunk), hdr(nil, "Content-Type", octet), chunk},
		{http.MethodDelete, "", nil, nil},
	} {
		assertOCIError(t, ts.do(t, r.method, path+r.query, r.h, r.body), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	}
	ts.assertNoBlobFile(t, sha256Digest(chunk))
}

func TestV2RejectsBadNamesAndReferences(t *testing.T) {
	someDigest := sha256Digest([]byte("some blob"))
	runV2Cases(t, []v2Case{
		{"invalid repository names are NAME_INVALID", func(t *testing.T, ts *testServer) {
			for _, name := range []string{
				"library/UPPER", "library/a..b", "library/-x", "library/x-", "library/a__b_", "nogroup",
				"library/" + strings.Repeat("a", 248), // 256 characters
				"library/" + strings.Repeat("a", 300),
			} {
				t.Run(name[:min(len(name), 20)], func(t *testing.T) {
					for _, r := range []struct{ method, path string }{
						{http.MethodGet, "/manifests/latest"},
						{http.MethodHead, "/manifests/latest"},
						{http.MethodPut, "/manifests/latest"},
						{http.MethodDelete, "/manifests/latest"},
						{http.MethodGet, "/tags/list"},
						{http.MethodPost, "/blobs/uploads/"},
						{http.MethodHead, "/blobs/" + someDigest},
						{http.MethodGet, "/blobs/" + someDigest},
						{http.MethodGet, "/referrers/" + someDigest},
					} {
						resp := ts.do(t, r.method, "/v2/"+name+r.path, hdr(nil, "Content-Type", mtOCIManifest), nil)
						assertOCIError(t, resp, http.StatusBadRequest, "NAME_INVALID")
					}
				})
			}
		}},
		{"an unknown project is NAME_UNKNOWN for an administrator", func(t *testing.T, ts *testServer) {
			name := "nosuchproject" + uniqueSuffix() + "/x"
			for _, r := range []struct{ method, path string }{
				{http.MethodGet, "/manifests/latest"},
				{http.MethodHead, "/manifests/latest"},
				{http.MethodPut, "/manifests/latest"},
				{http.MethodGet, "/tags/list"},
				{http.MethodPost, "/blobs/uploads/"},
				{http.MethodHead, "/blobs/" + someDigest},
				{http.MethodGet, "/blobs/" + someDigest},
			} {
				var body []byte
				if r.method == http.MethodPut {
					body = []byte("{}")
				}
				resp := ts.do(t, r.method, "/v2/"+name+r.path, hdr(nil, "Content-Type", mtOCIManifest), body)
				assertOCIError(t, resp, http.StatusNotFound, "NAME_UNKNOWN")
			}
		}},
		{"invalid tags are MANIFEST_INVALID on PUT", func(t *testing.T, ts *testServer) {
			repo := newRepo("badtag")
			body := mustJSON(t, ts.imageManifest(t, repo, mtOCIManifest))
			for _, tag := range []string{"-bad", strings.Repeat("a", 129), "a+b", ".hidden", "a@b"} {
				resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, hdr(nil, "Content-Type", mtOCIManifest), body)
				assertOCIError(t, resp, http.StatusBadRequest, "MANIFEST_INVALID")
			}
			// 128 characters is the longest valid tag.
			ts.pushManifest(t, repo, strings.Repeat("a", 128), mtOCIManifest, body)
			tags := decodeJSON[tagList](t, ts.do(t, http.MethodGet, "/v2/"+repo+"/tags/list", nil, nil))
			if !slices.Equal(tags.Tags, []string{strings.Repeat("a", 128)}) {
				t.Errorf("tags after refused PUTs: %q", tags.Tags)
			}
		}},
		{"invalid digests in paths are DIGEST_INVALID", func(t *testing.T, ts *testServer) {
			repo := newRepo("baddigest")
			body := mustJSON(t, ts.imageManifest(t, repo, mtOCIManifest))
			upload, _ := ts.startUpload(t, repo)
			h64 := hex.EncodeToString(randomBytes(32))
			for _, d := range []string{
				"sha256:xyz",
				"md5:" + h64[:32],
				"sha256:" + h64[:63],
				"sha256:" + h64 + "0",
				"sha256:" + strings.ToUpper(h64[:62]) + "AB",
				"sha512:" + h64,
				"sha256:" + h64[:62] + "g0",
			} {
				t.Run(d[:min(len(d), 12)], func(t *testing.T) {
					for _, r := range []struct{ method, path string }{
						{http.MethodGet, "/v2/" + repo + "/blobs/" + d},
						{http.MethodHead, "/v2/" + repo + "/blobs/" + d},
						{http.MethodDelete, "/v2/" + repo + "/blobs/" + d},
						{http.MethodGet, "/v2/" + repo + "/manifests/" + d},
						{http.MethodHead, "/v2/" + repo + "/manifests/" + d},
						{http.MethodDelete, "/v2/" + repo + "/manifests/" + d},
						{http.MethodPut, "/v2/" + repo + "/manifests/" + d},
						{http.MethodGet, "/v2/" + repo + "/referrers/" + d},
						{http.MethodPost, "/v2/" + repo + "/blobs/uploads/?digest=" + d},
						{http.MethodPut, upload + "?digest=" + d},
					} {
						var b []byte
						if r.method == http.MethodPut || r.method == http.MethodPost {
							b = body
						}
						resp := ts.do(t, r.method, r.path, hdr(nil, "Content-Type", mtOCIManifest), b)
						assertOCIError(t, resp, http.StatusBadRequest, "DIGEST_INVALID")
					}
				})
			}
			// The refused PUTs left the session alone.
			expectUploadState(t, ts, ts.do(t, http.MethodGet, upload, nil, nil), http.StatusNoContent, upload, "0-0")
		}},
		{"path traversal attempts are 4xx with an OCI error body", func(t *testing.T, ts *testServer) {
			ts.pushImage(t, "library/x", "latest", mtOCIManifest)
			for _, r := range []struct{ method, path string }{
				{http.MethodGet, "/v2/library/..%2F..%2Fetc/blobs/" + someDigest},
				{http.MethodGet, "/v2/library%2Fx/tags/list"},
				{http.MethodGet, "/v2/library/x/blobs/uploads/..%2F.."},
				{http.MethodPatch, "/v2/library/x/blobs/uploads/..%2F.."},
				{http.MethodGet, "/v2//etc/passwd/manifests/latest"},
				{http.MethodGet, "/v2/library/x/manifests/.."},
				{http.MethodDelete, "/v2/library/x/manifests/.."},
				{http.MethodGet, "/v2/library/x/manifests/%2e%2e"},
				{http.MethodGet, "/v2/library/%2e%2e/x/manifests/latest"},
				{http.MethodGet, "/v2/library/x/blobs/sha256:..%2F..%2F..%2Fberth.db"},
			} {
				assertClientError(t, ts.do(t, r.method, r.path, nil, nil))
			}
			// library/x is intact.
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/library/x/manifests/latest", nil, nil), http.StatusOK)
		}},
	})
}

func TestV2RejectsBadManifests(t *testing.T) {
	oversized := append(append([]byte(`{"schemaVersion":2,"mediaType":"`+mtOCIManifest+`","annotations":{"pad":"`), bytes.Repeat([]byte("x"), 4<<20)...), []byte(`"}}`)...)
	runV2Cases(t, []v2Case{
		{"invalid manifests are MANIFEST_INVALID", func(t *testing.T, ts *testServer) {
			repo := newRepo("badmanifest")
			img := ts.imageManifest(t, repo, mtOCIManifest)
			other := newRepo("elsewhere")
			edit := func(f func(m *tManifest)) []byte {
				m := img
				m.Config = &tDescriptor{}
				*m.Config = *img.Config
				m.Layers = slices.Clone(img.Layers)
				f(&m)
				return mustJSON(t, m)
			}
			for i, c := range []struct {
				name, contentType string
				body              []byte
				code              string
			}{
				{"garbage JSON", mtOCIManifest, []byte(`{"schemaVersion":2,`), "MANIFEST_INVALID"},
				{"not JSON", mtOCIManifest, []byte("hello, registry"), "MANIFEST_INVALID"},
				{"trailing data", mtOCIManifest, append(mustJSON(t, img), []byte(" {}")...), "MANIFEST_INVALID"},
				{"empty body", mtOCIManifest, []byte{}, "MANIFEST_INVALID"},
				{"schemaVersion 1", mtOCIManifest, edit(func(m *tManifest) { m.SchemaVersion = 1 }), "MANIFEST_INVALID"},
				{"schemaVersion 3", mtOCIManifest, edit(func(m *tManifest) { m.SchemaVersion = 3 }), "MANIFEST_INVALID"},
				{"Docker schema 1 signed", "application/vnd.docker.distribution.manifest.v1+prettyjws",
					[]byte(`{"schemaVersion":1,"name":"` + repo + `","tag":"v1","architecture":"amd64","fsLayers":[],"history":[],"signatures":[]}`), "MANIFEST_INVALID"},
				{"Docker schema 1", "application/vnd.docker.distribution.manifest.v1+json",
					[]byte(`{"schemaVersion":1,"name":"` + repo + `","tag":"v1","architecture":"amd64","fsLayers":[],"history":[]}`), "MANIFEST_INVALID"},
				{"mediaType differs from Content-Type", mtDockerManifest, mustJSON(t, img), "MANIFEST_INVALID"},
				{"image manifest sent as an index", mtOCIIndex, mustJSON(t, img), "MANIFEST_INVALID"},
				{"missing config", mtOCIManifest, edit(func(m *tManifest) { m.Config = nil }), "MANIFEST_INVALID"},
				{"config without mediaType", mtOCIManifest, edit(func(m *tManifest) { m.Config.MediaType = "" }), "MANIFEST_INVALID"},
				{"layer with an invalid digest", mtOCIManifest, edit(func(m *tManifest) { m.Layers[0].Digest = "sha256:abc" }), "MANIFEST_INVALID"},
				{"layer with a negative size", mtOCIManifest, edit(func(m *tManifest) { m.Layers[0].Size = -1 }), "MANIFEST_INVALID"},
				{"layer with a wrong size", mtOCIManifest, edit(func(m *tManifest) { m.Layers[0].Size++ }), "MANIFEST_INVALID"},
				{"config with a wrong size", mtOCIManifest, edit(func(m *tManifest) { m.Config.Size-- }), "MANIFEST_INVALID"},
				{"unknown media type", "application/vnd.example.thing+json", edit(func(m *tManifest) { m.MediaType = "application/vnd.example.thing+json" }), "MANIFEST_INVALID"},
				{"unknown layer blob", mtOCIManifest, edit(func(m *tManifest) { m.Layers[0].Digest = sha256Digest(randomBytes(8)) }), "MANIFEST_BLOB_UNKNOWN"},
				{"unknown config blob", mtOCIManifest, edit(func(m *tManifest) { m.Config.Digest = sha256Digest(randomBytes(8)) }), "MANIFEST_BLOB_UNKNOWN"},
				{"blob of another repository", mtOCIManifest, edit(func(m *tManifest) {
					b := randomBytes(40)
					m.Layers = append(m.Layers, tDescriptor{MediaType: mtOCILayer, Digest: ts.pushBlob(t, other, b), Size: 40})
				}), "MANIFEST_BLOB_UNKNOWN"},
				{"index with a missing child", mtOCIIndex, mustJSON(t, tIndex(mtOCIIndex, tDescriptor{MediaType: mtOCIManifest, Digest: sha256Digest(randomBytes(8)), Size: 300})), "MANIFEST_BLOB_UNKNOWN"},
				{"manifest list with a missing child", mtDockerList, mustJSON(t, tIndex(mtDockerList, tDescriptor{MediaType: mtDockerManifest, Digest: sha256Digest(randomBytes(8)), Size: 300})), "MANIFEST_BLOB_UNKNOWN"},
			} {
				t.Run(c.name, func(t *testing.T) {
					tag := fmt.Sprintf("bad%d", i)
					resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, hdr(nil, "Content-Type", c.contentType), c.body)
					assertOCIError(t, resp, http.StatusBadRequest, c.code)
					expectNoManifest(t, ts, repo, tag)
					expectNoManifest(t, ts, repo, sha256Digest(c.body))
				})
			}
			// The untouched manifest is accepted, so the failures above are the edits'.
			ts.pushManifest(t, repo, "good", mtOCIManifest, mustJSON(t, img))
		}},
		{"a manifest over 4 MiB is 413 with a Content-Length", func(t *testing.T, ts *testServer) {
			repo := newRepo("huge")
			resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/huge", hdr(nil, "Content-Type", mtOCIManifest), oversized)
			assertOCIError(t, resp, http.StatusRequestEntityTooLarge, "SIZE_INVALID")
			expectNoManifest(t, ts, repo, "huge")
		}},
		{"a manifest over 4 MiB is 413 when streamed without a length", func(t *testing.T, ts *testServer) {
			repo := newRepo("hugestream")
			resp := ts.doReader(t, http.MethodPut, "/v2/"+repo+"/manifests/huge", hdr(nil, "Content-Type", mtOCIManifest), io.MultiReader(bytes.NewReader(oversized)))
			assertOCIError(t, resp, http.StatusRequestEntityTooLarge, "SIZE_INVALID")
			expectNoManifest(t, ts, repo, "huge")
		}},
		{"PUT by a digest that does not match the body is DIGEST_INVALID", func(t *testing.T, ts *testServer) {
			repo := newRepo("wrongref")
			body := mustJSON(t, ts.imageManifest(t, repo, mtOCIManifest))
			wrong := sha256Digest(append(slices.Clone(body), ' '))
			resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+wrong, hdr(nil, "Content-Type", mtOCIManifest), body)
			assertOCIError(t, resp, http.StatusBadRequest, "DIGEST_INVALID")
			expectNoManifest(t, ts, repo, wrong)
			expectNoManifest(t, ts, repo, sha256Digest(body))
		}},
	})
}

func TestV2Blobs(t *testing.T) {
	runV2Cases(t, []v2Case{
		{"monolithic upload", func(t *testing.T, ts *testServer) {
			repo := newRepo("mono")
			data := randomBytes(2000)
			d := sha256Digest(data)
			resp := ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d, hdr(nil, "Content-Type", octet), data)
			expectStatus(t, resp, http.StatusCreated)
			if got := resp.Header.Get("Location"); got != ts.URL+"/v2/"+repo+"/blobs/"+d {
				t.Errorf("Location %q", got)
			}
			expectBlob(t, ts, repo, d, data)
			// Pushing the same blob again is fine.
			ts.pushBlob(t, repo, data)
		}},
		{"POST then a single PUT", func(t *testing.T, ts *testServer) {
			repo := newRepo("postput")
			path, id := ts.startUpload(t, repo)
			data := randomBytes(777)
			d := sha256Digest(data)
			resp := ts.do(t, http.MethodPut, path+"?digest="+d, hdr(nil, "Content-Type", octet), data)
			expectStatus(t, resp, http.StatusCreated)
			if got := resp.Header.Get("Location"); got != ts.URL+"/v2/"+repo+"/blobs/"+d {
				t.Errorf("Location %q", got)
			}
			if got := resp.Header.Get("Docker-Content-Digest"); got != d {
				t.Errorf("Docker-Content-Digest %q", got)
			}
			expectBlob(t, ts, repo, d, data)
			assertOCIError(t, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			expectNoUploadDir(t, ts, id)
		}},
		{"chunked upload in three PATCHes with Content-Range", func(t *testing.T, ts *testServer) {
			repo := newRepo("chunked")
			path, _ := ts.startUpload(t, repo)
			data := randomBytes(3000)
			for _, c := range [][2]int{{0, 1000}, {1000, 1999}, {1999, 3000}} {
				resp := ts.patchChunk(t, path, c[0], data[c[0]:c[1]])
				expectUploadState(t, ts, resp, http.StatusAccepted, path, fmt.Sprintf("0-%d", c[1]-1))
				expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, fmt.Sprintf("0-%d", c[1]-1))
			}
			d := sha256Digest(data)
			expectStatus(t, ts.do(t, http.MethodPut, path+"?digest="+d, nil, nil), http.StatusCreated)
			expectBlob(t, ts, repo, d, data)
		}},
		{"streamed PATCHes without Content-Range", func(t *testing.T, ts *testServer) {
			repo := newRepo("streamed")
			path, _ := ts.startUpload(t, repo)
			data := randomBytes(5000)
			expectUploadState(t, ts, ts.do(t, http.MethodPatch, path, hdr(nil, "Content-Type", octet), data[:1234]), http.StatusAccepted, path, "0-1233")
			// No length either: chunked transfer encoding.
			resp := ts.doReader(t, http.MethodPatch, path, hdr(nil, "Content-Type", octet), io.MultiReader(bytes.NewReader(data[1234:])))
			expectUploadState(t, ts, resp, http.StatusAccepted, path, "0-4999")
			d := sha256Digest(data)
			expectStatus(t, ts.do(t, http.MethodPut, path+"?digest="+d, nil, nil), http.StatusCreated)
			expectBlob(t, ts, repo, d, data)
		}},
		{"upload status and cancel", func(t *testing.T, ts *testServer) {
			repo := newRepo("cancel")
			path, id := ts.startUpload(t, repo)
			expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, "0-0")
			data := randomBytes(100)
			expectStatus(t, ts.patchChunk(t, path, 0, data), http.StatusAccepted)
			expectUploadState(t, ts, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNoContent, path, "0-99")
			expectStatus(t, ts.do(t, http.MethodDelete, path, nil, nil), http.StatusNoContent)
			assertOCIError(t, ts.do(t, http.MethodGet, path, nil, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			assertOCIError(t, ts.patchChunk(t, path, 100, data), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			assertOCIError(t, ts.do(t, http.MethodPut, path+"?digest="+sha256Digest(data), nil, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			assertOCIError(t, ts.do(t, http.MethodDelete, path, nil, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			expectNoUploadDir(t, ts, id)
			expectNoBlob(t, ts, repo, sha256Digest(data))
		}},
		{"blob GET with a Range is 206 with exactly those bytes", func(t *testing.T, ts *testServer) {
			repo := newRepo("range")
			data := []byte("0123456789abcdef")
			d := ts.pushBlob(t, repo, data)
			resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+d, hdr(nil, "Range", "bytes=2-5"), nil)
			expectStatus(t, resp, http.StatusPartialContent)
			if got := string(respBody(t, resp)); got != "2345" {
				t.Errorf("range body %q, want %q", got, "2345")
			}
			if got := resp.Header.Get("Content-Range"); got != "bytes 2-5/16" {
				t.Errorf("Content-Range %q", got)
			}
			if got := resp.Header.Get("Content-Length"); got != "4" {
				t.Errorf("Content-Length %q", got)
			}
		}},
		{"unknown blob is BLOB_UNKNOWN", func(t *testing.T, ts *testServer) {
			repo := newRepo("unknownblob")
			ts.pushBlob(t, repo, randomBytes(4))
			expectNoBlob(t, ts, repo, sha256Digest(randomBytes(4)))
			expectNoBlob(t, ts, repo, sha512Digest(randomBytes(4)))
			assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/blobs/"+sha256Digest(randomBytes(4)), nil, nil), http.StatusNotFound, "BLOB_UNKNOWN")
		}},
		{"blob DELETE unlinks it from one repository only", func(t *testing.T, ts *testServer) {
			a, b := newRepo("delblob"), newRepo("keepblob")
			data := randomBytes(64)
			d := ts.pushBlob(t, a, data)
			ts.pushBlob(t, b, data)
			resp := ts.do(t, http.MethodDelete, "/v2/"+a+"/blobs/"+d, nil, nil)
			expectStatus(t, resp, http.StatusAccepted)
			expectBlobUnknown(t, ts, a, d)
			assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+a+"/blobs/"+d, nil, nil), http.StatusNotFound, "BLOB_UNKNOWN")
			expectBlob(t, ts, b, d, data)
		}},
		{"sha512 blobs upload and fetch", func(t *testing.T, ts *testServer) {
			repo := newRepo("sha512")
			// Monolithic: the digest is announced up front.
			data := randomBytes(1500)
			d := sha512Digest(data)
			expectStatus(t, ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d, hdr(nil, "Content-Type", octet), data), http.StatusCreated)
			expectBlob(t, ts, repo, d, data)
			expectNoBlob(t, ts, repo, sha256Digest(data))
			// Chunked: the algorithm is only known when the upload completes.
			path, _ := ts.startUpload(t, repo)
			data2 := randomBytes(2500)
			expectStatus(t, ts.patchChunk(t, path, 0, data2[:1000]), http.StatusAccepted)
			expectStatus(t, ts.patchChunk(t, path, 1000, data2[1000:2000]), http.StatusAccepted)
			d2 := sha512Digest(data2)
			resp := ts.do(t, http.MethodPut, path+"?digest="+d2, hdr(nil, "Content-Type", octet, "Content-Range", "2000-2499"), data2[2000:])
			expectStatus(t, resp, http.StatusCreated)
			if got := resp.Header.Get("Docker-Content-Digest"); got != d2 {
				t.Errorf("Docker-Content-Digest %q, want %q", got, d2)
			}
			expectBlob(t, ts, repo, d2, data2)
			if _, err := os.Stat(ts.blobPath(d2)); err != nil {
				t.Errorf("sha512 blob file: %v", err)
			}
		}},
		{"cross-repository mount from a repository the caller can pull is 201", func(t *testing.T, ts *testServer) {
			from, to := newRepo("mountsrc"), newRepo("mountdst")
			data := randomBytes(300)
			d := ts.pushBlob(t, from, data)
			resp := ts.do(t, http.MethodPost, "/v2/"+to+"/blobs/uploads/?mount="+d+"&from="+from, nil, nil)
			expectStatus(t, resp, http.StatusCreated)
			if got := resp.Header.Get("Location"); got != ts.URL+"/v2/"+to+"/blobs/"+d {
				t.Errorf("mount Location %q", got)
			}
			if got := resp.Header.Get("Docker-Content-Digest"); got != d {
				t.Errorf("mount Docker-Content-Digest %q", got)
			}
			expectBlob(t, ts, to, d, data)
		}},
		{"mount from a repository without the blob is 202 with an upload session", func(t *testing.T, ts *testServer) {
			from, to := newRepo("emptysrc"), newRepo("mountfallback")
			ts.pushBlob(t, from, randomBytes(10))
			data := randomBytes(200)
			d := sha256Digest(data)
			// The source holding no such blob is tried last; its session is completed.
			for _, src := range []string{"library/never-pushed-" + uniqueSuffix(), "nosuchproject/x", "NOT/valid", from} {
				resp := ts.do(t, http.MethodPost, "/v2/"+to+"/blobs/uploads/?mount="+d+"&from="+src, nil, nil)
				expectStatus(t, resp, http.StatusAccepted)
				loc := resp.Header.Get("Location")
				prefix := ts.URL + "/v2/" + to + "/blobs/uploads/"
				if !strings.HasPrefix(loc, prefix) || len(loc) == len(prefix) {
					t.Fatalf("mount from %s: Location %q, want an upload session under %s", src, loc, prefix)
				}
				expectNoBlob(t, ts, to, d)
				path := strings.TrimPrefix(loc, ts.URL)
				if src != from {
					expectStatus(t, ts.do(t, http.MethodDelete, path, nil, nil), http.StatusNoContent)
					continue
				}
				expectStatus(t, ts.do(t, http.MethodPut, path+"?digest="+d, hdr(nil, "Content-Type", octet), data), http.StatusCreated)
				expectBlob(t, ts, to, d, data)
				expectBlobUnknown(t, ts, from, d)
			}
		}},
	})
}

func TestV2Manifests(t *testing.T) {
	var cases []v2Case
	for _, mt := range []string{mtOCIManifest, mtOCIIndex, mtDockerManifest, mtDockerList} {
		short := mt[strings.LastIndex(mt, ".")+1:]
		if strings.Contains(mt, "docker") {
			short = "docker " + short
		}
		cases = append(cases, v2Case{"lifecycle by tag and digest of " + short, func(t *testing.T, ts *testServer) {
			testManifestLifecycle(t, ts, mt)
		}})
	}
	cases = append(cases,
		v2Case{"subject, OCI-Subject and the referrers API", testReferrers},
		v2Case{"a manifest an index references cannot be deleted before the index", func(t *testing.T, ts *testServer) {
			repo := newRepo("referenced")
			a := ts.pushChild(t, repo, mtOCIManifest, "amd64")
			b := ts.pushChild(t, repo, mtOCIManifest, "arm64")
			idx := mustJSON(t, tIndex(mtOCIIndex, a, b))
			id := ts.pushManifest(t, repo, "multi", mtOCIIndex, idx)
			assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+a.Digest, nil, nil), http.StatusPreconditionFailed, "PRECONDITION")
			// Untagging the index does not delete it.
			expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/multi", nil, nil), http.StatusAccepted)
			assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+b.Digest, nil, nil), http.StatusPreconditionFailed, "PRECONDITION")
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+a.Digest, nil, nil), http.StatusOK)
			expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+id, nil, nil), http.StatusAccepted)
			expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+a.Digest, nil, nil), http.StatusAccepted)
			expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+b.Digest, nil, nil), http.StatusAccepted)
			expectNoManifest(t, ts, repo, a.Digest)
			expectNoManifest(t, ts, repo, id)
		}},
		v2Case{"tag list pagination with n, last and Link", testTagPagination},
		v2Case{"every /v2/ response carries Docker-Distribution-API-Version", func(t *testing.T, ts *testServer) {
			// do() checks the header on every /v2 response; these are the odd ones.
			repo := newRepo("apiversion")
			for _, r := range []struct {
				method, path string
				h            http.Header
				status       int
			}{
				{http.MethodGet, "/v2/", nil, http.StatusOK},
				{http.MethodGet, "/v2", nil, http.StatusOK},
				{http.MethodHead, "/v2/", nil, http.StatusOK},
				{http.MethodGet, "/v2/", anonymous(), http.StatusUnauthorized},
				{http.MethodGet, "/v2/", basicAuth(adminUser, "wrong"), http.StatusUnauthorized},
				{http.MethodGet, "/v2/", bearer("not.a.token"), http.StatusUnauthorized},
				{http.MethodPost, "/v2/", nil, http.StatusMethodNotAllowed},
				{http.MethodPost, "/v2/" + repo + "/tags/list", nil, http.StatusMethodNotAllowed},
				{http.MethodPatch, "/v2/" + repo + "/manifests/latest", nil, http.StatusMethodNotAllowed},
				{http.MethodGet, "/v2/" + repo + "/manifests/latest", nil, http.StatusNotFound},
				{http.MethodGet, "/v2/" + repo + "/nothing/here", nil, http.StatusBadRequest},
				{http.MethodGet, "/v2/_catalog", nil, http.StatusOK},
			} {
				resp := ts.do(t, r.method, r.path, r.h, nil)
				if resp.StatusCode != r.status {
					t.Errorf("%s %s: status %d, want %d", r.method, r.path, resp.StatusCode, r.status)
				}
				if r.status >= 400 {
					assertClientError(t, resp)
				}
			}
		}},
	)
	runV2Cases(t, cases)
}

func testManifestLifecycle(t *testing.T, ts *testServer, mediaType string) {
	repo := newRepo("lifecycle")
	var body []byte
	var children []tDescriptor
	switch mediaType {
	case mtOCIIndex, mtDockerList:
		childMT := mtOCIManifest
		if mediaType == mtDockerList {
			childMT = mtDockerManifest
		}
		children = []tDescriptor{ts.pushChild(t, repo, childMT, "amd64"), ts.pushChild(t, repo, childMT, "arm64")}
		body = mustJSON(t, tIndex(mediaType, children...))
	default:
		body = mustJSON(t, ts.imageManifest(t, repo, mediaType))
	}
	d := sha256Digest(body)

	resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/v1", hdr(nil, "Content-Type", mediaType), body)
	expectStatus(t, resp, http.StatusCreated)
	if got := resp.Header.Get("Docker-Content-Digest"); got != d {
		t.Errorf("PUT: Docker-Content-Digest %q, want %q", got, d)
	}
	if got := resp.Header.Get("Location"); got != ts.URL+"/v2/"+repo+"/manifests/"+d {
		t.Errorf("PUT: Location %q", got)
	}
	if got := resp.Header.Get("OCI-Subject"); got != "" {
		t.Errorf("PUT without subject: OCI-Subject %q", got)
	}
	expectManifest(t, ts, repo, "v1", mediaType, d, body)
	expectManifest(t, ts, repo, d, mediaType, d, body)
	// Another repository of the project does not have it.
	other := newRepo("lifecycle-other")
	ts.pushBlob(t, other, randomBytes(4))
	expectNoManifest(t, ts, other, d)
	expectNoManifest(t, ts, other, "v1")

	// PUT by digest is idempotent; a second tag points at the same manifest.
	if got := ts.pushManifest(t, repo, d, mediaType, body); got != d {
		t.Errorf("PUT by digest: %s", got)
	}
	ts.pushManifest(t, repo, "v2", mediaType, body)
	expectManifest(t, ts, repo, "v2", mediaType, d, body)

	// Deleting a tag keeps the manifest and the other tag.
	expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/v1", nil, nil), http.StatusAccepted)
	expectNoManifest(t, ts, repo, "v1")
	assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/v1", nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	expectManifest(t, ts, repo, d, mediaType, d, body)
	expectManifest(t, ts, repo, "v2", mediaType, d, body)
	tags := decodeJSON[tagList](t, ts.do(t, http.MethodGet, "/v2/"+repo+"/tags/list", nil, nil))
	if tags.Name != repo || !slices.Equal(tags.Tags, []string{"v2"}) {
		t.Errorf("tags after deleting v1: %+v", tags)
	}

	// Deleting by digest removes the manifest and its tags.
	expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+d, nil, nil), http.StatusAccepted)
	expectNoManifest(t, ts, repo, d)
	expectNoManifest(t, ts, repo, "v2")
	assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+d, nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	for _, c := range children {
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+c.Digest, nil, nil), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+c.Digest, nil, nil), http.StatusAccepted)
	}
}

type referrersIndex struct {
	SchemaVersion int           `json:"schemaVersion"`
	MediaType     string        `json:"mediaType"`
	Manifests     []tDescriptor `json:"manifests"`
}

func testReferrers(t *testing.T, ts *testServer) {
	repo := newRepo("referrers")
	subjBody, subj := ts.pushImage(t, repo, "v1", mtOCIManifest)
	subject := &tDescriptor{MediaType: mtOCIManifest, Digest: subj, Size: int64(len(subjBody))}
	emptyCfg := []byte("{}")
	emptyDigest := ts.pushBlob(t, repo, emptyCfg)

	artifact := func(artifactType, configType string) ([]byte, int64) {
		payload := randomBytes(30)
		m := tManifest{
			SchemaVersion: 2,
			MediaType:     mtOCIManifest,
			ArtifactType:  artifactType,
			Config:        &tDescriptor{MediaType: configType, Digest: emptyDigest, Size: 2},
			Layers:        []tDescriptor{{MediaType: "application/vnd.example.payload", Digest: ts.pushBlob(t, repo, payload), Size: 30}},
			Subject:       subject,
			Annotations:   map[string]string{"org.example.kind": artifactType + configType},
		}
		b := mustJSON(t, m)
		return b, int64(len(b))
	}
	sbom, sbomSize := artifact("application/vnd.example.sbom", "application/vnd.oci.empty.v1+json")
	sig, sigSize := artifact("application/vnd.example.sig", "application/vnd.oci.empty.v1+json")
	// Without artifactType the config media type is the artifact type.
	cfgTyped, cfgTypedSize := artifact("", "application/vnd.example.config+json")

	want := map[string]tDescriptor{}
	for _, a := range []struct {
		body             []byte
		size             int64
		ref, artifactTyp string
	}{
		{sbom, sbomSize, sha256Digest(sbom), "application/vnd.example.sbom"},
		{sig, sigSize, "sig", "application/vnd.example.sig"},
		{cfgTyped, cfgTypedSize, sha256Digest(cfgTyped), "application/vnd.example.config+json"},
	} {
		resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+a.ref, hdr(nil, "Content-Type", mtOCIManifest), a.body)
		expectStatus(t, resp, http.StatusCreated)
		if got := resp.Header.Get("OCI-Subject"); got != subj {
			t.Errorf("PUT with subject: OCI-Subject %q, want %q", got, subj)
		}
		d := sha256Digest(a.body)
		want[d] = tDescriptor{MediaType: mtOCIManifest, Digest: d, Size: a.size, ArtifactType: a.artifactTyp}
	}

	get := func(query string) (*http.Response, referrersIndex) {
		resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/referrers/"+subj+query, nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if ct := resp.Header.Get("Content-Type"); ct != mtOCIIndex {
			t.Errorf("referrers%s: Content-Type %q, want %q", query, ct, mtOCIIndex)
		}
		idx := decodeJSON[referrersIndex](t, resp)
		if idx.SchemaVersion != 2 || idx.MediaType != mtOCIIndex || idx.Manifests == nil {
			t.Errorf("referrers%s: not an image index: %s", query, respBody(t, resp))
		}
		return resp, idx
	}
	resp, idx := get("")
	if got := resp.Header.Get("OCI-Filters-Applied"); got != "" {
		t.Errorf("unfiltered referrers: OCI-Filters-Applied %q", got)
	}
	if len(idx.Manifests) != len(want) {
		t.Errorf("referrers: %d descriptors, want %d: %s", len(idx.Manifests), len(want), respBody(t, resp))
	}
	for _, m := range idx.Manifests {
		w, ok := want[m.Digest]
		if !ok {
			t.Errorf("referrers: unexpected %s", m.Digest)
			continue
		}
		if m.MediaType != w.MediaType || m.Size != w.Size || m.ArtifactType != w.ArtifactType {
			t.Errorf("referrers: descriptor %+v, want %+v", m, w)
		}
		if m.Annotations["org.example.kind"] == "" {
			t.Errorf("referrers: descriptor %s lacks the manifest's annotations", m.Digest)
		}
	}

	resp, idx = get("?artifactType=application/vnd.example.sig")
	if got := resp.Header.Get("OCI-Filters-Applied"); got != "artifactType" {
		t.Errorf("filtered referrers: OCI-Filters-Applied %q, want artifactType", got)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sha256Digest(sig) {
		t.Errorf("filtered referrers: %s", respBody(t, resp))
	}
	resp, idx = get("?artifactType=application/vnd.example.none")
	if got := resp.Header.Get("OCI-Filters-Applied"); got != "artifactType" {
		t.Errorf("filtered referrers: OCI-Filters-Applied %q, want artifactType", got)
	}
	if len(idx.Manifests) != 0 {
		t.Errorf("referrers of an unused artifact type: %s", respBody(t, resp))
	}

	// An unknown subject has no referrers: an empty index, not an error.
	unknown := sha256Digest(randomBytes(8))
	resp = ts.do(t, http.MethodGet, "/v2/"+repo+"/referrers/"+unknown, nil, nil)
	expectStatus(t, resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != mtOCIIndex {
		t.Errorf("referrers of unknown: Content-Type %q", ct)
	}
	if idx := decodeJSON[referrersIndex](t, resp); idx.SchemaVersion != 2 || idx.Manifests == nil || len(idx.Manifests) != 0 {
		t.Errorf("referrers of unknown digest: %s", respBody(t, resp))
	}

	// Deleting a referrer removes it from the list.
	expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+sha256Digest(sbom), nil, nil), http.StatusAccepted)
	if _, idx := get(""); len(idx.Manifests) != 2 {
		t.Errorf("referrers after deleting one: %d", len(idx.Manifests))
	}
}

func testTagPagination(t *testing.T, ts *testServer) {
	repo := newRepo("tags")
	body, _ := ts.pushImage(t, repo, "latest", mtOCIManifest)
	all := []string{"1.0", "Z", "_x", "a", "a-b", "a.b", "a_b", "b", "latest", "v2"}
	for _, tag := range all {
		if tag != "latest" {
			ts.pushManifest(t, repo, tag, mtOCIManifest, body)
		}
	}
	list := func(query string) (*http.Response, tagList) {
		resp := ts.do(t, http.MethodGet, "/v2/"+repo+"/tags/list"+query, nil, nil)
		expectStatus(t, resp, http.StatusOK)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("tags: Content-Type %q", ct)
		}
		tl := decodeJSON[tagList](t, resp)
		if tl.Name != repo || tl.Tags == nil {
			t.Errorf("tags%s: %s", query, respBody(t, resp))
		}
		return resp, tl
	}
	resp, tl := list("")
	if !slices.Equal(tl.Tags, all) {
		t.Errorf("tags: %q, want %q (byte order)", tl.Tags, all)
	}
	if l := resp.Header.Get("Link"); l != "" {
		t.Errorf("complete tag list with a Link %q", l)
	}

	// Pages of 3, following Link.
	var got []string
	next := "/v2/" + repo + "/tags/list?n=3"
	for pages := 0; next != ""; pages++ {
		if pages > len(all) {
			t.Fatal("Link never ends")
		}
		resp := ts.do(t, http.MethodGet, next, nil, nil)
		expectStatus(t, resp, http.StatusOK)
		page := decodeJSON[tagList](t, resp)
		if len(page.Tags) > 3 {
			t.Errorf("page %d has %d tags", pages, len(page.Tags))
		}
		got = append(got, page.Tags...)
		next = nextLinkTarget(t, resp)
		if next != "" && len(got) == len(all) {
			t.Errorf("Link %q after the last tag", next)
			break
		}
	}
	if !slices.Equal(got, all) {
		t.Errorf("paginated tags: %q, want %q", got, all)
	}

	resp, tl = list("?n=2&last=a")
	if !slices.Equal(tl.Tags, []string{"a-b", "a.b"}) {
		t.Errorf("n=2&last=a: %q", tl.Tags)
	}
	if want := "/v2/" + repo + "/tags/list?last=a.b&n=2"; nextLinkTarget(t, resp) != want {
		t.Errorf("n=2&last=a: Link %q, want <%s>", resp.Header.Get("Link"), want)
	}
	resp, tl = list(fmt.Sprintf("?n=%d", len(all)))
	if !slices.Equal(tl.Tags, all) || resp.Header.Get("Link") != "" {
		t.Errorf("n=all: %q, Link %q", tl.Tags, resp.Header.Get("Link"))
	}
	resp, tl = list("?n=0")
	if len(tl.Tags) != 0 || resp.Header.Get("Link") != "" {
		t.Errorf("n=0: %q, Link %q", tl.Tags, resp.Header.Get("Link"))
	}
	resp, tl = list("?last=v2")
	if len(tl.Tags) != 0 || resp.Header.Get("Link") != "" {
		t.Errorf("last=v2: %q, Link %q", tl.Tags, resp.Header.Get("Link"))
	}
	assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+newRepo("never")+"/tags/list", nil, nil), http.StatusNotFound, "NAME_UNKNOWN")
}

// TestV2Auth runs the authentication and authorization behaviour in order on one server per
// database: the catalog checks at the end know every repository the server holds.
func TestV2Auth(t *testing.T) {
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		realm := fmt.Sprintf(`Bearer realm="%s/service/token",service="harbor-registry"`, ts.URL)
		pubBody, _ := ts.pushImage(t, "library/pub", "latest", mtOCIManifest)
		repos := []string{"library/pub"} // every repository on this server

		challenge := func(t *testing.T, resp *http.Response, want string) {
			t.Helper()
			assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("%s %s: WWW-Authenticate\n got %s\nwant %s", resp.Request.Method, resp.Request.URL.Opaque, got, want)
			}
		}

		t.Run("anonymous GET /v2/ is challenged", func(t *testing.T) {
			challenge(t, ts.do(t, http.MethodGet, "/v2/", anonymous(), nil), realm)
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", nil, nil), http.StatusOK)
		})

		t.Run("anonymous pull of a public repository is challenged for pull", func(t *testing.T) {
			challenge(t, ts.do(t, http.MethodGet, "/v2/library/pub/manifests/latest", anonymous(), nil),
				realm+`,scope="repository:library/pub:pull"`)
			challenge(t, ts.do(t, http.MethodGet, "/v2/library/pub/tags/list", anonymous(), nil),
				realm+`,scope="repository:library/pub:pull"`)
			challenge(t, ts.do(t, http.MethodPost, "/v2/library/pub/blobs/uploads/", anonymous(), nil),
				realm+`,scope="repository:library/pub:pull,push"`)
		})

		t.Run("token flow allows public pull", func(t *testing.T) {
			for name, auth := range map[string]http.Header{"anonymous": anonymous(), "admin": basicAuth(adminUser, adminPassword)} {
				tok := ts.token(t, auth, "repository:library/pub:pull")
				resp := ts.do(t, http.MethodGet, "/v2/library/pub/manifests/latest", bearer(tok), nil)
				expectStatus(t, resp, http.StatusOK)
				if !bytes.Equal(respBody(t, resp), pubBody) {
					t.Errorf("%s token: manifest body differs", name)
				}
				expectStatus(t, ts.do(t, http.MethodGet, "/v2/library/pub/tags/list", bearer(tok), nil), http.StatusOK)
				// A token for pub says nothing about other repositories.
				resp = ts.do(t, http.MethodGet, "/v2/library/other/manifests/latest", bearer(tok), nil)
				if name == "anonymous" {
					assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
				}
			}
			// An admin token works on /v2/ too.
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/", bearer(ts.token(t, nil, "repository:library/pub:pull")), nil), http.StatusOK)
		})

		t.Run("an anonymous token cannot push and nothing is stored", func(t *testing.T) {
			repo := "library/anonpush"
			tok := ts.token(t, anonymous(), "repository:"+repo+":pull,push")
			data := randomBytes(100)
			d := sha256Digest(data)
			refused := func(resp *http.Response) {
				t.Helper()
				switch resp.StatusCode {
				case http.StatusUnauthorized:
					assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
				case http.StatusForbidden:
					assertOCIError(t, resp, http.StatusForbidden, "DENIED")
				default:
					t.Errorf("%s %s with an anonymous token: status %d, want 401 or 403", resp.Request.Method, resp.Request.URL.Opaque, resp.StatusCode)
				}
			}
			refused(ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d, hdr(bearer(tok), "Content-Type", octet), data))
			refused(ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", bearer(tok), nil))
			manifest := mustJSON(t, tManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
				Config: &tDescriptor{MediaType: mtOCIConfig, Digest: d, Size: 100}})
			refused(ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/latest", hdr(bearer(tok), "Content-Type", mtOCIManifest), manifest))
			refused(ts.do(t, http.MethodDelete, "/v2/library/pub/manifests/latest", bearer(ts.token(t, anonymous(), "repository:library/pub:pull,push,delete")), nil))
			expectNoBlob(t, ts, repo, d)
			expectNoManifest(t, ts, repo, "latest")
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/library/pub/manifests/latest", nil, nil), http.StatusOK)
			ts.assertNoUploadHolds(t, data)
		})

		t.Run("a private project is not pullable anonymously and its existence does not leak", func(t *testing.T) {
			resp := ts.do(t, http.MethodPost, "/api/v2.0/projects", hdr(nil, "Content-Type", "application/json"),
				[]byte(`{"project_name":"priv","metadata":{"public":"false"}}`))
			expectStatus(t, resp, http.StatusCreated)
			privBody, _ := ts.pushImage(t, "priv/secret", "latest", mtOCIManifest)
			repos = append(repos, "priv/secret")
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/priv/secret/manifests/latest", nil, nil), http.StatusOK)

			// Without credentials a private project and a missing one look the same, for every
			// kind of request: the challenge asks for the scope the request needs either way.
			for _, r := range []struct{ method, path, actions string }{
				{http.MethodGet, "/manifests/latest", "pull"},
				{http.MethodHead, "/manifests/latest", "pull"},
				{http.MethodGet, "/tags/list", "pull"},
				{http.MethodGet, "/blobs/" + sha256Digest(privBody), "pull"},
				{http.MethodPost, "/blobs/uploads/", "pull,push"},
				{http.MethodPut, "/manifests/latest", "pull,push"},
				{http.MethodDelete, "/manifests/latest", "delete"},
			} {
				priv := ts.do(t, r.method, "/v2/priv/secret"+r.path, anonymous(), nil)
				none := ts.do(t, r.method, "/v2/nosuch/secret"+r.path, anonymous(), nil)
				challenge(t, priv, realm+`,scope="repository:priv/secret:`+r.actions+`"`)
				challenge(t, none, realm+`,scope="repository:nosuch/secret:`+r.actions+`"`)
				if !bytes.Equal(respBody(t, priv), respBody(t, none)) {
					t.Errorf("anonymous %s %s: private project answers %s, missing project %s", r.method, r.path, respBody(t, priv), respBody(t, none))
				}
			}
			// Nor does a method the route does not support.
			for _, r := range []struct{ method, path string }{
				{http.MethodPatch, "/manifests/latest"},
				{http.MethodPost, "/tags/list"},
			} {
				priv := ts.do(t, r.method, "/v2/priv/secret"+r.path, anonymous(), nil)
				none := ts.do(t, r.method, "/v2/nosuch/secret"+r.path, anonymous(), nil)
				assertClientError(t, priv)
				if priv.StatusCode != none.StatusCode || !bytes.Equal(respBody(t, priv), respBody(t, none)) {
					t.Errorf("anonymous %s %s: private project answers %d %s, missing project %d %s: the difference reveals that priv exists",
						r.method, r.path, priv.StatusCode, respBody(t, priv), none.StatusCode, respBody(t, none))
				}
			}
			// Nor with the anonymous token a client fetches next.
			privTok := ts.token(t, anonymous(), "repository:priv/secret:pull")
			noneTok := ts.token(t, anonymous(), "repository:nosuch/secret:pull")
			for _, path := range []string{"/manifests/latest", "/tags/list"} {
				priv := ts.do(t, http.MethodGet, "/v2/priv/secret"+path, bearer(privTok), nil)
				none := ts.do(t, http.MethodGet, "/v2/nosuch/secret"+path, bearer(noneTok), nil)
				if priv.StatusCode == http.StatusOK {
					t.Fatalf("anonymous token pulled from a private project")
				}
				assertOCIError(t, priv, http.StatusUnauthorized, "UNAUTHORIZED")
				if priv.StatusCode != none.StatusCode || !bytes.Equal(respBody(t, priv), respBody(t, none)) {
					t.Errorf("anonymous token, GET %s: private project answers %d %s, missing project %d %s: the difference reveals that priv exists",
						path, priv.StatusCode, respBody(t, priv), none.StatusCode, respBody(t, none))
				}
			}
			// The catalog shows an anonymous token nothing of priv.
			catTok := ts.token(t, anonymous(), "registry:catalog:*")
			resp = ts.do(t, http.MethodGet, "/v2/_catalog", bearer(catTok), nil)
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
			case http.StatusOK:
				var cat struct{ Repositories []string }
				json.Unmarshal(respBody(t, resp), &cat)
				for _, r := range cat.Repositories {
					if strings.HasPrefix(r, "priv/") {
						t.Errorf("anonymous catalog lists %s", r)
					}
				}
			default:
				t.Errorf("anonymous catalog: status %d", resp.StatusCode)
			}
			challenge(t, ts.do(t, http.MethodGet, "/v2/_catalog", anonymous(), nil), realm+`,scope="registry:catalog:*"`)
			// The administrator's token pulls it.
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/priv/secret/manifests/latest", bearer(ts.token(t, nil, "repository:priv/secret:pull")), nil), http.StatusOK)
		})

		t.Run("wrong Basic credentials are 401, never anonymous access", func(t *testing.T) {
			// Each wrong password costs a full argon2id verification, so the checks are few.
			wrong := basicAuth(adminUser, "wrong")
			malformed := http.Header{"Authorization": {"Basic !!!"}}
			for _, auth := range []http.Header{wrong, malformed} {
				challenge(t, ts.do(t, http.MethodGet, "/v2/", auth, nil), realm)
				challenge(t, ts.do(t, http.MethodGet, "/v2/library/pub/manifests/latest", auth, nil), realm)
				resp := ts.do(t, http.MethodGet, "/service/token?service=harbor-registry&scope=repository:library/pub:pull", auth, nil)
				expectStatus(t, resp, http.StatusUnauthorized)
			}
			challenge(t, ts.do(t, http.MethodGet, "/v2/library/pub/manifests/latest", basicAuth("nobody", adminPassword), nil), realm)
		})

		t.Run("a token for one repository does not allow push to another", func(t *testing.T) {
			a, b := "library/scopea", "library/scopeb"
			tok := ts.token(t, nil, "repository:"+a+":pull,push")
			data := randomBytes(50)
			d := sha256Digest(data)
			// A blob alone makes no repository: a is not in the catalog.
			expectStatus(t, ts.do(t, http.MethodPost, "/v2/"+a+"/blobs/uploads/?digest="+d, hdr(bearer(tok), "Content-Type", octet), data), http.StatusCreated)
			for _, r := range []struct{ method, path string }{
				{http.MethodPost, "/v2/" + b + "/blobs/uploads/?digest=" + d},
				{http.MethodPost, "/v2/" + b + "/blobs/uploads/?mount=" + d + "&from=" + a},
				{http.MethodPut, "/v2/" + b + "/manifests/latest"},
			} {
				challenge(t, ts.do(t, r.method, r.path, hdr(bearer(tok), "Content-Type", octet), data),
					realm+`,scope="repository:`+b+`:pull,push",error="insufficient_scope"`)
			}
			expectBlobUnknown(t, ts, b, d)
		})

		t.Run("the catalog lists every repository for the administrator, in pages", func(t *testing.T) {
			ts.pushImage(t, "library/listed", "v1", mtOCIManifest)
			repos = append(repos, "library/listed")
			slices.Sort(repos)
			list := func(auth http.Header, query string) (*http.Response, []string) {
				resp := ts.do(t, http.MethodGet, "/v2/_catalog"+query, auth, nil)
				expectStatus(t, resp, http.StatusOK)
				var cat struct {
					Repositories []string `json:"repositories"`
				}
				if err := json.Unmarshal(respBody(t, resp), &cat); err != nil || cat.Repositories == nil {
					t.Fatalf("catalog%s: %s (%v)", query, respBody(t, resp), err)
				}
				return resp, cat.Repositories
			}
			for name, auth := range map[string]http.Header{"basic": nil, "token": bearer(ts.token(t, nil, "registry:catalog:*"))} {
				resp, got := list(auth, "")
				if !slices.Equal(got, repos) || resp.Header.Get("Link") != "" {
					t.Errorf("%s catalog: %q (Link %q), want %q", name, got, resp.Header.Get("Link"), repos)
				}
			}
			var got []string
			next := "/v2/_catalog?n=1"
			for pages := 0; next != ""; pages++ {
				if pages > len(repos) {
					t.Fatal("catalog Link never ends")
				}
				resp := ts.do(t, http.MethodGet, next, nil, nil)
				expectStatus(t, resp, http.StatusOK)
				var cat struct{ Repositories []string }
				json.Unmarshal(respBody(t, resp), &cat)
				if len(cat.Repositories) != 1 {
					t.Errorf("catalog page %d: %q", pages, cat.Repositories)
				}
				got = append(got, cat.Repositories...)
				next = nextLinkTarget(t, resp)
			}
			if !slices.Equal(got, repos) {
				t.Errorf("paginated catalog: %q, want %q", got, repos)
			}
			resp, page := list(nil, "?n=1&last="+repos[0])
			if !slices.Equal(page, repos[1:2]) {
				t.Errorf("catalog n=1 after %s: %q", repos[0], page)
			}
			if want := "/v2/_catalog?last=" + strings.ReplaceAll(repos[1], "/", "%2F") + "&n=1"; nextLinkTarget(t, resp) != want {
				t.Errorf("catalog Link %q, want <%s>", resp.Header.Get("Link"), want)
			}
			if resp, page := list(nil, "?n=0"); len(page) != 0 || resp.Header.Get("Link") != "" {
				t.Errorf("catalog n=0: %q, Link %q", page, resp.Header.Get("Link"))
			}
		})
	})
}
