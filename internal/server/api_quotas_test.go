package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/berthreg/berth/internal/meta"
)

// Storage quotas: the /quotas API, usage accounting (each blob once per project, maintained by
// push and delete) and enforcement over /v2/ at blob upload and manifest PUT, on both databases.

// tQuota is Harbor's Quota.
type tQuota struct {
	ID           int64            `json:"id"`
	Ref          map[string]any   `json:"ref"`
	Hard         map[string]int64 `json:"hard"`
	Used         map[string]int64 `json:"used"`
	CreationTime string           `json:"creation_time"`
	UpdateTime   string           `json:"update_time"`
}

// quota returns the quota of a project through the API.
func (a projAPI) quota(t *testing.T, projectID int64) tQuota {
	t.Helper()
	var qs []tQuota
	a.get(t, fmt.Sprintf("/api/v2.0/quotas?reference=project&reference_id=%d", projectID), nil, &qs)
	if len(qs) != 1 {
		t.Fatalf("quotas of project %d: %+v", projectID, qs)
	}
	return qs[0]
}

// usage returns the project's usage as the API reports it, after checking that it matches a
// recount from the project's content: the maintained figure never drifts.
func (a projAPI) usage(t *testing.T, projectID int64) int64 {
	t.Helper()
	used := a.quota(t, projectID).Used["storage"]
	recount, err := a.ts.srv.db.RecountProjectUsage(context.Background(), projectID)
	if err != nil {
		t.Fatal(err)
	}
	if used != recount {
		t.Fatalf("project %d: maintained usage %d, recount from content %d", projectID, used, recount)
	}
	return used
}

// setLimit sets a project's storage limit through PUT /quotas/{id}.
func (a projAPI) setLimit(t *testing.T, projectID, hard int64) {
	t.Helper()
	q := a.quota(t, projectID)
	resp := a.ts.do(t, http.MethodPut, fmt.Sprintf("/api/v2.0/quotas/%d", q.ID), nil, []byte(fmt.Sprintf(`{"hard":{"storage":%d}}`, hard)))
	expectStatus(t, resp, http.StatusOK)
}

// tImage is an image whose blobs are uploaded but whose manifest is not pushed yet.
type tImage struct {
	body   []byte
	digest string
	size   int64 // config + layers + manifest: what the image stores
}

