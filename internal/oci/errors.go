package oci

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/registry"
)

// errUnavailableMessage answers a request the database cannot serve just now (Distribution's
// UNAVAILABLE code, 503).
const errUnavailableMessage = "the registry's database is unavailable; try again shortly"

// errorBody is the distribution-spec error document.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// status maps each registry error code to its HTTP status (and, for the two that have no code
// of their own in the spec, the code shown in the body).
func status(c registry.Code) (int, registry.Code) {
	switch c {
	case registry.CodeBlobUnknown, registry.CodeBlobUploadUnknown, registry.CodeManifestUnknown, registry.CodeNameUnknown:
		return http.StatusNotFound, c
	case registry.CodeUnauthorized:
		return http.StatusUnauthorized, c
	case registry.CodeDenied:
		return http.StatusForbidden, c
	case registry.CodeRangeInvalid:
		return http.StatusRequestedRangeNotSatisfiable, registry.CodeBlobUploadInvalid
	case registry.CodeTooLarge:
		return http.StatusRequestEntityTooLarge, registry.CodeSizeInvalid
	case registry.CodePrecondition:
		return http.StatusPreconditionFailed, c
	case registry.CodeUnsupported:
		return http.StatusMethodNotAllowed, c
	}
	return http.StatusBadRequest, c
}

// writeError answers with the OCI error body. Anything that is not a registry rule violation is
// an internal error: logged in full, shown to the client as UNKNOWN without details.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var re *registry.Error
	if !errors.As(err, &re) {
		if r.Context().Err() != nil {
			// The client went away; nobody reads the answer.
			return
		}
		if meta.IsUnavailable(err) {
			// The database is down or restarting: a condition that passes, which clients retry.
			log.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
			writeBody(w, http.StatusServiceUnavailable, errorEntry{Code: "UNAVAILABLE", Message: errUnavailableMessage})
			return
		}
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeBody(w, http.StatusInternalServerError, errorEntry{Code: "UNKNOWN", Message: "internal server error"})
		return
	}
	st, code := status(re.Code)
	writeBody(w, st, errorEntry{Code: string(code), Message: re.Message, Detail: re.Detail})
}

func writeBody(w http.ResponseWriter, st int, e errorEntry) {
	b, _ := json.Marshal(errorBody{Errors: []errorEntry{e}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(st)
	w.Write(b)
}
