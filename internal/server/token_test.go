package server

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestTokenLifetimeFollowsConfiguration: Harbor's token_expiration (minutes), changed through
// /api/v2.0/configurations, sets the lifetime of tokens issued afterwards.
func TestTokenLifetimeFollowsConfiguration(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "sqlite")
	expiresIn := func() int {
		resp := ts.do(t, http.MethodGet, "/service/token?service=harbor-registry&scope=repository:library/x:pull", nil, nil)
		expectStatus(t, resp, http.StatusOK)
		var tok struct {
			ExpiresIn int `json:"expires_in"`
		}
		if err := json.Unmarshal(respBody(t, resp), &tok); err != nil {
			t.Fatal(err)
		}
		return tok.ExpiresIn
	}
	if got := expiresIn(); got != 30*60 {
		t.Fatalf("default token lifetime %d s, want 1800", got)
	}
	resp := ts.do(t, http.MethodPut, "/api/v2.0/configurations", nil, []byte(`{"token_expiration": 5}`))
	expectStatus(t, resp, http.StatusOK)
	deadline := time.Now().Add(15 * time.Second)
	for expiresIn() != 300 {
		if time.Now().After(deadline) {
			t.Fatal("token lifetime did not follow token_expiration=5")
		}
		time.Sleep(250 * time.Millisecond)
	}
}
