package input

import (
	"net/url"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, tt := range []struct {
		s, why string
	}{
		{"library", ""},
		{"café ☕", ""},
		{"", ""},
		{"a\x00b", "contains a NUL character"},
		{"\xff", "is not valid UTF-8"},
		{"caf\xc3", "is not valid UTF-8"},
		{"\xed\xa0\x80", "is not valid UTF-8"}, // a UTF-16 surrogate
	} {
		if got := Text(tt.s); got != tt.why {
			t.Errorf("Text(%q) = %q, want %q", tt.s, got, tt.why)
		}
	}
}

func TestURL(t *testing.T) {
	for _, tt := range []struct {
		target, err string
	}{
		{"/api/v2.0/projects?q=name%3D~caf%C3%A9&page=2", ""},
		{"/api/v2.0/projects/caf%C3%A9", ""},
		{"/api/v2.0/search?q=%00", `invalid parameter "q": contains a NUL character`},
		{"/v2/a/b/tags/list?last=%ff", `invalid parameter "last": is not valid UTF-8`},
		{"/api/v2.0/projects?%00=1", `invalid parameter "\x00": its name contains a NUL character`},
		{"/api/v2.0/projects/%00", "invalid path: contains a NUL character"},
		{"/api/v2.0/projects/%ff", "invalid path: is not valid UTF-8"},
		// What a handler decodes once more is its own to check.
		{"/api/v2.0/projects/%2500?q=%2500", ""},
		{"/api/v2.0/search?q=" + strings.Repeat("a", MaxQueryValue), ""},
		{"/api/v2.0/search?q=" + strings.Repeat("a", MaxQueryValue+1), `invalid parameter "q": 2049 bytes, at most 2048 are accepted`},
		{"/api/v2.0/search?q=" + strings.Repeat("%41", 2100), `invalid parameter "q": 2100 bytes, at most 2048 are accepted`},
		{"/api/v2.0/search?" + strings.Repeat("a=1&", MaxQuery/4+1), "invalid query string: 8196 bytes, at most 8192 are accepted"},
	} {
		u, err := url.ParseRequestURI(tt.target)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if p := URL(u); p != nil {
			got = p.Error()
		}
		if got != tt.err {
			t.Errorf("URL(%.80s) = %q, want %q", tt.target, got, tt.err)
		}
	}
}

func TestValuesTakeFormsOfAnyLength(t *testing.T) {
	long := strings.Repeat("repository:a/b:pull ", 1000)
	if p := Values(url.Values{"scope": {long}}); p != nil {
		t.Errorf("a long form field was refused: %v", p)
	}
	if p := Values(url.Values{"password": {"p%00ss"}}); p != nil {
		t.Errorf("a password with %%00 in it was refused (forms are decoded once): %v", p)
	}
	if p := Values(url.Values{"principal": {"a\x00"}}); p == nil || p.Param != "principal" {
		t.Errorf("a NUL in a form field: %v", p)
	}
}

func TestJSON(t *testing.T) {
	for _, tt := range []struct {
		doc, why string
	}{
		{`{"name":"café","n":1}`, ""},
		{`{"a":"\\u0000"}`, ""}, // a backslash, then the text u0000
		{`{"a":"\"\u0000"}`, "holds a NUL character (\\u0000)"},
		{`{"a":"x\u0000"}`, "holds a NUL character (\\u0000)"},
		{`{"\u0000":1}`, "holds a NUL character (\\u0000)"},
		{`{"a":"\u00001"}`, "holds a NUL character (\\u0000)"},
		{`{"a":"\u0001"}`, ""},
		{`{"a":"\\\u0000"}`, "holds a NUL character (\\u0000)"},
		{"{\"a\":\"\xff\"}", "is not valid UTF-8"},
		{`{"a":"\u000`, ""}, // cut short: the decoder's to refuse
		{`"\`, ""},
	} {
		if got := JSON([]byte(tt.doc)); got != tt.why {
			t.Errorf("JSON(%s) = %q, want %q", tt.doc, got, tt.why)
		}
	}
}
