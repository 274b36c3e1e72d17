// Package registry holds the rules of the OCI registry: what a valid name, manifest and upload
// are, which references must exist, and how content is stored. The /v2/ handlers and the REST
// API both call it, so they cannot disagree.
package registry

import "fmt"

// Code is an OCI distribution-spec error code; the /v2/ handlers map it to an HTTP status.
type Code string

const (
	CodeBlobUnknown         Code = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       Code = "DIGEST_INVALID"
	CodeManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     Code = "MANIFEST_INVALID"
	CodeManifestUnknown     Code = "MANIFEST_UNKNOWN"
	CodeNameInvalid         Code = "NAME_INVALID"
	CodeNameUnknown         Code = "NAME_UNKNOWN"
	CodeSizeInvalid         Code = "SIZE_INVALID"
	CodeTagInvalid          Code = "TAG_INVALID" // Docker's registry API: a malformed tag
	CodeUnauthorized        Code = "UNAUTHORIZED"
	CodeDenied              Code = "DENIED"
	CodeUnsupported         Code = "UNSUPPORTED"
	CodeRangeInvalid        Code = "RANGE_INVALID"  // chunk out of order: 416
	CodeTooLarge            Code = "SIZE_TOO_LARGE" // 413; body code stays SIZE_INVALID-like text
	CodePrecondition        Code = "PRECONDITION"
	CodePaginationInvalid   Code = "PAGINATION_NUMBER_INVALID"
)

// Error is a rule violation with the code the client sees.
type Error struct {
	Code    Code
	Message string
	Detail  any
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
