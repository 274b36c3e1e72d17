package blobtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
)

// Redirecting returns s with the ability to redirect (blob.Redirector), to an HTTP server that
// serves s's blobs at /<digest> until the test ends: a driver that cannot redirect stands in
// for one that can. Other abilities of s are hidden.
func Redirecting(t *testing.T, s blob.Store) blob.Store {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd, err := s.Open(r.Context(), digest.Digest(strings.TrimPrefix(r.URL.Path, "/")))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer rd.Close()
		http.ServeContent(w, r, "", time.Time{}, rd)
	}))
	t.Cleanup(srv.Close)
	return redirecting{s, srv.URL}
}

type redirecting struct {
	blob.Store
	base string
}

func (r redirecting) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	if _, err := r.Stat(ctx, d); err != nil {
		return "", err
	}
	return r.base + "/" + d.String(), nil
}
