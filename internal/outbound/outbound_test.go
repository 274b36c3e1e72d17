package outbound

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// No test here sends a packet beyond 127.0.0.0/8: every refused address is refused by the
// dialer's Control, before the connection is attempted, and guardedTransport fails any dial to
// another address whatever the policy says.

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr   string
		policy Policy
		refuse string // part of the reason; "" means allowed
	}{
		{"169.254.169.254", Policy{}, "cloud metadata"},
		{"::ffff:169.254.169.254", Policy{}, "cloud metadata"},
		{"169.254.170.2", Policy{}, "ECS"},
		{"169.254.0.1", Policy{}, "link-local"},
		{"fe80::1", Policy{}, "link-local"},
		{"fe80::1%eth0", Policy{}, "link-local"},
		{"fd00:ec2::254", Policy{}, "cloud metadata"},
		{"100.100.100.200", Policy{}, "Alibaba"},
		{"192.0.0.192", Policy{}, "Oracle"},
		{"168.63.129.16", Policy{}, "Azure"},
		{"0.0.0.0", Policy{}, "unspecified"},
		{"0.1.2.3", Policy{}, "unspecified"},
		{"::", Policy{}, "unspecified"},
		{"224.0.0.1", Policy{}, "multicast"},
		{"239.255.255.250", Policy{}, "multicast"},
		{"ff02::1", Policy{}, "multicast"},
		{"255.255.255.255", Policy{}, "broadcast"},

		// Loopback and private ranges: on-premises scanners and mirrors.
		{"127.0.0.1", Policy{}, ""},
		{"127.0.0.2", Policy{}, ""},
		{"::1", Policy{}, ""},
		{"10.1.2.3", Policy{}, ""},
		{"172.16.0.1", Policy{}, ""},
		{"192.168.1.1", Policy{}, ""},
		{"fd00::1", Policy{}, ""},
		{"fd00:ec2::253", Policy{}, ""},
		{"100.64.0.1", Policy{}, ""},
		{"8.8.8.8", Policy{}, ""},
		{"2001:db8::1", Policy{}, ""},

		{"127.0.0.2", Policy{Deny: prefixes("127.0.0.2/32")}, "outbound_denied_cidrs (127.0.0.2/32)"},
		{"127.0.0.1", Policy{Deny: prefixes("127.0.0.2/32")}, ""},
		{"10.9.9.9", Policy{Deny: prefixes("10.0.0.0/8")}, "outbound_denied_cidrs"},
		{"::ffff:10.9.9.9", Policy{Deny: prefixes("10.0.0.0/8")}, "outbound_denied_cidrs"},
		{"169.254.169.254", Policy{Allow: prefixes("169.254.169.254/32")}, ""},
		{"169.254.169.253", Policy{Allow: prefixes("169.254.169.254/32")}, "link-local"},
		{"127.0.0.2", Policy{Allow: prefixes("127.0.0.2/32"), Deny: prefixes("127.0.0.0/8")}, ""},
		{"127.0.0.3", Policy{Allow: prefixes("127.0.0.2/32"), Deny: prefixes("127.0.0.0/8")}, "outbound_denied_cidrs"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			err := tc.policy.Check(netip.MustParseAddr(tc.addr))
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("Check = %v, want a refusal naming %q", err, tc.refuse)
			}
			if !strings.Contains(err.Error(), "outbound_allowed_cidrs") {
				t.Errorf("the refusal does not say how to allow it: %v", err)
			}
		})
	}
}

// guardedTransport is NewTransport(o) whose dialer records what its Control decided and
// fails every dial beyond 127.0.0.0/8 even if the policy allowed it: a broken policy makes the
// test fail, never send a packet out.
func guardedTransport(t *testing.T, o Options) (*http.Transport, *atomic.Int64) {
	t.Helper()
	var refusals atomic.Int64
	d := newDialer(o)
	control := d.Control
	d.Control = func(network, address string, c syscall.RawConn) error {
		err := control(network, address, c)
		var re *RefusedError
		if errors.As(err, &re) {
			refusals.Add(1)
			return err
		}
		ap, perr := netip.ParseAddrPort(address)
		if perr != nil || !ap.Addr().Unmap().IsLoopback() || !ap.Addr().Unmap().Is4() {
			t.Errorf("the policy let a dial to %s through: the test stops it", address)
			return errors.New("test guard: no dial beyond 127.0.0.0/8")
		}
		return err
	}
	tr := NewTransport(o)
	tr.DialContext = d.DialContext
	return tr, &refusals
}

