package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berthreg/berth/internal/config"
)

// countedServer is Berth served by the HTTP server Run uses, with its connections counted.
type countedServer struct {
	addr string
	open atomic.Int64 // connections accepted and not yet closed by the server
}

func serveCounted(t *testing.T, cfg config.Config) *countedServer {
	t.Helper()
	cfg.AdminPassword = adminPassword
	s, err := New(context.Background(), cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	cs := &countedServer{addr: ln.Addr().String()}
	hs := s.newHTTPServer()
	hs.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			cs.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			cs.open.Add(-1)
		}
	}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return cs
}

// rawRequest opens a connection and writes req to it as it is.
func (cs *countedServer) rawRequest(t *testing.T, req string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", cs.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// generous bounds every wait in these tests: what they check is that the server answers and
// closes at all, not how fast a loaded machine does it.
const generous = 30 * time.Second

// readAnswer reads one response from c.
func readAnswer(t *testing.T, c net.Conn, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(generous))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, string(b)
}

// assertClosedByServer reads until the server closes the connection.
func assertClosedByServer(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(generous))
	n, err := io.Copy(io.Discard, br)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("the server kept the connection open for %v", generous)
	case err != nil && !errors.Is(err, syscall.ECONNRESET):
		t.Fatalf("reading until the server closes: %v", err)
	case n > 0:
		t.Fatalf("the server sent %d more bytes after its answer", n)
	}
}

// announce is a request that declares a body of length bytes and sends one byte of it.
func announce(method, path, auth string, length int) string {
	h := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: registry.test\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: %d\r\n", method, path, length)
	if auth != "" {
		h += "Authorization: " + auth + "\r\n"
	}
	return h + "\r\n{"
}

func basicHeader(user, password string) string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// TestRefusedBodyIsNotWaitedFor: a request refused before its body was read is answered at
// once and its connection closed, however much body it announced and however little it sent
// — with the body deadline at its default of a minute, so that it is not what closes them.
func TestRefusedBodyIsNotWaitedFor(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sqlite")
	cs := serveCounted(t, cfg)
	tests := []struct {
		name   string
		req    string
		status int
	}{
		{"anonymous manifest push announcing 4 MB", announce("PUT", "/v2/library/x/manifests/x", "", 4000000), http.StatusUnauthorized},
		// Less than 256 KiB left: net/http would wait for it before answering.
		{"anonymous manifest push announcing 4000 bytes", announce("PUT", "/v2/library/x/manifests/x", "", 4000), http.StatusUnauthorized},
		{"anonymous chunked manifest push", "PUT /v2/library/x/manifests/x HTTP/1.1\r\nHost: registry.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", http.StatusUnauthorized},
		{"anonymous monolithic blob upload", announce("POST", "/v2/library/x/blobs/uploads/?digest=sha256:"+strings.Repeat("0", 64), "", 4000), http.StatusUnauthorized},
		{"wrong password", announce("PUT", "/v2/library/x/manifests/x", basicHeader(adminUser, "wrong"), 4000), http.StatusUnauthorized},
		{"manifest larger than allowed", announce("PUT", "/v2/library/x/manifests/x", basicHeader(adminUser, adminPassword), 100<<20), http.StatusRequestEntityTooLarge},
		{"unknown route", announce("PUT", "/nothing-here", "", 4000), http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := cs.rawRequest(t, tc.req)
			br := bufio.NewReader(c)
			resp, body := readAnswer(t, c, br)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if !resp.Close {
				t.Error("the answer does not say Connection: close")
			}
			assertClosedByServer(t, c, br)
		})
	}
}

