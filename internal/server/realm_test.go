package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Tests of the URLs Berth writes into its answers (the token realm of WWW-Authenticate, the
// Location of uploads, blobs and manifests, /systeminfo's external_url) when external_url is
// not set: they follow the request (internal/origin).

// TestURLsFollowTheRequest sends requests that name different hosts to servers over HTTP and
// HTTPS, with and without trusted proxies and external_url, over real connections from
// 127.0.0.1.
func TestURLsFollowTheRequest(t *testing.T) {
	t.Parallel()
	type server struct {
		opts    serverOptions
		trusted string // trusted_proxies
		ext     string // external_url
	}
	servers := map[string]server{
		"http":                   {opts: serverOptions{FollowRequests: true}},
		"https":                  {opts: serverOptions{FollowRequests: true, TLS: true}},
		"https, other proxies":   {opts: serverOptions{FollowRequests: true, TLS: true}, trusted: "10.0.0.0/8, fd00::/8"},
		"https, loopback proxy":  {opts: serverOptions{FollowRequests: true, TLS: true}, trusted: "10.0.0.0/8,127.0.0.1"},
		"https, external_url":    {opts: serverOptions{FollowRequests: true, TLS: true}, ext: "https://registry.example.com/"},
		"https, external_url+tp": {opts: serverOptions{FollowRequests: true, TLS: true}, ext: "https://registry.example.com", trusted: "127.0.0.0/8"},
	}
	tests := []struct {
		name    string
		server  string
		host    string // "" for the listener's address
		headers []string
		want    string // "{port}" is the server's port
	}{
		{name: "localhost over TLS", server: "https", host: "localhost:{port}", want: "https://localhost:{port}"},
		{name: "127.0.0.1 over TLS", server: "https", host: "127.0.0.1:{port}", want: "https://127.0.0.1:{port}"},
		{name: "a DNS name over TLS", server: "https", host: "registry.lan", want: "https://registry.lan"},
		{name: "localhost over plain HTTP", server: "http", host: "localhost:{port}", want: "http://localhost:{port}"},
		{name: "127.0.0.1 over plain HTTP", server: "http", want: "http://127.0.0.1:{port}"},

		{name: "forwarding headers without trusted proxies are ignored", server: "https", host: "localhost:{port}",
			headers: []string{"X-Forwarded-Proto", "http", "X-Forwarded-Host", "evil.example"}, want: "https://localhost:{port}"},
		{name: "forwarding headers from an untrusted peer are ignored", server: "https, other proxies", host: "localhost:{port}",
			headers: []string{"X-Forwarded-Proto", "http", "X-Forwarded-Host", "evil.example", "Forwarded", "proto=http;host=evil.example"},
			want:    "https://localhost:{port}"},
		{name: "X-Forwarded-* from a trusted proxy", server: "https, loopback proxy", host: "berth.internal:{port}",
			headers: []string{"X-Forwarded-Proto", "http", "X-Forwarded-Host", "registry.example.com:8080"}, want: "http://registry.example.com:8080"},
		{name: "Forwarded from a trusted proxy", server: "https, loopback proxy", host: "berth.internal:{port}",
			headers: []string{"Forwarded", `for=192.0.2.1;proto=https;host="registry.example.com"`}, want: "https://registry.example.com"},
		{name: "a trusted proxy's invalid host is ignored", server: "https, loopback proxy", host: "berth.internal:{port}",
			headers: []string{"X-Forwarded-Host", `evil.example",service="x`}, want: "https://berth.internal:{port}"},

		{name: "external_url whatever the Host", server: "https, external_url", host: "localhost:{port}", want: "https://registry.example.com"},
		{name: "external_url whatever a trusted proxy says", server: "https, external_url+tp", host: "localhost:{port}",
			headers: []string{"X-Forwarded-Proto", "http", "X-Forwarded-Host", "other.example"}, want: "https://registry.example.com"},
	}

	started := map[string]*testServer{}
	for name, s := range servers {
		cfg := offlineConfig()
		cfg.DataDir = t.TempDir()
		cfg.AdminPassword = adminPassword
		cfg.ExternalURL = s.ext
		cfg.TrustedProxies = s.trusted
		if err := cfg.Validate(); err != nil {
			t.Fatalf("server %q: %v", name, err)
		}
		started[name] = startTestServerWith(t, cfg, "sqlite", slog.DiscardHandler, s.opts)
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := started[tc.server]
			port := ts.hs.Listener.Addr().String()[strings.LastIndexByte(ts.hs.Listener.Addr().String(), ':')+1:]
			want := strings.ReplaceAll(tc.want, "{port}", port)
			h := hdr(nil, tc.headers...)
			if tc.host != "" {
				h.Set("Host", strings.ReplaceAll(tc.host, "{port}", port))
			}
			anon := hdr(anonymous(), tc.headers...)
			if tc.host != "" {
				anon.Set("Host", h.Get("Host"))
			}

			resp := ts.do(t, http.MethodGet, "/v2/", anon, nil)
			assertOCIError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
			if got, w := resp.Header.Get("WWW-Authenticate"), `Bearer realm="`+want+`/service/token",service="harbor-registry"`; got != w {
				t.Errorf("GET /v2/: WWW-Authenticate\n got %s\nwant %s", got, w)
			}

			repo := "library/realm-" + uniqueSuffix()
			resp = ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", h, nil)
			expectStatus(t, resp, http.StatusAccepted)
			if got := resp.Header.Get("Location"); !strings.HasPrefix(got, want+"/v2/"+repo+"/blobs/uploads/") {
				t.Errorf("POST blobs/uploads/: Location %q, want %s/v2/%s/blobs/uploads/<id>", got, want, repo)
			}

			m := ts.imageManifest(t, repo, mtOCIManifest)
			layer := randomBytes(32)
			d := sha256Digest(layer)
			resp = ts.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d, hdr(h, "Content-Type", "application/octet-stream"), layer)
			expectStatus(t, resp, http.StatusCreated)
			if got, w := resp.Header.Get("Location"), want+"/v2/"+repo+"/blobs/"+d; got != w {
				t.Errorf("monolithic upload: Location %q, want %q", got, w)
			}

			body := mustJSON(t, m)
			resp = ts.do(t, http.MethodPut, "/v2/"+repo+"/manifests/v1", hdr(h, "Content-Type", mtOCIManifest), body)
			expectStatus(t, resp, http.StatusCreated)
			if got, w := resp.Header.Get("Location"), want+"/v2/"+repo+"/manifests/"+sha256Digest(body); got != w {
				t.Errorf("PUT manifest: Location %q, want %q", got, w)
			}

			resp = ts.do(t, http.MethodGet, "/api/v2.0/systeminfo", h, nil)
			expectStatus(t, resp, http.StatusOK)
			var info struct {
				ExternalURL string `json:"external_url"`
				RegistryURL string `json:"registry_url"`
			}
			if err := json.Unmarshal(respBody(t, resp), &info); err != nil {
				t.Fatal(err)
			}
			if _, host, _ := strings.Cut(want, "://"); info.ExternalURL != want || info.RegistryURL != host {
				t.Errorf("systeminfo: external_url %q registry_url %q, want %q and %q", info.ExternalURL, info.RegistryURL, want, host)
			}
		})
	}
}