// image uploads a fresh config and the given layers to repo and builds the manifest.
func (a projAPI) image(t *testing.T, repo string, layers ...[]byte) tImage {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"id":"` + uniqueSuffix() + `"}`)
	m := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &tDescriptor{MediaType: mtOCIConfig, Digest: a.ts.pushBlob(t, repo, cfg), Size: int64(len(cfg))}}
	size := int64(len(cfg))
	for _, l := range layers {
		m.Layers = append(m.Layers, tDescriptor{MediaType: mtOCILayer, Digest: a.ts.pushBlob(t, repo, l), Size: int64(len(l))})
		size += int64(len(l))
	}
	body := mustJSON(t, m)
	return tImage{body: body, digest: sha256Digest(body), size: size + int64(len(body))}
}

func (a projAPI) putManifest(t *testing.T, repo, ref string, img tImage) *http.Response {
	t.Helper()
	return a.ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, hdr(nil, "Content-Type", mtOCIManifest), img.body)
}

func TestQuotaMessageFormatsSizesAsHarbor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    int64
		want string
	}{
		{0, "0 B"}, {100, "100 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {1 << 20, "1.0 MiB"},
		{535506944, "510.7 MiB"}, {10 << 30, "10.0 GiB"}, {3 << 39, "1.5 TiB"},
	} {
		if got := meta.FormatStorage(c.v); got != c.want {
			t.Errorf("FormatStorage(%d) = %q, want %q", c.v, got, c.want)
		}
	}
	e := &meta.QuotaExceededError{Adding: 535506944, Used: 10 << 30, Hard: 10 << 30}
	want := "adding 510.7 MiB of storage resource, which when updated to current usage of 10.0 GiB will exceed the configured upper limit of 10.0 GiB."
	if e.Error() != want {
		t.Errorf("message %q, want Harbor's %q", e.Error(), want)
	}
}

func TestQuotaAPI(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		_, alice := a.user(t, "alice")
		small := a.create(t, map[string]any{"project_name": "small", "storage_limit": 1 << 20})
		big := a.create(t, map[string]any{"project_name": "big", "storage_limit": 1 << 30})

		q := a.quota(t, small)
		if q.ID == 0 || q.Hard["storage"] != 1<<20 || q.Used["storage"] != 0 || q.CreationTime == "" || q.UpdateTime == "" {
			t.Errorf("quota of small: %+v", q)
		}
		if fmt.Sprint(q.Ref["id"]) != strconv.FormatInt(small, 10) || q.Ref["name"] != "small" || q.Ref["owner_name"] != "admin" {
			t.Errorf("quota ref: %v", q.Ref)
		}
		var one tQuota
		a.get(t, fmt.Sprintf("/api/v2.0/quotas/%d", q.ID), nil, &one)
		if one.ID != q.ID || one.Hard["storage"] != 1<<20 {
			t.Errorf("GET /quotas/%d = %+v", q.ID, one)
		}

		var all []tQuota
		resp := a.get(t, "/api/v2.0/quotas?sort=-hard.storage", nil, &all)
		if resp.Header.Get("X-Total-Count") != "3" || len(all) != 3 || all[0].Ref["name"] != "big" || all[1].Ref["name"] != "small" || all[2].Ref["name"] != "library" {
			t.Errorf("quotas sorted by -hard.storage: %+v (total %s)", all, resp.Header.Get("X-Total-Count"))
		}
		resp = a.get(t, "/api/v2.0/quotas?page=2&page_size=2", nil, &all)
		if len(all) != 1 || resp.Header.Get("Link") == "" {
			t.Errorf("page 2 of 2: %d quotas, Link %q", len(all), resp.Header.Get("Link"))
		}
		for _, none := range []string{"?reference=user", "?reference_id=abc", "?reference=project&reference_id=999999"} {
			a.get(t, "/api/v2.0/quotas"+none, nil, &all)
			if len(all) != 0 {
				t.Errorf("GET /quotas%s = %+v, want none", none, all)
			}
		}

		path := fmt.Sprintf("/api/v2.0/quotas/%d", q.ID)
		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{"hard":{"storage":2048}}`)), http.StatusOK)
		if got := a.quota(t, small).Hard["storage"]; got != 2048 {
			t.Errorf("hard after PUT: %d", got)
		}
		expectStatus(t, ts.do(t, http.MethodPut, path, nil, []byte(`{"hard":{"storage":-1}}`)), http.StatusOK)
		if got := a.quota(t, small).Hard["storage"]; got != -1 {
			t.Errorf("hard after PUT -1: %d", got)
		}

		cases := []struct {
			name, method, path string
			auth               http.Header
			body               string
			status             int
			code               string
		}{
			{"zero", "PUT", path, nil, `{"hard":{"storage":0}}`, 400, "BAD_REQUEST"},
			{"below -1", "PUT", path, nil, `{"hard":{"storage":-2}}`, 400, "BAD_REQUEST"},
			{"unknown resource", "PUT", path, nil, `{"hard":{"storage":10,"count":1}}`, 400, "BAD_REQUEST"},
			{"no hard", "PUT", path, nil, `{}`, 400, "BAD_REQUEST"},
			{"empty hard", "PUT", path, nil, `{"hard":{}}`, 400, "BAD_REQUEST"},
			{"wrong type", "PUT", path, nil, `{"hard":{"storage":"1G"}}`, 400, "BAD_REQUEST"},
			{"unknown field", "PUT", path, nil, `{"hard":{"storage":1},"soft":{}}`, 400, "BAD_REQUEST"},
			{"unknown quota", "PUT", "/api/v2.0/quotas/999999", nil, `{"hard":{"storage":1}}`, 404, "NOT_FOUND"},
			{"bad id", "GET", "/api/v2.0/quotas/abc", nil, ``, 400, "BAD_REQUEST"},
			{"missing quota", "GET", "/api/v2.0/quotas/999999", nil, ``, 404, "NOT_FOUND"},
			{"bad sort", "GET", "/api/v2.0/quotas?sort=colour", nil, ``, 400, "BAD_REQUEST"},
			{"page size over the maximum", "GET", "/api/v2.0/quotas?page_size=500", nil, ``, 400, "BAD_REQUEST"},
			{"user lists", "GET", "/api/v2.0/quotas", alice, ``, 403, "FORBIDDEN"},
			{"user reads", "GET", path, alice, ``, 403, "FORBIDDEN"},
			{"user updates", "PUT", path, alice, `{"hard":{"storage":1}}`, 403, "FORBIDDEN"},
			{"anonymous lists", "GET", "/api/v2.0/quotas", anonymous(), ``, 401, "UNAUTHORIZED"},
			{"anonymous updates", "PUT", path, anonymous(), `{"hard":{"storage":1}}`, 401, "UNAUTHORIZED"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var body []byte
				if c.body != "" {
					body = []byte(c.body)
				}
				expectAPIError(t, ts.do(t, c.method, c.path, c.auth, body), c.status, c.code)
			})
		}
		if got := a.quota(t, small).Hard["storage"]; got != -1 {
			t.Errorf("refused PUTs changed the quota to %d", got)
		}
		_ = big
	})
}

