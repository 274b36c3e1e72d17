package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
)

// Listings page, sort and filter on the server with the services' meta.ListQuery, the query the
// REST API builds from page, page_size, sort and q; a page never holds more than maxPageSize
// rows, whatever the total.
const (
	defaultPageSize = 25
	maxPageSize     = 100
	// maxPage keeps a page's offset far from overflowing.
	maxPage = 1 << 30
)

// listing is one page of a listing as the page shows it: its position, sort and filter, and
// the links to the others.
type listing struct {
	path     string
	Page     int
	PageSize int
	Total    int64
	Sort     string // a sort key, "-" in front for descending; "" for the default order
	Filter   string // the name filter
	// extra are a page's own parameters (its other filters), kept by every link.
	extra url.Values
}

// parseListing reads page, page_size, sort (one of sortKeys, "-" for descending) and filter
// (a name substring) into the query a service lists with.
func parseListing(r *http.Request, sortKeys []string) (meta.ListQuery, listing, error) {
	q := r.URL.Query()
	l := listing{path: r.URL.Path, Page: 1, PageSize: defaultPageSize}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return meta.ListQuery{}, l, fault.Invalidf("The page number %q is not a whole number from 1 to %d.", s, maxPage)
		}
		l.Page = n
	}
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return meta.ListQuery{}, l, fault.Invalidf("The page size %q is not a whole number from 1 to %d.", s, maxPageSize)
		}
		l.PageSize = n
	}
	lq := meta.ListQuery{Offset: (l.Page - 1) * l.PageSize, Limit: l.PageSize}
	if s := q.Get("sort"); s != "" {
		key := strings.TrimPrefix(s, "-")
		if !slices.Contains(sortKeys, key) {
			return meta.ListQuery{}, l, fault.Invalidf("This list cannot be sorted by %q; it can be sorted by %s.", key, strings.Join(sortKeys, ", "))
		}
		l.Sort = s
		lq.Sort = []meta.SortKey{{Key: key, Desc: strings.HasPrefix(s, "-")}}
	}
	if f := strings.TrimSpace(q.Get("filter")); f != "" {
		l.Filter = f
		lq.Filters = []meta.Filter{{Key: "name", Op: meta.OpFuzzy, Values: []string{f}}}
	}
	return lq, l, nil
}

// Pages is the number of pages (at least 1).
func (l listing) Pages() int64 {
	return max(1, (l.Total+int64(l.PageSize)-1)/int64(l.PageSize))
}

// First and Last are the 1-based positions of the page's first and last rows.
func (l listing) First() int64 {
	if l.Total == 0 {
		return 0
	}
	return int64((l.Page-1)*l.PageSize) + 1
}

func (l listing) Last() int64 { return min(l.Total, int64(l.Page*l.PageSize)) }

// link is the listing's URL with some parameters changed; defaults are left out.
func (l listing) link(page int, sort string) string {
	v := url.Values{}
	for k, vs := range l.extra {
		v[k] = vs
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if l.PageSize != defaultPageSize {
		v.Set("page_size", strconv.Itoa(l.PageSize))
	}
	if sort != "" {
		v.Set("sort", sort)
	}
	if l.Filter != "" {
		v.Set("filter", l.Filter)
	}
	if len(v) == 0 {
		return l.path
	}
	return l.path + "?" + v.Encode()
}

// Prev and Next link the neighbouring pages; "" where there is none.
func (l listing) Prev() string {
	if l.Page <= 1 {
		return ""
	}
	return l.link(min(l.Page-1, int(l.Pages())), l.Sort)
}

func (l listing) Next() string {
	if int64(l.Page) >= l.Pages() {
		return ""
	}
	return l.link(l.Page+1, l.Sort)
}

// SortLink sorts by key from the first page: ascending, or descending when the list is sorted
// ascending by key already.
func (l listing) SortLink(key string) string {
	if l.Sort == key {
		return l.link(1, "-"+key)
	}
	return l.link(1, key)
}

// SortState is how the list is sorted by key, for aria-sort: ascending, descending or none.
func (l listing) SortState(key string) string {
	switch l.Sort {
	case key:
		return "ascending"
	case "-" + key:
		return "descending"
	}
	return "none"
}
