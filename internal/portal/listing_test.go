package portal

import (
	"net/http/httptest"
	"testing"

	"github.com/berthreg/berth/internal/meta"
)

// TestPagingLinks: a listing's query and its links keep the page size, sort and filter, and
// stop at the ends.
func TestPagingLinks(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/projects?page=2&page_size=10&sort=-name&filter=team", nil)
	lq, l, err := parseListing(r, projectSortKeys)
	if err != nil {
		t.Fatal(err)
	}
	if lq.Offset != 10 || lq.Limit != 10 || len(lq.Sort) != 1 || lq.Sort[0] != (meta.SortKey{Key: "name", Desc: true}) ||
		len(lq.Filters) != 1 || lq.Filters[0].Op != meta.OpFuzzy || lq.Filters[0].Values[0] != "team" {
		t.Fatalf("query %+v", lq)
	}
	l.Total = 35
	for _, c := range []struct{ got, want string }{
		{l.Prev(), "/projects?filter=team&page_size=10&sort=-name"},
		{l.Next(), "/projects?filter=team&page=3&page_size=10&sort=-name"},
		{l.SortLink("name"), "/projects?filter=team&page_size=10&sort=name"},
		{l.SortLink("creation_time"), "/projects?filter=team&page_size=10&sort=creation_time"},
		{l.SortState("name"), "descending"},
		{l.SortState("public"), "none"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if l.Pages() != 4 || l.First() != 11 || l.Last() != 20 {
		t.Errorf("pages %d, rows %d–%d", l.Pages(), l.First(), l.Last())
	}
	l.Page = 4
	if l.Next() != "" || l.Last() != 35 {
		t.Errorf("last page: next %q, last row %d", l.Next(), l.Last())
	}
	for _, bad := range []string{"page=0", "page=x", "page_size=101", "page_size=0", "sort=owner"} {
		if _, _, err := parseListing(httptest.NewRequest("GET", "/projects?"+bad, nil), projectSortKeys); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// TestLocalPath: a login sends the browser on only to a path of this site.
func TestLocalPath(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/projects?page=2":     "/projects?page=2",
		"":                     "",
		"projects":             "",
		"//evil.example":       "",
		`/\evil.example`:       "",
		"https://evil.example": "",
		"/x\r\nLocation: y":    "",
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}
