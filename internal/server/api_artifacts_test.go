package server

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// The content views of the REST API (repositories, artifacts, tags, accessories, additions,
// copy), through the full server on both databases. Content is pushed through /v2/ the way
// clients push it, so the API is checked against what the registry really stores.

const artPassword = "Passw0rd1"

// artCall sends an API request (path relative to /api/v2.0); body is JSON-encoded unless it is
// nil or already bytes.
func artCall(t *testing.T, ts *testServer, method, path string, h http.Header, body any) *http.Response {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		b = mustJSON(t, v)
	}
	if b != nil {
		h = hdr(h, "Content-Type", "application/json")
	}
	return ts.do(t, method, "/api/v2.0"+path, h, b)
}

// artGet GETs path, expects 200 and decodes the JSON body into v.
func artGet(t *testing.T, ts *testServer, path string, h http.Header, v any) *http.Response {
	t.Helper()
	resp := artCall(t, ts, http.MethodGet, path, h, nil)
	expectStatus(t, resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(respBody(t, resp), v); err != nil {
		t.Fatalf("GET %s: %v; body %s", path, err, respBody(t, resp))
	}
	return resp
}

// artErr checks a Harbor error answer: status, code, and a message.
func artErr(t *testing.T, resp *http.Response, status int, code string) string {
	t.Helper()
	where := resp.Request.Method + " " + resp.Request.URL.Opaque + "?" + resp.Request.URL.RawQuery
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %.500s", where, resp.StatusCode, status, respBody(t, resp))
	}
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if err := json.Unmarshal(respBody(t, resp), &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("%s: error body %q is not Harbor's {\"errors\":[...]}", where, respBody(t, resp))
	}
	if body.Errors[0].Code != code || body.Errors[0].Message == "" {
		t.Fatalf("%s: error %+v, want code %s with a message", where, body.Errors[0], code)
	}
	return body.Errors[0].Message
}

// artUser creates a user and returns its id and Basic credentials.
func artUser(t *testing.T, ts *testServer, name string) (int64, http.Header) {
	t.Helper()
	hash, err := auth.HashPassword(artPassword)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ts.srv.db.CreateUser(context.Background(), meta.User{Username: name, Email: name + "@example.com", PasswordHash: hash})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return id, basicAuth(name, artPassword)
}

// artProject creates a project owned by admin.
func artProject(t *testing.T, ts *testServer, name string, public bool) meta.Project {
	t.Helper()
	ctx := context.Background()
	admin, err := ts.srv.db.UserByName(ctx, adminUser)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ts.srv.db.CreateProject(ctx, meta.Project{Name: name, OwnerID: admin.ID, Public: public})
	if err != nil {
		t.Fatalf("create project %s: %v", name, err)
	}
	p, err := ts.srv.db.ProjectByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// artMember makes the user a member of the project with the role.
func artMember(t *testing.T, ts *testServer, projectID, userID int64, role int) {
	t.Helper()
	var id int64
	err := ts.srv.db.QueryRowForTest(context.Background(), `INSERT INTO project_members (project_id, entity_type, entity_id, role_id, created_at, updated_at)
		VALUES ($1, 'u', $2, $3, 0, 0) RETURNING id`, projectID, userID, role).Scan(&id)
	if err != nil {
		t.Fatalf("add member %d to project %d: %v", userID, projectID, err)
	}
}

// artRoles creates one user per role in the project plus an outsider, and returns their
// credentials by role name ("admin" is the project admin; "outsider" has no role).
func artRoles(t *testing.T, ts *testServer, p meta.Project) map[string]http.Header {
	t.Helper()
	out := map[string]http.Header{}
	for name, role := range map[string]int{"admin": meta.RoleProjectAdmin, "maintainer": meta.RoleMaintainer,
		"developer": meta.RoleDeveloper, "guest": meta.RoleGuest, "limited": meta.RoleLimitedGuest, "outsider": 0} {
		id, h := artUser(t, ts, p.Name+"-"+name)
		if role != 0 {
			artMember(t, ts, p.ID, id, role)
		}
		out[name] = h
	}
	return out
}

// enc2 double-encodes a repository name for an API path, as Harbor's clients do.
func enc2(name string) string { return url.PathEscape(url.PathEscape(name)) }

// artRepoPath is the API path of a repository: /projects/<project>/repositories/<rest, encoded>.
func artRepoPath(repo string) string {
	project, rest, _ := strings.Cut(repo, "/")
	return "/projects/" + project + "/repositories/" + enc2(rest)
}

// artWaitAudit waits for an audit entry (entries are written in batches off the request path).
func artWaitAudit(t *testing.T, ts *testServer, operation, resourceType, resource string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int64
		err := ts.srv.db.QueryRowForTest(context.Background(), "SELECT COUNT(*) FROM audit_log WHERE operation = $1 AND resource_type = $2 AND resource = $3",
			operation, resourceType, resource).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("no audit entry %s %s %s", operation, resourceType, resource)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Content.

// tImageConfig is what the image pushes put in their configs.
var tImageConfig = `{"architecture":"%s","os":"linux","created":"2024-05-01T10:00:00Z","author":"Jane Doe",` +
	`"config":{"Env":["PATH=/usr/bin"],"Cmd":["/app"],"Labels":{"team":"berth"}},` +
	`"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created":"2024-05-01T09:00:00Z","created_by":"/bin/sh -c #(nop) ADD file"},` +
	`{"created":"2024-05-01T10:00:00Z","created_by":"/bin/sh -c #(nop) CMD [\"/app\"]","empty_layer":true}],"id":"%s"}`

// artImage pushes an OCI image (config and one layer) under ref ("" = by digest only) and
// returns the manifest body and digest.
func artImage(t *testing.T, ts *testServer, repo, ref, arch string) ([]byte, string, int64) {
	t.Helper()
	cfg := []byte(strings.ReplaceAll(strings.Replace(strings.Replace(tImageConfig, "%s", arch, 1), "%s", uniqueSuffix(), 1), "%%", "%"))
	layer := randomBytes(100)
	m := tManifest{
		SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &tDescriptor{MediaType: mtOCIConfig, Digest: ts.pushBlob(t, repo, cfg), Size: int64(len(cfg))},
		Layers: []tDescriptor{{MediaType: mtOCILayer, Digest: ts.pushBlob(t, repo, layer), Size: int64(len(layer))}},
	}
	b := mustJSON(t, m)
	if ref == "" {
		ref = sha256Digest(b)
	}
	d := ts.pushManifest(t, repo, ref, mtOCIManifest, b)
	return b, d, int64(len(b) + len(cfg) + len(layer))
}

type tPlatform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

type tIndexEntry struct {
	MediaType string     `json:"mediaType"`
	Digest    string     `json:"digest"`
	Size      int64      `json:"size"`
	Platform  *tPlatform `json:"platform,omitempty"`
}

// artIndex is a pushed two-platform index and its children.
type artIndex struct {
	digest, amd64, arm64 string
	body                 []byte
	size                 int64 // index + both children with their blobs
}

// artPushIndex pushes two images by digest and an OCI index of them under tag.
func artPushIndex(t *testing.T, ts *testServer, repo, tag string) artIndex {
	t.Helper()
	amdBody, amd, amdSize := artImage(t, ts, repo, "", "amd64")
	armBody, arm, armSize := artImage(t, ts, repo, "", "arm64")
	idx := map[string]any{
		"schemaVersion": 2, "mediaType": mtOCIIndex,
		"manifests": []tIndexEntry{
			{MediaType: mtOCIManifest, Digest: amd, Size: int64(len(amdBody)), Platform: &tPlatform{Architecture: "amd64", OS: "linux"}},
			{MediaType: mtOCIManifest, Digest: arm, Size: int64(len(armBody)), Platform: &tPlatform{Architecture: "arm64", OS: "linux", Variant: "v8", OSVersion: "6.1", OSFeatures: []string{"sse4"}}},
		},
		"annotations": map[string]string{"org.opencontainers.image.title": "multi"},
	}
	b := mustJSON(t, idx)
	d := ts.pushManifest(t, repo, tag, mtOCIIndex, b)
	return artIndex{digest: d, amd64: amd, arm64: arm, body: b, size: int64(len(b)) + amdSize + armSize}
}

// artPushSignature pushes a cosign signature of subject the OCI 1.1 way (a manifest whose
// subject is the image, pushed by digest) and returns its digest.
func artPushSignature(t *testing.T, ts *testServer, repo, subject string, subjectSize int64) string {
	t.Helper()
	empty := []byte("{}")
	sig := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + subject + `"}},"n":"` + uniqueSuffix() + `"}`)
	m := tManifest{
		SchemaVersion: 2, MediaType: mtOCIManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config:  &tDescriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: ts.pushBlob(t, repo, empty), Size: 2},
		Layers:  []tDescriptor{{MediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Digest: ts.pushBlob(t, repo, sig), Size: int64(len(sig))}},
		Subject: &tDescriptor{MediaType: mtOCIManifest, Digest: subject, Size: subjectSize},
	}
	b := mustJSON(t, m)
	return ts.pushManifest(t, repo, sha256Digest(b), mtOCIManifest, b)
}

