package server

// Requests net/http refuses before any handler runs — a negative or non-numeric Content-Length,
// a malformed request line or header, an unsupported Transfer-Encoding, headers over
// MaxHeaderBytes — get an answer net/http writes by itself: plain text ("400 Bad Request"),
// which no registry or Harbor client can read. http.Server offers no hook for those answers,
// so the connections it serves are wrapped: while no handler has run for the request being
// read, what net/http writes is its own refusal, and it is rewritten into the JSON error body
// every other refusal has ({"errors":[{"code":"BAD_REQUEST","message":"..."}]}, which both
// /v2/ and /api/v2.0 clients read).
//
// The state comes from the server's hooks: observe marks the connection when a handler
// starts, and ConnState's StateIdle, which net/http reports once a response is flushed and
// before it reads the next request on the connection, clears the mark (StateActive, reported
// when a request's first bytes come off the wire, clears it too, though not for a request
// already buffered). So nothing a handler writes is ever taken for a refusal. A TLS connection is wrapped above TLS, so the wrapper does the handshake net/http
// would have done (it only does it for a *tls.Conn) and reports its state (Request.TLS).

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// refusalConn is a connection whose net/http refusals are rewritten (see above).
type refusalConn struct {
	net.Conn
	// handled is set while a handler serves the current request and until its response is
	// flushed (StateIdle clears it).
	handled atomic.Bool
}

// tlsRefusalConn is a refusalConn over TLS. Only it has ConnectionState: net/http sets
// Request.TLS for any connection that has one.
type tlsRefusalConn struct {
	*refusalConn
	tls *tls.Conn // the same connection as refusalConn.Conn
	log *slog.Logger
	// handshakeTimeout bounds the TLS handshake, as net/http's own handshake is bounded.
	handshakeTimeout time.Duration
}

// refusalOf returns the refusalConn a connection net/http serves is, or nil.
func refusalOf(c net.Conn) *refusalConn {
	switch c := c.(type) {
	case *refusalConn:
		return c
	case *tlsRefusalConn:
		return c.refusalConn
	}
	return nil
}

type refusalListener struct {
	net.Listener
	log              *slog.Logger
	handshakeTimeout time.Duration
}

// jsonRefusals wraps ln so that net/http's own refusals are answered in JSON; the server must
// be configured with serveRefusals.
func jsonRefusals(ln net.Listener, log *slog.Logger, handshakeTimeout time.Duration) net.Listener {
	return &refusalListener{Listener: ln, log: log, handshakeTimeout: handshakeTimeout}
}

func (l *refusalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &refusalConn{Conn: c}
	if tc, ok := c.(*tls.Conn); ok {
		return &tlsRefusalConn{refusalConn: rc, tls: tc, log: l.log, handshakeTimeout: l.handshakeTimeout}, nil
	}
	return rc, nil
}

type refusalConnKey struct{}

// serveRefusals installs the hooks the wrapped connections need on srv (ConnState and
// ConnContext; hooks already set still run).
func serveRefusals(srv *http.Server) {
	prevState, prevContext := srv.ConnState, srv.ConnContext
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if rc := refusalOf(c); rc != nil && (st == http.StateIdle || st == http.StateActive) {
			rc.handled.Store(false)
		}
		if prevState != nil {
			prevState(c, st)
		}
	}
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevContext != nil {
			ctx = prevContext(ctx, c)
		}
		if rc := refusalOf(c); rc != nil {
			ctx = context.WithValue(ctx, refusalConnKey{}, rc)
		}
		return ctx
	}
}

// markHandled tells the connection of r that a handler serves it: what is written from now on
// is the handler's answer.
func markHandled(r *http.Request) {
	if rc, ok := r.Context().Value(refusalConnKey{}).(*refusalConn); ok {
		rc.handled.Store(true)
	}
}

func (c *refusalConn) Write(p []byte) (int, error) {
	if !c.handled.Load() {
		if b, ok := jsonRefusal(p); ok {
			if _, err := c.Conn.Write(b); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// ReadFrom keeps sendfile for blob downloads: net/http uses it when the connection has it.
func (c *refusalConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok && c.handled.Load() {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c}, r)
}

type writerOnly struct{ io.Writer }

// CloseWrite is net/http's way to end a connection gracefully after a refusal.
func (c *refusalConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ConnectionState makes net/http set Request.TLS, as it does for a *tls.Conn. It asks right
// after accepting, where it would have done the handshake: so the handshake is done here.
func (c *tlsRefusalConn) ConnectionState() tls.ConnectionState {
	if !c.tls.ConnectionState().HandshakeComplete {
		c.handshake()
	}
	return c.tls.ConnectionState()
}

// handshake does what net/http does for a *tls.Conn: a bounded handshake, and the plain-text
// answer to a client speaking HTTP to the TLS port. A failed handshake leaves the connection
// failing every read, so net/http closes it.
func (c *tlsRefusalConn) handshake() {
	if c.handshakeTimeout > 0 {
		c.tls.SetDeadline(time.Now().Add(c.handshakeTimeout))
		defer c.tls.SetDeadline(time.Time{})
	}
	err := c.tls.HandshakeContext(context.Background())
	if err == nil {
		return
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
		io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		re.Conn.Close()
		err = errors.New("client sent an HTTP request to an HTTPS server")
	}
	c.log.Warn("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
}

func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// The shape of every refusal net/http writes itself (server.go, conn.serve): a status line,
// these headers, and a plain-text body. A handler's answer never has it: net/http writes
// the headers a handler sets first, sorted, and then Date, which this lacks.
const refusalHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// jsonRefusal rewrites one of net/http's refusals into the JSON error body; ok is false for
// anything else.
func jsonRefusal(p []byte) ([]byte, bool) {
	line, body, ok := bytes.Cut(p, []byte(refusalHeaders))
	if !ok || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return nil, false
	}
	// "HTTP/1.1 400 Bad Request" or, with a reason, "HTTP/1.1 400 Bad Request: missing
	// required Host header".
	status, err := strconv.Atoi(string(line[len("HTTP/1.1 "):min(len(line), len("HTTP/1.1 400"))]))
	if err != nil || status < 400 || status > 599 {
		return nil, false
	}
	msg := strings.TrimSpace(string(body))
	if _, reason, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, strconv.Itoa(status)+" ") {
		msg = reason
	}
	switch msg {
	case "400 Bad Request":
		// net/http says no more; the usual causes are these.
		msg = "malformed HTTP request (request line, a header, or Content-Length)"
	case "431 Request Header Fields Too Large":
		msg = "the request's header fields are too large"
	}
	code := "BAD_REQUEST"
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		code = "REQUEST_HEADER_FIELDS_TOO_LARGE"
	case http.StatusNotImplemented:
		code = "UNSUPPORTED"
	}
	js, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	b.WriteString("Content-Type: application/json\r\nConnection: close\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(js)) + "\r\n\r\n")
	b.Write(js)
	return b.Bytes(), true
}
