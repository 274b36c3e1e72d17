package scan

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan/adapter"
)

// Registrations resolves scanners from Harbor's registrations (/api/v2.0/scanners): a
// project's pick, else the default; the built-in registration runs in this process, any other
// is an adapter reached over the pluggable scanner API. Answers are kept a second, because the
// pull gate asks on every pull of a gated project.
type Registrations struct {
	Store   RegistrationStore
	Engines *adapter.Engines

	mu    sync.Mutex
	cache map[string]cachedScanner // "p<project id>" or "u<uuid>"
}

// RegistrationStore is what resolving registrations reads; *meta.DB satisfies it.
type RegistrationStore interface {
	ScannerRegistrationByUUID(ctx context.Context, uuid string) (meta.ScannerRegistration, error)
	ScannerForProject(ctx context.Context, projectID int64) (meta.ScannerRegistration, error)
}

type cachedScanner struct {
	sc  Scanner
	err error
	at  time.Time
}

// ForProject returns the scanner a project uses (projectID 0: the default).
func (r *Registrations) ForProject(ctx context.Context, projectID int64) (Scanner, error) {
	return r.cached(fmt.Sprintf("p%d", projectID), func() (meta.ScannerRegistration, error) {
		return r.Store.ScannerForProject(ctx, projectID)
	})
}

// ByUUID returns a registered scanner.
func (r *Registrations) ByUUID(ctx context.Context, uuid string) (Scanner, error) {
	return r.cached("u"+uuid, func() (meta.ScannerRegistration, error) {
		return r.Store.ScannerRegistrationByUUID(ctx, uuid)
	})
}

// Forget drops what is remembered: a change of a registration or of a project's scanner made
// through this process applies to the next scan at once (another replica's within a second).
func (r *Registrations) Forget() {
	r.mu.Lock()
	r.cache = nil
	r.mu.Unlock()
}

func (r *Registrations) cached(key string, load func() (meta.ScannerRegistration, error)) (Scanner, error) {
	r.mu.Lock()
	if c, ok := r.cache[key]; ok && time.Since(c.at) < time.Second {
		r.mu.Unlock()
		return c.sc, c.err
	}
	r.mu.Unlock()
	reg, err := load()
	var sc Scanner
	switch {
	case errors.Is(err, meta.ErrNotFound):
		err = errors.New("no scanner is registered: register one at /api/v2.0/scanners")
	case err != nil:
		return Scanner{}, err // not cached: a database hiccup
	case reg.Disabled:
		err = fmt.Errorf("scanner %q is disabled", reg.Name)
	default:
		ar := adapter.RegistrationOf(reg)
		sc = Scanner{UUID: reg.UUID, Builtin: ar.Builtin(), Engine: r.Engines.Engine(ar)}
	}
	r.mu.Lock()
	if r.cache == nil || len(r.cache) > 10000 {
		r.cache = map[string]cachedScanner{}
	}
	r.cache[key] = cachedScanner{sc, err, time.Now()}
	r.mu.Unlock()
	return sc, err
}
