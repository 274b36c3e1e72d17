package meta

import (
	"sync"
	"time"
)

const (
	projectCacheTTL  = time.Second
	projectCacheSize = 10000
)

// projectCache keeps recently looked-up project rows for LookupProject.
type projectCache struct {
	mu      sync.Mutex
	entries map[string]cachedProject
}

type cachedProject struct {
	p  Project
	at time.Time
}

func (c *projectCache) get(name string) (Project, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok || time.Since(e.at) > projectCacheTTL {
		return Project{}, false
	}
	return e.p, true
}

func (c *projectCache) put(name string, p Project) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= projectCacheSize {
		c.entries = map[string]cachedProject{}
	}
	c.entries[name] = cachedProject{p: p, at: time.Now()}
}

func (c *projectCache) clear() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}
