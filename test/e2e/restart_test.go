//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// TestRestart stops berth with SIGTERM and starts it again on the same data
// dir and database: pushed images and an unfinished chunked upload survive.
func TestRestart(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db string) {
		srv := startServer(t, serverOptions{DB: db})

		t.Run("pushed images pull back identical after a restart", func(t *testing.T) {
			admin := srv.admin()
			shared := randomLayer(t, 256<<10)
			type pushed struct {
				repo, tag string
				img       testImage
			}
			var images []pushed
			for i := range 4 {
				img := newImage(t, "linux/amd64", shared, randomLayer(t, 64<<10))
				p := pushed{fmt.Sprintf("library/keep-%d", i), "v1", img}
				mustPushImage(t, admin, p.repo, p.tag, img)
				images = append(images, p)
			}
			// a second tag and a second repository for one image
			mustPushImage(t, admin, "library/keep-0", "latest", images[0].img)
			images = append(images, pushed{"library/keep-0", "latest", images[0].img})

			srv.restart(t)

			for _, p := range images {
				mustVerifyImage(t, srv.admin(), p.repo, p.tag, p.img)
				mustVerifyImage(t, srv.admin(), p.repo, p.img.Digest, p.img)
			}
		})

		t.Run("chunked upload resumes after a restart", func(t *testing.T) {
			admin := srv.admin()
			data := randomBytes(t, 3<<20)
			first := data[:1<<20]
			rest := data[1<<20:]
			digest := sha256Digest(data)

			r := admin.do(t, http.MethodPost, "/v2/library/chunky/blobs/uploads/", nil)
			if r.Status != http.StatusAccepted || r.Header.Get("Location") == "" {
				t.Fatalf("POST /v2/library/chunky/blobs/uploads/: want 202 with Location, got %s", r)
			}
			r = admin.do(t, http.MethodPatch, r.Header.Get("Location"), first,
				"Content-Type", "application/octet-stream",
				"Content-Range", fmt.Sprintf("0-%d", len(first)-1))
			if r.Status != http.StatusAccepted || r.Header.Get("Location") == "" {
				t.Fatalf("PATCH the first chunk: want 202 with Location, got %s", r)
			}
			if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", len(first)-1); got != want {
				t.Errorf("PATCH the first chunk: Range %q, want %q", got, want)
			}
			loc := r.Header.Get("Location")

			srv.restart(t)

			admin = srv.admin()
			r = admin.do(t, http.MethodGet, loc, nil)
			if r.Status != http.StatusNoContent {
				t.Errorf("GET the upload status after the restart: want 204, got %s", r)
			} else if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", len(first)-1); got != want {
				t.Errorf("GET the upload status after the restart: Range %q, want %q", got, want)
			}
			r = admin.do(t, http.MethodPatch, loc, rest,
				"Content-Type", "application/octet-stream",
				"Content-Range", fmt.Sprintf("%d-%d", len(first), len(data)-1))
			if r.Status != http.StatusAccepted {
				t.Fatalf("PATCH the second chunk after the restart: want 202, got %s", r)
			}
			if l := r.Header.Get("Location"); l != "" {
				loc = l
			}
			r = admin.do(t, http.MethodPut, withDigest(loc, digest), nil)
			if r.Status != http.StatusCreated {
				t.Fatalf("PUT ?digest= to finish the upload: want 201, got %s", r)
			}
			r = admin.do(t, http.MethodGet, "/v2/library/chunky/blobs/"+digest, nil)
			if r.Status != http.StatusOK || sha256Digest(r.Body) != digest {
				t.Fatalf("GET the blob: want 200 with %d bytes of %s; got %d bytes of %s: %s",
					len(data), digest, len(r.Body), sha256Digest(r.Body), r)
			}
		})
	})
}
