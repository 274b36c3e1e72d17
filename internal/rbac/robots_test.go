package rbac

import (
	"context"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// fakeRobots serves fixed grants per robot id.
type fakeRobots map[int64][]meta.RobotGrant

func (f fakeRobots) RobotGrants(_ context.Context, id int64) ([]meta.RobotGrant, error) {
	return f[id], nil
}

func grant(kind string, project int64, res, act, effect string) meta.RobotGrant {
	return meta.RobotGrant{Kind: kind, ProjectID: project, Resource: res, Action: act, Effect: effect}
}

func TestRobotDecisions(t *testing.T) {
	t.Parallel()
	const (
		proj = meta.RobotKindProject
		sys  = meta.RobotKindSystem
	)
	a := &Authorizer{Robots: fakeRobots{
		1: {grant(proj, 10, "repository", "pull", "allow"), grant(proj, 10, "repository", "push", "allow")},
		2: {grant(proj, 0, "repository", "pull", "allow"), grant(proj, 11, "repository", "pull", "deny")},
		3: {grant(proj, 10, "artifact", "delete", "allow")},
		4: {grant(sys, 0, "project", "create", "allow"), grant(sys, 0, "robot", "list", "allow")},
		5: {grant(proj, 10, "repository", "push", "allow")},
		6: {grant(proj, 10, "repository", "pull", "allow"), grant(proj, 10, "repository", "push", "allow"), grant(proj, 10, "repository", "push", "deny")},
		7: {grant(proj, 10, "artifact", "delete", "allow"), grant(proj, 10, "artifact", "delete", "deny")},
	}}
	robot := func(id int64) auth.Principal { return auth.Principal{Kind: auth.Robot, ID: id, Name: "robot$x"} }
	p10 := meta.Project{ID: 10, Name: "ten"}
	p11 := meta.Project{ID: 11, Name: "eleven"}
	p12 := meta.Project{ID: 12, Name: "twelve"}
	pub := meta.Project{ID: 13, Name: "public", Public: true}
	ctx := context.Background()

	cases := []struct {
		name    string
		p       auth.Principal
		project meta.Project
		res     Resource
		act     Action
		want    bool
	}{
		{"granted pull", robot(1), p10, ResRepository, ActPull, true},
		{"granted push", robot(1), p10, ResRepository, ActPush, true},
		{"no delete", robot(1), p10, ResRepository, ActDelete, false},
		{"no pull in another project", robot(1), p11, ResRepository, ActPull, false},
		{"no member read", robot(1), p10, ResMember, ActRead, false},
		{"anyone pulls from a public project", robot(1), pub, ResRepository, ActPull, true},
		{"no push to a public project", robot(1), pub, ResRepository, ActPush, false},
		{"every project", robot(2), p12, ResRepository, ActPull, true},
		{"deny beats every project", robot(2), p11, ResRepository, ActPull, false},
		{"artifact delete covers /v2/ delete", robot(3), p10, ResRepository, ActDelete, true},
		{"artifact delete is not pull", robot(3), p10, ResRepository, ActPull, false},
		{"system grants do not reach projects", robot(4), p10, ResProject, ActCreate, false},
		{"push implies pull", robot(5), p10, ResRepository, ActPull, true},
		{"push is not delete", robot(5), p10, ResRepository, ActDelete, false},
		{"a denied push keeps the allowed pull", robot(6), p10, ResRepository, ActPull, true},
		{"a denied push is denied", robot(6), p10, ResRepository, ActPush, false},
		{"a denied artifact delete also denies the /v2/ delete", robot(7), p10, ResRepository, ActDelete, false},
		{"unknown robot", robot(99), p10, ResRepository, ActPull, false},
		{"a user id is not a robot id", auth.Principal{Kind: auth.Anonymous, ID: 1}, p10, ResRepository, ActPull, false},
	}
	for _, c := range cases {
		got, err := a.Can(ctx, c.p, c.project, c.res, c.act)
		if err != nil || got != c.want {
			t.Errorf("%s: Can = %v, %v; want %v", c.name, got, err, c.want)
		}
	}

	for _, c := range []struct {
		name    string
		id      int64
		project meta.Project
		want    bool
	}{
		{"a robot sees a project it holds a permission in", 1, p10, true},
		{"and no other", 1, p11, false},
		{"every project", 2, p12, true},
		{"system robot without project grants", 4, p10, false},
	} {
		if got, err := a.CanSeeProject(ctx, robot(c.id), c.project); err != nil || got != c.want {
			t.Errorf("%s: CanSeeProject = %v, %v; want %v", c.name, got, err, c.want)
		}
	}

	if ok, _ := a.CanSystem(ctx, robot(4), ResProject, ActCreate); !ok {
		t.Error("CanSystem: a system grant is refused")
	}
	if ok, _ := a.CanSystem(ctx, robot(4), ResRegistry, ActCreate); ok {
		t.Error("CanSystem: an ungranted system permission is allowed")
	}
	if ok, _ := a.CanSystem(ctx, auth.Principal{Kind: auth.User, ID: 5}, ResProject, ActCreate); ok {
		t.Error("CanSystem: a plain user is allowed")
	}
	if ok, _ := a.CanSystem(ctx, auth.Principal{Kind: auth.User, ID: 1, SysAdmin: true}, ResRegistry, ActCreate); !ok {
		t.Error("CanSystem: a system administrator is refused")
	}
	if ok, _ := a.CanEveryProject(ctx, robot(2), ResRepository, ActPull); ok {
		t.Error("CanEveryProject: a robot denied pull in one project holds it everywhere")
	}
	a.Robots.(fakeRobots)[5] = []meta.RobotGrant{grant(proj, 0, "repository", "pull", "allow")}
	if ok, _ := a.CanEveryProject(ctx, robot(5), ResRepository, ActPull); !ok {
		t.Error("CanEveryProject: a \"*\" grant is refused")
	}
	if ok, _ := a.CanEveryProject(ctx, robot(1), ResRepository, ActPull); ok {
		t.Error("CanEveryProject: a one-project grant counts for every project")
	}
}

func TestGrantable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		kind string
		p    Permission
		want bool
	}{
		{meta.RobotKindProject, Permission{ResRepository, ActPull}, true},
		{meta.RobotKindProject, Permission{ResMember, ActCreate}, true},
		{meta.RobotKindProject, Permission{ResGarbageCollection, ActCreate}, false},
		{meta.RobotKindProject, Permission{ResRepository, "fly"}, false},
		{meta.RobotKindSystem, Permission{ResProject, ActCreate}, true},
		{meta.RobotKindSystem, Permission{ResRepository, ActPush}, false},
		{"galaxy", Permission{ResRepository, ActPull}, false},
	} {
		if got := Grantable(c.kind, c.p); got != c.want {
			t.Errorf("Grantable(%s, %v) = %v, want %v", c.kind, c.p, got, c.want)
		}
	}
	for _, kind := range []string{meta.RobotKindProject, meta.RobotKindSystem} {
		ps := GrantablePermissions(kind)
		if len(ps) == 0 {
			t.Errorf("no %s permissions", kind)
		}
		for i, p := range ps {
			if !Grantable(kind, p) || (i > 0 && !(ps[i-1].Resource < p.Resource || ps[i-1].Resource == p.Resource && ps[i-1].Action < p.Action)) {
				t.Errorf("GrantablePermissions(%s)[%d] = %v: not grantable or not sorted", kind, i, p)
			}
		}
	}
}
