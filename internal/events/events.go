// Package events is Berth's event stream. A service records what happened (an artifact pushed,
// a project created, a scan finished) with Emit inside the transaction that makes the change,
// so an event exists exactly when its change committed (the outbox table of internal/meta).
// A Bus then delivers every event at least once to every subscriber — the audit log,
// scan-on-push, and later replication and webhooks — in commit order within each stream (one
// repository, one project, the system), on SQLite and on PostgreSQL, and with several replicas
// each event is handled by one replica per subscriber.
package events

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// Type names what happened. The names are stable: they are stored, and subscribers select by
// them.
type Type = string

const (
	ArtifactPushed  Type = "artifact.pushed"
	ArtifactPulled  Type = "artifact.pulled"
	ArtifactDeleted Type = "artifact.deleted"
	TagCreated      Type = "tag.created"
	TagDeleted      Type = "tag.deleted"
	// RepositoryDeleted is the removal of a repository with everything in it.
	RepositoryDeleted Type = "repository.deleted"

	ScanRequested Type = "scan.requested"
	ScanCompleted Type = "scan.completed"
	ScanFailed    Type = "scan.failed"

	QuotaExceeded Type = "quota.exceeded"
	QuotaWarning  Type = "quota.warning"

	ProjectCreated Type = "project.created"
	ProjectUpdated Type = "project.updated"
	ProjectDeleted Type = "project.deleted"
	MemberAdded    Type = "member.added"
	MemberUpdated  Type = "member.updated"
	MemberRemoved  Type = "member.removed"
	RobotCreated   Type = "robot.created"
	RobotUpdated   Type = "robot.updated"
	RobotDeleted   Type = "robot.deleted"
	UserCreated    Type = "user.created"
	UserDeleted    Type = "user.deleted"

	ScannerCreated    Type = "scanner.created"
	ScannerUpdated    Type = "scanner.updated"
	ScannerDeleted    Type = "scanner.deleted"
	ProjectScannerSet Type = "project.scanner_set"

	// LoginLocked is the start of a lockout of login throttling: too many failed logins of an
	// account, from an address, or both (Lockout).
	LoginLocked Type = "login.locked"

	GCRequested        Type = "gc.requested"
	GCCompleted        Type = "gc.completed"
	RetentionCompleted Type = "retention.completed"
)

// Streams: events of one stream are delivered in commit order.
func repositoryStream(repo string) string  { return "repository:" + repo }
func projectStream(projectID int64) string { return "project:" + strconv.FormatInt(projectID, 10) }

const systemStream = "system"

// Artifact is the payload of artifact and tag events.
type Artifact struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	MediaType  string `json:"media_type,omitempty"`
	ManifestID int64  `json:"manifest_id,omitempty"`
	// Tags are the tags a push pointed at the artifact; Tag is the tag of a tag event, or the
	// tag a pull asked for.
	Tags []string `json:"tags,omitempty"`
	Tag  string   `json:"tag,omitempty"`
	// Created says that a push stored the manifest anew (not only tagged a stored one).
	Created bool `json:"created,omitempty"`
	// Count is how many pulls an artifact.pulled event stands for: the pulls of one artifact
	// by one caller within a moment are one event, the last pull's time its time.
	Count int `json:"count,omitempty"`
}

// Scan is the payload of scan events.
type Scan struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	Scanner    string `json:"scanner,omitempty"`
	Type       string `json:"type,omitempty"` // vulnerability or sbom
	Status     string `json:"status,omitempty"`
	Severity   string `json:"severity,omitempty"`
	Message    string `json:"message,omitempty"`
}

// Quota is the payload of quota events.
type Quota struct {
	Repository string `json:"repository,omitempty"`
	Digest     string `json:"digest,omitempty"`
	Used       int64  `json:"used"`
	Hard       int64  `json:"hard"`
	Message    string `json:"message,omitempty"`
}

// Member is the payload of member events: the project, and whether the member is a user or a
// group.
type Member struct {
	Project string `json:"project"`
	Group   bool   `json:"group,omitempty"`
}

// Run is the payload of the events of a finished background run (GC, retention).
type Run struct {
	ExecutionID int64  `json:"execution_id"`
	Status      string `json:"status"`
	DryRun      bool   `json:"dry_run,omitempty"`
	Deleted     int    `json:"deleted,omitempty"`
	Freed       int64  `json:"freed,omitempty"`
}

// Lockout is the payload of a login.locked event.
type Lockout struct {
	// Account is the login name the failed attempts gave, whether or not it exists.
	Account string `json:"account"`
	// Client is the address of the client whose failure started the lockout.
	Client string `json:"client"`
	// Scope is what is locked out: "account_address" (the account, for that address),
	// "address" (that address, for accounts it has not logged in to) or "account" (the account,
	// for addresses that have failed recently).
	Scope    string `json:"scope"`
	Failures int    `json:"failures"`
	Seconds  int64  `json:"seconds"`
}

// Locked is the event of a login lockout. Nobody is signed in to make it: its actor is the
// client's address, its resource the account name the attempts gave.
func Locked(l Lockout) meta.Event {
	return meta.Event{Type: LoginLocked, Stream: systemStream, Resource: l.Account, Actor: l.Client, Payload: encode(l)}
}

// Actor is the name the event gives for the caller in ctx: the principal's name, or
// "anonymous".
func Actor(ctx context.Context) string {
	p := auth.PrincipalFrom(ctx)
	if p.IsAnonymous() {
		return "anonymous"
	}
	return p.Name
}

// OfRepository is an event about a repository of a project, by the caller in ctx.
func OfRepository(ctx context.Context, t Type, projectID int64, repo, resource string, payload any) meta.Event {
	return meta.Event{Type: t, Stream: repositoryStream(repo), ProjectID: projectID, Repository: repo,
		Resource: resource, Actor: Actor(ctx), Payload: encode(payload)}
}

// Pulled is the event of a.Count pulls of an artifact by actor, the last at the given time.
func Pulled(projectID int64, resource, actor string, at time.Time, a Artifact) meta.Event {
	return meta.Event{Type: ArtifactPulled, Stream: repositoryStream(a.Repository), ProjectID: projectID,
		Repository: a.Repository, Resource: resource, Actor: actor, CreatedAt: at, Payload: encode(a)}
}

// OfProject is an event about a project (or something in it that is not a repository), by the
// caller in ctx.
func OfProject(ctx context.Context, t Type, projectID int64, resource string, payload any) meta.Event {
	return meta.Event{Type: t, Stream: projectStream(projectID), ProjectID: projectID,
		Resource: resource, Actor: Actor(ctx), Payload: encode(payload)}
}

// OfSystem is an event about the registry as a whole (users, scanners, collections), by the
// caller in ctx.
func OfSystem(ctx context.Context, t Type, resource string, payload any) meta.Event {
	return meta.Event{Type: t, Stream: systemStream, Resource: resource, Actor: Actor(ctx), Payload: encode(payload)}
}

func encode(payload any) []byte {
	if payload == nil {
		return nil
	}
	// Payloads are this package's plain structs (or maps of strings), which always encode.
	b, _ := json.Marshal(payload)
	return b
}

// Decode reads an event's payload into v.
func Decode(e meta.Event, v any) error {
	if len(e.Payload) == 0 {
		return nil
	}
	return json.Unmarshal(e.Payload, v)
}
