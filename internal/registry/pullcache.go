package registry

import (
	"context"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// Pulls resolve the same few tags over and over. Where the store can say that nothing has been
// written since (meta.DB.WriteGeneration: on SQLite this process's commits; on PostgreSQL also
// every other replica's, announced by the database at commit), a lookup made at the same write
// generation is answered from memory. Entries also expire after pullCacheTTL, which bounds how
// long a write can go unseen when that announcement cannot be relied on (on SQLite, a write by
// another process such as berth gc; on PostgreSQL, a listening connection that died silently).
const (
	pullCacheTTL        = time.Second
	pullCacheEntries    = 4096
	pullCacheMaxPayload = 64 << 10
)

type pullCache struct {
	mu      sync.RWMutex
	entries map[manifestRef]pullEntry
}

type manifestRef struct{ repo, ref string }

type pullEntry struct {
	gen uint64
	at  time.Time
	m   meta.Manifest
}

func (c *pullCache) get(k manifestRef, gen uint64, now time.Time) (meta.Manifest, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || e.gen != gen || now.Sub(e.at) >= pullCacheTTL {
		return meta.Manifest{}, false
	}
	return e.m, true
}

func (c *pullCache) put(k manifestRef, e pullEntry) {
	if len(e.m.Payload) > pullCacheMaxPayload {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= pullCacheEntries {
		// Entries of older generations are dead anyway; start over rather than track age.
		c.entries = make(map[manifestRef]pullEntry, 64)
	}
	c.entries[k] = e
}

// PullManifest is GetManifest for /v2/ pulls: the same answer, from memory when nothing has
// been written since the same lookup was made. The manifest's Payload is shared: read only.
func (s *Service) PullManifest(ctx context.Context, repo, ref string) (meta.Manifest, error) {
	gen, ok := s.DB.WriteGeneration()
	if !ok {
		return s.GetManifest(ctx, repo, ref)
	}
	k := manifestRef{repo, ref}
	now := time.Now()
	if m, hit := s.pullCache.get(k, gen, now); hit {
		return m, nil
	}
	// The generation was read before the lookup: a write committed meanwhile makes this entry
	// stale at once.
	m, err := s.GetManifest(ctx, repo, ref)
	if err == nil {
		s.pullCache.put(k, pullEntry{gen: gen, at: now, m: m})
	}
	return m, err
}
