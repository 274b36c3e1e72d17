// Package label holds the rules of labels: global labels (scope "g"), which system
// administrators manage and every signed-in user reads, and labels of one project (scope "p"),
// which its project administrators and maintainers manage and whoever may read the project's
// labels reads. Attaching labels to artifacts is the artifacts' business.
package label

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the label service reads and writes.
type Store interface {
	ProjectByID(ctx context.Context, id int64) (meta.Project, error)
	LabelByID(ctx context.Context, id int64) (meta.Label, error)
	ListLabels(ctx context.Context, q meta.LabelQuery) ([]meta.Label, int64, error)
	CreateLabel(ctx context.Context, l meta.Label) (int64, error)
	UpdateLabel(ctx context.Context, l meta.Label) error
	DeleteLabel(ctx context.Context, id int64) error
}

// Service is the label rules over the store.
type Service struct {
	Store Store
	Authz *rbac.Authorizer
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

const maxName = 128

// valid checks what a label's author controls: name and color.
func valid(l meta.Label) error {
	if l.Name == "" {
		return fault.Invalidf("name is required")
	}
	if len(l.Name) > maxName {
		return fault.Invalidf("name is longer than %d characters", maxName)
	}
	if l.Color != "" && !colorRE.MatchString(l.Color) {
		return fault.Invalidf("invalid color %q: want #RRGGBB", l.Color)
	}
	return nil
}

// access checks that the caller may perform act on labels of l's scope. A project the caller
// cannot see answers not found, with notFound as the message.
func (s *Service) access(ctx context.Context, l meta.Label, act rbac.Action, notFound string) error {
	if l.Scope == meta.LabelScopeGlobal {
		if act == rbac.ActRead || act == rbac.ActList {
			return rbac.RequireSignedIn(ctx)
		}
		return s.Authz.RequireSystem(ctx, rbac.ResLabel, act)
	}
	p, err := s.Store.ProjectByID(ctx, l.ProjectID)
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("%s", notFound)
	}
	if err != nil {
		return fmt.Errorf("project %d of a label: %w", l.ProjectID, err)
	}
	caller := auth.PrincipalFrom(ctx)
	visible, err := s.Authz.CanSeeProject(ctx, caller, p)
	if err != nil {
		return err
	}
	if !visible {
		if caller.IsAnonymous() {
			return fault.ErrUnauthorized
		}
		return fault.NotFoundf("%s", notFound)
	}
	return s.Authz.Require(ctx, p, rbac.ResLabel, act)
}

// CanGlobal reports whether the caller may perform act on global labels, by the rule access
// applies: any signed-in user reads them, those with the system's label permission (system
// administrators) change them. For the portal to decide what to offer.
func (s *Service) CanGlobal(ctx context.Context, act rbac.Action) (bool, error) {
	caller := auth.PrincipalFrom(ctx)
	if caller.IsAnonymous() {
		return false, nil
	}
	if act == rbac.ActRead || act == rbac.ActList {
		return true, nil
	}
	return s.Authz.CanSystem(ctx, caller, rbac.ResLabel, act)
}

// List returns one page of the labels q selects, in creation order unless q sorts them, and
// their total. Global labels are listed to anyone; a project's to those who may list them.
func (s *Service) List(ctx context.Context, q meta.LabelQuery) ([]meta.Label, int64, error) {
	switch q.Scope {
	case meta.LabelScopeGlobal:
	case meta.LabelScopeProject:
		if q.ProjectID <= 0 {
			return nil, 0, fault.Invalidf("must with project ID when to query project labels")
		}
		if err := s.access(ctx, meta.Label{Scope: meta.LabelScopeProject, ProjectID: q.ProjectID}, rbac.ActList,
			fmt.Sprintf("project %d not found", q.ProjectID)); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fault.Invalidf("invalid scope: %s", q.Scope)
	}
	return s.Store.ListLabels(ctx, q)
}

// Create creates a label of l.Scope (and l.ProjectID for a project label) and returns its id.
func (s *Service) Create(ctx context.Context, l meta.Label) (int64, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return 0, err
	}
	if err := valid(l); err != nil {
		return 0, err
	}
	switch l.Scope {
	case meta.LabelScopeGlobal:
		l.ProjectID = 0
	case meta.LabelScopeProject:
		if l.ProjectID <= 0 {
			return 0, fault.Invalidf("invalid project ID: %d", l.ProjectID)
		}
	default:
		return 0, fault.Invalidf("unrecognized scope: %q (g or p)", l.Scope)
	}
	if err := s.access(ctx, l, rbac.ActCreate, fmt.Sprintf("project %d not found", l.ProjectID)); err != nil {
		if fault.Is(err, fault.NotFound) {
			return 0, fault.Invalidf("invalid project ID: %d", l.ProjectID)
		}
		return 0, err
	}
	id, err := s.Store.CreateLabel(ctx, l)
	if errors.Is(err, meta.ErrConflict) {
		return 0, fault.Conflictf("label %s already exists", l.Name)
	}
	return id, err
}

// find returns a label the caller may perform act on.
func (s *Service) find(ctx context.Context, id int64, act rbac.Action) (meta.Label, error) {
	msg := fmt.Sprintf("label %d not found", id)
	l, err := s.Store.LabelByID(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		if auth.PrincipalFrom(ctx).IsAnonymous() {
			return l, fault.ErrUnauthorized
		}
		return l, fault.NotFoundf("%s", msg)
	}
	if err != nil {
		return l, fmt.Errorf("look up label %d: %w", id, err)
	}
	return l, s.access(ctx, l, act, msg)
}

// Get returns a label.
func (s *Service) Get(ctx context.Context, id int64) (meta.Label, error) {
	return s.find(ctx, id, rbac.ActRead)
}

// Update changes the name, description and color of label l.ID to l's; a label keeps its scope
// and project.
func (s *Service) Update(ctx context.Context, l meta.Label) error {
	cur, err := s.find(ctx, l.ID, rbac.ActUpdate)
	if err != nil {
		return err
	}
	if err := valid(l); err != nil {
		return err
	}
	cur.Name, cur.Description, cur.Color = l.Name, l.Description, l.Color
	err = s.Store.UpdateLabel(ctx, cur)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return fault.Conflictf("label %s already exists", cur.Name)
	case errors.Is(err, meta.ErrNotFound):
		return fault.NotFoundf("label %d not found", cur.ID)
	}
	return err
}

// Delete deletes a label, which detaches it from every artifact.
func (s *Service) Delete(ctx context.Context, id int64) error {
	l, err := s.find(ctx, id, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = s.Store.DeleteLabel(ctx, l.ID)
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("label %d not found", l.ID)
	}
	return err
}
