package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

const (
	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// manifestAccept is what docker and containerd send when they resolve a tag.
var manifestAccept = http.Header{"Accept": {
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// image is a small image held in memory: layers, config, and the manifest naming them.
type image struct {
	layers   [][]byte
	config   []byte
	manifest []byte
	digest   string
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// newImage builds an image of n random layers of size bytes; the seed makes it unique.
func newImage(seed uint64, n, size int) *image {
	img := &image{}
	diffIDs := make([]string, n)
	layers := make([]descriptor, n)
	for i := range n {
		b := randBytes(mix(seed, uint64(i)), size)
		img.layers = append(img.layers, b)
		layers[i] = descriptor{MediaType: mtLayer, Digest: sha256Digest(b), Size: int64(size)}
		diffIDs[i] = layers[i].Digest
	}
	img.config, _ = json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
		"config":       map[string]any{"Labels": map[string]string{"berthbench.seed": fmt.Sprint(seed)}},
	})
	img.manifest = buildManifest(descriptor{MediaType: mtConfig, Digest: sha256Digest(img.config), Size: int64(len(img.config))}, layers)
	img.digest = sha256Digest(img.manifest)
	return img
}

func buildManifest(config descriptor, layers []descriptor) []byte {
	if layers == nil {
		layers = []descriptor{}
	}
	b, _ := json.Marshal(manifest{SchemaVersion: 2, MediaType: mtManifest, Config: config, Layers: layers})
	return b
}

func pullScope(repo string) string { return "repository:" + repo + ":pull" }
func pushScope(repo string) string { return "repository:" + repo + ":pull,push" }

// worker is one client goroutine's view: it shares the Client (connection pool, tokens) and
// the scenario's error log, and keeps its own latency record.
type worker struct {
	c        *Client
	errs     *errorLog
	timeout  time.Duration // per request, except the large transfers
	headBlob bool          // HEAD a blob before uploading it, as docker does
	lat      latencies     // every successful request
	ops      latencies     // every successful image push or pull, where the scenario has them
	reqs     int64
	buf      []byte
}

func (w *worker) copyBuf() []byte {
	if w.buf == nil {
		w.buf = make([]byte, 256<<10)
	}
	return w.buf
}

// call sends r, requires one of the want statuses, hands the body to read (nil = discard),
// and records the latency of the whole exchange including the body. Any other status is an
// error: it is counted and printed with the registry's answer, and the response (with its
// headers) is still returned.
func (w *worker) call(ctx context.Context, r *Request, timeout time.Duration, want []int, read func(*http.Response) error) (*http.Response, error) {
	if timeout <= 0 {
		timeout = w.timeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w.reqs++
	resp, start, err := w.c.Do(rctx, r)
	if err != nil {
		w.errs.add("%s %s: %v", r.Method, r.URL, err)
		return nil, err
	}
	defer resp.Body.Close()
	if !slices.Contains(want, resp.StatusCode) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err := fmt.Errorf("%s %s: %s (want %v): %s", r.Method, resp.Request.URL.RequestURI(), resp.Status, want, snippet(body))
		w.errs.add("%v", err)
		return resp, err
	}
	if read != nil {
		if err := read(resp); err != nil {
			err = fmt.Errorf("%s %s: %w", r.Method, resp.Request.URL.RequestURI(), err)
			w.errs.add("%v", err)
			return resp, err
		}
	} else if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		w.errs.add("%s %s: reading body: %v", r.Method, r.URL, err)
		return resp, err
	}
	w.lat = append(w.lat, time.Since(start))
	return resp, nil
}

// pushBlob uploads one blob: HEAD (when enabled), POST to open an upload, PUT with the whole
// body and the digest. size bytes come from body; timeout 0 means the worker's default.
func (w *worker) pushBlob(ctx context.Context, repo, dgst string, size int64, body func() io.Reader, timeout time.Duration) error {
	scope := pushScope(repo)
	if w.headBlob {
		resp, err := w.call(ctx, &Request{Method: http.MethodHead, URL: "/v2/" + repo + "/blobs/" + dgst, Scope: scope}, 0, []int{200, 404}, nil)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	resp, err := w.call(ctx, &Request{Method: http.MethodPost, URL: "/v2/" + repo + "/blobs/uploads/", Scope: scope}, 0, []int{202}, nil)
	if err != nil {
		return err
	}
	return w.putUpload(ctx, repo, resp.Header.Get("Location"), dgst, size, body, timeout)
}

// putUpload completes the upload session at loc with the whole body in one PUT.
func (w *worker) putUpload(ctx context.Context, repo, loc, dgst string, size int64, body func() io.Reader, timeout time.Duration) error {
	u, err := w.c.resolve(loc)
	if loc == "" || err != nil {
		w.errs.add("POST /v2/%s/blobs/uploads/: 202 without a usable Location (%q)", repo, loc)
		return fmt.Errorf("no Location")
	}
	q := u.Query()
	q.Set("digest", dgst)
	u.RawQuery = q.Encode()
	_, err = w.call(ctx, &Request{
		Method: http.MethodPut, URL: u.String(), Scope: pushScope(repo),
		Header: http.Header{"Content-Type": {"application/octet-stream"}},
		Body:   body, Size: size,
	}, timeout, []int{201}, nil)
	return err
}

// mountBlob links b into repo from another repository that holds it (one request instead of
// HEAD+POST+PUT, as docker does for a layer it knows the registry has); a registry that
// declines the mount answers 202 with an upload session, and the bytes are sent after all.
func (w *worker) mountBlob(ctx context.Context, repo, from string, b []byte) error {
	dgst := sha256Digest(b)
	resp, err := w.call(ctx, &Request{Method: http.MethodPost, URL: "/v2/" + repo + "/blobs/uploads/?mount=" + dgst + "&from=" + from, Scope: pushScope(repo)}, 0, []int{201, 202}, nil)
	if err != nil || resp.StatusCode == http.StatusCreated {
		return err
	}
	return w.putUpload(ctx, repo, resp.Header.Get("Location"), dgst, int64(len(b)), bytesBody(b), 0)
}

func (w *worker) pushBytes(ctx context.Context, repo string, b []byte) error {
	return w.pushBlob(ctx, repo, sha256Digest(b), int64(len(b)), bytesBody(b), 0)
}

func bytesBody(b []byte) func() io.Reader {
	return func() io.Reader { return bytes.NewReader(b) }
}

func (w *worker) putManifest(ctx context.Context, repo, tag string, m []byte) error {
	_, err := w.call(ctx, &Request{
		Method: http.MethodPut, URL: "/v2/" + repo + "/manifests/" + tag, Scope: pushScope(repo),
		Header: http.Header{"Content-Type": {mtManifest}},
		Body:   bytesBody(m), Size: int64(len(m)),
	}, 0, []int{201}, nil)
	return err
}

// pushImage uploads the layers and the config, then the manifest under tag.
func (w *worker) pushImage(ctx context.Context, repo, tag string, img *image) error {
	for _, l := range img.layers {
		if err := w.pushBytes(ctx, repo, l); err != nil {
			return err
		}
	}
	if err := w.pushBytes(ctx, repo, img.config); err != nil {
		return err
	}
	return w.putManifest(ctx, repo, tag, img.manifest)
}

// getManifest fetches a manifest by tag or digest and checks that its bytes hash to want
// (when given) and to the Docker-Content-Digest the registry announced.
func (w *worker) getManifest(ctx context.Context, repo, ref, want string) (*manifest, []byte, error) {
	var body []byte
	_, err := w.call(ctx, &Request{Method: http.MethodGet, URL: "/v2/" + repo + "/manifests/" + ref, Scope: pullScope(repo), Header: manifestAccept}, 0, []int{200},
		func(resp *http.Response) error {
			var err error
			if body, err = io.ReadAll(io.LimitReader(resp.Body, 8<<20)); err != nil {
				return err
			}
			got := sha256Digest(body)
			if want != "" && got != want {
				return fmt.Errorf("manifest content is %s, want %s", got, want)
			}
			if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != got {
				return fmt.Errorf("manifest content is %s, Docker-Content-Digest says %s", got, h)
			}
			return nil
		})
	if err != nil {
		return nil, nil, err
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		w.errs.add("GET /v2/%s/manifests/%s: not a manifest: %v", repo, ref, err)
		return nil, nil, err
	}
	return &m, body, nil
}

// getBlob downloads a blob and verifies its sha256 and size while it streams.
func (w *worker) getBlob(ctx context.Context, repo string, d descriptor, timeout time.Duration) error {
	_, err := w.call(ctx, &Request{Method: http.MethodGet, URL: "/v2/" + repo + "/blobs/" + d.Digest, Scope: pullScope(repo)}, timeout, []int{200},
		func(resp *http.Response) error {
			h := sha256.New()
			var n int64
			var err error
			if d.Size >= pipelineMin {
				n, err = hashPipelined(h, resp.Body)
			} else {
				n, err = io.CopyBuffer(h, resp.Body, w.copyBuf())
			}
			if err != nil {
				return err
			}
			if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d.Digest || n != d.Size {
				return fmt.Errorf("read %d bytes hashing to %s, want %d bytes of %s", n, got, d.Size, d.Digest)
			}
			return nil
		})
	return err
}

// pullImage resolves ref, then downloads and verifies the config and every layer.
func (w *worker) pullImage(ctx context.Context, repo, ref, want string) error {
	m, _, err := w.getManifest(ctx, repo, ref, want)
	if err != nil {
		return err
	}
	for _, d := range append([]descriptor{m.Config}, m.Layers...) {
		if err := w.getBlob(ctx, repo, d, 0); err != nil {
			return err
		}
	}
	return nil
}

// pipelineMin is the blob size from which a download is hashed on another goroutine while the
// next chunk is read, as a client that verifies what it pulls would do with a large layer:
// reading and hashing one after the other would make the client, not the registry, the limit
// of large-pull.
const pipelineMin = 8 << 20

// hashPipelined copies r into h, reading the next chunk while the previous one is hashed.
func hashPipelined(h io.Writer, r io.Reader) (int64, error) {
	const chunk, depth = 1 << 20, 4
	free := make(chan []byte, depth)
	full := make(chan []byte, depth)
	for range depth {
		free <- make([]byte, chunk)
	}
	var readErr error
	go func() {
		defer close(full)
		for buf := range free {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				full <- buf[:n]
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	var total int64
	for buf := range full {
		h.Write(buf)
		total += int64(len(buf))
		free <- buf[:cap(buf)]
	}
	// full is closed only after the reader's last write to readErr.
	return total, readErr
}
