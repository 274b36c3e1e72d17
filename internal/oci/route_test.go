package oci

import (
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path string
		want route
		ok   bool
	}{
		{"/v2/", route{kind: "base"}, true},
		{"/v2", route{kind: "base"}, true},
		{"/v2/_catalog", route{kind: "catalog"}, true},
		{"/v2/library/app/tags/list", route{kind: "tags", name: "library/app"}, true},
		{"/v2/library/app/manifests/latest", route{kind: "manifest", name: "library/app", ref: "latest"}, true},
		{"/v2/a/b/c/manifests/sha256:abc", route{kind: "manifest", name: "a/b/c", ref: "sha256:abc"}, true},
		{"/v2/library/app/blobs/sha256:abc", route{kind: "blob", name: "library/app", ref: "sha256:abc"}, true},
		{"/v2/library/app/blobs/uploads/", route{kind: "uploads", name: "library/app"}, true},
		{"/v2/library/app/blobs/uploads", route{kind: "uploads", name: "library/app"}, true},
		{"/v2/library/app/blobs/uploads/abc123", route{kind: "upload", name: "library/app", ref: "abc123"}, true},
		{"/v2/library/app/referrers/sha256:abc", route{kind: "referrers", name: "library/app", ref: "sha256:abc"}, true},
		// Names may contain the words the grammar uses; the kind comes from the end of the path.
		{"/v2/library/blobs/manifests/v1", route{kind: "manifest", name: "library/blobs", ref: "v1"}, true},
		{"/v2/library/manifests/blobs/uploads/", route{kind: "uploads", name: "library/manifests"}, true},
		{"/v2/library/tags/tags/list", route{kind: "tags", name: "library/tags"}, true},
		// Encoded characters never belong to a valid name, reference or upload id.
		{"/v2/library%2Fapp/tags/list", route{}, false},
		{"/v2/library/..%2F..%2Fetc/blobs/sha256:abc", route{}, false},
		{"/v2/library/app/blobs/uploads/..%2F..", route{}, false},
		{"/v2/library/app", route{}, false},
		{"/v2/library/app/unknown/x", route{}, false},
		{"/v3/x", route{}, false},
	}
	for _, tt := range tests {
		got, ok := parseRoute(tt.path)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRoutesMatchDispatch: Routes lists exactly the methods and paths the handler serves.
func TestRoutesMatchDispatch(t *testing.T) {
	listed := map[[2]string]bool{}
	for _, rt := range Routes() {
		path := strings.NewReplacer("{name}", "library/app", "{reference}", "v1", "{digest}", "sha256:abc", "{uuid}", "u1").Replace(rt.Pattern)
		got, ok := parseRoute(path)
		if !ok || got.kind != rt.kind {
			t.Errorf("%s %s: parses as %+v, %v; want kind %s", rt.Method, rt.Pattern, got, ok, rt.kind)
		}
		listed[[2]string{got.kind, rt.Method}] = true
	}
	h := &Handler{}
	methods := []string{"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"}
	for _, kind := range []string{"tags", "manifest", "blob", "uploads", "upload", "referrers"} {
		for _, m := range methods {
			_, fn := h.dispatch(route{kind: kind}, m)
			if (fn != nil) != listed[[2]string{kind, m}] {
				t.Errorf("%s %s: served %v, listed %v", m, kind, fn != nil, listed[[2]string{kind, m}])
			}
		}
	}
	// base and catalog answer GET and HEAD themselves.
	for _, kind := range []string{"base", "catalog"} {
		for _, m := range methods {
			if want := m == "GET" || m == "HEAD"; listed[[2]string{kind, m}] != want {
				t.Errorf("%s %s: listed %v, want %v", m, kind, !want, want)
			}
		}
	}
}
