package registry

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// Pulls resolve the same few tags, manifests and blobs over and over, so the registry remembers
// the answers and subscribes to the store's changes (meta.DB.WatchChanges: on SQLite this
// process's commits; on PostgreSQL also every other replica's and process's, announced by the
// database at commit) to know when a remembered answer may be wrong. Each kind of change moves
// a generation; a lookup made at the current generation is answered from memory. What only a
// removal can change — a manifest by digest, a blob linked in a repository — is keyed by the
// removal generation, which pushes leave alone. Entries also expire after pullCacheTTL, which
// bounds how long a write can go unseen when the store cannot vouch for hearing of it (on
// SQLite, a write by another process such as berth gc; on PostgreSQL, a listening connection
// that died silently). Only answers that something exists are kept.
//
// The changes come from the store rather than from the event stream (internal/events): they
// must be heard before a commit of this process returns, and they cover writers that record no
// events (berth gc, fsck, an operator's psql).
const (
	pullCacheTTL        = time.Second
	pullCacheEntries    = 4096
	pullCacheMaxPayload = 64 << 10
)

type pullCaches struct {
	manifests genCache[repoRef, meta.Manifest]
	blobs     genCache[repoRef, int64]

	writes   atomic.Uint64 // every change
	removals atomic.Uint64 // removals only
}

// changed is the pull caches' subscription to the store's changes.
func (c *pullCaches) changed(ch meta.Changes) {
	if ch.Content {
		c.writes.Add(1)
	}
	if ch.Removal {
		c.removals.Add(1)
	}
}

// generation returns the generation answers of the kind are remembered at, and whether it can
// be trusted.
func (s *Service) generation(removal bool) (uint64, bool) {
	c := &s.pullCaches
	s.subscribe()
	// Asked before the counter is read: a listener that stops after this announces everything.
	ok := s.DB.ChangesHeard()
	if removal {
		return c.removals.Load(), ok
	}
	return c.writes.Load(), ok
}

// WriteGeneration is the generation of the pull memory's answers by tag; RemovalGeneration that
// of its answers by digest and of blob links. Each moves when the store announces a change that
// may make such an answer wrong.
func (s *Service) WriteGeneration() (uint64, bool)   { return s.generation(false) }
func (s *Service) RemovalGeneration() (uint64, bool) { return s.generation(true) }

type repoRef struct{ repo, ref string }

// genCache remembers values with the generation they were read at.
type genCache[K comparable, V any] struct {
	mu      sync.RWMutex
	entries map[K]genEntry[V]
}

type genEntry[V any] struct {
	gen uint64
	at  time.Time
	v   V
}

func (c *genCache[K, V]) get(k K, gen uint64, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || e.gen != gen || now.Sub(e.at) >= pullCacheTTL {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *genCache[K, V]) put(k K, gen uint64, at time.Time, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= pullCacheEntries {
		// Entries of older generations are dead anyway; start over rather than track age.
		c.entries = make(map[K]genEntry[V], 64)
	}
	c.entries[k] = genEntry[V]{gen: gen, at: at, v: v}
}

// cached answers lookup from c while generation reports the same value it did when the answer
// was read. The generation is read before the lookup: a write committed meanwhile makes the
// entry stale at once.
func cached[K comparable, V any](c *genCache[K, V], generation func() (uint64, bool), k K, keep func(V) bool, lookup func() (V, error)) (V, error) {
	gen, ok := generation()
	if !ok {
		return lookup()
	}
	now := time.Now()
	if v, hit := c.get(k, gen, now); hit {
		return v, nil
	}
	v, err := lookup()
	if err == nil && keep(v) {
		c.put(k, gen, now, v)
	}
	return v, err
}

// PullManifest is GetManifest for /v2/ pulls: the same answer, from memory when nothing has
// been written since the same lookup was made. The manifest's Payload is shared: read only.
// With blobs (a GET, whose client fetches the blobs next), a manifest looked up afresh also
// has its blobs' links looked up, in one query, for the blob requests that follow.
func (s *Service) PullManifest(ctx context.Context, repo, ref string, blobs bool) (meta.Manifest, error) {
	generation := s.WriteGeneration
	if IsDigest(ref) {
		generation = s.RemovalGeneration
	}
	return cached(&s.pullCaches.manifests, generation, repoRef{repo, ref},
		func(m meta.Manifest) bool { return len(m.Payload) <= pullCacheMaxPayload },
		func() (meta.Manifest, error) {
			m, err := s.GetManifest(ctx, repo, ref)
			if err == nil && blobs && !IsIndex(m.MediaType) {
				s.prefetchBlobLinks(ctx, repo, m)
			}
			return m, err
		})
}

// prefetchBlobLinks remembers the links of m's blobs, as linkedBlobSize would one by one. A
// failure only means each blob is looked up when it is asked for.
func (s *Service) prefetchBlobLinks(ctx context.Context, repo string, m meta.Manifest) {
	gen, ok := s.RemovalGeneration()
	if !ok {
		return
	}
	now := time.Now()
	sizes, err := s.DB.LinkedManifestBlobs(ctx, m)
	if err != nil {
		return
	}
	for d, size := range sizes {
		s.pullCaches.blobs.put(repoRef{repo, d}, gen, now, size)
	}
}

// linkedBlobSize is DB.LinkedBlobSize, from memory while nothing has been removed since.
func (s *Service) linkedBlobSize(ctx context.Context, repo, digest string) (int64, error) {
	return cached(&s.pullCaches.blobs, s.RemovalGeneration, repoRef{repo, digest},
		func(int64) bool { return true },
		func() (int64, error) { return s.DB.LinkedBlobSize(ctx, repo, digest) })
}
