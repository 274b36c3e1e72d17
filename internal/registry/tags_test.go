package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/retention"
)

// TestContentChangesAreEventsOfTheirTransaction: tags created and deleted through the tag
// service and a repository deleted through the repository service are each one event (the
// audit log's entry: type, project, resource, caller) written with the change; a refused change
// writes none.
func TestContentChangesAreEventsOfTheirTransaction(t *testing.T) {
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, Name: "alice", SysAdmin: true})
		pid := metatest.NewProject(t, db, "owner", "proj")
		p, err := db.ProjectByID(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		reg := &Service{DB: db, MaxManifestSize: 1 << 20, Log: slog.New(slog.DiscardHandler)}
		projects := &project.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: db}}
		tags := &Tags{Registry: reg, Store: db, Projects: projects}
		repos := &Repositories{Registry: reg, Store: db, Projects: projects}

		const repo = "proj/app"
		cfg, layer := "sha256:"+fmt.Sprintf("%064x", 1), "sha256:"+fmt.Sprintf("%064x", 2)
		for _, d := range []string{cfg, layer} {
			if err := db.LinkBlob(ctx, pid, repo, d, 10, nil); err != nil {
				t.Fatal(err)
			}
		}
		body := `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + desc("application/vnd.oci.image.config.v1+json", cfg, 10) +
			`,"layers":[` + desc("application/vnd.oci.image.layer.v1.tar+gzip", layer, 10) + `]}`
		pushed, err := reg.PutManifest(ctx, p, repo, "v1", MediaTypeOCIManifest, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		dgst := pushed.Digest.String()

		emitted := metatest.NewEvents(t, db)
		// events returns what was emitted since the last call: type, project, resource, actor.
		events := func(t *testing.T) []string {
			t.Helper()
			var out []string
			for _, e := range emitted.Next() {
				out = append(out, fmt.Sprintf("%s %d %s %s", e.Type, e.ProjectID, e.Resource, e.Actor))
			}
			return out
		}
		events(t) // the push
		protect := func(tag string) func() {
			rule := retention.ImmutableRule{Selectors: retention.Selectors{
				Tags: []retention.Selector{{Kind: retention.KindDoublestar, Decoration: retention.Matches, Pattern: tag}},
				Scope: map[string][]retention.Selector{retention.ScopeRepository: {
					{Kind: retention.KindDoublestar, Decoration: retention.RepoMatches, Pattern: "**"}}}}}
			if err := rule.Normalize(); err != nil {
				t.Fatal(err)
			}
			row, err := rule.Row(pid)
			if err != nil {
				t.Fatal(err)
			}
			id, err := db.CreateImmutableRule(ctx, row, retention.MaxImmutableRules)
			if err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := db.DeleteImmutableRule(ctx, pid, id); err != nil {
					t.Fatal(err)
				}
			}
		}

		steps := []struct {
			name    string
			do      func() error
			refusal fault.Kind // 0: none
			want    []string
		}{
			{"create a tag", func() error { _, err := tags.Create(ctx, "proj", "app", "v1", "v2"); return err }, 0,
				[]string{fmt.Sprintf("tag.created %d proj/app:v2 alice", pid)}},
			{"create it again", func() error { _, err := tags.Create(ctx, "proj", "app", dgst, "v2"); return err }, fault.Conflict, nil},
			{"create an invalid tag", func() error { _, err := tags.Create(ctx, "proj", "app", "v1", "-v"); return err }, fault.Invalid, nil},
			{"delete the tag", func() error { return tags.Delete(ctx, "proj", "app", "v1", "v2") }, 0,
				[]string{fmt.Sprintf("tag.deleted %d proj/app:v2 alice", pid)}},
			{"delete it again", func() error { return tags.Delete(ctx, "proj", "app", "v1", "v2") }, fault.NotFound, nil},
			{"delete an immutable tag", func() error {
				defer protect("v1")()
				return tags.Delete(ctx, "proj", "app", "v1", "v1")
			}, fault.Precondition, nil},
			{"delete a repository holding an immutable tag", func() error {
				defer protect("v1")()
				return repos.Delete(ctx, "proj", "app")
			}, fault.Precondition, nil},
			{"delete the repository", func() error { return repos.Delete(ctx, "proj", "app") }, 0,
				[]string{fmt.Sprintf("artifact.deleted %d proj/app@%s alice", pid, dgst), fmt.Sprintf("repository.deleted %d proj/app alice", pid)}},
			{"delete it again", func() error { return repos.Delete(ctx, "proj", "app") }, fault.NotFound, nil},
		}
		for _, s := range steps {
			err := s.do()
			if kind := refusalKind(err); kind != s.refusal || (err != nil && kind == 0) {
				t.Fatalf("%s: %v, want refusal kind %d", s.name, err, s.refusal)
			}
			if got := events(t); !slices.Equal(got, s.want) {
				t.Fatalf("%s: events %q, want %q", s.name, got, s.want)
			}
		}
	})
}

// refusalKind is the kind of refusal err is as the API answers it (an immutable tag is
// Harbor's 412).
func refusalKind(err error) fault.Kind {
	var ie *ImmutableError
	if errors.As(err, &ie) {
		return fault.Precondition
	}
	return fault.KindOf(err)
}
