package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/meta"
)

// FuzzParseQ: Harbor's q= language. Every term of an accepted q has a key and the values its
// operator takes; a q in a request, escaped once or twice, is either a query or a 400.
func FuzzParseQ(f *testing.F) {
	for _, s := range []string{"name=abc", "name=~ab,public=true", `creation_time=["2020-04-09 02:36:00"~"2020-04-10 00:00:00"]`,
		"size=[~100]", `name=\~x`, `name={'a' "b"}`, "id={1 2 3}", "labels=(1 2)", "a={x,y},b=1", "noequals", "a=[1~2", `a="open`,
		"=x", " , ,", "a=[~]", "a=(", "a=)", `a="{"`, "k=v,,k2=v2", "a=~%25_\\", "a=\x00", "Level%3Dproject%2CProjectID%3D2", "a={}", `a=""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		filters, err := parseQ(q)
		if err == nil {
			for _, fl := range filters {
				if fl.Key == "" || strings.TrimSpace(fl.Key) != fl.Key {
					t.Fatalf("parseQ(%q): a filter with key %q", q, fl.Key)
				}
				switch fl.Op {
				case meta.OpExact, meta.OpFuzzy:
					if len(fl.Values) != 1 {
						t.Fatalf("parseQ(%q): %v takes one value, has %q", q, fl.Op, fl.Values)
					}
				case meta.OpRange:
					if fl.Values != nil {
						t.Fatalf("parseQ(%q): a range with values %q", q, fl.Values)
					}
				case meta.OpAny, meta.OpAll:
				default:
					t.Fatalf("parseQ(%q): operator %v", q, fl.Op)
				}
			}
		}
		for _, raw := range []string{url.QueryEscape(q), url.QueryEscape(url.QueryEscape(q))} {
			r := httptest.NewRequest(http.MethodGet, "/api/v2.0/projects?page_size=5&q="+raw, nil)
			lq, _, err := listQuery(r)
			var e *Error
			switch {
			case err != nil && (!errors.As(err, &e) || e.Status != http.StatusBadRequest):
				t.Fatalf("listQuery(q=%s): %v, want a 400", raw, err)
			case err == nil && lq.Limit != 5:
				t.Fatalf("listQuery(q=%s): %+v", raw, lq)
			}
		}
	})
}
