package oci

import (
	"slices"
	"strings"
)

// route is a parsed /v2/ path.
type route struct {
	kind string // base, catalog, tags, manifest, blob, uploads, upload, referrers
	name string // repository
	ref  string // tag, digest or upload id
}

// parseRoute splits a /v2/ path. Repository names may contain segments such as "blobs" or
// "manifests", so the kind is decided from the end of the path, where the grammar is fixed.
// It works on the escaped path: an encoded character (such as %2F) can never be part of a
// valid name, reference or upload id, so any '%' is refused outright.
func parseRoute(escapedPath string) (route, bool) {
	p, ok := strings.CutPrefix(escapedPath, "/v2/")
	if !ok {
		return route{kind: "base"}, escapedPath == "/v2"
	}
	if p == "" {
		return route{kind: "base"}, true
	}
	if strings.Contains(p, "%") {
		return route{}, false
	}
	if p == "_catalog" {
		return route{kind: "catalog"}, true
	}
	segs := strings.Split(p, "/")
	n := len(segs)
	switch {
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads" && segs[n-1] == "":
		return route{kind: "uploads", name: strings.Join(segs[:n-3], "/")}, true
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		return route{kind: "upload", name: strings.Join(segs[:n-3], "/"), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		return route{kind: "tags", name: strings.Join(segs[:n-2], "/")}, true
	case n >= 3 && segs[n-2] == "manifests":
		return route{kind: "manifest", name: strings.Join(segs[:n-2], "/"), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		return route{kind: "uploads", name: strings.Join(segs[:n-2], "/")}, true
	case n >= 3 && segs[n-2] == "blobs":
		return route{kind: "blob", name: strings.Join(segs[:n-2], "/"), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "referrers":
		return route{kind: "referrers", name: strings.Join(segs[:n-2], "/"), ref: segs[n-1]}, true
	}
	return route{}, false
}

// RouteKind names the kind of a /v2/ path (for metrics labels).
func RouteKind(path string) (string, bool) {
	rt, ok := parseRoute(path)
	return rt.kind, ok
}

// Route is one /v2/ endpoint: a method and a path pattern, where {name} is a repository name
// (one or more segments), {reference} a tag or a digest, {digest} a digest and {uuid} an
// upload session's id.
type Route struct {
	Method, Pattern string
	kind            string
}

// routes are the endpoints Handler serves; TestRoutesMatchDispatch keeps the list and dispatch
// in step.
var routes = []Route{
	{"GET", "/v2/", "base"}, {"HEAD", "/v2/", "base"},
	{"GET", "/v2/_catalog", "catalog"}, {"HEAD", "/v2/_catalog", "catalog"},
	{"GET", "/v2/{name}/tags/list", "tags"}, {"HEAD", "/v2/{name}/tags/list", "tags"},
	{"GET", "/v2/{name}/manifests/{reference}", "manifest"}, {"HEAD", "/v2/{name}/manifests/{reference}", "manifest"},
	{"PUT", "/v2/{name}/manifests/{reference}", "manifest"}, {"DELETE", "/v2/{name}/manifests/{reference}", "manifest"},
	{"GET", "/v2/{name}/blobs/{digest}", "blob"}, {"HEAD", "/v2/{name}/blobs/{digest}", "blob"},
	{"DELETE", "/v2/{name}/blobs/{digest}", "blob"},
	{"POST", "/v2/{name}/blobs/uploads/", "uploads"},
	{"GET", "/v2/{name}/blobs/uploads/{uuid}", "upload"}, {"PATCH", "/v2/{name}/blobs/uploads/{uuid}", "upload"},
	{"PUT", "/v2/{name}/blobs/uploads/{uuid}", "upload"}, {"DELETE", "/v2/{name}/blobs/uploads/{uuid}", "upload"},
	{"GET", "/v2/{name}/referrers/{digest}", "referrers"}, {"HEAD", "/v2/{name}/referrers/{digest}", "referrers"},
}

// Routes lists every /v2/ endpoint, for tests that go through them all.
func Routes() []Route { return slices.Clone(routes) }
