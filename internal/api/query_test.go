package api

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/berthreg/berth/internal/meta"
)

func TestParseQ(t *testing.T) {
	tests := []struct {
		q    string
		want []meta.Filter
		err  bool
	}{
		{"name=abc", []meta.Filter{{Key: "name", Op: meta.OpExact, Values: []string{"abc"}}}, false},
		{"name=~ab,public=true", []meta.Filter{{Key: "name", Op: meta.OpFuzzy, Values: []string{"ab"}}, {Key: "public", Op: meta.OpExact, Values: []string{"true"}}}, false},
		{`creation_time=["2020-04-09 02:36:00"~"2020-04-10 00:00:00"]`, []meta.Filter{{Key: "creation_time", Op: meta.OpRange, Min: "2020-04-09 02:36:00", Max: "2020-04-10 00:00:00"}}, false},
		{"size=[~100]", []meta.Filter{{Key: "size", Op: meta.OpRange, Max: "100"}}, false},
		{`creation_time=['2020-04-09 02:36:00'~'2020-04-10 00:00:00']`, []meta.Filter{{Key: "creation_time", Op: meta.OpRange, Min: "2020-04-09 02:36:00", Max: "2020-04-10 00:00:00"}}, false},
		{`name=\~x`, []meta.Filter{{Key: "name", Op: meta.OpExact, Values: []string{"~x"}}}, false},
		{`name={'a' "b"}`, []meta.Filter{{Key: "name", Op: meta.OpAny, Values: []string{"a", "b"}}}, false},
		{"id={1 2 3}", []meta.Filter{{Key: "id", Op: meta.OpAny, Values: []string{"1", "2", "3"}}}, false},
		{"labels=(1 2)", []meta.Filter{{Key: "labels", Op: meta.OpAll, Values: []string{"1", "2"}}}, false},
		{"a={x,y},b=1", []meta.Filter{{Key: "a", Op: meta.OpAny, Values: []string{"x,y"}}, {Key: "b", Op: meta.OpExact, Values: []string{"1"}}}, false},
		{"noequals", nil, true},
		{"a=[1~2", nil, true},
		{`a="open`, nil, true},
		{"a=[12]", nil, true},
	}
	for _, tt := range tests {
		got, err := parseQ(tt.q)
		if (err != nil) != tt.err {
			t.Errorf("parseQ(%q) error %v", tt.q, err)
			continue
		}
		if !tt.err && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseQ(%q) = %+v, want %+v", tt.q, got, tt.want)
		}
	}
}

func TestListQueryPagingAndSort(t *testing.T) {
	tests := []struct {
		query      string
		offset     int
		limit      int
		sort       string
		wantStatus int
	}{
		{"", 0, 10, "[]", 0},
		{"page=3&page_size=20&sort=name,-creation_time", 40, 20, "[{name false} {creation_time true}]", 0},
		{"page_size=101", 0, 0, "", 400},
		{"page_size=abc", 0, 0, "", 400},
		{"page=x", 0, 0, "", 400},
		{"page=2147483648", 0, 0, "", 400},
		{"sort=,", 0, 0, "", 400},
		// Harbor's swagger sets no minimum: a page below 1 is the first, a page_size of 0 or
		// less asks for every item (up to maxAllPageSize at once).
		{"page=0", 0, 10, "[]", 0},
		{"page=-3&page_size=5", 0, 5, "[]", 0},
		{"page=0&page_size=0", 0, maxAllPageSize, "[]", 0},
		{"page_size=-1", 0, maxAllPageSize, "[]", 0},
		{"page=2&page_size=0", maxAllPageSize, maxAllPageSize, "[]", 0},
		{"page_size=100", 0, 100, "[]", 0},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/x?"+tt.query, nil)
		lq, _, err := listQuery(r)
		if tt.wantStatus != 0 {
			e, ok := err.(*Error)
			if !ok || e.Status != tt.wantStatus {
				t.Errorf("%q: got %v, want status %d", tt.query, err, tt.wantStatus)
			}
			continue
		}
		if err != nil || lq.Offset != tt.offset || lq.Limit != tt.limit || fmt.Sprint(lq.Sort) != tt.sort {
			t.Errorf("%q: %+v %v", tt.query, lq, err)
		}
	}
}

