package audit

import (
	"context"
	"fmt"
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
	events.ProjectUpdated:    {"update", "project"},
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
			var err error
			if entry.OpDesc, err = describe(e, k.operation, extResourceType(k.resourceType)); err != nil {
				log.Warn("audit: unreadable event", "event", e.ID, "type", e.Type, "err", err)
			}
			entries = append(entries, entry)
			if e.Type == events.ArtifactPulled {
				// One entry per pull, as Harbor keeps them; the event stands for several.
				var a events.Artifact
				events.Decode(e, &a) // unreadable: reported by describe
				for i := 1; i < a.Count; i++ {
					entry.EventSeq = i
					entries = append(entries, entry)
				}
			}
		}
		return store.InsertAudit(ctx, entries...)
	}
}

// describe is an entry's description in Harbor's extended audit log, worded as Harbor words
// it ("push artifact: library/app@sha256:…", "create user member alice in project library");
// the kinds of entry Harbor does not describe read "<operation> <resource type>: <resource>".
// An unreadable payload gives that too, with the error.
func describe(e meta.Event, operation, resourceType string) (string, error) {
	plain := fmt.Sprintf("%s %s: %s", operation, resourceType, e.Resource)
	switch e.Type {
	case events.ArtifactPushed, events.ArtifactPulled, events.ArtifactDeleted:
		var a events.Artifact
		if err := events.Decode(e, &a); err != nil || a.Digest == "" {
			return plain, err
		}
		verb := map[events.Type]string{events.ArtifactPushed: "push", events.ArtifactPulled: "pull", events.ArtifactDeleted: "delete"}[e.Type]
		return fmt.Sprintf("%s artifact: %s@%s", verb, a.Repository, a.Digest), nil
	case events.MemberAdded, events.MemberUpdated, events.MemberRemoved:
		var m events.Member
		if err := events.Decode(e, &m); err != nil || m.Project == "" {
			return plain, err
		}
		kind, prep := "user", "in"
		if m.Group {
			kind = "group"
		}
		if e.Type == events.MemberRemoved {
			prep = "from"
		}
		return fmt.Sprintf("%s %s member %s %s project %s", operation, kind, e.Resource, prep, m.Project), nil
	case events.UserCreated, events.UserDeleted:
		return fmt.Sprintf("%s user with name: %s", operation, e.Resource), nil
	}
	return plain, nil
}