// TestStalledRequestsAreCutOff: a client that stops in the middle of a request — its headers,
// its body, or between two requests — is cut off after the configured time.
func TestStalledRequestsAreCutOff(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sqlite")
	cfg.HTTPReadHeaderTimeout = 300 * time.Millisecond
	cfg.HTTPIdleTimeout = 300 * time.Millisecond
	cfg.HTTPBodyIdleTimeout = 300 * time.Millisecond
	cs := serveCounted(t, cfg)
	admin := basicHeader(adminUser, adminPassword)

	t.Run("body stops: the manifest push fails", func(t *testing.T) {
		t.Parallel()
		c := cs.rawRequest(t, announce("PUT", "/v2/library/x/manifests/v1", admin, 4000))
		br := bufio.NewReader(c)
		resp, body := readAnswer(t, c, br)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "MANIFEST_INVALID") {
			t.Fatalf("status %d %s, want 400 MANIFEST_INVALID", resp.StatusCode, body)
		}
		assertClosedByServer(t, c, br)
	})
	t.Run("body stops: the blob upload fails", func(t *testing.T) {
		t.Parallel()
		c := cs.rawRequest(t, announce("POST", "/v2/library/x/blobs/uploads/?digest=sha256:"+strings.Repeat("0", 64), admin, 4000))
		br := bufio.NewReader(c)
		resp, body := readAnswer(t, c, br)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"errors"`) {
			t.Fatalf("status %d %s, want 408 with an error body", resp.StatusCode, body)
		}
		assertClosedByServer(t, c, br)
	})
	t.Run("body stops: an API request fails", func(t *testing.T) {
		t.Parallel()
		c := cs.rawRequest(t, announce("POST", "/api/v2.0/projects", admin, 4000))
		br := bufio.NewReader(c)
		resp, body := readAnswer(t, c, br)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(body, `"errors"`) {
			t.Fatalf("status %d %s, want a 4xx with Harbor's error body", resp.StatusCode, body)
		}
		assertClosedByServer(t, c, br)
	})
	t.Run("body pauses in the middle of an upload", func(t *testing.T) {
		t.Parallel()
		up := newUploader(t, cs)
		stalled := &trickle{data: randomBytes(20 << 10), chunk: 1 << 10, pause: func(i int) time.Duration {
			if i == 5 {
				return 3 * time.Second
			}
			return 10 * time.Millisecond
		}}
		resp, err := up.send(http.MethodPatch, up.start(), stalled)
		if err == nil && resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("a body that paused for 3 s: %s, want 408 (or a closed connection)", resp.Status)
		}
	})
	t.Run("headers stop", func(t *testing.T) {
		t.Parallel()
		c := cs.rawRequest(t, "GET /v2/ HTTP/1.1\r\nHost: registry.test\r\n")
		c.SetReadDeadline(time.Now().Add(generous))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server kept a connection with unfinished headers open for %v", generous)
		}
	})
	t.Run("idle between requests", func(t *testing.T) {
		t.Parallel()
		c := cs.rawRequest(t, "GET /v2/ HTTP/1.1\r\nHost: registry.test\r\n\r\n")
		br := bufio.NewReader(c)
		resp, _ := readAnswer(t, c, br)
		if resp.StatusCode != http.StatusUnauthorized || resp.Close {
			t.Fatalf("status %d close %v, want a 401 that keeps the connection", resp.StatusCode, resp.Close)
		}
		assertClosedByServer(t, c, br)
	})
}

// trickle sends chunks of a body with a pause before each.
type trickle struct {
	data  []byte
	chunk int
	pause func(i int) time.Duration
	i     int
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause(r.i))
	r.i++
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// uploader sends blob uploads to a countedServer as the administrator.
type uploader struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newUploader(t *testing.T, cs *countedServer) *uploader {
	return &uploader{t: t, base: "http://" + cs.addr, client: &http.Client{Timeout: 2 * generous}}
}

// send does one request; the answer's body is read and closed.
func (u *uploader) send(method, target string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(adminUser, adminPassword)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// start opens an upload session and returns its URL.
func (u *uploader) start() string {
	u.t.Helper()
	resp, err := u.send(http.MethodPost, u.base+"/v2/library/slow/blobs/uploads/", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		u.t.Fatalf("start upload: %v %v", resp, err)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		u.t.Fatal(err)
	}
	return u.base + loc.RequestURI()
}

// TestSlowSteadyUploadSucceeds: a body that arrives slowly but without long pauses is not cut
// off, however long it takes in all. (One that pauses is: TestStalledRequestsAreCutOff.)
func TestSlowSteadyUploadSucceeds(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sqlite")
	// Long enough that a loaded machine does not stall the client's 50 ms cadence for it.
	cfg.HTTPBodyIdleTimeout = 4 * time.Second
	up := newUploader(t, serveCounted(t, cfg))

	data := randomBytes(100 << 10)
	// 100 chunks 50 ms apart: over 5 s in all, longer than the idle timeout, never idle long.
	steady := &trickle{data: data, chunk: 1 << 10, pause: func(int) time.Duration { return 50 * time.Millisecond }}
	began := time.Now()
	resp, err := up.send(http.MethodPatch, up.start(), steady)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("slow PATCH: %v %v", resp, err)
	}
	if took := time.Since(began); took <= cfg.HTTPBodyIdleTimeout {
		t.Fatalf("the slow body took %v: it did not outlast the idle timeout and proves nothing", took)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	sum := sha256.Sum256(data)
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	resp, err = up.send(http.MethodPut, up.base+loc.Path+"?"+withQuery(loc.RawQuery, "digest", dgst), nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish upload: %v %v", resp, err)
	}
}

func withQuery(raw, k, v string) string {
	q, _ := url.ParseQuery(raw)
	q.Set(k, v)
	return q.Encode()
}

// TestHalfOpenRequestsDoNotAccumulate: many clients that announce a body, send a byte of it
// and then neither send nor read anything hold no connection — and so no goroutine or file
// descriptor — once they have been answered.
func TestHalfOpenRequestsDoNotAccumulate(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "sqlite")
	cs := serveCounted(t, cfg)
	const clients = 200
	conns := make([]net.Conn, 0, clients)
	for i := range clients {
		length := 4000
		if i%2 == 0 {
			length = 4000000
		}
		c, err := net.Dial("tcp", cs.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, announce("PUT", fmt.Sprintf("/v2/library/x%d/manifests/x", i), "", length)); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(generous)
	for cs.open.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d half-open connections still open after %v", cs.open.Load(), clients, generous)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every connection was closed by the server (StateClosed: its descriptor closed, its
	// goroutine ending) while the clients still hold theirs open.
}