// artPushLegacySignature pushes a signature the way cosign did before referrers: a manifest
// tagged sha256-<hex>.sig.
func artPushLegacySignature(t *testing.T, ts *testServer, repo, subject string) string {
	t.Helper()
	cfg := []byte(`{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"n":"` + uniqueSuffix() + `"}`)
	sig := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + subject + `"}}}`)
	m := tManifest{
		SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &tDescriptor{MediaType: mtOCIConfig, Digest: ts.pushBlob(t, repo, cfg), Size: int64(len(cfg))},
		Layers: []tDescriptor{{MediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Digest: ts.pushBlob(t, repo, sig), Size: int64(len(sig))}},
	}
	return ts.pushManifest(t, repo, "sha256-"+strings.TrimPrefix(subject, "sha256:")+".sig", mtOCIManifest, mustJSON(t, m))
}

// artPushChart pushes a Helm chart (OCI) with values, a README and a dependency.
func artPushChart(t *testing.T, ts *testServer, repo, tag string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range map[string]string{
		"mychart/Chart.yaml":             "apiVersion: v2\nname: mychart\nversion: 0.1.0\ndependencies:\n  - name: redis\n    version: 17.0.0\n    repository: https://charts.example.com\n",
		"mychart/values.yaml":            "replicas: 2\n",
		"mychart/README.md":              "# My chart\n",
		"mychart/charts/sub/values.yaml": "ignored: true\n",
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	zw.Close()
	cfg := []byte(`{"name":"mychart","version":"0.1.0","apiVersion":"v2","description":"` + uniqueSuffix() + `"}`)
	m := tManifest{
		SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &tDescriptor{MediaType: "application/vnd.cncf.helm.config.v1+json", Digest: ts.pushBlob(t, repo, cfg), Size: int64(len(cfg))},
		Layers: []tDescriptor{{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Digest: ts.pushBlob(t, repo, buf.Bytes()), Size: int64(buf.Len())}},
	}
	return ts.pushManifest(t, repo, tag, mtOCIManifest, mustJSON(t, m))
}

// JSON the tests read.

type tRepository struct {
	ID            int64  `json:"id"`
	ProjectID     int64  `json:"project_id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	ArtifactCount int64  `json:"artifact_count"`
	PullCount     int64  `json:"pull_count"`
	CreationTime  string `json:"creation_time"`
	UpdateTime    string `json:"update_time"`
}

type tTag struct {
	ID           int64  `json:"id"`
	RepositoryID int64  `json:"repository_id"`
	ArtifactID   int64  `json:"artifact_id"`
	Name         string `json:"name"`
	PushTime     string `json:"push_time"`
	PullTime     string `json:"pull_time"`
	Immutable    *bool  `json:"immutable"`
}

type tAccessory struct {
	ID                    int64  `json:"id"`
	ArtifactID            int64  `json:"artifact_id"`
	SubjectArtifactID     int64  `json:"subject_artifact_id"`
	SubjectArtifactDigest string `json:"subject_artifact_digest"`
	SubjectArtifactRepo   string `json:"subject_artifact_repo"`
	Size                  int64  `json:"size"`
	Digest                string `json:"digest"`
	Type                  string `json:"type"`
	CreationTime          string `json:"creation_time"`
}

type tLabel struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Color       string `json:"color"`
	Scope       string `json:"scope"`
	ProjectID   int64  `json:"project_id"`
}

type tArtifact struct {
	ID                int64                      `json:"id"`
	Type              string                     `json:"type"`
	MediaType         string                     `json:"media_type"`
	ManifestMediaType string                     `json:"manifest_media_type"`
	ArtifactType      string                     `json:"artifact_type"`
	ProjectID         int64                      `json:"project_id"`
	RepositoryID      int64                      `json:"repository_id"`
	RepositoryName    string                     `json:"repository_name"`
	Digest            string                     `json:"digest"`
	Size              int64                      `json:"size"`
	PushTime          string                     `json:"push_time"`
	PullTime          string                     `json:"pull_time"`
	ExtraAttrs        map[string]json.RawMessage `json:"extra_attrs"`
	Annotations       map[string]string          `json:"annotations"`
	References        []struct {
		ParentID    int64          `json:"parent_id"`
		ChildID     int64          `json:"child_id"`
		ChildDigest string         `json:"child_digest"`
		Platform    map[string]any `json:"platform"`
	} `json:"references"`
	Tags          *[]tTag                          `json:"tags"`
	Labels        *[]tLabel                        `json:"labels"`
	AdditionLinks map[string]struct{ Href string } `json:"addition_links"`
	ScanOverview  *map[string]any                  `json:"scan_overview"`
	Accessories   *[]tAccessory                    `json:"accessories"`
	Raw           map[string]json.RawMessage       `json:"-"`
}

// artArtifact GETs one artifact.
func artArtifact(t *testing.T, ts *testServer, repo, ref, query string, h http.Header) tArtifact {
	t.Helper()
	var a tArtifact
	path := artRepoPath(repo) + "/artifacts/" + ref
	if query != "" {
		path += "?" + query
	}
	artGet(t, ts, path, h, &a)
	return a
}

// artDigests lists the digests of an artifact listing.
func artDigests(t *testing.T, ts *testServer, path string, h http.Header) ([]string, *http.Response) {
	t.Helper()
	var arts []tArtifact
	resp := artGet(t, ts, path, h, &arts)
	out := make([]string, len(arts))
	for i, a := range arts {
		out[i] = a.Digest
	}
	return out, resp
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// Repositories.

func TestRepositoryListingAndVisibility(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		priv := artProject(t, ts, "secret", false)
		roles := artRoles(t, ts, priv)
		artImage(t, ts, "library/app", "v1", "amd64")
		artImage(t, ts, "library/team/tool", "v1", "amd64")
		artImage(t, ts, "library/team/tool", "v2", "amd64")
		artImage(t, ts, "secret/hidden", "v1", "amd64")

		var all []tRepository
		resp := artGet(t, ts, "/repositories", nil, &all)
		names := []string{}
		for _, r := range all {
			names = append(names, r.Name)
		}
		if !sameSet(names, []string{"library/app", "library/team/tool", "secret/hidden"}) || resp.Header.Get("X-Total-Count") != "3" {
			t.Fatalf("admin sees %v (X-Total-Count %s)", names, resp.Header.Get("X-Total-Count"))
		}
		// Newest first, as Harbor lists them.
		if all[0].Name != "secret/hidden" {
			t.Errorf("first repository %s, want the newest (secret/hidden)", all[0].Name)
		}

		cases := []struct {
			name string
			h    http.Header
			want []string
		}{
			{"anonymous sees public projects", anonymous(), []string{"library/app", "library/team/tool"}},
			{"an outsider sees public projects", roles["outsider"], []string{"library/app", "library/team/tool"}},
			{"a member sees its project too", roles["limited"], []string{"library/app", "library/team/tool", "secret/hidden"}},
		}
		for _, c := range cases {
			var got []tRepository
			artGet(t, ts, "/repositories", c.h, &got)
			names := []string{}
			for _, r := range got {
				names = append(names, r.Name)
			}
			if !sameSet(names, c.want) {
				t.Errorf("%s: %v, want %v", c.name, names, c.want)
			}
		}

		var fuzzy []tRepository
		artGet(t, ts, "/repositories?q=name%3D~team", nil, &fuzzy)
		if len(fuzzy) != 1 || fuzzy[0].Name != "library/team/tool" || fuzzy[0].ArtifactCount != 2 {
			t.Errorf("q=name=~team: %+v", fuzzy)
		}
		var paged []tRepository
		resp = artGet(t, ts, "/projects/library/repositories?page=1&page_size=1&sort=name", nil, &paged)
		if len(paged) != 1 || paged[0].Name != "library/app" || resp.Header.Get("X-Total-Count") != "2" ||
			!strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
			t.Errorf("page 1 of library by name: %+v, X-Total-Count %q, Link %q", paged, resp.Header.Get("X-Total-Count"), resp.Header.Get("Link"))
		}
		artErr(t, artCall(t, ts, http.MethodGet, "/repositories?q=nosuchkey%3Dx", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodGet, "/repositories?sort=bogus", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodGet, "/repositories?page_size=101", nil, nil), http.StatusBadRequest, "BAD_REQUEST")

		// A private project's repositories: members list them, others do not learn it exists.
		artGet(t, ts, "/projects/secret/repositories", roles["limited"], &paged)
		artErr(t, artCall(t, ts, http.MethodGet, "/projects/secret/repositories", roles["outsider"], nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, "/projects/secret/repositories", anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		artErr(t, artCall(t, ts, http.MethodGet, "/projects/nosuch/repositories", nil, nil), http.StatusNotFound, "NOT_FOUND")
	})
}

func TestRepositoryGetUpdateAndPullCount(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		lib, err := ts.srv.db.ProjectByName(context.Background(), "library")
		if err != nil {
			t.Fatal(err)
		}
		roles := artRoles(t, ts, lib)
		_, d, _ := artImage(t, ts, "library/team/tool", "v1", "amd64")
		artPushSignature(t, ts, "library/team/tool", d, 10)

		for _, path := range []string{
			"/projects/library/repositories/team%252Ftool", // double-encoded, as Harbor's clients send
			"/projects/library/repositories/team%2Ftool",   // single-encoded, as some send
		} {
			var r tRepository
			artGet(t, ts, path, anonymous(), &r)
			if r.Name != "library/team/tool" || r.ProjectID != lib.ID || r.ArtifactCount != 1 || r.ID == 0 || r.CreationTime == "" {
				t.Errorf("GET %s: %+v (the signature is not counted)", path, r)
			}
		}
		artErr(t, artCall(t, ts, http.MethodGet, "/projects/library/repositories/nosuch", nil, nil), http.StatusNotFound, "NOT_FOUND")

		path := artRepoPath("library/team/tool")
		for _, c := range []struct {
			who    string
			status int
		}{{"guest", http.StatusForbidden}, {"outsider", http.StatusForbidden}, {"developer", http.StatusOK}} {
			resp := artCall(t, ts, http.MethodPut, path, roles[c.who], map[string]any{"description": "by " + c.who})
			if resp.StatusCode != c.status {
				t.Errorf("PUT description as %s: status %d, want %d", c.who, resp.StatusCode, c.status)
			}
		}
		artErr(t, artCall(t, ts, http.MethodPut, path, anonymous(), map[string]any{"description": "x"}), http.StatusUnauthorized, "UNAUTHORIZED")
		var r tRepository
		artGet(t, ts, path, nil, &r)
		if r.Description != "by developer" {
			t.Errorf("description %q after the developer's update", r.Description)
		}
		artErr(t, artCall(t, ts, http.MethodPut, path, nil, `{"description":"x","bogus":1}`), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodPut, path, nil, `{"description":5}`), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodPut, path, nil, `not json`), http.StatusBadRequest, "BAD_REQUEST")

		// Pulls through /v2/ count on the repository (recorded off the request path).
		for i := 0; i < 2; i++ {
			expectStatus(t, ts.do(t, http.MethodGet, "/v2/library/team/tool/manifests/v1", hdr(nil, "Accept", mtOCIManifest), nil), http.StatusOK)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			artGet(t, ts, path, nil, &r)
			if r.PullCount == 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if r.PullCount != 2 {
			t.Errorf("pull_count %d after two pulls, want 2", r.PullCount)
		}
		a := artArtifact(t, ts, "library/team/tool", "v1", "", nil)
		if a.PullTime == "0001-01-01T00:00:00.000Z" || (*a.Tags)[0].PullTime == "0001-01-01T00:00:00.000Z" {
			t.Errorf("pull times not recorded: artifact %s, tag %s", a.PullTime, (*a.Tags)[0].PullTime)
		}
	})
}

func TestRepositoryDelete(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		lib, err := ts.srv.db.ProjectByName(context.Background(), "library")
		if err != nil {
			t.Fatal(err)
		}
		roles := artRoles(t, ts, lib)
		repo := "library/multi/arch"
		idx := artPushIndex(t, ts, repo, "latest")
		_, img, size := artImage(t, ts, repo, "v1", "amd64")
		sig := artPushSignature(t, ts, repo, img, size)
		artImage(t, ts, "library/other", "v1", "amd64")

		path := artRepoPath(repo)
		artErr(t, artCall(t, ts, http.MethodDelete, path, roles["developer"], nil), http.StatusForbidden, "FORBIDDEN")
		artErr(t, artCall(t, ts, http.MethodDelete, path, anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		expectStatus(t, artCall(t, ts, http.MethodDelete, path, roles["maintainer"], nil), http.StatusOK)

		artErr(t, artCall(t, ts, http.MethodGet, path, nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodDelete, path, nil, nil), http.StatusNotFound, "NOT_FOUND")
		artWaitAudit(t, ts, "delete", "repository", repo)
		artWaitAudit(t, ts, "delete", "artifact", repo+"@"+idx.digest)
		for _, d := range []string{idx.digest, idx.amd64, idx.arm64, img, sig} {
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+d, nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		}
		var repos []tRepository
		artGet(t, ts, "/projects/library/repositories", nil, &repos)
		if len(repos) != 1 || repos[0].Name != "library/other" {
			t.Errorf("repositories after the deletion: %+v", repos)
		}
		// The name can be used again.
		artImage(t, ts, repo, "v1", "amd64")
		var r tRepository
		artGet(t, ts, path, nil, &r)
		if r.ArtifactCount != 1 {
			t.Errorf("re-pushed repository has %d artifacts", r.ArtifactCount)
		}
	})
}

// Artifacts.

func TestArtifactDescribesImagesAndIndexes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		repo := "library/team/app"
		body, img, imgSize := artImage(t, ts, repo, "v1", "amd64")
		idx := artPushIndex(t, ts, repo, "multi")

		// By tag and by digest, with double- and single-encoded repository names.
		for _, path := range []string{
			"/projects/library/repositories/team%252Fapp/artifacts/v1",
			"/projects/library/repositories/team%2Fapp/artifacts/" + img,
		} {
			var a tArtifact
			artGet(t, ts, path, anonymous(), &a)
			if a.Digest != img || a.Type != "IMAGE" || a.MediaType != mtOCIConfig || a.ManifestMediaType != mtOCIManifest ||
				a.ArtifactType != mtOCIConfig || a.RepositoryName != repo || a.Size != imgSize || a.ID == 0 || a.RepositoryID == 0 {
				t.Errorf("GET %s: %+v (size want %d)", path, a, imgSize)
			}
		}
		a := artArtifact(t, ts, repo, "v1", "", nil)
		if string(a.ExtraAttrs["architecture"]) != `"amd64"` || string(a.ExtraAttrs["os"]) != `"linux"` ||
			string(a.ExtraAttrs["author"]) != `"Jane Doe"` || string(a.ExtraAttrs["created"]) != `"2024-05-01T10:00:00Z"` {
			t.Errorf("extra_attrs %v", a.ExtraAttrs)
		}
		var cfg struct {
			Env    []string
			Labels map[string]string
		}
		if err := json.Unmarshal(a.ExtraAttrs["config"], &cfg); err != nil || cfg.Labels["team"] != "berth" || len(cfg.Env) != 1 {
			t.Errorf("extra_attrs.config %s: %v", a.ExtraAttrs["config"], err)
		}
		if a.Tags == nil || len(*a.Tags) != 1 || (*a.Tags)[0].Name != "v1" || (*a.Tags)[0].ArtifactID != a.ID ||
			(*a.Tags)[0].RepositoryID != a.RepositoryID || (*a.Tags)[0].Immutable == nil || *(*a.Tags)[0].Immutable {
			t.Errorf("tags %+v", a.Tags)
		}
		wantHref := "/api/v2.0/projects/library/repositories/team%252Fapp/artifacts/" + img + "/additions/build_history"
		if a.AdditionLinks["build_history"].Href != wantHref || a.AdditionLinks["vulnerabilities"].Href == "" {
			t.Errorf("addition_links %+v, want build_history %s", a.AdditionLinks, wantHref)
		}
		if a.Labels != nil || a.ScanOverview != nil || a.Accessories != nil || a.PullTime != "0001-01-01T00:00:00.000Z" {
			t.Errorf("unrequested fields or pull time: %+v", a)
		}
		a = artArtifact(t, ts, repo, "v1", "with_tag=false&with_label=true&with_scan_overview=true&with_accessory=true&with_signature=true&with_immutable_status=true", nil)
		if a.Tags != nil || a.Labels == nil || len(*a.Labels) != 0 || a.ScanOverview == nil || len(*a.ScanOverview) != 0 || a.Accessories == nil {
			t.Errorf("with_* options: tags %v labels %v scan_overview %v accessories %v", a.Tags, a.Labels, a.ScanOverview, a.Accessories)
		}
		_ = body

		x := artArtifact(t, ts, repo, "multi", "", nil)
		if x.Digest != idx.digest || x.Type != "IMAGE" || x.MediaType != mtOCIIndex || x.ManifestMediaType != mtOCIIndex ||
			x.Size != idx.size || x.Annotations["org.opencontainers.image.title"] != "multi" || len(x.References) != 2 {
			t.Fatalf("index: %+v (size want %d)", x, idx.size)
		}
		amd := artArtifact(t, ts, repo, idx.amd64, "", nil)
		r0, r1 := x.References[0], x.References[1]
		if r0.ChildDigest != idx.amd64 || r0.ChildID != amd.ID || r0.ParentID != x.ID || r0.Platform["architecture"] != "amd64" || r0.Platform["os"] != "linux" {
			t.Errorf("first reference %+v", r0)
		}
		if r1.ChildDigest != idx.arm64 || r1.Platform["variant"] != "v8" || r1.Platform["'os.version'"] != "6.1" ||
			len(r1.Platform["'os.features'"].([]any)) != 1 || r1.Platform["OsVersion"] != "6.1" || fmt.Sprint(r1.Platform["OsFeatures"]) != "[sse4]" {
			t.Errorf("second reference %+v", r1)
		}
		if _, ok := x.AdditionLinks["build_history"]; ok {
			t.Errorf("an index has no build history: %+v", x.AdditionLinks)
		}

		// Errors.
		artErr(t, artCall(t, ts, http.MethodGet, artRepoPath(repo)+"/artifacts/nosuchtag", nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, artRepoPath(repo)+"/artifacts/sha256:"+strings.Repeat("0", 64), nil, nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, artRepoPath(repo)+"/artifacts/sha256:1234", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodGet, artRepoPath(repo)+"/artifacts/v1?with_tag=maybe", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		artErr(t, artCall(t, ts, http.MethodGet, artRepoPath("library/nosuch")+"/artifacts/v1", nil, nil), http.StatusNotFound, "NOT_FOUND")
	})
}

func TestArtifactListing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		repo := "library/list"
		_, old, _ := artImage(t, ts, repo, "old", "amd64")
		_, untagged, _ := artImage(t, ts, repo, "", "amd64")
		idx := artPushIndex(t, ts, repo, "latest")
		chart := artPushChart(t, ts, repo, "0.1.0")
		_, signed, size := artImage(t, ts, repo, "signed", "amd64")
		artPushSignature(t, ts, repo, signed, size)
		artPushLegacySignature(t, ts, repo, signed)
		base := artRepoPath(repo) + "/artifacts"

		// By default: the artifacts people push, newest first; not index children, not signatures.
		got, resp := artDigests(t, ts, base, nil)
		want := []string{signed, chart, idx.digest, untagged, old}
		if strings.Join(got, ",") != strings.Join(want, ",") || resp.Header.Get("X-Total-Count") != "5" {
			t.Fatalf("listing %v (X-Total-Count %s), want %v", got, resp.Header.Get("X-Total-Count"), want)
		}
		var r tRepository
		artGet(t, ts, artRepoPath(repo), nil, &r)
		if r.ArtifactCount != 5 {
			t.Errorf("artifact_count %d, want 5", r.ArtifactCount)
		}

		cases := []struct {
			query string
			want  []string
		}{
			{"sort=push_time", []string{old, untagged, idx.digest, chart, signed}},
			{"q=tags%3D*", []string{signed, chart, idx.digest, old}},
			{"q=tags%3Dnil", []string{untagged}},
			{"q=tags%3D~LAT", []string{idx.digest}},
			{"q=tags%3Dold", []string{old}},
			{"q=tags%3D%7Bold%20signed%7D", []string{signed, old}},
			{"q=digest%3D" + old, []string{old}},
			{"q=media_type%3Dapplication%2Fvnd.cncf.helm.config.v1%2Bjson", []string{chart}},
			{"q=artifact_type%3D" + url.QueryEscape(mtOCIIndex), []string{idx.digest}},
			{"q=base%3D*,tags%3Dnil", []string{idx.arm64, idx.amd64, untagged}},
			{"page=2&page_size=2", []string{idx.digest, untagged}},
		}
		for _, c := range cases {
			got, _ := artDigests(t, ts, base+"?"+c.query, nil)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("?%s: %v, want %v", c.query, got, c.want)
			}
		}
		_, resp = artDigests(t, ts, base+"?page=2&page_size=2", nil)
		if link := resp.Header.Get("Link"); !strings.Contains(link, `rel="prev"`) || !strings.Contains(link, `rel="next"`) {
			t.Errorf("Link of the middle page: %q", link)
		}

		var arts []tArtifact
		artGet(t, ts, base+"?q=digest%3D"+chart, nil, &arts)
		if len(arts) != 1 || arts[0].Type != "CHART" || arts[0].MediaType != "application/vnd.cncf.helm.config.v1+json" ||
			string(arts[0].ExtraAttrs["name"]) != `"mychart"` || arts[0].AdditionLinks["values.yaml"].Href == "" {
			t.Errorf("chart artifact %+v", arts)
		}

		for _, bad := range []string{"q=bogus%3D1", "q=tags%3D%5B1~2%5D", "q=labels%3Dx", "q=base%3Dx", "sort=size", "with_label=yes", "page=first"} {
			artErr(t, artCall(t, ts, http.MethodGet, base+"?"+bad, nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		}
	})
}

func TestProjectArtifactsListing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "charts", false)
		roles := artRoles(t, ts, p)
		a1 := artPushChart(t, ts, "charts/a", "1")
		a2 := artPushChart(t, ts, "charts/a", "2")
		b1 := artPushChart(t, ts, "charts/b", "1")
		_, img, _ := artImage(t, ts, "charts/b", "img", "amd64")

		got, resp := artDigests(t, ts, "/projects/charts/artifacts", roles["limited"])
		if !sameSet(got, []string{a1, a2, b1, img}) || resp.Header.Get("X-Total-Count") != "4" {
			t.Errorf("project artifacts %v", got)
		}
		got, _ = artDigests(t, ts, "/projects/"+strconv.FormatInt(p.ID, 10)+"/artifacts?latest_in_repository=true&q=media_type%3Dapplication%2Fvnd.cncf.helm.config.v1%2Bjson", nil)
		if !sameSet(got, []string{a2, b1}) {
			t.Errorf("latest chart of each repository: %v, want %v", got, []string{a2, b1})
		}
		var arts []tArtifact
		artGet(t, ts, "/projects/charts/artifacts?q=digest%3D"+img, nil, &arts)
		if len(arts) != 1 || arts[0].RepositoryName != "charts/b" || arts[0].ProjectID != p.ID {
			t.Errorf("artifact of the project listing: %+v", arts)
		}
		artErr(t, artCall(t, ts, http.MethodGet, "/projects/charts/artifacts", roles["outsider"], nil), http.StatusNotFound, "NOT_FOUND")
		artErr(t, artCall(t, ts, http.MethodGet, "/projects/charts/artifacts", anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
	})
}

func TestArtifactAccessories(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		repo := "library/signed"
		_, img, size := artImage(t, ts, repo, "v1", "amd64")
		sig := artPushSignature(t, ts, repo, img, size)
		legacy := artPushLegacySignature(t, ts, repo, img)
		// A generic referrer (an SBOM-like attachment with another artifact type).
		empty := []byte("{}")
		doc := []byte(`{"sbom":"` + uniqueSuffix() + `"}`)
		m := tManifest{SchemaVersion: 2, MediaType: mtOCIManifest, ArtifactType: "application/spdx+json",
			Config:  &tDescriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: ts.pushBlob(t, repo, empty), Size: 2},
			Layers:  []tDescriptor{{MediaType: "application/spdx+json", Digest: ts.pushBlob(t, repo, doc), Size: int64(len(doc))}},
			Subject: &tDescriptor{MediaType: mtOCIManifest, Digest: img, Size: size}}
		mb := mustJSON(t, m)
		sbom := ts.pushManifest(t, repo, sha256Digest(mb), mtOCIManifest, mb)

		subject := artArtifact(t, ts, repo, "v1", "with_accessory=true", anonymous())
		var accs []tAccessory
		resp := artGet(t, ts, artRepoPath(repo)+"/artifacts/v1/accessories", anonymous(), &accs)
		if len(accs) != 3 || resp.Header.Get("X-Total-Count") != "3" {
			t.Fatalf("accessories %+v", accs)
		}
		types := map[string]string{}
		for _, a := range accs {
			types[a.Digest] = a.Type
			if a.SubjectArtifactDigest != img || a.SubjectArtifactRepo != repo || a.SubjectArtifactID != subject.ID || a.Size <= 0 || a.ArtifactID == 0 {
				t.Errorf("accessory %+v", a)
			}
		}
		if types[sig] != "signature.cosign" || types[legacy] != "signature.cosign" || types[sbom] != "subject.accessory" {
			t.Errorf("accessory types %v", types)
		}
		if subject.Accessories == nil || len(*subject.Accessories) != 3 {
			t.Errorf("with_accessory: %+v", subject.Accessories)
		}
		var filtered []tAccessory
		artGet(t, ts, artRepoPath(repo)+"/artifacts/v1/accessories?q=type%3Dsubject.accessory", nil, &filtered)
		if len(filtered) != 1 || filtered[0].Digest != sbom {
			t.Errorf("q=type=subject.accessory: %+v", filtered)
		}
		artErr(t, artCall(t, ts, http.MethodGet, artRepoPath(repo)+"/artifacts/v1/accessories?q=size%3D1", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
		// Accessories are listed with their subject, not as artifacts of their own.
		got, _ := artDigests(t, ts, artRepoPath(repo)+"/artifacts", nil)
		if strings.Join(got, ",") != img {
			t.Errorf("listing %v, want only the subject", got)
		}
		var none []tAccessory
		artGet(t, ts, artRepoPath(repo)+"/artifacts/"+sig+"/accessories", nil, &none)
		if len(none) != 0 {
			t.Errorf("a signature's accessories: %+v", none)
		}
	})
}

func TestArtifactTags(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		p := artProject(t, ts, "tagged", false)
		roles := artRoles(t, ts, p)
		repo := "tagged/team/app"
		_, img, _ := artImage(t, ts, repo, "v1", "amd64")
		_, other, _ := artImage(t, ts, repo, "other", "amd64")
		tags := artRepoPath(repo) + "/artifacts/" + img + "/tags"

		resp := artCall(t, ts, http.MethodPost, tags, roles["developer"], map[string]string{"name": "v2"})
		expectStatus(t, resp, http.StatusCreated)
		if loc := resp.Header.Get("Location"); loc != "/api/v2.0/projects/tagged/repositories/team%252Fapp/artifacts/"+img+"/tags/v2" {
			t.Errorf("Location %q", loc)
		}
		// The new tag is a tag like a pushed one: /v2/ resolves it.
		r := ts.do(t, http.MethodHead, "/v2/"+repo+"/manifests/v2", hdr(nil, "Accept", mtOCIManifest), nil)
		expectStatus(t, r, http.StatusOK)
		if r.Header.Get("Docker-Content-Digest") != img {
			t.Errorf("/v2/ resolves v2 to %s, want %s", r.Header.Get("Docker-Content-Digest"), img)
		}

		for _, c := range []struct {
			name   string
			h      http.Header
			body   any
			status int
			code   string
		}{
			{"tag taken by this artifact", nil, map[string]string{"name": "v1"}, http.StatusConflict, "CONFLICT"},
			{"tag taken by another artifact", nil, map[string]string{"name": "other"}, http.StatusConflict, "CONFLICT"},
			{"invalid tag", nil, map[string]string{"name": "-bad"}, http.StatusBadRequest, "BAD_REQUEST"},
			{"no name", nil, map[string]string{}, http.StatusBadRequest, "BAD_REQUEST"},
			{"unknown field", nil, `{"name":"v3","x":1}`, http.StatusBadRequest, "BAD_REQUEST"},
			{"guest", roles["guest"], map[string]string{"name": "v3"}, http.StatusForbidden, "FORBIDDEN"},
			{"outsider", roles["outsider"], map[string]string{"name": "v3"}, http.StatusNotFound, "NOT_FOUND"},
			{"anonymous", anonymous(), map[string]string{"name": "v3"}, http.StatusUnauthorized, "UNAUTHORIZED"},
		} {
			t.Run(c.name, func(t *testing.T) {
				artErr(t, artCall(t, ts, http.MethodPost, tags, c.h, c.body), c.status, c.code)
			})
		}

		var list []tTag
		resp = artGet(t, ts, tags+"?sort=name", roles["limited"], &list)
		if len(list) != 2 || list[0].Name != "v1" || list[1].Name != "v2" || resp.Header.Get("X-Total-Count") != "2" || list[1].ArtifactID == 0 {
			t.Errorf("tags %+v", list)
		}
		artGet(t, ts, tags+"?q=name%3D~2", nil, &list)
		if len(list) != 1 || list[0].Name != "v2" {
			t.Errorf("q=name=~2: %+v", list)
		}

		// Deleting: only a tag of this artifact, by those who may delete.
		artErr(t, artCall(t, ts, http.MethodDelete, tags+"/v2", roles["developer"], nil), http.StatusForbidden, "FORBIDDEN")
		artErr(t, artCall(t, ts, http.MethodDelete, tags+"/other", nil, nil), http.StatusNotFound, "NOT_FOUND")
		expectStatus(t, artCall(t, ts, http.MethodDelete, tags+"/v2", roles["maintainer"], nil), http.StatusOK)
		artErr(t, artCall(t, ts, http.MethodDelete, tags+"/v2", nil, nil), http.StatusNotFound, "NOT_FOUND")
		assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/v2", nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		artWaitAudit(t, ts, "create", "tag", repo+":v2")
		artWaitAudit(t, ts, "delete", "tag", repo+":v2")
		// The artifact stays, with its other tag.
		a := artArtifact(t, ts, repo, img, "", nil)
		if len(*a.Tags) != 1 || (*a.Tags)[0].Name != "v1" {
			t.Errorf("tags after deleting v2: %+v", a.Tags)
		}
		_ = other
	})
}

func TestArtifactDelete(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		lib, err := ts.srv.db.ProjectByName(context.Background(), "library")
		if err != nil {
			t.Fatal(err)
		}
		roles := artRoles(t, ts, lib)
		repo := "library/del"
		idx := artPushIndex(t, ts, repo, "multi")
		// The arm64 child also has a tag of its own: it outlives the index.
		expectStatus(t, artCall(t, ts, http.MethodPost, artRepoPath(repo)+"/artifacts/"+idx.arm64+"/tags", nil, map[string]string{"name": "arm"}), http.StatusCreated)
		_, img, size := artImage(t, ts, repo, "v1", "amd64")
		sig := artPushSignature(t, ts, repo, img, size)
		arts := artRepoPath(repo) + "/artifacts/"

		// A child of an index cannot go while the index lists it (as on /v2/).
		msg := artErr(t, artCall(t, ts, http.MethodDelete, arts+idx.amd64, nil, nil), http.StatusPreconditionFailed, "VIOLATE_FOREIGN_KEY_CONSTRAINT")
		if msg != "the deleting artifact is referenced by others" {
			t.Errorf("message %q", msg)
		}
		assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/"+repo+"/manifests/"+idx.amd64, nil, nil), http.StatusPreconditionFailed, "PRECONDITION")

		artErr(t, artCall(t, ts, http.MethodDelete, arts+"multi", roles["developer"], nil), http.StatusForbidden, "FORBIDDEN")
		artErr(t, artCall(t, ts, http.MethodDelete, arts+"multi", anonymous(), nil), http.StatusUnauthorized, "UNAUTHORIZED")
		expectStatus(t, artCall(t, ts, http.MethodDelete, arts+"multi", roles["maintainer"], nil), http.StatusOK)
		// The index and its untagged child are gone; the tagged child stays.
		for _, d := range []string{idx.digest, idx.amd64} {
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+d, nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
			artErr(t, artCall(t, ts, http.MethodGet, arts+d, nil, nil), http.StatusNotFound, "NOT_FOUND")
		}
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/arm", hdr(nil, "Accept", mtOCIManifest), nil), http.StatusOK)

		// Deleting by tag deletes the artifact, and its signature with it.
		expectStatus(t, artCall(t, ts, http.MethodDelete, arts+"v1", nil, nil), http.StatusOK)
		for _, d := range []string{img, sig} {
			assertOCIError(t, ts.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+d, nil, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		}
		artErr(t, artCall(t, ts, http.MethodDelete, arts+"v1", nil, nil), http.StatusNotFound, "NOT_FOUND")
		got, _ := artDigests(t, ts, arts[:len(arts)-1], nil)
		if strings.Join(got, ",") != idx.arm64 {
			t.Errorf("remaining artifacts %v, want the tagged child", got)
		}
	})
}

func TestArtifactCopy(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		src := artProject(t, ts, "src", false)
		dst := artProject(t, ts, "dst", false)
		srcRoles := artRoles(t, ts, src)
		dstRoles := artRoles(t, ts, dst)
		// One user who may pull from src and push to dst, another who may only push to dst.
		devID, dev := artUser(t, ts, "copier")
		artMember(t, ts, src.ID, devID, meta.RoleGuest)
		artMember(t, ts, dst.ID, devID, meta.RoleDeveloper)

		body, img, size := artImage(t, ts, "src/app", "v1", "amd64")
		expectStatus(t, artCall(t, ts, http.MethodPost, artRepoPath("src/app")+"/artifacts/v1/tags", nil, map[string]string{"name": "stable"}), http.StatusCreated)
		sig := artPushSignature(t, ts, "src/app", img, size)
		idx := artPushIndex(t, ts, "src/app", "multi")

		// By tag: the copy has the digest, the tags and the signature of the source.
		resp := artCall(t, ts, http.MethodPost, artRepoPath("dst/team/copy")+"/artifacts?from=src/app:v1", dev, nil)
		expectStatus(t, resp, http.StatusCreated)
		if loc := resp.Header.Get("Location"); loc != "/api/v2.0/projects/dst/repositories/team%252Fcopy/artifacts/"+img {
			t.Errorf("Location %q", loc)
		}
		r := ts.do(t, http.MethodGet, "/v2/dst/team/copy/manifests/"+img, hdr(nil, "Accept", mtOCIManifest), nil)
		expectStatus(t, r, http.StatusOK)
		if !bytes.Equal(respBody(t, r), body) || r.Header.Get("Docker-Content-Digest") != img {
			t.Errorf("the copy pulled through /v2/ differs from the source")
		}
		var m tManifest
		json.Unmarshal(body, &m)
		for _, d := range []string{m.Config.Digest, m.Layers[0].Digest} {
			br := ts.do(t, http.MethodGet, "/v2/dst/team/copy/blobs/"+d, nil, nil)
			expectStatus(t, br, http.StatusOK)
			if sha256Digest(respBody(t, br)) != d {
				t.Errorf("blob %s of the copy has other content", d)
			}
		}
		artWaitAudit(t, ts, "create", "artifact", "dst/team/copy:stable")
		a := artArtifact(t, ts, "dst/team/copy", img, "with_accessory=true", nil)
		names := []string{}
		for _, tg := range *a.Tags {
			names = append(names, tg.Name)
		}
		if !sameSet(names, []string{"v1", "stable"}) || a.ProjectID != dst.ID || len(*a.Accessories) != 1 || (*a.Accessories)[0].Digest != sig {
			t.Errorf("copy: tags %v, project %d, accessories %+v", names, a.ProjectID, a.Accessories)
		}

		// By digest, an index: its children come along.
		expectStatus(t, artCall(t, ts, http.MethodPost, artRepoPath("dst/multi")+"/artifacts?from=src/app@"+idx.digest, nil, nil), http.StatusCreated)
		for _, d := range []string{idx.digest, idx.amd64, idx.arm64} {
			expectStatus(t, ts.do(t, http.MethodHead, "/v2/dst/multi/manifests/"+d, hdr(nil, "Accept", mtOCIManifest+","+mtOCIIndex), nil), http.StatusOK)
		}
		x := artArtifact(t, ts, "dst/multi", idx.digest, "", nil)
		if x.Size != idx.size || len(x.References) != 2 || len(*x.Tags) != 1 || (*x.Tags)[0].Name != "multi" {
			t.Errorf("copied index %+v", x)
		}
		// Copying again changes nothing and succeeds.
		expectStatus(t, artCall(t, ts, http.MethodPost, artRepoPath("dst/multi")+"/artifacts?from=src/app@"+idx.digest, nil, nil), http.StatusCreated)

		for _, c := range []struct {
			name, path, from string
			h                http.Header
			status           int
			code             string
		}{
			{"no from", "dst/x", "", nil, http.StatusBadRequest, "BAD_REQUEST"},
			{"from without a reference", "dst/x", "src/app", nil, http.StatusBadRequest, "BAD_REQUEST"},
			{"from with a bad digest", "dst/x", "src/app@sha256:12", nil, http.StatusBadRequest, "BAD_REQUEST"},
			{"bad target name", "dst/Bad", "src/app:v1", nil, http.StatusBadRequest, "BAD_REQUEST"},
			{"unknown source tag", "dst/x", "src/app:nosuch", nil, http.StatusNotFound, "NOT_FOUND"},
			{"unknown source project", "dst/x", "nosuch/app:v1", nil, http.StatusNotFound, "NOT_FOUND"},
			{"source the caller cannot see", "dst/x", "src/app:v1", dstRoles["developer"], http.StatusNotFound, "NOT_FOUND"},
			{"target the caller cannot push to", "dst/x", "src/app:v1", dstRoles["guest"], http.StatusForbidden, "FORBIDDEN"},
			{"target project the caller cannot see", "dst/x", "src/app:v1", srcRoles["admin"], http.StatusNotFound, "NOT_FOUND"},
			{"anonymous", "dst/x", "src/app:v1", anonymous(), http.StatusUnauthorized, "UNAUTHORIZED"},
		} {
			t.Run(c.name, func(t *testing.T) {
				path := artRepoPath(c.path) + "/artifacts"
				if c.from != "" {
					path += "?from=" + url.QueryEscape(c.from)
				}
				artErr(t, artCall(t, ts, http.MethodPost, path, c.h, nil), c.status, c.code)
			})
		}
		// Refused copies leave nothing behind.
		artErr(t, artCall(t, ts, http.MethodGet, artRepoPath("dst/x"), nil, nil), http.StatusNotFound, "NOT_FOUND")
	})
}

func TestArtifactAdditions(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		repo := "library/add"
		artImage(t, ts, repo, "v1", "amd64")
		artPushIndex(t, ts, repo, "multi")
		artPushChart(t, ts, repo, "chart")
		arts := artRepoPath(repo) + "/artifacts/"

		var history []struct {
			Created    string `json:"created"`
			CreatedBy  string `json:"created_by"`
			EmptyLayer bool   `json:"empty_layer"`
		}
		artGet(t, ts, arts+"v1/additions/build_history", anonymous(), &history)
		if len(history) != 2 || !strings.Contains(history[0].CreatedBy, "ADD file") || !history[1].EmptyLayer {
			t.Errorf("build history %+v", history)
		}
		var vulns map[string]any
		artGet(t, ts, arts+"v1/additions/vulnerabilities", nil, &vulns)
		if len(vulns) != 0 {
			t.Errorf("vulnerabilities of an unscanned image: %v", vulns)
		}

		r := artCall(t, ts, http.MethodGet, arts+"chart/additions/values.yaml", nil, nil)
		expectStatus(t, r, http.StatusOK)
		if string(respBody(t, r)) != "replicas: 2\n" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("values.yaml %q (%s)", respBody(t, r), r.Header.Get("Content-Type"))
		}
		r = artCall(t, ts, http.MethodGet, arts+"chart/additions/readme.md", nil, nil)
		expectStatus(t, r, http.StatusOK)
		if string(respBody(t, r)) != "# My chart\n" {
			t.Errorf("readme.md %q", respBody(t, r))
		}
		var deps []map[string]any
		artGet(t, ts, arts+"chart/additions/dependencies", nil, &deps)
		if len(deps) != 1 || deps[0]["name"] != "redis" || deps[0]["repository"] != "https://charts.example.com" {
			t.Errorf("dependencies %v", deps)
		}

		for _, path := range []string{
			arts + "multi/additions/build_history", // an index has none
			arts + "chart/additions/build_history",
			arts + "v1/additions/values.yaml", // not a chart
			arts + "v1/additions/license",
			arts + "v1/additions/nosuch",
			arts + "nosuch/additions/build_history",
		} {
			artErr(t, artCall(t, ts, http.MethodGet, path, nil, nil), http.StatusNotFound, "NOT_FOUND")
		}
	})
}
