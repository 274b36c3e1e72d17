package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/scan/adapter"
)

// TestScannerAtRefusedAddress: registering (or pinging) a scanner at a cloud metadata address
// fails with an error that says why, and the request is never sent; the deny list refuses a
// loopback adapter and the allow list lets a refused one through.
func TestScannerAtRefusedAddress(t *testing.T) {
	t.Parallel()
	scanners := apiBase + "/scanners"
	// Before any request: the server's policy refuses these, in the dialer's Control, before a
	// connection is attempted (internal/outbound's tests prove where), so this test sends no
	// packet beyond 127.0.0.0/8.
	policy := OutboundOptions(offlineConfig()).Policy
	for _, ip := range []string{"169.254.169.254", "fd00:ec2::254"} {
		if policy.Check(netip.MustParseAddr(ip)) == nil {
			t.Fatalf("the default policy lets %s through: stopping before a request is sent", ip)
		}
	}
	ts := newTestServer(t, "sqlite")
	for _, u := range []string{"http://169.254.169.254", "http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]:8080"} {
		body := map[string]any{"name": "Metadata", "url": u}
		for _, path := range []string{scanners + "/ping", scanners} {
			resp := ts.mrJSON(t, http.MethodPost, path, nil, body)
			mrExpectAPIError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
			msg := scErrorMessage(t, resp)
			if !strings.Contains(msg, "refused") || !strings.Contains(msg, "metadata") || !strings.Contains(msg, "outbound_allowed_cidrs") {
				t.Errorf("POST %s at %s: %q, want a refusal that names the metadata address", path, u, msg)
			}
		}
	}
	if _, ok := scFind(ts.scList(t, scanners, nil), "Metadata"); ok {
		t.Fatal("a scanner at the metadata address was registered")
	}

	// An adapter on 127.0.0.2: refused when denied, reached when an allow entry overrides.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	srv := adapter.NewServer(scEngine{"Local"}, func(*http.Request) bool { return true }, nil)
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() { hs.Close(); srv.Close() })
	tests := []struct {
		name        string
		allow, deny string
		wantRefusal bool
	}{
		{"default", "", "", false},
		{"denied", "", "127.0.0.2", true},
		{"allowed over a denied range", "127.0.0.2/32", "127.0.0.0/8", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := offlineConfig()
			cfg.DataDir = t.TempDir()
			cfg.AdminPassword = adminPassword
			cfg.OutboundAllowedCIDRs, cfg.OutboundDeniedCIDRs = tc.allow, tc.deny
			ts := startTestServer(t, cfg, "sqlite", slog.DiscardHandler)
			resp := ts.mrJSON(t, http.MethodPost, scanners+"/ping", nil, map[string]any{"name": "Local", "url": hs.URL})
			if !tc.wantRefusal {
				expectStatus(t, resp, http.StatusOK)
				return
			}
			mrExpectAPIError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
			if msg := scErrorMessage(t, resp); !strings.Contains(msg, "outbound_denied_cidrs") {
				t.Errorf("ping a denied adapter: %q", msg)
			}
		})
	}
}
