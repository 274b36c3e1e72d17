package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/catalog"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/rbac"
)

// grants serves fixed robot permissions by robot id.
type grants map[int64][]meta.RobotGrant

func (g grants) RobotGrants(_ context.Context, id int64) ([]meta.RobotGrant, error) {
	return g[id], nil
}

// TestRobotsFindWhatTheirPermissionsShow: robots are no members, so the store cannot narrow
// what they find; the authorizer shows them public projects and those they hold a permission
// in, and repositories where they may list them. Their statistics count public content only.
func TestRobotsFindWhatTheirPermissionsShow(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		ctx := context.Background()
		owner, err := db.CreateUser(ctx, meta.User{Username: "owner", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]int64{}
		for _, p := range []meta.Project{{Name: "pub-a", Public: true}, {Name: "priv-b"}, {Name: "priv-c"}} {
			p.OwnerID = owner
			if ids[p.Name], err = db.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, err := db.PutManifest(ctx, meta.PutManifestParams{ProjectID: ids[p.Name], Repository: p.Name + "/app",
				Digest: "sha256:" + strings.Repeat("a", 64), MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
		}
		s := &catalog.Service{Store: db, Authz: &rbac.Authorizer{Members: db, Robots: grants{
			1: {{Kind: meta.RobotKindProject, ProjectID: ids["priv-b"], Resource: "repository", Action: "list", Effect: "allow"}},
			2: {{Kind: meta.RobotKindProject, ProjectID: ids["priv-c"], Resource: "artifact", Action: "read", Effect: "allow"}},
		}}}
		robot := func(id int64) context.Context {
			return auth.WithPrincipal(ctx, auth.Principal{Kind: auth.Robot, ID: id, Name: "robot$r"})
		}
		for _, c := range []struct {
			name                   string
			ctx                    context.Context
			projects, repositories string
		}{
			{"lists repositories in its project", robot(1), "priv-b,pub-a", "priv-b/app,pub-a/app"},
			{"sees its project, may not list", robot(2), "priv-c,pub-a", "pub-a/app"},
			{"anonymous", ctx, "pub-a", "pub-a/app"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r, err := s.Search(c.ctx, "P")
				if err != nil {
					t.Fatal(err)
				}
				var ps, rs []string
				for _, p := range r.Projects {
					ps = append(ps, p.Name)
				}
				for _, x := range r.Repositories {
					rs = append(rs, x.Name)
				}
				if strings.Join(ps, ",") != c.projects || strings.Join(rs, ",") != c.repositories {
					t.Errorf("found projects %v and repositories %v, want %s and %s", ps, rs, c.projects, c.repositories)
				}
			})
		}
		st, err := s.Statistics(robot(1))
		if err != nil || st != (meta.Statistics{PublicProjects: 1, PublicRepos: 1}) {
			t.Errorf("a robot's statistics %+v, %v", st, err)
		}
		if _, err := s.Statistics(ctx); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("anonymous statistics: %v", err)
		}
	})
}