// TestListQueryDecodesQOnceMore: q escaped once or twice means the same, as in Harbor; a "+"
// escaped once stays a "+", and a q that does not decode again is taken as it is.
func TestListQueryDecodesQOnceMore(t *testing.T) {
	level := []meta.Filter{
		{Key: "Level", Op: meta.OpExact, Values: []string{"project"}},
		{Key: "ProjectID", Op: meta.OpExact, Values: []string{"2"}},
	}
	helm := []meta.Filter{{Key: "media_type", Op: meta.OpExact, Values: []string{"application/vnd.cncf.helm.config.v1+json"}}}
	tests := []struct {
		name, rawQuery string
		want           []meta.Filter
	}{
		{"escaped once", "q=Level%3Dproject%2CProjectID%3D2", level},
		{"escaped twice", "q=Level%253Dproject%252CProjectID%253D2", level},
		{"not escaped", "q=Level=project,ProjectID=2", level},
		{"escaped once by url.Values", "q=" + url.QueryEscape("Level=project,ProjectID=2"), level},
		{"escaped twice by url.Values", "q=" + url.QueryEscape(url.QueryEscape("Level=project,ProjectID=2")), level},
		{"plus escaped once", "q=" + url.QueryEscape("media_type=application/vnd.cncf.helm.config.v1+json"), helm},
		{"plus escaped twice", "q=" + url.QueryEscape(url.QueryEscape("media_type=application/vnd.cncf.helm.config.v1+json")), helm},
		{"space escaped twice", "q=" + url.QueryEscape(url.QueryEscape(`creation_time=["2020-04-09 02:36:00"~]`)),
			[]meta.Filter{{Key: "creation_time", Op: meta.OpRange, Min: "2020-04-09 02:36:00"}}},
		{"percent escaped once", "q=name%3D~50%25", []meta.Filter{{Key: "name", Op: meta.OpFuzzy, Values: []string{"50%"}}}},
		{"percent escaped twice", "q=name%253D~50%2525", []meta.Filter{{Key: "name", Op: meta.OpFuzzy, Values: []string{"50%"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lq, _, err := listQuery(httptest.NewRequest("GET", "/x?"+tt.rawQuery, nil))
			if err != nil {
				t.Fatalf("%s: %v", tt.rawQuery, err)
			}
			if fmt.Sprint(lq.Filters) != fmt.Sprint(tt.want) {
				t.Errorf("%s: filters %+v, want %+v", tt.rawQuery, lq.Filters, tt.want)
			}
		})
	}
}

// TestPageHeaders: X-Total-Count, and Links that keep a request for every item one.
func TestPageHeaders(t *testing.T) {
	tests := []struct {
		name, query string
		total       int64
		link        string
	}{
		{"first of two", "page=1&page_size=10", 15, `</x?page=2&page_size=10>; rel="next"`},
		{"last of two", "page=2&page_size=10", 15, `</x?page=1&page_size=10>; rel="prev"`},
		{"default size", "", 25, `</x?page=2&page_size=10>; rel="next"`},
		{"page 0 is the first", "page=0&page_size=10", 15, `</x?page=2&page_size=10>; rel="next"`},
		{"all in one", "page=0&page_size=0", 15, ""},
		{"all beyond the bound", "page=0&page_size=0", maxAllPageSize + 1, `</x?page=2&page_size=0>; rel="next"`},
		{"rest of all", "page=2&page_size=-1", maxAllPageSize + 1, `</x?page=1&page_size=-1>; rel="prev"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tt.query, nil)
			page, size, err := pagination(r.URL.Query())
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			setPageHeaders(w, r, page, size, tt.total)
			if got := w.Header().Get("X-Total-Count"); got != fmt.Sprint(tt.total) {
				t.Errorf("X-Total-Count %q, want %d", got, tt.total)
			}
			if got := w.Header().Get("Link"); got != tt.link {
				t.Errorf("Link %q, want %q", got, tt.link)
			}
		})
	}
}
