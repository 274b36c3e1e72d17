// Package audittest reads what a store's events become in the audit log, for tests of the
// services that write those events: each test states the entries an operation makes.
package audittest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/berthreg/berth/internal/audit"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
)

// Trail reads the events written to a store since its last reading.
type Trail struct {
	t      testing.TB
	events *metatest.Events
}

// New returns a trail that starts after the events written so far.
func New(t testing.TB, db *meta.DB) *Trail {
	tr := &Trail{t: t, events: metatest.NewEvents(t, db)}
	tr.Next()
	return tr
}

// Next returns the audit entries that the events written since the last reading make, as the
// audit log's subscriber makes them, each as "user operation resource-type resource in
// project-id".
func (tr *Trail) Next() []string {
	tr.t.Helper()
	evs := tr.events.Next()
	var got entries
	if err := audit.Subscriber(&got, slog.New(slog.DiscardHandler))(context.Background(), evs); err != nil {
		tr.t.Fatal(err)
	}
	var out []string
	for _, e := range got {
		out = append(out, fmt.Sprintf("%s %s %s %s in %d", e.Username, e.Operation, e.ResourceType, e.Resource, e.ProjectID))
	}
	return out
}

// entries collects what the subscriber writes.
type entries []meta.AuditEntry

func (e *entries) InsertAudit(_ context.Context, es ...meta.AuditEntry) error {
	*e = append(*e, es...)
	return nil
}
