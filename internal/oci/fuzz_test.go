package oci

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/registry"
)

// FuzzParseRoute: an accepted /v2/ path splits into a kind, a repository name and a reference
// that hold no escapes, and the path built back from them parses to the same route.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2", "/v2/_catalog", "/v2/library/app/tags/list", "/v2/a/b/c/manifests/sha256:abc",
		"/v2/library/app/blobs/uploads/", "/v2/library/app/blobs/uploads", "/v2/library/app/blobs/uploads/u1",
		"/v2/library/blobs/manifests/v1", "/v2/library/app/referrers/sha256:abc", "/v2//tags/list", "/v2/a/..%2F/blobs/x",
		"/v2/a/b/blobs/uploads/x/y", "/v3/x", "/v2/a/manifests/", "/v2/tags/list"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, ok := parseRoute(path)
		if !ok {
			return
		}
		if strings.Contains(rt.name, "%") || strings.Contains(rt.ref, "%") {
			t.Fatalf("parseRoute(%q) = %+v: an escape in a name or reference", path, rt)
		}
		var built string
		switch rt.kind {
		case "base", "catalog":
			return
		case "tags":
			built = "/v2/" + rt.name + "/tags/list"
		case "manifest":
			built = "/v2/" + rt.name + "/manifests/" + rt.ref
		case "blob":
			built = "/v2/" + rt.name + "/blobs/" + rt.ref
		case "uploads":
			built = "/v2/" + rt.name + "/blobs/uploads/"
		case "upload":
			built = "/v2/" + rt.name + "/blobs/uploads/" + rt.ref
		case "referrers":
			built = "/v2/" + rt.name + "/referrers/" + rt.ref
		default:
			t.Fatalf("parseRoute(%q): unknown kind %q", path, rt.kind)
		}
		again, ok := parseRoute(built)
		if !ok || again != rt {
			t.Fatalf("parseRoute(%q) = %+v, but %q parses as %+v, %v", path, rt, built, again, ok)
		}
	})
}

// FuzzChunkStart: a chunk's Content-Range is accepted only as a range that starts at 0 or
// later and agrees with Content-Length; the body then reads as exactly the range, or fails
// with RANGE_INVALID. Without Content-Range the chunk is a stream (-1).
func FuzzChunkStart(f *testing.F) {
	for _, s := range []struct {
		cr     string
		length bool
		body   []byte
	}{
		{"0-3", true, []byte("abcd")}, {"bytes=0-3", true, []byte("abcd")}, {"bytes 4-7", false, []byte("abcd")},
		{"0-3", false, []byte("abc")}, {"0-3", false, []byte("abcde")}, {"", true, []byte("x")}, {"5-1", true, nil},
		{"-5-10", true, nil}, {"0-99999999999999999999", false, nil}, {"abc", true, nil}, {"0--1", true, nil},
		{"+1-+2", false, []byte("ab")}, {"0-0", true, []byte("a")}, {"9223372036854775806-9223372036854775807", false, []byte("ab")},
	} {
		f.Add(s.cr, s.length, s.body)
	}
	f.Fuzz(func(t *testing.T, cr string, withLength bool, body []byte) {
		r := httptest.NewRequest("PATCH", "/v2/a/b/blobs/uploads/u", bytes.NewReader(body))
		r.ContentLength = -1
		if withLength {
			r.ContentLength = int64(len(body))
		}
		if cr != "" {
			r.Header.Set("Content-Range", cr)
		}
		start, err := chunkStart(r)
		rangeInvalid := func(err error) bool {
			var re *registry.Error
			return errors.As(err, &re) && re.Code == registry.CodeRangeInvalid
		}
		if err != nil {
			if !rangeInvalid(err) {
				t.Fatalf("chunkStart(%q): %v, want a RANGE_INVALID", cr, err)
			}
			return
		}
		if r.Header.Get("Content-Range") == "" {
			if start != -1 {
				t.Fatalf("no Content-Range (%q), start %d", cr, start)
			}
			return
		}
		eb, ok := r.Body.(*exactBody)
		if start < 0 || !ok || eb.left <= 0 {
			t.Fatalf("chunkStart(%q) = %d, body %T", cr, start, r.Body)
		}
		want := eb.left
		if withLength && want != int64(len(body)) {
			t.Fatalf("chunkStart(%q) accepted a range of %d bytes with Content-Length %d", cr, want, len(body))
		}
		got, err := io.ReadAll(r.Body)
		switch {
		case err != nil && !rangeInvalid(err):
			t.Fatalf("reading the chunk of %q: %v, want a RANGE_INVALID", cr, err)
		case err != nil && int64(len(body)) == want:
			t.Fatalf("reading a chunk of exactly its range %q failed: %v", cr, err)
		case err == nil && (int64(len(got)) != want || !bytes.Equal(got, body)):
			t.Fatalf("reading the chunk of %q gave %d bytes of %d, want exactly %d", cr, len(got), len(body), want)
		}
	})
}
