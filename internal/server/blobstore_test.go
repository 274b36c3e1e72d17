package server

import (
	"net/http"
	"testing"

	"github.com/berthreg/berth/internal/blob"
)

// Tests of the blob store's optional abilities as the server uses them. The abilities do not
// depend on the database, so SQLite suffices.

// useBlobs makes the registry use s as its blob store from now on.
func (ts *testServer) useBlobs(s blob.Store) { ts.srv.reg.Blobs = s }

// TestSystemVolumesWithoutUsage: a blob store whose storage has no size (an object store)
// leaves /systeminfo/volumes nothing to report.
func TestSystemVolumesWithoutUsage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	ts.useBlobs(struct{ blob.Store }{ts.srv.blobs}) // without the filesystem driver's abilities
	assertOCIError(t, ts.do(t, http.MethodGet, "/api/v2.0/systeminfo/volumes", nil, nil), http.StatusNotFound, "NOT_FOUND")
}
