package registry

import (
	"context"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// Besides what pulls resolve (pullcache.go), every push and pull reads its project's row, every
// push of a tag the project's enabled immutability rules, and every upload whether the project
// has a storage limit. The registry remembers these for rememberTTL. The store announces this
// process's changes of them (meta.Changes.Projects, ImmutableRules, Quotas) at their commit,
// which forgets them at once; another replica's changes are seen within the TTL.
const (
	rememberTTL     = time.Second
	rememberEntries = 10000
)

// memory remembers values by key for rememberTTL. A lookup that started before a change
// (forget moved the generation on) does not store what it read, so a change is never hidden
// behind an older read.
type memory[K comparable, V any] struct {
	mu      sync.Mutex
	gen     uint64
	entries map[K]remembered[V]
}

type remembered[V any] struct {
	v  V
	at time.Time
}

func (m *memory[K, V]) get(k K) (V, uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k]
	if !ok || time.Since(e.at) > rememberTTL {
		var zero V
		return zero, m.gen, false
	}
	return e.v, m.gen, true
}

func (m *memory[K, V]) put(k K, v V, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return
	}
	if m.entries == nil || len(m.entries) >= rememberEntries {
		m.entries = map[K]remembered[V]{}
	}
	m.entries[k] = remembered[V]{v: v, at: time.Now()}
}

func (m *memory[K, V]) forget() {
	m.mu.Lock()
	m.entries = nil
	m.gen++
	m.mu.Unlock()
}

// remember answers lookup from m, or looks it up and remembers the answer (never an error).
func remember[K comparable, V any](s *Service, m *memory[K, V], k K, lookup func() (V, error)) (V, error) {
	s.subscribe()
	v, gen, ok := m.get(k)
	if ok {
		return v, nil
	}
	v, err := lookup()
	if err == nil {
		m.put(k, v, gen)
	}
	return v, err
}

// subscribe has the store announce its changes to the registry's memories; nothing is
// remembered before.
func (s *Service) subscribe() {
	s.watch.Do(func() { s.DB.WatchChanges(s.storeChanged) })
}

func (s *Service) storeChanged(c meta.Changes) {
	s.pullCaches.changed(c)
	if c.Projects {
		s.projects.forget()
	}
	if c.ImmutableRules {
		s.immutableRules.forget()
	}
	if c.Quotas {
		s.unlimited.forget()
	}
}

// lookupProject is the store's project row by name, remembered.
func (s *Service) lookupProject(ctx context.Context, name string) (meta.Project, error) {
	return remember(s, &s.projects, name, func() (meta.Project, error) { return s.DB.LookupProject(ctx, name) })
}

// enabledImmutableRules are the store's enabled rules of a project, remembered. The slice is
// shared: callers must not change it.
func (s *Service) enabledImmutableRules(ctx context.Context, projectID int64) ([]meta.ImmutableRule, error) {
	return remember(s, &s.immutableRules, projectID, func() ([]meta.ImmutableRule, error) {
		return s.DB.EnabledImmutableRules(ctx, projectID)
	})
}
