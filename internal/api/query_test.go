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
		{"page=0", 0, 0, "", 400},
		{"page_size=abc", 0, 0, "", 400},
		{"sort=,", 0, 0, "", 400},
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
	_ = url.Values{}
}