func TestQuotaUsageCountsEachBlobOncePerProject(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		id := a.project(t, "acct", false)
		other := a.project(t, "other", false)
		shared := randomBytes(1000)

		imgA := a.image(t, "acct/one", shared, randomBytes(500))
		expectStatus(t, a.putManifest(t, "acct/one", "v1", imgA), http.StatusCreated)
		if got := a.usage(t, id); got != imgA.size {
			t.Fatalf("usage after the first image: %d, want %d", got, imgA.size)
		}

		// A second repository of the project sharing a layer: the layer counts once.
		imgB := a.image(t, "acct/two", shared)
		expectStatus(t, a.putManifest(t, "acct/two", "v1", imgB), http.StatusCreated)
		want := imgA.size + imgB.size - int64(len(shared))
		if got := a.usage(t, id); got != want {
			t.Fatalf("usage with a shared layer: %d, want %d", got, want)
		}

		// The same image in a third repository, and under a second tag: nothing new.
		var m tManifest
		mustUnmarshal(t, imgA.body, &m)
		for _, d := range append([]tDescriptor{*m.Config}, m.Layers...) {
			resp := ts.do(t, http.MethodPost, "/v2/acct/three/blobs/uploads/?mount="+d.Digest+"&from=acct/one", nil, nil)
			expectStatus(t, resp, http.StatusCreated)
		}
		expectStatus(t, a.putManifest(t, "acct/three", "same", imgA), http.StatusCreated)
		expectStatus(t, a.putManifest(t, "acct/one", "v1-again", imgA), http.StatusCreated)
		if got := a.usage(t, id); got != want {
			t.Fatalf("usage after re-pushing an image: %d, want %d", got, want)
		}

		// An index adds only its own bytes.
		idx := mustJSON(t, tIndex(mtOCIIndex, tDescriptor{MediaType: mtOCIManifest, Digest: imgB.digest, Size: int64(len(imgB.body))}))
		ts.pushManifest(t, "acct/two", "multi", mtOCIIndex, idx)
		want += int64(len(idx))
		if got := a.usage(t, id); got != want {
			t.Fatalf("usage with an index: %d, want %d", got, want)
		}

		// Another project stores its own copy.
		imgO := a.image(t, "other/app", shared)
		expectStatus(t, a.putManifest(t, "other/app", "v1", imgO), http.StatusCreated)
		if got := a.usage(t, other); got != imgO.size {
			t.Fatalf("usage of the other project: %d, want %d", got, imgO.size)
		}

		// Deleting one of two copies of an artifact frees nothing; deleting the last frees what
		// no other manifest of the project references.
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/acct/one/manifests/"+imgA.digest, nil, nil), http.StatusAccepted)
		if got := a.usage(t, id); got != want {
			t.Fatalf("usage after deleting one copy: %d, want %d", got, want)
		}
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/acct/three/manifests/"+imgA.digest, nil, nil), http.StatusAccepted)
		want -= imgA.size - int64(len(shared))
		if got := a.usage(t, id); got != want {
			t.Fatalf("usage after deleting the last copy: %d, want %d", got, want)
		}
		// Deleting a tag leaves the artifact and its usage.
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/acct/two/manifests/v1", nil, nil), http.StatusAccepted)
		if got := a.usage(t, id); got != want {
			t.Fatalf("usage after deleting a tag: %d, want %d", got, want)
		}
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/acct/two/manifests/"+sha256Digest(idx), nil, nil), http.StatusAccepted)
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/acct/two/manifests/"+imgB.digest, nil, nil), http.StatusAccepted)
		if got := a.usage(t, id); got != 0 {
			t.Fatalf("usage after deleting everything: %d, want 0", got)
		}
		if got := a.usage(t, other); got != imgO.size {
			t.Fatalf("deletions in acct changed other's usage to %d", got)
		}
	})
}

