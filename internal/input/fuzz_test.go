package input

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzJSON: for a valid JSON document, JSON finds a problem exactly when the document is not
// valid UTF-8 or one of its strings (a key or a value) decodes to text with a NUL.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":"\u0000"}`, `{"a":"\\u0000"}`, `{"\u0000":1}`, `["\"\u0000"]`, `"\\\u0000"`,
		`{"a":"\\\\u0000"}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":[1,"x\u0001",{"b":"\u0000c"}]}`, `"\u0000"`, `123`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		why := JSON(b)
		if !json.Valid(b) {
			return // the decoder refuses it whatever JSON says
		}
		want := !utf8.Valid(b)
		if !want {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("a valid document does not decode: %v", err)
			}
			want = holdsNUL(v)
		}
		if (why != "") != want {
			t.Fatalf("JSON(%q) = %q, want a problem: %v", b, why, want)
		}
	})
}

func holdsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if holdsNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || holdsNUL(e) {
				return true
			}
		}
	}
	return false
}

// FuzzURL: a request target URL accepts has a text path, text query keys and values, a query
// string within MaxQuery and values within MaxQueryValue.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"/api/v2.0/projects?q=name%3D~a", "/v2/a/b/tags/list?last=%00", "/x?%ff=1", "/caf%C3%A9?a=%C3", "/x?a=1&a=%00",
		"/x?" + strings.Repeat("a", 3000), "/x?a=" + strings.Repeat("%41", 2049), "/%00", "/x?a;b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		if URL(u) != nil {
			return
		}
		if Text(u.Path) != "" || len(u.RawQuery) > MaxQuery {
			t.Fatalf("URL(%q) accepted its path or query string", target)
		}
		for k, vs := range u.Query() {
			for _, v := range vs {
				if Text(k) != "" || Text(v) != "" || len(v) > MaxQueryValue {
					t.Fatalf("URL(%q) accepted %q=%q", target, k, v)
				}
			}
		}
	})
}