// TestRefusedBeforeConnecting: a dial to a refused address fails in the dialer's Control —
// after the socket is made, before it connects — with a *RefusedError.
func TestRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"169.254.169.254:80", "[fd00:ec2::254]:80", "100.100.100.200:80", "[fe80::1]:443", "0.0.0.0:80", "[::ffff:169.254.169.254]:80"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			tr, refusals := guardedTransport(t, Options{})
			began := time.Now()
			_, err := tr.DialContext(context.Background(), "tcp", addr)
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("dial %s: %v, want a *RefusedError", addr, err)
			}
			if refusals.Load() != 1 {
				t.Fatalf("Control refused %d times, want once: the refusal must come from Control", refusals.Load())
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("the refusal took %v: it waited for something", d)
			}
		})
	}
}

// TestClientRefusesMetadataAddress: a request to the metadata address fails with a clear error
// and no connection.
func TestClientRefusesMetadataAddress(t *testing.T) {
	t.Parallel()
	tr, refusals := guardedTransport(t, Options{})
	c := &http.Client{Transport: tr, CheckRedirect: Policy{}.checkRedirect}
	_, err := c.Get("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "169.254.169.254") || !strings.Contains(err.Error(), "metadata") {
		t.Fatalf("GET the metadata address: %v, want a refusal naming it", err)
	}
	if refusals.Load() == 0 {
		t.Fatal("no refusal in Control")
	}
}

