package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	defaultPageSize = 10
	maxPageSize     = 100
)

// pagination reads Harbor's page and page_size (page from 1; page_size 10 by default, at most 100).
func pagination(q url.Values) (page, size int, err error) {
	page, size = 1, defaultPageSize
	if s := q.Get("page"); s != "" {
		if page, err = strconv.Atoi(s); err != nil || page < 1 {
			return 0, 0, badRequest(fmt.Sprintf("page %q must be a positive integer", s))
		}
	}
	if s := q.Get("page_size"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < 1 || size > maxPageSize {
			return 0, 0, badRequest(fmt.Sprintf("page_size %q must be between 1 and %d", s, maxPageSize))
		}
	}
	return page, size, nil
}

// setPageHeaders sets X-Total-Count and the prev/next Link header the way Harbor does.
func setPageHeaders(w http.ResponseWriter, r *http.Request, page, size int, total int64) {
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	link := func(p int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("page_size", strconv.Itoa(size))
		return fmt.Sprintf(`<%s?%s>`, r.URL.Path, q.Encode())
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1)+`; rel="prev"`)
	}
	if int64(page*size) < total {
		links = append(links, link(page+1)+`; rel="next"`)
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, " , "))
	}
}
