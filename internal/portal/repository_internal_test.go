package portal

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRepoPath(t *testing.T) {
	for _, c := range []struct {
		path       string
		repo, dgst string
		action     []string
		ok         bool
	}{
		{"app", "app", "", nil, true},
		{"team/app", "team/app", "", nil, true},
		{"team/app/-/delete", "team/app", "", []string{"delete"}, true},
		{"team/app/-/description", "team/app", "", []string{"description"}, true},
		{"app/artifacts/sha256:abc", "app", "sha256:abc", []string{}, true},
		{"team/delete/artifacts/sha256:abc/delete", "team/delete", "sha256:abc", []string{"delete"}, true},
		{"x/artifacts/y/artifacts/sha256:abc/tags/artifacts/delete", "x/artifacts/y", "sha256:abc", []string{"tags", "artifacts", "delete"}, true},
		{"app/artifacts/sha256:abc/labels/7/delete", "app", "sha256:abc", []string{"labels", "7", "delete"}, true},
		{"x/artifacts/y", "x/artifacts/y", "", nil, true},
		{"artifacts/sha256:abc", "", "", nil, false},
		{"app/sha256:abc", "", "", nil, false},
		{"-/delete", "", "", nil, false},
		{"", "", "", nil, false},
	} {
		got, ok := parseRepoPath(c.path)
		if ok != c.ok || got.repo != c.repo || got.dgst != c.dgst || !slices.Equal(got.action, c.action) {
			t.Errorf("%q: %+v %v, want %q %q %q %v", c.path, got, ok, c.repo, c.dgst, c.action, c.ok)
		}
	}
}

// TestRenderMarkdown: descriptions keep their markdown and lose raw HTML, scripts, event
// handler attributes and dangerous link schemes.
func TestRenderMarkdown(t *testing.T) {
	for _, c := range []struct {
		src     string
		want    []string
		mustNot []string
	}{
		{"**bold** and [link](https://example.com/a?b=1&c=2)", []string{"<strong>bold</strong>", `<a href="https://example.com/a?b=1&amp;c=2">link</a>`}, nil},
		{"<script>alert(1)</script>", nil, []string{"<script", "alert"}},
		{"text <b onclick=\"alert(1)\">x</b>", []string{"text"}, []string{"onclick", "<b"}},
		{"<img src=x onerror=alert(1)>", nil, []string{"<img", "onerror"}},
		{"[x](javascript:alert(1))", []string{`<a href="">x</a>`}, []string{"javascript:"}},
		{"[x](JaVaScRiPt:alert(1))", nil, []string{"alert"}},
		{"[x](vbscript:msgbox)", nil, []string{"vbscript:"}},
		{"<javascript:alert(1)>", []string{`<a href="">`}, []string{`href="javascript`}},
		{"[x](&#106;avascript:alert(1))", nil, []string{"avascript:"}},
		{"[x]: javascript:alert(1)\n\n[x]", nil, []string{"javascript:"}},
		{"[x](data:text/html;base64,PHNjcmlwdD4=)", nil, []string{"data:text/html"}},
		{"![i](javascript:alert(1))", nil, []string{"javascript:"}},
		{"<a href=\"https://x\" onmouseover=\"alert(1)\">a</a>", nil, []string{"onmouseover"}},
		{"`<script>`", []string{"<code>&lt;script&gt;</code>"}, []string{"<script>"}},
		{"| a |\n|---|\n| 1 |", []string{"<table>", "<td>1</td>"}, nil},
	} {
		got, err := renderMarkdown(c.src)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(got), w) {
				t.Errorf("%q: %q lacks %q", c.src, got, w)
			}
		}
		for _, w := range c.mustNot {
			if strings.Contains(strings.ToLower(string(got)), strings.ToLower(w)) {
				t.Errorf("%q: %q lets %q through", c.src, got, w)
			}
		}
	}
}

func TestLabelColor(t *testing.T) {
	for in, want := range map[string]string{"#C92100": "#C92100", "#fff": "#fff", "": "", "red": "", "#12345": "", `#fff" onload="x`: ""} {
		if got := labelColor(in); got != want {
			t.Errorf("labelColor(%q) = %q, want %q", in, got, want)
		}
	}
}
