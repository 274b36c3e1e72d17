package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestUnroutedRequests covers the answers for requests no route serves: Harbor's error body,
// 405 with the Allow header ServeMux would send when the path has routes for other methods,
// 404 otherwise. No route runs, so the handler needs no stores.
func TestUnroutedRequests(t *testing.T) {
	t.Parallel()
	h := New(Deps{})
	tests := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"unknown path", "GET", "/api/v2.0/nosuch", 404, "NOT_FOUND", ""},
		{"unknown version", "GET", "/api/v2.1/projects", 404, "NOT_FOUND", ""},
		{"below an endpoint", "GET", "/api/v2.0/ping/more", 404, "NOT_FOUND", ""},
		{"trailing slash", "GET", "/api/v2.0/projects/", 404, "NOT_FOUND", ""},
		{"unknown path, unknown method", "BREW", "/api/v2.0/nosuch", 404, "NOT_FOUND", ""},
		{"GET only", "POST", "/api/v2.0/ping", 405, "METHOD_NOT_ALLOWED", "GET, HEAD"},
		{"collection", "PATCH", "/api/v2.0/projects", 405, "METHOD_NOT_ALLOWED", "GET, HEAD, POST"},
		{"wildcard", "POST", "/api/v2.0/projects/library", 405, "METHOD_NOT_ALLOWED", "DELETE, GET, HEAD, PUT"},
		{"no GET", "GET", "/api/v2.0/users/7/sysadmin", 405, "METHOD_NOT_ALLOWED", "PUT"},
		{"OPTIONS", "OPTIONS", "/api/v2.0/projects", 405, "METHOD_NOT_ALLOWED", "GET, HEAD, POST"},
		{"unknown method", "BREW", "/api/v2.0/ping", 405, "METHOD_NOT_ALLOWED", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.status {
				t.Fatalf("%s %s: status %d, want %d: %s", tt.method, tt.path, w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
			var body struct {
				Errors []struct{ Code, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
				t.Fatalf("body %q is not one Harbor error (%v)", w.Body, err)
			}
			if body.Errors[0].Code != tt.code {
				t.Errorf("code %q, want %q", body.Errors[0].Code, tt.code)
			}
			want := "method not allowed"
			if tt.status == http.StatusNotFound {
				want = "no such API: " + tt.method + " " + tt.path
			}
			if body.Errors[0].Message != want {
				t.Errorf("message %q, want %q", body.Errors[0].Message, want)
			}
		})
	}
}

// TestConcurrentFirstRequests: a new handler serves concurrent requests from its first one on
// (under -race this fails for a route table built by the first request).
func TestConcurrentFirstRequests(t *testing.T) {
	t.Parallel()
	h := New(Deps{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v2.0/ping", nil))
			if w.Code != http.StatusMethodNotAllowed {
				t.Errorf("POST /api/v2.0/ping: status %d, want 405", w.Code)
			}
		})
	}
	wg.Wait()
}
