package project_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/audit"
	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
)

// The HTTP tests of internal/server pin the answers of every operation; these pin what they
// leave unseen: the events each change emits with it (project updates are not audited, so no
// audit listing shows them), the audit entries the events become, and that this process's
// project lookups serve a change at once.

type env struct {
	db    *meta.DB
	svc   *project.Service
	admin context.Context // the system administrator "admin"
}

func newEnv(t *testing.T, db *meta.DB) env {
	t.Helper()
	ctx := context.Background()
	id, err := db.CreateUser(ctx, meta.User{Username: "admin", PasswordHash: "x", SysAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	return env{db: db, svc: &project.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: db}},
		admin: auth.WithPrincipal(ctx, auth.Principal{Kind: auth.User, ID: id, Name: "admin", SysAdmin: true})}
}

func (e env) user(t *testing.T, name string) (int64, context.Context) {
	t.Helper()
	id, err := e.db.CreateUser(context.Background(), meta.User{Username: name, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return id, auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: id, Name: name})
}

// events returns the events written so far, in order, as "type project_id resource actor".
func (e env) events(t *testing.T) ([]string, []meta.Event) {
	t.Helper()
	evs := metatest.NewEvents(t, e.db).Next()
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%s %d %s %s", ev.Type, ev.ProjectID, ev.Resource, ev.Actor)
	}
	return out, evs
}

