package rbac

import (
	"context"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
)

// The Require functions are how services ask the one decision for the caller in ctx
// (auth.PrincipalFrom): nil when allowed, otherwise the refusal every entry point answers alike
// — fault.ErrUnauthorized for an anonymous caller (who may have more rights once signed in),
// fault.ErrForbidden for anyone else.

// Require checks a permission in a project the caller can see (see CanSeeProject).
func (a *Authorizer) Require(ctx context.Context, project meta.Project, res Resource, act Action) error {
	p := auth.PrincipalFrom(ctx)
	ok, err := a.Can(ctx, p, project, res, act)
	if err != nil || ok {
		return err
	}
	return refusal(p)
}

// RequireSystem checks a system-level permission: system administrators, and robots granted it.
func (a *Authorizer) RequireSystem(ctx context.Context, res Resource, act Action) error {
	p := auth.PrincipalFrom(ctx)
	if p.IsAnonymous() {
		return fault.ErrUnauthorized
	}
	ok, err := a.CanSystem(ctx, p, res, act)
	if err != nil || ok {
		return err
	}
	return fault.ErrForbidden
}

// RequireSignedIn refuses anonymous callers.
func RequireSignedIn(ctx context.Context) error {
	if auth.PrincipalFrom(ctx).IsAnonymous() {
		return fault.ErrUnauthorized
	}
	return nil
}

// RequireSysAdmin admits system administrators only.
func RequireSysAdmin(ctx context.Context) error {
	p := auth.PrincipalFrom(ctx)
	if p.SysAdmin {
		return nil
	}
	return refusal(p)
}

func refusal(p auth.Principal) error {
	if p.IsAnonymous() {
		return fault.ErrUnauthorized
	}
	return fault.ErrForbidden
}