func TestQuotaRefusesBlobUploadOverLimit(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		id := a.create(t, map[string]any{"project_name": "tight", "storage_limit": 1024})
		want := "adding 2.0 KiB of storage resource, which when updated to current usage of 0 B will exceed the configured upper limit of 1.0 KiB."

		// Monolithic upload.
		big := randomBytes(2048)
		resp := ts.do(t, http.MethodPost, "/v2/tight/app/blobs/uploads/?digest="+sha256Digest(big), hdr(nil, "Content-Type", "application/octet-stream"), big)
		assertOCIError(t, resp, http.StatusForbidden, "DENIED")
		if msg := errorMessage(t, resp); msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}

		// Chunked upload: refused at the closing PUT, and the session and its data are gone.
		chunked := randomBytes(1536)
		resp = ts.do(t, http.MethodPost, "/v2/tight/app/blobs/uploads/", nil, nil)
		expectStatus(t, resp, http.StatusAccepted)
		loc := resp.Header.Get("Location")
		resp = ts.do(t, http.MethodPatch, loc[len(ts.URL):], hdr(nil, "Content-Type", "application/octet-stream"), chunked)
		expectStatus(t, resp, http.StatusAccepted)
		resp = ts.do(t, http.MethodPut, loc[len(ts.URL):]+"?digest="+sha256Digest(chunked), nil, nil)
		assertOCIError(t, resp, http.StatusForbidden, "DENIED")
		if msg := errorMessage(t, resp); msg != "adding 1.5 KiB of storage resource, which when updated to current usage of 0 B will exceed the configured upper limit of 1.0 KiB." {
			t.Errorf("chunked upload message %q", msg)
		}
		assertOCIError(t, ts.do(t, http.MethodGet, loc[len(ts.URL):], nil, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
		for _, content := range [][]byte{big, chunked} {
			assertOCIError(t, ts.do(t, http.MethodHead, "/v2/tight/app/blobs/"+sha256Digest(content), nil, nil), http.StatusNotFound, "BLOB_UNKNOWN")
			ts.assertNoBlobFile(t, sha256Digest(content))
			ts.assertNoUploadHolds(t, content)
		}

		// What fits is accepted; blobs no manifest references are not usage.
		ts.pushBlob(t, "tight/app", randomBytes(1000))
		if got := a.usage(t, id); got != 0 {
			t.Errorf("usage %d after refused uploads and an unreferenced blob, want 0", got)
		}

		// Unlimited again: the same upload goes through.
		a.setLimit(t, id, -1)
		ts.pushBlob(t, "tight/app", big)
	})
}

