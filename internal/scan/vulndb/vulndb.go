// Package vulndb is Berth's offline vulnerability database: OSV records imported from files
// (osv.dev's per-ecosystem all.zip archives, or directories of OSV JSON), kept in the metadata
// store, and matched against package inventories (internal/scan/inventory). Update downloads
// the archives from osv.dev (or a mirror) and imports them when they changed.
//
// Every import builds a complete new generation beside the current one and switches to it in
// one transaction (see internal/meta/vulndb.go); matching reads one generation, and every
// finding set says which. A server learns of a new generation through OnNewGeneration, both
// for imports it runs itself and, with Watch, for imports `berth vulndb import` runs in
// another process.
package vulndb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
)

// ErrNoDatabase means no vulnerability database has been imported yet: nothing can be
// matched, which is not the same as nothing being vulnerable.
var ErrNoDatabase = errors.New("no vulnerability database: run berth vulndb update or import")

// Store is where the vulnerability database keeps its generations; *meta.DB satisfies it.
type Store interface {
	CurrentVulnGeneration(ctx context.Context) (int64, error)
	VulnImport(ctx context.Context, id int64) (meta.VulnImport, error)
	RecentVulnImports(ctx context.Context, limit int) ([]meta.VulnImport, error)
	BeginVulnImport(ctx context.Context, staleAfter time.Duration) (int64, error)
	AddVulnBatch(ctx context.Context, generation int64, vulns []meta.Vuln, affected []meta.VulnAffected) ([]string, error)
	FinishVulnImport(ctx context.Context, generation int64, report string) (int64, error)
	FailVulnImport(ctx context.Context, generation int64, reason, report string) error
	PurgeVulnGenerations(ctx context.Context, batch int) (int64, error)
	VulnAffectedByNames(ctx context.Context, generation int64, ecosystem string, suffixes, names []string) ([]meta.VulnAffected, error)
	VulnsByID(ctx context.Context, generation int64, ids []string) (map[string]meta.Vuln, error)

	// Update runs are executions.
	jobs.Executions
	CreateExecution(ctx context.Context, e meta.Execution) (int64, error)
	SetExecutionStatus(ctx context.Context, id int64, status, text string) error
	SetExecutionResult(ctx context.Context, id int64, result string) error
	ListExecutions(ctx context.Context, kind string, refID int64, lq meta.ListQuery) ([]meta.Execution, int64, error)
}

// DB is the vulnerability database over the metadata store.
type DB struct {
	store Store

	mu       sync.Mutex
	hooks    []func(ctx context.Context, generation int64)
	notified int64 // the last generation the hooks were told of
}

// New returns the vulnerability database kept in store.
func New(store Store) *DB {
	return &DB{store: store}
}

// Generation returns the current generation; 0 before the first import.
func (d *DB) Generation(ctx context.Context) (int64, error) {
	return d.store.CurrentVulnGeneration(ctx)
}

// OnNewGeneration registers fn to be called with the new generation whenever the current one
// changes: after an import in this process, and when Watch sees an import made elsewhere.
// Hooks run one after another on the goroutine that noticed the change; a hook with slow work
// (re-matching stored inventories) should queue it and return.
func (d *DB) OnNewGeneration(fn func(ctx context.Context, generation int64)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hooks = append(d.hooks, fn)
}

// Watch polls the current generation every interval until ctx ends, calling the hooks when it
// changes. The first generation it sees counts as a change too, so a server that was down
// while an import ran catches up when it starts: hooks should compare it with the generation
// stored beside each finding set and leave current ones alone.
func (d *DB) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if gen, err := d.Generation(ctx); err == nil && gen > 0 {
			d.notify(ctx, gen)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (d *DB) notify(ctx context.Context, gen int64) {
	d.mu.Lock()
	if gen == d.notified {
		d.mu.Unlock()
		return
	}
	d.notified = gen
	hooks := append([]func(context.Context, int64){}, d.hooks...)
	d.mu.Unlock()
	for _, h := range hooks {
		h(ctx, gen)
	}
}

// Status describes the current database, for the API and metrics.
type Status struct {
	// Generation is the current generation; 0 when nothing was imported.
	Generation int64 `json:"generation"`
	// ImportedAt is when the current generation's import finished.
	ImportedAt time.Time `json:"imported_at,omitzero"`
	// Vulnerabilities and AffectedPackages count the current generation's rows.
	Vulnerabilities  int64 `json:"vulnerabilities"`
	AffectedPackages int64 `json:"affected_packages"`
	// Ecosystems counts vulnerabilities per base ecosystem ("Debian", "Go", "PyPI").
	Ecosystems map[string]int `json:"ecosystems,omitempty"`
	// Sources are the files the current generation was imported from.
	Sources []SourceReport `json:"sources,omitempty"`
	// LastImport is the latest import when it is not the current generation: one running
	// now, or one that failed.
	LastImport *ImportState `json:"last_import,omitempty"`
	// LastUpdate is the latest download (Update), whatever its outcome.
	LastUpdate *UpdateState `json:"last_update,omitempty"`
}

// ImportState is an import that did not (yet) become the current generation.
type ImportState struct {
	Generation int64     `json:"generation"`
	Status     string    `json:"status"` // running, failed
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error,omitempty"`
}

// Status returns the state of the database.
func (d *DB) Status(ctx context.Context) (Status, error) {
	var st Status
	gen, err := d.store.CurrentVulnGeneration(ctx)
	if err != nil {
		return st, err
	}
	st.Generation = gen
	if gen > 0 {
		im, err := d.store.VulnImport(ctx, gen)
		if err != nil {
			return st, fmt.Errorf("vulnerability database status: %w", err)
		}
		st.ImportedAt, st.Vulnerabilities, st.AffectedPackages = im.FinishedAt, im.Vulns, im.Affected
		var rep Report
		if json.Unmarshal([]byte(im.Report), &rep) == nil {
			st.Ecosystems, st.Sources = rep.Ecosystems, rep.Sources
		}
	}
	recent, err := d.store.RecentVulnImports(ctx, 1)
	if err != nil {
		return st, err
	}
	if len(recent) == 1 && recent[0].ID > gen {
		im := recent[0]
		st.LastImport = &ImportState{Generation: im.ID, Status: im.Status, StartedAt: im.StartedAt, FinishedAt: im.FinishedAt, Error: im.Error}
	}
	if st.LastUpdate, err = d.lastUpdate(ctx); err != nil {
		return st, fmt.Errorf("vulnerability database status: %w", err)
	}
	return st, nil
}