// TestInjectedHostIsNotEchoed sends Hosts no client would send (Go's refuses them) straight
// to the handler: they must not reach the challenge, whose realm falls back to the listen
// address.
func TestInjectedHostIsNotEchoed(t *testing.T) {
	t.Parallel()
	cfg := offlineConfig()
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = adminPassword
	cfg.TrustedProxies = "192.0.2.0/24"
	ts := startTestServerWith(t, cfg, "sqlite", slog.DiscardHandler, serverOptions{FollowRequests: true, TLS: true})
	listen := ts.hs.Listener.Addr().String()
	tests := []struct {
		name    string
		host    string
		remote  string
		headers []string
		want    string
	}{
		{name: "quotes", host: `localhost",service="evil`, remote: "127.0.0.1:40000", want: "https://" + listen},
		{name: "commas", host: "localhost,scope=evil", remote: "127.0.0.1:40000", want: "https://" + listen},
		{name: "a path", host: "evil.example/x?", remote: "127.0.0.1:40000", want: "https://" + listen},
		{name: "no Host", host: "", remote: "127.0.0.1:40000", want: "https://" + listen},
		{name: "quotes in a trusted proxy's X-Forwarded-Host", host: "localhost:5443", remote: "192.0.2.1:40000",
			headers: []string{"X-Forwarded-Host", `a",realm="https://evil.example`}, want: "https://localhost:5443"},
		{name: "quotes in a trusted proxy's Forwarded", host: "localhost:5443", remote: "192.0.2.1:40000",
			headers: []string{"Forwarded", `host="a\",realm=evil"`}, want: "https://localhost:5443"},
		{name: "a valid host from a trusted proxy", host: "localhost:5443", remote: "192.0.2.1:40000",
			headers: []string{"X-Forwarded-Host", "registry.example.com"}, want: "https://registry.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/v2/library/x/manifests/latest", nil)
			r.Host = tc.host
			r.RemoteAddr = tc.remote
			for i := 0; i+1 < len(tc.headers); i += 2 {
				r.Header.Set(tc.headers[i], tc.headers[i+1])
			}
			w := httptest.NewRecorder()
			ts.srv.Handler().ServeHTTP(w, r)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			got := w.Header().Get("WWW-Authenticate")
			want := `Bearer realm="` + tc.want + `/service/token",service="harbor-registry",scope="repository:library/x:pull"`
			if got != want {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
			}
			if strings.Contains(got, "evil") {
				t.Errorf("WWW-Authenticate echoes the injected host: %s", got)
			}
		})
	}
}
