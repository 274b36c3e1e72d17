package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSecurityHeaders: every answer — the registry, the API, the token service, health
// checks, errors of each — carries the security headers; HSTS only over TLS.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	requests := []struct {
		method, path string
		headers      http.Header
		status       int
	}{
		{"GET", "/v2/", nil, http.StatusOK},
		{"GET", "/v2/", anonymous(), http.StatusUnauthorized},
		{"GET", "/v2/library/none/manifests/latest", nil, http.StatusNotFound},
		{"GET", "/v2/Bad..Name/tags/list", nil, http.StatusBadRequest},
		{"GET", "/api/v2.0/systeminfo", nil, http.StatusOK},
		{"GET", "/api/v2.0/projects/none", nil, http.StatusNotFound},
		{"GET", "/api/v2.0/users/current", anonymous(), http.StatusUnauthorized},
		{"POST", "/api/v2.0/projects", nil, http.StatusBadRequest},
		{"GET", "/service/token?service=harbor-registry&scope=repository:library/x:pull", nil, http.StatusOK},
		{"GET", "/service/token?service=harbor-registry", basicAuth(adminUser, "wrong"), http.StatusUnauthorized},
		{"GET", "/healthz", nil, http.StatusOK},
		{"GET", "/static/nothing-here", nil, http.StatusNotFound},
	}
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := offlineConfig()
			cfg.DataDir = t.TempDir()
			cfg.AdminPassword = adminPassword
			ts := startTestServerWith(t, cfg, "sqlite", slog.DiscardHandler, serverOptions{TLS: tls})
			for _, rq := range requests {
				resp := ts.do(t, rq.method, rq.path, rq.headers, nil)
				if resp.StatusCode != rq.status {
					t.Errorf("%s %s: status %d, want %d", rq.method, rq.path, resp.StatusCode, rq.status)
				}
				want := map[string]string{
					"X-Content-Type-Options":  "nosniff",
					"X-Frame-Options":         "DENY",
					"Referrer-Policy":         "no-referrer",
					"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
				}
				if tls {
					want["Strict-Transport-Security"] = "max-age=31536000"
				}
				for k, v := range want {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s %s (%d): %s = %q, want %q", rq.method, rq.path, resp.StatusCode, k, got, v)
					}
				}
				if !tls && resp.Header.Get("Strict-Transport-Security") != "" {
					t.Errorf("%s %s: HSTS over plain HTTP", rq.method, rq.path)
				}
			}
		})
	}
}

// TestHTMLContentPolicy: an HTML answer gets the page policy (its own origin only) unless its
// handler chose one; other answers keep the policy that allows nothing.
func TestHTMLContentPolicy(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.DiscardHandler), metrics: newMetrics(nil)}
	tests := []struct {
		name        string
		contentType string
		own         string // the handler's own policy
		want        string
	}{
		{"json", "application/json", "", apiContentPolicy},
		{"html", "text/html; charset=utf-8", "", "default-src 'self'; base-uri 'self'; form-action 'self'; object-src 'none'; frame-ancestors 'none'"},
		{"xhtml", "application/xhtml+xml", "", htmlContentPolicy},
		{"html with the handler's policy", "text/html", "default-src 'self'; img-src 'self' data:", "default-src 'self'; img-src 'self' data:"},
		{"no content type", "", "", apiContentPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				if tc.own != "" {
					w.Header().Set("Content-Security-Policy", tc.own)
				}
				w.Write([]byte("<!doctype html><title>x</title>"))
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if got := rec.Header().Get("Content-Security-Policy"); got != tc.want {
				t.Errorf("Content-Security-Policy = %q, want %q", got, tc.want)
			}
			if got := rec.Header().Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options = %q", got)
			}
		})
	}
}
