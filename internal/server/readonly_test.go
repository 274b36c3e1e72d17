package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/registry"
)

// TestReadOnlyMode: with read_only on, every change is refused on /v2/ and the API with
// Harbor's message while reads go on; turning it off restores writes.
func TestReadOnlyMode(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		_, digest := ts.pushImage(t, "library/ro", "v1", mtOCIManifest)
		setReadOnly := func(on bool) {
			b, _ := json.Marshal(map[string]bool{"read_only": on})
			expectStatus(t, ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, b), http.StatusOK)
		}
		setReadOnly(true)

		// Pushes and deletes on /v2/ are refused...
		resp := ts.do(t, http.MethodPost, "/v2/library/ro/blobs/uploads/", nil, nil)
		assertOCIError(t, resp, http.StatusForbidden, "DENIED")
		if body := string(respBody(t, resp)); !strings.Contains(body, registry.ReadOnlyMessage) {
			t.Errorf("push refusal %s lacks Harbor's read-only message", body)
		}
		assertOCIError(t, ts.do(t, http.MethodDelete, "/v2/library/ro/manifests/"+digest, nil, nil), http.StatusForbidden, "DENIED")
		// ...and so are API changes, with Harbor's error body.
		resp = ts.do(t, http.MethodPost, "/api/v2.0/projects", nil, []byte(`{"project_name":"rocheck"}`))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(respBody(t, resp)), `"code":"DENIED"`) {
			t.Fatalf("project creation in read-only mode: %d %s", resp.StatusCode, respBody(t, resp))
		}
		// Reads go on.
		expectStatus(t, ts.do(t, http.MethodGet, "/v2/library/ro/manifests/v1", hdr(nil, "Accept", mtOCIManifest), nil), http.StatusOK)
		expectStatus(t, ts.do(t, http.MethodGet, "/api/v2.0/projects/library", nil, nil), http.StatusOK)

		setReadOnly(false)
		expectStatus(t, ts.do(t, http.MethodDelete, "/v2/library/ro/manifests/"+digest, nil, nil), http.StatusAccepted)
		expectStatus(t, ts.do(t, http.MethodPost, "/api/v2.0/projects", nil, []byte(`{"project_name":"rocheck"}`)), http.StatusCreated)
	})
}
