// Package audit keeps the audit log: who did what — pushes, pulls and deletions; creations,
// changes and deletions of projects, members, robots, users and scanners; scan and garbage
// collection requests — on /v2/ and the REST API alike. Entries are written from the event
// stream (Subscriber): off the path of the change, and for exactly the changes that committed.
// Service answers who may read which entries.
package audit

import (
	"context"

	"github.com/berthreg/berth/internal/meta"
)

// Store is where entries go.
type Store interface {
	InsertAudit(ctx context.Context, entries ...meta.AuditEntry) error
}
