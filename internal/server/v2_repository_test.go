package server

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// A repository exists once a manifest is pushed into it, as in Harbor: blobs uploaded or
// mounted into a name, or a push the quota refuses after its blobs arrived, leave no repository
// behind — none in /v2/_catalog, the project's repo_count or its repository list, and none to
// keep the project from being deleted — while the uploaded blobs stay readable in the name and
// usable by the manifest push that follows.

// repoArrival brings the blobs of an image into repo the way a case names and returns the
// image's manifest, not pushed (a refused push is part of the arrival).
type repoArrival func(t *testing.T, ts *testServer, a projAPI, projectID int64, repo string) (tManifest, map[string][]byte)

// uploadChunked sends data through an upload session: POST, PATCH, PUT ?digest=.
func (ts *testServer) uploadChunked(t *testing.T, repo string, data []byte) string {
	t.Helper()
	path, _ := ts.startUpload(t, repo)
	expectStatus(t, ts.patchChunk(t, path, 0, data), http.StatusAccepted)
	d := sha256Digest(data)
	expectStatus(t, ts.do(t, http.MethodPut, path+"?digest="+d, nil, nil), http.StatusCreated)
	return d
}

// imageFrom builds an image manifest of blobs sent by send, and returns it with the blobs' data.
func imageFrom(t *testing.T, repo string, send func(t *testing.T, repo string, data []byte) string) (tManifest, map[string][]byte) {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"id":"` + uniqueSuffix() + `"}`)
	layer := randomBytes(3000)
	m := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &tDescriptor{MediaType: mtOCIConfig, Digest: send(t, repo, cfg), Size: int64(len(cfg))},
		Layers: []tDescriptor{{MediaType: mtOCILayer, Digest: send(t, repo, layer), Size: int64(len(layer))}}}
	return m, map[string][]byte{m.Config.Digest: cfg, m.Layers[0].Digest: layer}
}

var repoArrivals = []struct {
	name   string
	arrive repoArrival
}{
	{"monolithic upload", func(t *testing.T, ts *testServer, _ projAPI, _ int64, repo string) (tManifest, map[string][]byte) {
		return imageFrom(t, repo, ts.pushBlob)
	}},
	{"chunked upload", func(t *testing.T, ts *testServer, _ projAPI, _ int64, repo string) (tManifest, map[string][]byte) {
		// A session left open (POST and PATCH, never closed) as well.
		path, _ := ts.startUpload(t, repo)
		expectStatus(t, ts.patchChunk(t, path, 0, randomBytes(10)), http.StatusAccepted)
		return imageFrom(t, repo, ts.uploadChunked)
	}},
	{"cross-repository mount", func(t *testing.T, ts *testServer, _ projAPI, _ int64, repo string) (tManifest, map[string][]byte) {
		src := newRepo("mount-source")
		m, blobs := imageFrom(t, src, ts.pushBlob)
		ts.pushManifest(t, src, "v1", mtOCIManifest, mustJSON(t, m))
		for d := range blobs {
			resp := ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+d+"&from="+src, nil, nil)
			expectStatus(t, resp, http.StatusCreated)
		}
		return m, blobs
	}},
	{"push refused by the quota", func(t *testing.T, ts *testServer, a projAPI, projectID int64, repo string) (tManifest, map[string][]byte) {
		// Each blob fits, the image does not.
		a.setLimit(t, projectID, 3200)
		m, blobs := imageFrom(t, repo, ts.pushBlob)
		resp := ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/v1", hdr(nil, "Content-Type", mtOCIManifest), mustJSON(t, m))
		assertOCIError(t, resp, http.StatusForbidden, "DENIED")
		a.setLimit(t, projectID, -1)
		return m, blobs
	}},
}

// expectRepositories checks what the project's listings say it holds: repo_count in the project
// list and summary, the repository list, and the catalog's names in the project.
func expectRepositories(t *testing.T, ts *testServer, project string, want ...string) {
	t.Helper()
	a := projAPI{ts}
	var ps []tProject
	a.get(t, "/api/v2.0/projects?name="+project, nil, &ps)
	if len(ps) != 1 || ps[0].RepoCount != int64(len(want)) {
		t.Errorf("project list of %s: %+v, want repo_count %d", project, ps, len(want))
	}
	var sum struct {
		RepoCount int64 `json:"repo_count"`
	}
	a.get(t, "/api/v2.0/projects/"+project+"/summary", nil, &sum)
	if sum.RepoCount != int64(len(want)) {
		t.Errorf("summary of %s: repo_count %d, want %d", project, sum.RepoCount, len(want))
	}
	var repos []struct {
		Name string `json:"name"`
	}
	a.get(t, "/api/v2.0/projects/"+project+"/repositories", nil, &repos)
	var listed []string
	for _, r := range repos {
		listed = append(listed, r.Name)
	}
	var cat struct {
		Repositories []string `json:"repositories"`
	}
	a.get(t, "/v2/_catalog?n=1000", nil, &cat)
	var catalogued []string
	for _, r := range cat.Repositories {
		if len(r) > len(project) && r[:len(project)+1] == project+"/" {
			catalogued = append(catalogued, r)
		}
	}
	if !slices.Equal(listed, want) || !slices.Equal(catalogued, want) {
		t.Errorf("repositories of %s: listed %v, catalogued %v; want %v", project, listed, catalogued, want)
	}
}

func TestRepositoryExistsOnceAManifestIsPushed(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		a := projAPI{ts}
		for i, c := range repoArrivals {
			t.Run(c.name, func(t *testing.T) {
				// A project holding only uploads is empty: it can be deleted.
				gone := fmt.Sprintf("gone%d", i)
				goneID := a.project(t, gone, false)
				c.arrive(t, ts, a, goneID, gone+"/app")
				expectRepositories(t, ts, gone)
				var d struct {
					Deletable bool `json:"deletable"`
				}
				a.get(t, fmt.Sprintf("/api/v2.0/projects/%d/_deletable", goneID), nil, &d)
				if !d.Deletable {
					t.Errorf("a project holding only uploads is not deletable")
				}
				expectStatus(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/"+gone, nil, nil), http.StatusOK)

				// In a project that stays, the uploads are readable in their name, which has
				// no tags to list, and the first manifest push makes the repository.
				project := fmt.Sprintf("kept%d", i)
				repo := project + "/app"
				id := a.project(t, project, false)
				m, blobs := c.arrive(t, ts, a, id, repo)
				expectRepositories(t, ts, project)
				assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/tags/list", nil, nil), http.StatusNotFound, "NAME_UNKNOWN")
				for dg, data := range blobs {
					expectBlob(t, ts, repo, dg, data)
				}
				body := mustJSON(t, m)
				ts.pushManifest(t, repo, "v1", mtOCIManifest, body)
				expectRepositories(t, ts, project, repo)
				var tags struct {
					Name string   `json:"name"`
					Tags []string `json:"tags"`
				}
				a.get(t, "/v2/"+repo+"/tags/list", nil, &tags)
				if tags.Name != repo || !slices.Equal(tags.Tags, []string{"v1"}) {
					t.Errorf("tags of %s: %+v", repo, tags)
				}
				expectManifest(t, ts, repo, "v1", mtOCIManifest, sha256Digest(body), body)
				for dg, data := range blobs {
					expectBlob(t, ts, repo, dg, data)
				}
				// As in Harbor, the repository stays when its last artifact is deleted, until
				// it is deleted itself.
				expectStatus(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+sha256Digest(body), nil, nil), http.StatusAccepted)
				expectRepositories(t, ts, project, repo)
				expectAPIError(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/"+project, nil, nil), http.StatusPreconditionFailed, "PRECONDITION")
				expectStatus(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/"+project+"/repositories/app", nil, nil), http.StatusOK)
				expectRepositories(t, ts, project)
				expectStatus(t, ts.do(t, http.MethodDelete, "/api/v2.0/projects/"+project, nil, nil), http.StatusOK)
			})
		}
	})
}
