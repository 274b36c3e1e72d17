package audit

import (
	"context"
	"log/slog"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
)

// entryOf is the audit log's reading of each event type it records: Harbor's operation and
// resource type. Events not listed (scan results, quota warnings, finished runs) are not audit
// entries.
var entryOf = map[events.Type]struct{ operation, resourceType string }{
	events.ArtifactPushed:    {"create", "artifact"},
	events.ArtifactPulled:    {"pull", "artifact"},
	events.ArtifactDeleted:   {"delete", "artifact"},
	events.TagCreated:        {"create", "tag"},
	events.TagDeleted:        {"delete", "tag"},
	events.RepositoryDeleted: {"delete", "repository"},
	events.ProjectCreated:    {"create", "project"},
	events.ProjectDeleted:    {"delete", "project"},
	events.MemberAdded:       {"create", "project_member"},
	events.MemberUpdated:     {"update", "project_member"},
	events.MemberRemoved:     {"delete", "project_member"},
	events.RobotCreated:      {"create", "robot"},
	events.RobotUpdated:      {"update", "robot"},
	events.RobotDeleted:      {"delete", "robot"},
	events.UserCreated:       {"create", "user"},
	events.UserDeleted:       {"delete", "user"},
	events.ScannerCreated:    {"create", "scanner"},
	events.ScannerUpdated:    {"update", "scanner"},
	events.ScannerDeleted:    {"delete", "scanner"},
	events.ProjectScannerSet: {"update", "project_scanner"},
	events.ScanRequested:     {"create", "scan"},
	events.GCRequested:       {"create", "gc"},
	// A login lockout: the client address as the username (nobody is signed in), the account
	// name tried as the resource.
	events.LoginLocked: {"lockout", "user"},
}

// Types are the event types the audit log records.
func Types() []events.Type {
	out := make([]events.Type, 0, len(entryOf))
	for t := range entryOf {
		out = append(out, t)
	}
	return out
}

// Subscriber writes the audit log from the event stream: one entry per event, in one statement
// per batch. An entry names its event, so an event delivered twice is written once.
func Subscriber(store Store, log *slog.Logger) events.Handler {
	return func(ctx context.Context, evs []meta.Event) error {
		entries := make([]meta.AuditEntry, 0, len(evs))
		for _, e := range evs {
			k, ok := entryOf[e.Type]
			if !ok {
				continue
			}
			entry := meta.AuditEntry{EventID: e.ID, ProjectID: e.ProjectID, Username: e.Actor,
				Resource: e.Resource, ResourceType: k.resourceType, Operation: k.operation, OpTime: e.CreatedAt}
			entries = append(entries, entry)
			if e.Type == events.ArtifactPulled {
				// One entry per pull, as Harbor keeps them; the event stands for several.
				var a events.Artifact
				if err := events.Decode(e, &a); err != nil {
					log.Warn("audit: unreadable pull event", "event", e.ID, "err", err)
				}
				for i := 1; i < a.Count; i++ {
					entry.EventSeq = i
					entries = append(entries, entry)
				}
			}
		}
		return store.InsertAudit(ctx, entries...)
	}
}
