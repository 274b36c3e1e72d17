package robot_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/berthreg/berth/internal/audit/audittest"
	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/auth/robot"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/meta/metatest"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// TestRobotChangesAreAuditedWithTheChange: every change of a robot is one event written with
// it, which the audit log reads as the entry Harbor writes — the robot named by its login, in
// its project (0 for a system robot), by the caller — and a refused change writes none.
func TestRobotChangesAreAuditedWithTheChange(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		admin := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
		pid := metatest.NewProject(t, db, "owner", "proj")
		authz := &rbac.Authorizer{Members: db, Robots: db}
		s := &robot.Service{Store: db, Authz: authz, Projects: &project.Service{Store: db, Authz: authz}}
		trail := audittest.New(t, db)

		pull := func(ns string) []meta.RobotPermission {
			return []meta.RobotPermission{{Kind: meta.RobotKindProject, Namespace: ns, Access: []meta.RobotAccess{{Resource: "repository", Action: "pull"}}}}
		}
		var inProject, system int64
		create := func(id *int64, spec robot.Spec) func() error {
			return func() error {
				r, _, err := s.Create(admin, spec)
				*id = r.ID
				return err
			}
		}
		var ignored int64
		inProj := fmt.Sprintf("in %d", pid)
		for _, step := range []struct {
			name    string
			do      func() error
			refusal fault.Kind
			want    []string
		}{
			{"create a project robot", create(&inProject, robot.Spec{Name: "ci", Level: robot.LevelProject, Permissions: pull("proj")}),
				0, []string{"admin create robot robot$proj+ci " + inProj}},
			{"create it again", create(&ignored, robot.Spec{Name: "ci", Level: robot.LevelProject, Permissions: pull("proj")}),
				fault.Conflict, nil},
			{"create a system robot", create(&system, robot.Spec{Name: "sys", Level: robot.LevelSystem, Permissions: pull("*")}),
				0, []string{"admin create robot robot$sys in 0"}},
			{"update the project robot", func() error {
				return s.Update(admin, inProject, robot.Change{Name: "robot$proj+ci", Level: robot.LevelProject, Description: "d", Permissions: pull("proj")})
			}, 0, []string{"admin update robot robot$proj+ci " + inProj}},
			{"rename it", func() error {
				return s.Update(admin, inProject, robot.Change{Name: "other", Level: robot.LevelProject, Permissions: pull("proj")})
			}, fault.Invalid, nil},
			{"refresh the system robot's secret", func() error {
				_, err := s.RefreshSecret(admin, system, "")
				return err
			}, 0, []string{"admin update robot robot$sys in 0"}},
			{"delete the system robot", func() error { return s.Delete(admin, system) }, 0, []string{"admin delete robot robot$sys in 0"}},
			{"delete the project robot", func() error { return s.Delete(admin, inProject) }, 0, []string{"admin delete robot robot$proj+ci " + inProj}},
			{"delete it again", func() error { return s.Delete(admin, inProject) }, fault.NotFound, nil},
		} {
			err := step.do()
			if fault.KindOf(err) != step.refusal || (step.refusal == 0 && err != nil) {
				t.Fatalf("%s: %v, want refusal kind %d", step.name, err, step.refusal)
			}
			if got := trail.Next(); !slices.Equal(got, step.want) {
				t.Errorf("%s: audit entries %q, want %q", step.name, got, step.want)
			}
		}
	})
}

// TestRefreshSecretAnswersOnlyAGeneratedSecret: a refresh without a secret generates one and
// returns it; a refresh with a secret of the caller's choosing stores it and returns "" (Harbor
// does not send a chosen secret back); a chosen secret that breaks the rules changes nothing.
// Either way the stored secret is the new one.
func TestRefreshSecretAnswersOnlyAGeneratedSecret(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		admin := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true})
		metatest.NewProject(t, db, "owner", "proj")
		authz := &rbac.Authorizer{Members: db, Robots: db}
		s := &robot.Service{Store: db, Authz: authz, Projects: &project.Service{Store: db, Authz: authz}}
		r, first, err := s.Create(admin, robot.Spec{Name: "ci", Level: robot.LevelProject,
			Permissions: []meta.RobotPermission{{Kind: meta.RobotKindProject, Namespace: "proj", Access: []meta.RobotAccess{{Resource: "repository", Action: "pull"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		stored := first
		for _, c := range []struct {
			name, given string
			refusal     fault.Kind
		}{
			{"generated", "", 0},
			{"chosen", "MyOwnSecret42", 0},
			{"generated again", "", 0},
			{"chosen, too weak", "weak", fault.Invalid},
			{"chosen again", "AnotherSecret7", 0},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.RefreshSecret(admin, r.ID, c.given)
				if fault.KindOf(err) != c.refusal || c.refusal == 0 && err != nil {
					t.Fatalf("RefreshSecret: %v, want refusal kind %d", err, c.refusal)
				}
				switch {
				case c.refusal != 0:
				case c.given != "" && got != "":
					t.Errorf("a chosen secret was answered back: %q", got)
				case c.given == "" && (got == "" || got == stored):
					t.Errorf("generated secret %q (the previous one was %q)", got, stored)
				case c.given != "":
					stored = c.given
				default:
					stored = got
				}
				row, err := db.RobotByID(context.Background(), r.ID)
				if err != nil {
					t.Fatal(err)
				}
				if ok, err := auth.VerifyPassword(row.SecretHash, stored); err != nil || !ok {
					t.Errorf("the stored secret is not %q (%v)", stored, err)
				}
			})
		}
	})
}

// TestCanSystem: whether a caller may act on system robots is the system permission the
// methods check: system administrators may, other users may not, and a system robot may what
// it was granted at system level.
func TestCanSystem(t *testing.T) {
	t.Parallel()
	metatest.ForEachDB(t, func(t *testing.T, db *meta.DB) {
		adminP := auth.Principal{Kind: auth.User, ID: 1, Name: "admin", SysAdmin: true}
		admin := auth.WithPrincipal(context.Background(), adminP)
		authz := &rbac.Authorizer{Members: db, Robots: db}
		s := &robot.Service{Store: db, Authz: authz, Projects: &project.Service{Store: db, Authz: authz}}
		r, _, err := s.Create(admin, robot.Spec{Name: "lister", Level: robot.LevelSystem, Duration: -1,
			Permissions: []meta.RobotPermission{{Kind: meta.RobotKindSystem, Namespace: "/", Access: []meta.RobotAccess{{Resource: "robot", Action: "list"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			p    auth.Principal
			act  rbac.Action
			want bool
		}{
			{"admin creates", adminP, rbac.ActCreate, true},
			{"user lists", auth.Principal{Kind: auth.User, ID: 2, Name: "alice"}, rbac.ActList, false},
			{"robot lists", auth.Principal{Kind: auth.Robot, ID: r.ID, Name: r.Login}, rbac.ActList, true},
			{"robot creates", auth.Principal{Kind: auth.Robot, ID: r.ID, Name: r.Login}, rbac.ActCreate, false},
		} {
			got, err := s.CanSystem(auth.WithPrincipal(context.Background(), c.p), c.act)
			if err != nil || got != c.want {
				t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
			}
		}
	})
}
