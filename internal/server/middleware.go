package server

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/logctx"
	"github.com/berthreg/berth/internal/oci"
)

// recorder captures the status and size of a response for the access log and metrics. It keeps
// io.ReaderFrom so blob downloads still reach sendfile. beforeHeader, if set, runs once just
// before the status line is written: the last moment headers can be changed.
type recorder struct {
	http.ResponseWriter
	status       int
	bytes        int64
	beforeHeader func(status int)
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.header(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

// header runs beforeHeader for an answer with this status.
func (r *recorder) header(code int) {
	if r.beforeHeader != nil && code >= 200 {
		r.beforeHeader(code)
		r.beforeHeader = nil
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
		r.header(r.status)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
		r.header(r.status)
	}
	n, err := io.Copy(r.ResponseWriter, src)
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
		r.header(r.status)
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// routeLabel names a request's route for metrics with a bounded set of values.
func routeLabel(path string) string {
	switch {
	case strings.HasPrefix(path, "/v2/") || path == "/v2":
		if rt, ok := oci.RouteKind(path); ok {
			return "v2_" + rt
		}
		return "v2_invalid"
	case strings.HasPrefix(path, "/api/"):
		return "api"
	case path == "/service/token":
		return "token"
	case path == "/healthz", path == "/readyz", path == "/metrics":
		return strings.TrimPrefix(path, "/")
	case strings.HasPrefix(path, "/debug/pprof"):
		return "pprof"
	}
	return "other"
}

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// clientAddr is the address of the client a request comes from, as login throttling sees it
// (auth.WithClientAddr): the TCP peer, or behind a proxy listed in trusted_proxies the
// address that proxy puts into X-Forwarded-For (origin.Resolver.Client).
func (s *Server) clientAddr(r *http.Request) netip.Addr { return s.origin.Client(r) }

// observe wraps the whole server: request id, security headers, the request body's read
// deadline, panic recovery, one access-log line, metrics. The request id goes into the
// request's context, so every line logged with it carries the id, and so does the client's
// address (clientAddr), for login throttling.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		markHandled(r) // from here on, what the connection writes is this handler's (conn.go)
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		setSecurityHeaders(w.Header(), r)
		r = r.WithContext(auth.WithClientAddr(logctx.With(r.Context(), slog.String("request_id", id)), s.clientAddr(r)))
		body := s.watchBody(w, r)
		r.Body = body
		rec := &recorder{ResponseWriter: w}
		rec.beforeHeader = func(int) {
			htmlPolicy(rec.Header())
			body.answered(rec.Header())
		}
		route := routeLabel(r.URL.Path)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
				if rec.status == 0 {
					rec.Header().Set("Content-Type", "application/json")
					rec.WriteHeader(http.StatusInternalServerError)
					rec.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}`))
				}
			}
			if rec.status == 0 && body.timedOut() {
				// The body stopped arriving and the handler, whose request was cancelled with
				// the connection, answered nothing: say why rather than let a 200 go out.
				rec.Header().Set("Content-Type", "application/json")
				rec.WriteHeader(http.StatusRequestTimeout)
				rec.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"the request body stopped arriving (nothing for ` + body.idle.String() + `)"}]}`))
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
				rec.header(rec.status)
			}
			body.finish()
			d := time.Since(start)
			code := strconv.Itoa(rec.status)
			s.metrics.requests.WithLabelValues(route, r.Method, code).Inc()
			s.metrics.latency.WithLabelValues(route, r.Method).Observe(d.Seconds())
			s.metrics.bytesIn.WithLabelValues(route).Add(float64(body.n.Load()))
			s.metrics.bytesOut.WithLabelValues(route).Add(float64(rec.bytes))
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Int64("bytes_in", body.n.Load()),
				slog.Int64("bytes_out", rec.bytes),
				slog.Duration("duration", d),
				slog.String("remote", r.RemoteAddr),
				slog.String("user_agent", r.UserAgent()),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}
