package api

import "net/http"

// routes is the table of every /api/v2.0 endpoint. Patterns use net/http's syntax; a wildcard
// matches one path segment of the escaped path, so a single-encoded repository name
// ("a%2Fb") stays one segment.
func (h *Handler) routes() *http.ServeMux {
	m := http.NewServeMux()
	r := func(pattern string, fn handlerFunc) {
		method, path, _ := cut(pattern)
		m.Handle(method+" "+base+path, h.handle(fn))
	}
	r("GET /ping", h.ping)

	r("GET /projects", h.listProjects)
	r("HEAD /projects", h.headProject)
	r("POST /projects", h.createProject)
	r("GET /projects/{project_name_or_id}", h.getProject)
	r("DELETE /projects/{project_name_or_id}", h.deleteProject)
	return m
}

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
