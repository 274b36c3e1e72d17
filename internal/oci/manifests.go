package oci

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/registry"
)

func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, q request) {
	m, err := h.Reg.PullManifest(r.Context(), q.repo, q.ref, r.Method == http.MethodGet)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Scanners pull what they scan whatever the policy says (Harbor's scanner-pull).
	if h.Gate != nil && r.Method == http.MethodGet && !(q.caller.claims != nil && tokenGrants(q.caller.claims, q.repo, "scanner-pull")) {
		if err := h.Gate(r.Context(), q.project, m); err != nil {
			var pe *PolicyError
			if errors.As(err, &pe) {
				writeBody(w, http.StatusPreconditionFailed, errorEntry{Code: "PROJECTPOLICYVIOLATION", Message: pe.Message})
				return
			}
			h.fail(w, r, err)
			return
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", m.MediaType)
	hd.Set("Docker-Content-Digest", m.Digest)
	hd.Set("ETag", `"`+m.Digest+`"`)
	hd.Set("Content-Length", strconv.Itoa(len(m.Payload)))
	if match := r.Header.Get("If-None-Match"); match != "" && match == `"`+m.Digest+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(m.Payload)
		h.Reg.RecordPull(r.Context(), q.project, q.repo, m, q.ref)
	}
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, q request) {
	limit := h.Reg.MaxManifestSize
	if r.ContentLength > limit {
		h.fail(w, r, &registry.Error{Code: registry.CodeTooLarge, Message: "manifest is larger than " + strconv.FormatInt(limit, 10) + " bytes"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, r, &registry.Error{Code: registry.CodeTooLarge, Message: "manifest is larger than " + strconv.FormatInt(limit, 10) + " bytes"})
			return
		}
		h.fail(w, r, &registry.Error{Code: registry.CodeManifestInvalid, Message: "reading the manifest failed: " + err.Error()})
		return
	}
	var extraTags []string
	if registry.IsDigest(q.ref) {
		extraTags = r.URL.Query()["tag"]
	}
	res, err := h.Reg.PutManifest(r.Context(), q.project, q.repo, q.ref, r.Header.Get("Content-Type"), body, extraTags...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Location", h.Origin.URL(r)+"/v2/"+q.repo+"/manifests/"+res.Digest.String())
	hd.Set("Docker-Content-Digest", res.Digest.String())
	if len(extraTags) > 0 {
		hd.Set("OCI-Tag", strings.Join(res.Tags, ", "))
	}
	if res.Subject != "" {
		hd.Set("OCI-Subject", res.Subject)
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, q request) {
	if err := h.Reg.DeleteManifest(r.Context(), q.repo, q.ref); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}
