package api

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	defaultPageSize = 10
	maxPageSize     = 100
	// maxAllPageSize bounds the answer to a request for every item (page_size 0 or less).
	// Harbor applies no limit then; Berth answers at most this many items at once, and
	// X-Total-Count and Link rel="next" tell a client that more remain.
	maxAllPageSize = 10000
	// maxPage keeps a page's offset far from overflowing (maxPage × maxAllPageSize fits in an
	// int64, and in PostgreSQL's OFFSET).
	maxPage = math.MaxInt32
)

// pagination reads Harbor's page and page_size, the one place that rule lives.
//
// Harbor's swagger sets no minimum for either, and its clients rely on that: page counts from
// 1, and a page below 1 is the first; page_size is 10 by default and at most 100 (the swagger's
// maximum), and 0 or less asks for every item — Harbor's queries apply no limit when page_size
// is not positive, which clients use to look an object up by name with page=0&page_size=0.
// Such a page holds up to maxAllPageSize items; page still counts those pages, so the Link to
// the rest (setPageHeaders) can be followed.
func pagination(q url.Values) (page, size int, err error) {
	page, size = 1, defaultPageSize
	if s := q.Get("page"); s != "" {
		if page, err = strconv.Atoi(s); err != nil {
			return 0, 0, badRequest(fmt.Sprintf("page %q must be an integer", s))
		}
		if page > maxPage {
			return 0, 0, badRequest(fmt.Sprintf("page %q must be at most %d", s, maxPage))
		}
		page = max(page, 1)
	}
	if s := q.Get("page_size"); s != "" {
		if size, err = strconv.Atoi(s); err != nil {
			return 0, 0, badRequest(fmt.Sprintf("page_size %q must be an integer", s))
		}
		if size > maxPageSize {
			return 0, 0, badRequest(fmt.Sprintf("page_size %q must be at most %d", s, maxPageSize))
		}
		if asksForAll(s) {
			size = maxAllPageSize
		}
	}
	return page, size, nil
}

// asksForAll reports whether a page_size value asks for every item: an integer not above 0.
func asksForAll(pageSize string) bool {
	n, err := strconv.Atoi(pageSize)
	return err == nil && n <= 0
}

// setPageHeaders sets X-Total-Count and the prev/next Link header the way Harbor does. A
// request for every item keeps its page_size in the links, so that the next page is again
// "every item after these".
func setPageHeaders(w http.ResponseWriter, r *http.Request, page, size int, total int64) {
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	all := asksForAll(r.URL.Query().Get("page_size"))
	link := func(p int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		if !all {
			q.Set("page_size", strconv.Itoa(size))
		}
		return fmt.Sprintf(`<%s?%s>`, r.URL.Path, q.Encode())
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1)+`; rel="prev"`)
	}
	if int64(page)*int64(size) < total {
		links = append(links, link(page+1)+`; rel="next"`)
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, " , "))
	}
}
