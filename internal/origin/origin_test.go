package origin

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestURL(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.0.2.7/32")}
	follow := New("", "localhost:5000", trusted)
	tests := []struct {
		name    string
		o       *Resolver
		target  string // scheme https sets the request's TLS state
		host    string // the Host header; "-" for none
		remote  string // the TCP peer
		headers map[string]string
		local   net.Addr // the connection's local address, if known
		want    string
	}{
		{name: "host as the client wrote it: localhost", o: follow,
			target: "https://x/v2/", host: "localhost:5443", remote: "127.0.0.1:40000", want: "https://localhost:5443"},
		{name: "host as the client wrote it: 127.0.0.1", o: follow,
			target: "https://x/v2/", host: "127.0.0.1:5443", remote: "127.0.0.1:40000", want: "https://127.0.0.1:5443"},
		{name: "plain HTTP", o: follow,
			target: "http://x/v2/", host: "registry.lan:5000", remote: "127.0.0.1:40000", want: "http://registry.lan:5000"},
		{name: "IPv6 host", o: follow,
			target: "http://x/v2/", host: "[::1]:5000", remote: "[::1]:40000", want: "http://[::1]:5000"},
		{name: "host without port", o: follow,
			target: "https://x/v2/", host: "registry.example.com", remote: "127.0.0.1:40000", want: "https://registry.example.com"},

		{name: "forwarding headers from an untrusted peer are ignored", o: follow,
			target: "http://x/v2/", host: "127.0.0.1:5000", remote: "203.0.113.9:40000",
			headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
			want:    "http://127.0.0.1:5000"},
		{name: "Forwarded from an untrusted peer is ignored", o: follow,
			target: "http://x/v2/", host: "127.0.0.1:5000", remote: "203.0.113.9:40000",
			headers: map[string]string{"Forwarded": "proto=https;host=evil.example"},
			want:    "http://127.0.0.1:5000"},
		{name: "no trusted proxies: forwarding headers are ignored from anyone", o: New("", "localhost:5000", nil),
			target: "http://x/v2/", host: "berth:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"},
			want:    "http://berth:5000"},
		{name: "X-Forwarded-* from a trusted proxy", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"},
			want:    "https://registry.example.com"},
		{name: "a trusted single address", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "192.0.2.7:40000",
			headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"},
			want:    "https://registry.example.com"},
		{name: "its neighbour is not trusted", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "192.0.2.8:40000",
			headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"},
			want:    "http://berth:5000"},
		{name: "trusted IPv6 proxy", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "[fd00::1]:40000",
			headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com:8443"},
			want:    "https://registry.example.com:8443"},
		{name: "IPv4-mapped peer of a trusted IPv4 range", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "[::ffff:10.0.0.5]:40000",
			headers: map[string]string{"X-Forwarded-Proto": "https"},
			want:    "https://berth:5000"},
		{name: "X-Forwarded-Proto alone keeps the Host", o: follow,
			target: "http://x/v2/", host: "registry.example.com", remote: "10.1.2.3:40000",
			headers: map[string]string{"X-Forwarded-Proto": "HTTPS"},
			want:    "https://registry.example.com"},
		{name: "X-Forwarded-Host alone keeps the connection's scheme", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"X-Forwarded-Host": "registry.example.com"},
			want:    "http://registry.example.com"},
		{name: "the first of several hops is the client's", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "registry.example.com, lb.internal"},
			want:    "https://registry.example.com"},
		{name: "Forwarded from a trusted proxy", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"Forwarded": `for=192.0.2.60;Proto=https;host="registry.example.com:8443", for=10.0.0.1;proto=http;host=lb`},
			want:    "https://registry.example.com:8443"},
		{name: "X-Forwarded-* win over Forwarded", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"Forwarded": "proto=http;host=other.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"},
			want:    "https://registry.example.com"},
		{name: "an unknown forwarded scheme is ignored", o: follow,
			target: "https://x/v2/", host: "berth:5443", remote: "10.1.2.3:40000",
			headers: map[string]string{"X-Forwarded-Proto": "ftp"},
			want:    "https://berth:5443"},

		{name: "a Host with quotes and commas is not echoed", o: follow,
			target: "https://x/v2/", host: `evil.example",service="x`, remote: "127.0.0.1:40000", want: "https://localhost:5000"},
		{name: "a Host with a path is not echoed", o: follow,
			target: "http://x/v2/", host: "evil.example/x", remote: "127.0.0.1:40000", want: "http://localhost:5000"},
		{name: "a Host with user info is not echoed", o: follow,
			target: "http://x/v2/", host: "user@evil.example", remote: "127.0.0.1:40000", want: "http://localhost:5000"},
		{name: "a forwarded host with quotes is ignored", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"X-Forwarded-Host": `a",realm="http://evil`},
			want:    "http://berth:5000"},
		{name: "a forwarded host with a comma is cut at it", o: follow,
			target: "http://x/v2/", host: "berth:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"Forwarded": `host="a,b"`},
			want:    "http://berth:5000"},
		{name: "a missing Host is the connection's local address", o: follow,
			target: "http://x/v2/", host: "-", remote: "127.0.0.1:40000", local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5001},
			want: "http://127.0.0.1:5001"},
		{name: "a missing Host without a known connection is the listen address", o: follow,
			target: "http://x/v2/", host: "-", remote: "127.0.0.1:40000", want: "http://localhost:5000"},

		{name: "external_url is the answer to everyone", o: New("https://registry.example.com/", "localhost:5000", trusted),
			target: "http://x/v2/", host: "127.0.0.1:5000", remote: "10.1.2.3:40000",
			headers: map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": "other.example"},
			want:    "https://registry.example.com"},
		{name: "external_url with a path", o: New("https://example.com/registry", "localhost:5000", nil),
			target: "https://x/v2/", host: "localhost:5443", remote: "127.0.0.1:40000", want: "https://example.com/registry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, tc.target, nil)
			r.Host = tc.host
			if tc.host == "-" {
				r.Host = ""
			}
			r.RemoteAddr = tc.remote
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if tc.local != nil {
				r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, tc.local))
			}
			if got := tc.o.URL(r); got != tc.want {
				t.Errorf("URL() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost:5443", true},
		{"127.0.0.1:5443", true},
		{"registry_1.example-corp.com:443", true},
		{"[::1]", true},
		{"[::1]:5000", true},
		{"[2001:db8::1]:443", true},

		{"", false},
		{":5000", false},
		{"localhost:", false},
		{"localhost:http", false},
		{"localhost:123456", false},
		{"a:1:2", false},
		{`evil"`, false},
		{"a,b", false},
		{"a b", false},
		{"a;b=c", false},
		{"a/b", false},
		{"a\r\nX-Injected: 1", false},
		{"user@host", false},
		{"[::1", false},
		{"[::1]x", false},
		{"[127.0.0.1]", false},
		{"[fe80::1%25eth0]:5000", false},
		{"[not-an-ip]:5000", false},
		{string(make([]byte, 300)), false},
	}
	for _, tc := range tests {
		if got := ValidHost(tc.host); got != tc.want {
			t.Errorf("ValidHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

// TestURLFixedDoesNotAllocate keeps the answer with external_url free on hot paths.
func TestURLFixedDoesNotAllocate(t *testing.T) {
	o := New("https://registry.example.com", "localhost:5000", nil)
	r := httptest.NewRequest(http.MethodGet, "https://x/v2/", nil)
	if n := testing.AllocsPerRun(100, func() { _ = o.URL(r) }); n != 0 {
		t.Errorf("URL() with external_url allocates %v times", n)
	}
}

func TestClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"no proxies trusted: the peer", nil, "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"untrusted peer's header ignored", trusted, "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted peer without header", trusted, "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted peer names the client", trusted, "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written entries left of the proxy's are not believed", trusted, "127.0.0.1:5000", []string{"192.0.2.99, 198.51.100.1"}, "198.51.100.1"},
		{"a chain of trusted proxies is walked", trusted, "127.0.0.1:5000", []string{"198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"several header lines read as one list", trusted, "127.0.0.1:5000", []string{"192.0.2.99", "198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"garbage stops the walk at the last good hop", trusted, "127.0.0.1:5000", []string{"198.51.100.1, not-an-ip, 10.1.2.3"}, "10.1.2.3"},
		{"all trusted: the leftmost", trusted, "127.0.0.1:5000", []string{"10.9.9.9, 10.1.2.3"}, "10.9.9.9"},
		{"IPv4-mapped IPv6 peer", trusted, "[::ffff:127.0.0.1]:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv6 client", trusted, "127.0.0.1:5000", []string{"2001:db8::1"}, "2001:db8::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v2/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := New("", "127.0.0.1:5000", tc.trusted).Client(r)
			if got.String() != tc.want {
				t.Errorf("Client = %v, want %s", got, tc.want)
			}
		})
	}
}
