package api

import (
	"maps"
	"net/http"
	"slices"
)

// routes is the table of every /api/v2.0 endpoint, with the methods it registers. Patterns use
// net/http's syntax; a wildcard matches one path segment of the escaped path, so a
// single-encoded repository name ("a%2Fb") stays one segment.
func (h *Handler) routes() (*http.ServeMux, []string) {
	m := http.NewServeMux()
	methods := map[string]bool{}
	r := route(func(pattern string, fn handlerFunc) {
		method, path, _ := cut(pattern)
		methods[method] = true
		if method == http.MethodGet {
			methods[http.MethodHead] = true // a GET route serves HEAD too
		}
		m.Handle(method+" "+base+path, h.handle(fn))
		h.patterns = append(h.patterns, method+" "+base+path)
	})
	r("GET /ping", h.ping)
	h.projectRoutes(r)
	h.userRoutes(r)
	h.systemRoutes(r)
	h.memberRoutes(r)
	h.robotRoutes(r)
	h.artifactRoutes(r)
	h.labelRoutes(r)
	h.quotaRoutes(r)
	h.auditRoutes(r)
	h.immutableRoutes(r)
	h.retentionRoutes(r)
	h.gcRoutes(r)
	h.scanRoutes(r)
	h.scannerRoutes(r)
	h.jobServiceRoutes(r)
	return m, slices.Sorted(maps.Keys(methods))
}

// Routes lists every endpoint the handler serves, as "METHOD /api/v2.0/path/{param}" in
// net/http's pattern syntax (GET routes serve HEAD too), for tests that go through them all.
func (h *Handler) Routes() []string { return slices.Clone(h.patterns) }

// route registers one endpoint: "METHOD /path/{param}" relative to /api/v2.0.
type route func(pattern string, fn handlerFunc)

func cut(pattern string) (method, path string, ok bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return "", pattern, false
}

func (h *Handler) ping(c *call) error {
	c.w.Header().Set("Content-Type", "text/plain")
	c.w.Write([]byte("Pong"))
	return nil
}