func TestQuotaRefusesManifestOverLimit(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		id := a.project(t, "mf", false)
		img1 := a.image(t, "mf/app", randomBytes(2000))
		expectStatus(t, a.putManifest(t, "mf/app", "v1", img1), http.StatusCreated)

		// Every blob of the second image fits on its own, the whole image does not.
		layer2 := randomBytes(3000)
		limit := img1.size + int64(len(layer2)) + 10
		a.setLimit(t, id, limit)
		img2 := a.image(t, "mf/app", layer2)
		resp := a.putManifest(t, "mf/app", "v2", img2)
		assertOCIError(t, resp, http.StatusForbidden, "DENIED")
		want := fmt.Sprintf("adding %s of storage resource, which when updated to current usage of %s will exceed the configured upper limit of %s.",
			meta.FormatStorage(img2.size), meta.FormatStorage(img1.size), meta.FormatStorage(limit))
		if msg := errorMessage(t, resp); msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}
		// Nothing of the refused push is stored: no manifest, no tag, no usage.
		assertOCIError(t, ts.do(t, http.MethodGet, "/v2/mf/app/manifests/v2", nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		assertOCIError(t, ts.do(t, http.MethodGet, "/v2/mf/app/manifests/"+img2.digest, nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		var tags struct{ Tags []string }
		mustUnmarshal(t, respBody(t, ts.do(t, http.MethodGet, "/v2/mf/app/tags/list", nil, nil)), &tags)
		if fmt.Sprint(tags.Tags) != "[v1]" {
			t.Errorf("tags after the refused push: %v", tags.Tags)
		}
		if got := a.usage(t, id); got != img1.size {
			t.Errorf("usage after the refused push: %d, want %d", got, img1.size)
		}
		// Pushed by digest: refused alike.
		assertOCIError(t, a.putManifest(t, "mf/app", img2.digest, img2), http.StatusForbidden, "DENIED")

		// Content the project already stores adds nothing: re-tagging is allowed even at the limit.
		a.setLimit(t, id, img1.size)
		expectStatus(t, a.putManifest(t, "mf/app", "v1-copy", img1), http.StatusCreated)

		// With room, the same push succeeds.
		a.setLimit(t, id, img1.size+img2.size)
		expectStatus(t, a.putManifest(t, "mf/app", "v2", img2), http.StatusCreated)
		if got := a.usage(t, id); got != img1.size+img2.size {
			t.Errorf("usage %d, want %d", got, img1.size+img2.size)
		}

		// At the limit even a small new blob is refused; deleting frees room for the next push.
		small := randomBytes(100)
		resp = ts.do(t, http.MethodPost, "/v2/mf/app/blobs/uploads/?digest="+sha256Digest(small), nil, small)
		assertOCIError(t, resp, http.StatusForbidden, "DENIED")
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/mf/app/manifests/"+img2.digest, nil, nil), http.StatusAccepted)
		img3 := a.image(t, "mf/app", small)
		expectStatus(t, a.putManifest(t, "mf/app", "v3", img3), http.StatusCreated)
		if got := a.usage(t, id); got != img1.size+img3.size {
			t.Errorf("usage %d, want %d", got, img1.size+img3.size)
		}

		// With quotas switched off (quota_per_project_enable), usage is still counted.
		a.config(t, func(c *meta.SystemConfig) { c.QuotaPerProjectEnable = false })
		img4 := a.image(t, "mf/app", randomBytes(5000))
		expectStatus(t, a.putManifest(t, "mf/app", "v4", img4), http.StatusCreated)
		if got := a.usage(t, id); got != img1.size+img3.size+img4.size {
			t.Errorf("usage with quotas off: %d", got)
		}
	})
}

func TestQuotaConcurrentPushesCannotBothFit(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		id := a.project(t, "race", false)
		imgs := []tImage{a.image(t, "race/a", randomBytes(4000)), a.image(t, "race/b", randomBytes(4000))}
		// Room for one of the two images, not both.
		a.setLimit(t, id, max(imgs[0].size, imgs[1].size)+100)

		var wg sync.WaitGroup
		statuses := make([]int, len(imgs))
		for i, img := range imgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				repo := []string{"race/a", "race/b"}[i]
				statuses[i] = a.putManifest(t, repo, "v1", img).StatusCode
			}()
		}
		wg.Wait()
		created := 0
		var want int64
		for i, st := range statuses {
			switch st {
			case http.StatusCreated:
				created++
				want = imgs[i].size
			case http.StatusForbidden:
			default:
				t.Errorf("push %d: status %d", i, st)
			}
		}
		if created != 1 {
			t.Fatalf("concurrent pushes: statuses %v, want exactly one 201", statuses)
		}
		if got := a.usage(t, id); got != want {
			t.Errorf("usage %d, want %d", got, want)
		}
	})
}