// loopbackServer listens on ip (any 127.0.0.0/8 address) and counts the connections it gets.
func loopbackServer(t *testing.T, ip string, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	var conns atomic.Int64
	hs := httptest.NewUnstartedServer(h)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return hs, &conns
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// TestDenyAndAllowLists: a denied loopback address is refused, an allowed one inside a denied
// range is reached.
func TestDenyAndAllowLists(t *testing.T) {
	t.Parallel()
	hs, conns := loopbackServer(t, "127.0.0.2", http.HandlerFunc(ok))
	tests := []struct {
		name   string
		policy Policy
		reach  bool
	}{
		{"default", Policy{}, true},
		{"denied", Policy{Deny: prefixes("127.0.0.2/32")}, false},
		{"denied range", Policy{Deny: prefixes("127.0.0.0/8")}, false},
		{"allowed inside a denied range", Policy{Allow: prefixes("127.0.0.2/32"), Deny: prefixes("127.0.0.0/8")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := conns.Load()
			c := NewClient(Options{Policy: tc.policy})
			resp, err := c.Get(hs.URL)
			if tc.reach {
				if err != nil {
					t.Fatalf("GET %s: %v", hs.URL, err)
				}
				resp.Body.Close()
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("GET %s: %v, want a *RefusedError", hs.URL, err)
			}
			if n := conns.Load() - before; n != 0 {
				t.Fatalf("the server got %d connections although the address is refused", n)
			}
		})
	}
}

// TestRedirectsAreChecked: a redirect to a refused address — named by its address or by a
// name that resolves to it — is refused without a connection to it.
func TestRedirectsAreChecked(t *testing.T) {
	t.Parallel()
	target, targetConns := loopbackServer(t, "127.0.0.1", http.HandlerFunc(ok))
	_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
	redirectTo := func(u string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, u, http.StatusFound) })
	}
	// The redirecting servers listen on 127.0.0.3; the target on 127.0.0.1, which these
	// policies deny (::1 too, for localhost).
	deny := Policy{Deny: prefixes("127.0.0.1/32", "::1/128")}
	tests := []struct {
		name   string
		to     string
		policy Policy
		want   string
	}{
		{"to the metadata address", "http://169.254.169.254/latest/meta-data/", Policy{}, "169.254.169.254"},
		{"to a denied address", "http://127.0.0.1:" + port + "/", deny, "outbound_denied_cidrs"},
		{"to a name of a denied address", "http://localhost:" + port + "/", deny, "outbound_denied_cidrs"},
		{"to another scheme", "ftp://127.0.0.1:" + port + "/", Policy{}, "not an http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, _ := loopbackServer(t, "127.0.0.3", redirectTo(tc.to))
			before := targetConns.Load()
			tr, _ := guardedTransport(t, Options{Policy: tc.policy})
			c := &http.Client{Transport: tr, CheckRedirect: tc.policy.checkRedirect}
			resp, err := c.Get(from.URL)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("the redirect to %s was followed: %s", tc.to, resp.Status)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("GET: %v, want an error naming %q", err, tc.want)
			}
			if n := targetConns.Load() - before; n != 0 {
				t.Fatalf("the refused target got %d connections", n)
			}
		})
	}
	t.Run("too many", func(t *testing.T) {
		var loop *httptest.Server
		loop, _ = loopbackServer(t, "127.0.0.3", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loop.URL, http.StatusFound)
		}))
		_, err := NewClient(Options{}).Get(loop.URL)
		if err == nil || !strings.Contains(err.Error(), "redirects") {
			t.Fatalf("a redirect loop: %v", err)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		from, _ := loopbackServer(t, "127.0.0.3", redirectTo(target.URL))
		resp, err := NewClient(Options{}).Get(from.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
}

func TestLimitReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		size, limit int
		tooLarge    bool
	}{
		{0, 10, false},
		{9, 10, false},
		{10, 10, false},
		{11, 10, true},
		{1 << 20, 1 << 10, true},
		{5, 0, true},
		{0, 0, false},
	}
	for _, tc := range tests {
		data := bytes.Repeat([]byte("x"), tc.size)
		// A reader that hands out a byte at a time, like a slow network.
		b, err := ReadAll(iotestOneByte(data), int64(tc.limit))
		var tl *TooLargeError
		switch {
		case tc.tooLarge && !errors.As(err, &tl):
			t.Errorf("%d bytes, limit %d: %v, want a *TooLargeError", tc.size, tc.limit, err)
		case !tc.tooLarge && (err != nil || len(b) != tc.size):
			t.Errorf("%d bytes, limit %d: %d bytes, %v", tc.size, tc.limit, len(b), err)
		}
		// LimitReader hands out the bytes up to the limit, then the error.
		n, err := io.Copy(io.Discard, LimitReader(bytes.NewReader(data), int64(tc.limit)))
		if tc.tooLarge && (n != int64(tc.limit) || !errors.As(err, &tl)) {
			t.Errorf("LimitReader, %d bytes, limit %d: copied %d, %v", tc.size, tc.limit, n, err)
		}
	}
}

type oneByte struct{ b []byte }

func iotestOneByte(b []byte) io.Reader { return &oneByte{b} }

func (r *oneByte) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// TestAnswerLargerThanLimit: an answer over the limit is cut with an error, not taken whole.
func TestAnswerLargerThanLimit(t *testing.T) {
	t.Parallel()
	hs, _ := loopbackServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("y"), 2<<20))
	}))
	resp, err := NewClient(Options{}).Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = ReadAll(resp.Body, 1<<20)
	var tl *TooLargeError
	if !errors.As(err, &tl) || err.Error() != "the answer is larger than 1 MiB" {
		t.Fatalf("ReadAll of 2 MiB with a 1 MiB limit: %v", err)
	}
}

// TestTimeouts: a server that accepts but never answers is given up after
// ResponseHeaderTimeout.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hs, _ := loopbackServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	_, err := NewClient(Options{ResponseHeaderTimeout: 200 * time.Millisecond}).Get(hs.URL)
	if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Fatalf("GET a server that never answers: %v", err)
	}
	_, err = NewClient(Options{Timeout: 200 * time.Millisecond}).Get(hs.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("GET with an overall timeout: %v", err)
	}
}
