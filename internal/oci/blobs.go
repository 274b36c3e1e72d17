package oci

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
)

func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, q request) {
	if r.Method == http.MethodGet {
		// A store that can send the client to the bytes (an object store's pre-signed URL)
		// spares the registry the traffic. A HEAD carries no bytes and is answered here.
		url, err := h.Reg.BlobRedirect(r.Context(), q.repo, q.ref)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if url != "" {
			w.Header().Set("Docker-Content-Digest", q.ref)
			http.Redirect(w, r, url, http.StatusTemporaryRedirect)
			return
		}
	}
	rd, size, err := h.Reg.OpenBlob(r.Context(), q.repo, q.ref)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer rd.Close()
	hd := w.Header()
	hd.Set("Docker-Content-Digest", q.ref)
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("ETag", `"`+q.ref+`"`)
	hd.Set("Cache-Control", "max-age=31536000")
	// ServeContent answers Range and HEAD; with an *os.File underneath, the body goes out
	// through sendfile without passing through user space. Its answer to a Range it cannot
	// serve is plain text; rangeErrors makes it the OCI error body.
	http.ServeContent(&rangeErrors{ResponseWriter: w, r: r, size: size}, r, "", time.Time{}, rd)
}

// rangeErrors turns http.ServeContent's plain-text 416 (a Range header that does not parse or
// does not overlap the blob) into the OCI error body. Everything else passes through, and it
// keeps io.ReaderFrom so that downloads still reach sendfile.
type rangeErrors struct {
	http.ResponseWriter
	r       *http.Request
	size    int64
	refused bool // the 416 was answered; ServeContent's text is dropped
}

func (w *rangeErrors) WriteHeader(code int) {
	if code != http.StatusRequestedRangeNotSatisfiable {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.refused = true
	w.Header().Del("X-Content-Type-Options")
	writeBody(w.ResponseWriter, code, errorEntry{Code: string(registry.CodeRangeInvalid),
		Message: fmt.Sprintf("the Range %q cannot be served from a blob of %d bytes", w.r.Header.Get("Range"), w.size)})
}

func (w *rangeErrors) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *rangeErrors) ReadFrom(src io.Reader) (int64, error) {
	if w.refused {
		return io.Copy(io.Discard, src)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, src)
}

func (w *rangeErrors) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *Handler) deleteBlob(w http.ResponseWriter, r *http.Request, q request) {
	if err := h.Reg.DeleteBlob(r.Context(), q.repo, q.ref); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

// startUpload serves POST /v2/<name>/blobs/uploads/: a mount (?mount=&from=), a monolithic
// upload (?digest=), or a new session.
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, q request) {
	ctx := r.Context()
	params := r.URL.Query()
	if mount, from := params.Get("mount"), params.Get("from"); mount != "" && from != q.repo {
		if ok, err := h.mount(r, q, mount, from); err != nil {
			h.fail(w, r, err)
			return
		} else if ok {
			h.blobCreated(w, r, q.repo, mount)
			return
		}
	}
	if dgst := params.Get("digest"); dgst != "" {
		if _, err := h.Reg.PutBlob(ctx, q.project.ID, q.repo, dgst, r.Body); err != nil {
			h.fail(w, r, err)
			return
		}
		h.blobCreated(w, r, q.repo, dgst)
		return
	}
	u, err := h.Reg.StartUpload(ctx, q.repo)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.uploadAccepted(w, r, q.repo, u, http.StatusAccepted)
}

