// Package project holds the rules of projects: finding one as a caller may see it, creating,
// changing and deleting them, their metadata, members, quotas and CVE allowlists. The REST API,
// the portal and the CLI all come here, so none of them can disagree on a rule.
package project

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the project service reads and writes.
type Store interface {
	ProjectByName(ctx context.Context, name string) (meta.Project, error)
	ProjectByID(ctx context.Context, id int64) (meta.Project, error)
}

// Service is the project rules over the store.
type Service struct {
	Store Store
	Authz *rbac.Authorizer
}

// Find resolves a project by name, or by id when ref is a number and byName is false, as the
// caller in ctx sees it: a project the caller cannot see is not found (unauthorized for an
// anonymous caller, who may see it once signed in).
func (s *Service) Find(ctx context.Context, ref string, byName bool) (meta.Project, error) {
	var p meta.Project
	var err error
	id, perr := strconv.ParseInt(ref, 10, 64)
	if byName || perr != nil {
		p, err = s.Store.ProjectByName(ctx, ref)
	} else {
		p, err = s.Store.ProjectByID(ctx, id)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return p, fault.NotFoundf("project %s not found", ref)
	}
	if err != nil {
		return p, fmt.Errorf("look up project %s: %w", ref, err)
	}
	ok, err := s.Authz.CanSeeProject(ctx, auth.PrincipalFrom(ctx), p)
	if err != nil {
		return p, err
	}
	if !ok {
		if auth.PrincipalFrom(ctx).IsAnonymous() {
			return p, fault.ErrUnauthorized
		}
		return p, fault.NotFoundf("project %s not found", ref)
	}
	return p, nil
}

// FindFor is Find followed by a check of one permission in the project.
func (s *Service) FindFor(ctx context.Context, ref string, byName bool, res rbac.Resource, act rbac.Action) (meta.Project, error) {
	p, err := s.Find(ctx, ref, byName)
	if err != nil {
		return p, err
	}
	return p, s.Authz.Require(ctx, p, res, act)
}
