package server

// How long a connection may hold the server. net/http bounds only the request headers and the
// wait between requests by itself (http_read_header_timeout, http_idle_timeout). A request body
// it bounds only as a whole (ReadTimeout), which would cut off a slow push of a large layer, so
// Berth keeps a deadline of its own: each read of the body may wait http_body_idle_timeout for
// bytes, and the end of the body lifts the deadline. A client that declares a body and stops
// sending it is cut off after that long, however large the body it announced; a handler busy
// between two reads (waiting for a lock, writing to slow storage) is not the client's stall.
//
// An answer given before the body was read to its end (a refusal: 401, 403, 404, 413 …) closes
// the connection. Otherwise net/http, to reuse the connection, reads what is left of the body
// before it writes the answer when less than 256 KiB is left (a chunked body: always); a client
// that announced such a body and sent none would wait for its answer, and hold the connection,
// until the body deadline — without one, forever.

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// refusedBodyLinger is how long the connection of an answer given before its body was read
// stays open for what the client has in flight, so that closing it does not reset it while the
// answer is on its way (net/http then waits as long again before it closes).
const refusedBodyLinger = 500 * time.Millisecond

// newHTTPServer is the HTTP server Run serves the handler with.
func (s *Server) newHTTPServer() *http.Server {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.HTTPReadHeaderTimeout,
		IdleTimeout:       s.cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	serveRefusals(srv)
	return srv
}

// requestBody is a request's body as handlers read it: it counts the bytes, keeps the body's
// read deadline, and closes the connection of an answer given before the body was read.
type requestBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	n    atomic.Int64
	// watched: the request has a body and its connection takes read deadlines.
	watched bool
	ended   atomic.Bool // read to its end
	timeout atomic.Bool // a read failed on the deadline
	closing bool        // the answer closes the connection
}

// watchBody wraps r's body.
func (s *Server) watchBody(w http.ResponseWriter, r *http.Request) *requestBody {
	b := &requestBody{ReadCloser: r.Body, idle: s.cfg.HTTPBodyIdleTimeout}
	if r.Body == nil || r.Body == http.NoBody || b.idle <= 0 {
		b.ended.Store(true)
		return b
	}
	b.rc = http.NewResponseController(w)
	// Not every ResponseWriter takes deadlines (httptest.ResponseRecorder does not). Clearing
	// the deadline changes nothing: net/http cleared it after reading the headers.
	b.watched = b.rc.SetReadDeadline(time.Time{}) == nil
	return b
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.ReadCloser == nil {
		return 0, io.EOF
	}
	if b.watched {
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	switch {
	case err == io.EOF:
		// The deadline is lifted so that it cannot end the connection while the handler
		// works or answers: net/http's watch for a client that goes away reads from here on.
		b.ended.Store(true)
		if b.watched {
			b.rc.SetReadDeadline(time.Time{})
		}
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			b.timeout.Store(true)
		}
	}
	return n, err
}

// answered runs just before the answer's header is written: an answer to a body not read to
// its end closes the connection, so net/http does not wait for the rest of it.
func (b *requestBody) answered(h http.Header) {
	if b.ended.Load() {
		return
	}
	h.Set("Connection", "close")
	b.closing = true
}

// finish runs when the handler has returned. For a connection that closes, what is left of the
// body is given refusedBodyLinger to arrive, no more.
func (b *requestBody) finish() {
	if b.closing && b.watched {
		linger := min(refusedBodyLinger, b.idle)
		b.rc.SetReadDeadline(time.Now().Add(linger))
	}
}

// timedOut reports whether the body stopped arriving for longer than the idle timeout.
func (b *requestBody) timedOut() bool { return b.timeout.Load() }