// mount links the blob from another repository when the caller may pull there. Without a
// source ("anonymous mount"), any repository holding the blob that the caller may pull serves.
func (h *Handler) mount(r *http.Request, q request, dgst, from string) (bool, error) {
	if from != "" {
		return h.mountFrom(r, q, dgst, from)
	}
	repos, err := h.Reg.RepositoriesLinking(r.Context(), dgst, 20)
	if err != nil {
		return false, err
	}
	for _, src := range repos {
		if src == q.repo {
			continue
		}
		if ok, err := h.mountFrom(r, q, dgst, src); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// mountFrom links the blob from one repository when the caller may pull there. The source
// is checked against the caller's current rights rather than the token's access list: clients
// ask for a token scoped to the target repository only, and a mount they may not make simply
// becomes an ordinary upload.
func (h *Handler) mountFrom(r *http.Request, q request, dgst, from string) (bool, error) {
	src, err := h.Reg.Project(r.Context(), from)
	if err != nil {
		return false, nil // an invalid or unknown source is just not mountable
	}
	ok := q.caller.claims != nil && tokenGrants(q.caller.claims, from, "pull")
	if !ok {
		if ok, err = h.Authz.Can(r.Context(), q.caller.principal, src, rbac.ResRepository, rbac.ActPull); err != nil || !ok {
			return false, err
		}
	}
	return h.Reg.Mount(r.Context(), q.project.ID, q.repo, from, dgst)
}

func (h *Handler) blobCreated(w http.ResponseWriter, r *http.Request, repo, dgst string) {
	hd := w.Header()
	hd.Set("Location", h.Origin.URL(r)+"/v2/"+repo+"/blobs/"+dgst)
	hd.Set("Docker-Content-Digest", dgst)
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (h *Handler) uploadAccepted(w http.ResponseWriter, r *http.Request, repo string, u meta.Upload, status int) {
	hd := w.Header()
	hd.Set("Location", h.Origin.URL(r)+"/v2/"+repo+"/blobs/uploads/"+u.ID)
	hd.Set("Docker-Upload-UUID", u.ID)
	hd.Set("Range", uploadRange(u.Size))
	hd.Set("Content-Length", "0")
	w.WriteHeader(status)
}

// uploadRange is the Range header of an upload: the inclusive byte range received so far
// ("0-0" before the first byte, as clients expect).
func uploadRange(size int64) string {
	if size == 0 {
		return "0-0"
	}
	return fmt.Sprintf("0-%d", size-1)
}

func (h *Handler) uploadStatus(w http.ResponseWriter, r *http.Request, q request) {
	u, err := h.Reg.Upload(r.Context(), q.repo, q.ref)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.uploadAccepted(w, r, q.repo, u, http.StatusNoContent)
}

func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, q request) {
	start, err := chunkStart(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.Reg.AppendUpload(r.Context(), q.repo, q.ref, start, r.Body)
	if err != nil {
		if re, ok := err.(*registry.Error); ok && re.Code == registry.CodeRangeInvalid {
			if size, ok := re.Detail.(int64); ok {
				w.Header().Set("Location", h.Origin.URL(r)+"/v2/"+q.repo+"/blobs/uploads/"+q.ref)
				w.Header().Set("Range", uploadRange(size))
				re = &registry.Error{Code: re.Code, Message: re.Message}
				err = re
			}
		}
		h.fail(w, r, err)
		return
	}
	h.uploadAccepted(w, r, q.repo, u, http.StatusAccepted)
}

func (h *Handler) putUpload(w http.ResponseWriter, r *http.Request, q request) {
	dgst := r.URL.Query().Get("digest")
	if dgst == "" {
		h.fail(w, r, &registry.Error{Code: registry.CodeDigestInvalid, Message: "the digest query parameter is required to complete an upload"})
		return
	}
	start, err := chunkStart(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.Reg.FinishUpload(r.Context(), q.project.ID, q.repo, q.ref, dgst, start, r.Body); err != nil {
		h.fail(w, r, err)
		return
	}
	h.blobCreated(w, r, q.repo, dgst)
}

func (h *Handler) cancelUpload(w http.ResponseWriter, r *http.Request, q request) {
	if err := h.Reg.CancelUpload(r.Context(), q.repo, q.ref); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

// chunkStart reads Content-Range ("<start>-<end>", inclusive; "bytes=" tolerated) and checks it
// against Content-Length. It returns -1 when there is none (a streamed chunk).
func chunkStart(r *http.Request) (int64, error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, nil
	}
	cr = strings.TrimPrefix(strings.TrimPrefix(cr, "bytes "), "bytes=")
	a, b, ok := strings.Cut(cr, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, &registry.Error{Code: registry.CodeRangeInvalid, Message: fmt.Sprintf("invalid Content-Range %q", r.Header.Get("Content-Range"))}
	}
	if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return 0, &registry.Error{Code: registry.CodeRangeInvalid, Message: fmt.Sprintf("Content-Range %q does not match Content-Length %d", r.Header.Get("Content-Range"), r.ContentLength)}
	}
	// The body must hold exactly the declared range (a streamed body has no Content-Length to
	// check up front), so a client can neither write past it nor fall short of it.
	r.Body = &exactBody{ReadCloser: r.Body, left: end - start + 1, header: r.Header.Get("Content-Range")}
	return start, nil
}

// exactBody fails the read when the body is longer or shorter than the chunk's Content-Range.
type exactBody struct {
	io.ReadCloser
	left   int64
	header string
}

func (b *exactBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		// Peek one byte: anything more is a body longer than its range.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			return 0, &registry.Error{Code: registry.CodeRangeInvalid, Message: fmt.Sprintf("the chunk is longer than its Content-Range %q", b.header)}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		return n, &registry.Error{Code: registry.CodeRangeInvalid, Message: fmt.Sprintf("the chunk is shorter than its Content-Range %q", b.header)}
	}
	if err == io.EOF {
		err = nil // reported on the next Read, after the overlong check
	}
	return n, err
}
