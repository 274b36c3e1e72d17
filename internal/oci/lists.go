package oci

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
)

// maxPage bounds one page of tags or repositories; clients follow the Link header for more.
const maxPage = 10000

// pageParams reads n and last. n absent means "as many as one page holds".
func pageParams(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	last = q.Get("last")
	n = maxPage
	if s := q.Get("n"); s != "" {
		v, perr := strconv.Atoi(s)
		if perr != nil || v < 0 {
			return 0, "", &registry.Error{Code: registry.CodePaginationInvalid, Message: fmt.Sprintf("invalid n %q: want a non-negative integer", s)}
		}
		n = min(v, maxPage)
	}
	return n, last, nil
}

// nextLink is the RFC 5988 link to the page after last.
func nextLink(path string, n int, last string) string {
	v := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	return fmt.Sprintf(`<%s?%s>; rel="next"`, path, v.Encode())
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, q request) {
	n, last, err := pageParams(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tags := []string{}
	if n > 0 {
		// One extra row tells whether a next page exists.
		tags, err = h.Reg.Tags(r.Context(), q.repo, last, n+1)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if len(tags) > n {
			tags = tags[:n]
			w.Header().Set("Link", nextLink("/v2/"+q.repo+"/tags/list", n, tags[n-1]))
		}
	}
	writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{q.repo, tags})
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request, c caller) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, r, h.Log, &registry.Error{Code: registry.CodeUnsupported, Message: r.Method + " is not supported here"})
		return
	}
	if c.principal.IsAnonymous() {
		h.fail(w, r, &challengeError{scope: "registry:catalog:*"})
		return
	}
	n, last, err := pageParams(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The whole catalog for those holding catalog:read at system level (system administrators
	// and system robots granted it); everyone else sees the repositories of the projects they
	// may see.
	vis := rbac.Visibility(c.principal)
	all, err := h.Authz.CanSystem(r.Context(), c.principal, rbac.ResCatalog, rbac.ActRead)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if all {
		vis = meta.ProjectVisibility{All: true}
	}
	repos := []string{}
	if n > 0 {
		repos, err = h.Reg.Catalog(r.Context(), meta.CatalogFilter{Visibility: vis, Last: last, N: n + 1})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if len(repos) > n {
			repos = repos[:n]
			w.Header().Set("Link", nextLink("/v2/_catalog", n, repos[n-1]))
		}
	}
	writeJSON(w, r, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, q request) {
	artifactType := r.URL.Query().Get("artifactType")
	idx, err := h.Reg.Referrers(r.Context(), q.repo, q.ref, artifactType)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	writeJSON(w, r, registry.MediaTypeOCIIndex, idx)
}