func TestChangesEmitTheirEventsAndAuditEntries(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		_, carolCtx := e.user(t, "carol")
		_, daveCtx := e.user(t, "dave")
		ctx := e.admin
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		yes := true
		id, err := e.svc.Create(ctx, project.Spec{Name: "team", Public: &yes})
		must(err)
		ref := "team"
		must(e.svc.Update(ctx, ref, true, project.Spec{Metadata: map[string]string{"auto_scan": "true"}}))
		must(e.svc.AddMetadata(ctx, ref, true, map[string]string{"severity": "high"}))
		must(e.svc.SetMetadata(ctx, ref, true, "public", "false"))
		must(e.svc.DeleteMetadata(ctx, ref, true, "severity"))
		mid, err := e.svc.AddMember(ctx, ref, true, project.NewMember{Role: meta.RoleDeveloper, Username: "dave"})
		must(err)
		must(e.svc.SetMemberRole(ctx, ref, true, mid, meta.RoleGuest))
		must(e.svc.RemoveMember(ctx, ref, true, mid))
		carolsID, err := e.svc.Create(carolCtx, project.Spec{Name: "carols"})
		must(err)
		must(e.svc.Delete(ctx, ref, true))

		// Refused or failed changes emit nothing.
		refusals := []struct {
			name string
			err  error
			kind fault.Kind
		}{
			{"a taken name", second(e.svc.Create(ctx, project.Spec{Name: "carols"})), fault.Conflict},
			{"an invalid name", second(e.svc.Create(ctx, project.Spec{Name: "Team"})), fault.Invalid},
			{"an unknown project's update", e.svc.Update(ctx, "nothing", true, project.Spec{}), fault.NotFound},
			{"an outsider's update", e.svc.Update(daveCtx, "carols", true, project.Spec{}), fault.NotFound},
			{"a bad metadata value", e.svc.SetMetadata(ctx, "carols", true, "auto_scan", "maybe"), fault.Invalid},
			{"metadata set already", e.svc.AddMetadata(ctx, "carols", true, map[string]string{"public": "true"}), fault.Conflict},
			{"a member twice", second(e.svc.AddMember(ctx, "carols", true, project.NewMember{Role: meta.RoleGuest, Username: "carol"})), fault.Conflict},
			{"an unknown member", e.svc.RemoveMember(ctx, "carols", true, 999999), fault.NotFound},
			{"an outsider's member", second(e.svc.AddMember(daveCtx, "carols", true, project.NewMember{Role: meta.RoleGuest, Username: "dave"})), fault.NotFound},
		}
		for _, r := range refusals {
			if !fault.Is(r.err, r.kind) {
				t.Errorf("%s: %v, want a refusal of kind %d", r.name, r.err, r.kind)
			}
		}

		got, evs := e.events(t)
		want := []string{
			fmt.Sprintf("project.created %d team admin", id),
			fmt.Sprintf("project.updated %d team admin", id),
			fmt.Sprintf("project.updated %d team admin", id),
			fmt.Sprintf("project.updated %d team admin", id),
			fmt.Sprintf("project.updated %d team admin", id),
			fmt.Sprintf("member.added %d dave admin", id),
			fmt.Sprintf("member.updated %d dave admin", id),
			fmt.Sprintf("member.removed %d dave admin", id),
			fmt.Sprintf("project.created %d carols carol", carolsID),
			fmt.Sprintf("project.deleted %d team admin", id),
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		// The audit log's reading of them is Harbor's: project creation, updates (the project's
		// and its metadata's, Harbor's update_project) and deletion, and membership changes
		// named for the member.
		if err := audit.Subscriber(db, slog.New(slog.DiscardHandler))(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		entries, _, err := db.ListAudit(context.Background(), meta.ListQuery{Sort: []meta.SortKey{{Key: "id"}}, Limit: 100}, meta.AuditScope{All: true})
		must(err)
		got = nil
		for _, a := range entries {
			got = append(got, fmt.Sprintf("%s %s %s %d %s", a.Operation, a.ResourceType, a.Resource, a.ProjectID, a.Username))
		}
		want = []string{
			fmt.Sprintf("create project team %d admin", id),
			fmt.Sprintf("update project team %d admin", id),
			fmt.Sprintf("update project team %d admin", id),
			fmt.Sprintf("update project team %d admin", id),
			fmt.Sprintf("update project team %d admin", id),
			fmt.Sprintf("create project_member dave %d admin", id),
			fmt.Sprintf("update project_member dave %d admin", id),
			fmt.Sprintf("delete project_member dave %d admin", id),
			fmt.Sprintf("create project carols %d carol", carolsID),
			fmt.Sprintf("delete project team %d admin", id),
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func second[T any](_ T, err error) error { return err }

// TestChangesReachProjectLookupsAtOnce: the registry resolves every /v2/ request's project
// and remembers the row for a second; a change through the service must not leave this
// process serving the row it replaced.
func TestChangesReachProjectLookupsAtOnce(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		e := newEnv(t, db)
		ctx := e.admin
		if _, err := e.svc.Create(ctx, project.Spec{Name: "app"}); err != nil {
			t.Fatal(err)
		}
		reg := &registry.Service{DB: db}
		public := func() bool {
			t.Helper()
			p, err := reg.Project(context.Background(), "app/x")
			if err != nil {
				t.Fatal(err)
			}
			return p.Public
		}
		yes, no := true, false
		steps := []struct {
			name   string
			change func() error
			public bool
		}{
			{"update", func() error { return e.svc.Update(ctx, "app", true, project.Spec{Public: &yes}) }, true},
			{"update by metadata", func() error {
				return e.svc.Update(ctx, "app", true, project.Spec{Public: &yes, Metadata: map[string]string{"public": "false"}})
			}, false},
			{"set metadata", func() error { return e.svc.SetMetadata(ctx, "app", true, "public", "true") }, true},
			{"delete metadata", func() error { return e.svc.DeleteMetadata(ctx, "app", true, "public") }, false},
			{"update back", func() error { return e.svc.Update(ctx, "app", true, project.Spec{Public: &no}) }, false},
		}
		for _, s := range steps {
			public() // remembered
			if err := s.change(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if got := public(); got != s.public {
				t.Errorf("after %s: public %v, want %v", s.name, got, s.public)
			}
		}
		if err := e.svc.Delete(ctx, "app", true); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Project(context.Background(), "app/x"); err == nil {
			t.Error("the registry still finds the project after its deletion")
		}
	})
}
