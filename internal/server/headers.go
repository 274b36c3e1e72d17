package server

import (
	"mime"
	"net/http"
)

// Security headers on every answer, whatever serves it (/v2/, /api/, /service/token, errors).
// None of Berth's answers is meant to be framed, sniffed into another type, or to leak its URL
// in a Referer. Answers are JSON, blobs or plain text, which need to load nothing:
// apiContentPolicy allows nothing. An HTML answer (the portal) gets htmlContentPolicy — its own
// origin only — unless its handler sets a Content-Security-Policy of its own, which is kept.
// HSTS is sent only on TLS connections: over plain HTTP it means nothing to a browser, and a
// proxy that terminates TLS in front of Berth sets its own.
const (
	apiContentPolicy  = "default-src 'none'; frame-ancestors 'none'"
	htmlContentPolicy = "default-src 'self'; base-uri 'self'; form-action 'self'; object-src 'none'; frame-ancestors 'none'"
	hstsPolicy        = "max-age=31536000"
)

// setSecurityHeaders sets the headers every answer carries; a handler may still change them.
func setSecurityHeaders(h http.Header, r *http.Request) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", apiContentPolicy)
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", hstsPolicy)
	}
}

// htmlPolicy runs just before an answer's header is written: an HTML page whose handler left
// the default policy gets the page policy.
func htmlPolicy(h http.Header) {
	if h.Get("Content-Security-Policy") != apiContentPolicy {
		return
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
		h.Set("Content-Security-Policy", htmlContentPolicy)
	}
}
