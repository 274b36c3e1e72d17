package auth

import (
	"sync"
	"time"
)

// ttlCache is a small bounded map whose entries expire. Both caches in this
// package sit in front of expensive checks on the request path, so it favours
// simplicity: when full it drops expired entries and, failing that, arbitrary
// ones (an evicted entry only costs one recomputation).
type ttlCache[K comparable, V any] struct {
	mu      sync.Mutex
	max     int
	entries map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	value V
	until time.Time
}

func newTTLCache[K comparable, V any](max int) *ttlCache[K, V] {
	return &ttlCache[K, V]{max: max, entries: make(map[K]ttlEntry[V])}
}

// get returns the value stored under k if it is still valid at now.
func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		var zero V
		return zero, false
	}
	if !now.Before(e.until) {
		delete(c.entries, k)
		var zero V
		return zero, false
	}
	return e.value, true
}

// put stores v under k until the given time.
func (c *ttlCache[K, V]) put(k K, v V, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, exists := c.entries[k]; !exists && len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[k] = ttlEntry[V]{value: v, until: until}
}

func (c *ttlCache[K, V]) evictLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	// Map iteration order is unspecified, which is the arbitrary choice we want.
	for k := range c.entries {
		if len(c.entries) < c.max {
			break
		}
		delete(c.entries, k)
	}
}

func (c *ttlCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
