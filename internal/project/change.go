package project

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// Spec is what a request says a project is to be (Harbor's ProjectReq), for creation and
// update. Nil and empty fields say nothing.
type Spec struct {
	Name string
	// Public is Harbor's deprecated top-level flag: "public" in Metadata wins over it.
	Public *bool
	// Metadata is Harbor's project metadata (see validMetadata).
	Metadata map[string]string
	// StorageLimit is the storage quota in bytes, -1 for none; only system administrators
	// choose it.
	StorageLimit *int64
	// RegistryID names the upstream registry of a proxy-cache project; 0 is none.
	RegistryID *int64
	Allowlist  *Allowlist
}

// validStorageLimit applies Harbor's rule for a storage hard limit: -1 or a positive size.
func validStorageLimit(v int64) error {
	if v <= 0 && v != meta.Unlimited {
		return fault.Invalidf("invalid value %d for resource storage: use -1 (unlimited) or a positive number of bytes", v)
	}
	return nil
}

// CanCreate says whether the caller in ctx may create projects (what Create checks first), so
// that an entry point offers the form only to those who may use it.
func (s *Service) CanCreate(ctx context.Context) (bool, error) {
	if auth.PrincipalFrom(ctx).IsAnonymous() {
		return false, nil
	}
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return false, err
	}
	return s.canCreate(ctx, cfg)
}

func (s *Service) canCreate(ctx context.Context, cfg meta.SystemConfig) (bool, error) {
	return s.Authz.CanCreateProject(ctx, auth.PrincipalFrom(ctx), cfg.ProjectCreationRestriction == "adminonly")
}

// Create creates a project owned by the caller and returns its id. Who may create projects is
// the system configuration's project_creation_restriction; robots' projects belong to the
// first system administrator.
func (s *Service) Create(ctx context.Context, spec Spec) (int64, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return 0, err
	}
	cfg, err := s.Store.SystemConfig(ctx)
	if err != nil {
		return 0, err
	}
	caller := auth.PrincipalFrom(ctx)
	adminOnly := cfg.ProjectCreationRestriction == "adminonly"
	if ok, err := s.canCreate(ctx, cfg); err != nil {
		return 0, err
	} else if !ok {
		if adminOnly {
			return 0, fault.Forbiddenf("Only system admin can create project")
		}
		return 0, fault.ErrForbidden
	}
	if len(spec.Name) == 0 || len(spec.Name) > 255 || !nameRE.MatchString(spec.Name) {
		return 0, fault.Invalidf("project name %q is invalid: 1 to 255 characters matching %s", spec.Name, nameRE)
	}
	if spec.RegistryID != nil && *spec.RegistryID != 0 {
		if !caller.SysAdmin {
			return 0, fault.Forbiddenf("Only system admin can create proxy cache project")
		}
		return 0, fault.Invalidf("registry_id %d: proxy cache projects are not supported yet; leave registry_id out", *spec.RegistryID)
	}
	public, md, err := splitMetadata(spec.Metadata)
	if err != nil {
		return 0, err
	}
	if public == nil {
		public = spec.Public
	}
	settings := meta.ProjectSettings{StorageLimit: meta.Unlimited}
	if cfg.QuotaPerProjectEnable {
		// As in Harbor, only system administrators choose a limit; everyone else's projects
		// get the configured default (storage_per_project), as do requests without one.
		settings.StorageLimit = cfg.StoragePerProject
		if spec.StorageLimit != nil && *spec.StorageLimit != 0 && caller.SysAdmin {
			if err := validStorageLimit(*spec.StorageLimit); err != nil {
				return 0, err
			}
			settings.StorageLimit = *spec.StorageLimit
		}
		if validStorageLimit(settings.StorageLimit) != nil {
			settings.StorageLimit = meta.Unlimited
		}
	}
	if l := spec.Allowlist; l != nil {
		if l.ProjectID != nil && *l.ProjectID != 0 {
			return 0, fault.Invalidf("project_id in cve_allowlist must be left out (or 0) when creating a project")
		}
		if settings.Allowlist, err = l.validItems(); err != nil {
			return 0, err
		}
		settings.AllowlistExp = l.ExpiresAt
	}
	owner := caller.ID
	if caller.Kind != auth.User {
		// Robots own nothing.
		if owner, err = s.Store.DefaultProjectOwner(ctx); err != nil {
			return 0, fmt.Errorf("owner of a robot's project: %w", err)
		}
	}
	p := meta.Project{Name: spec.Name, OwnerID: owner, Public: public != nil && *public, Metadata: md}
	var id int64
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		if id, err = tx.CreateProject(ctx, p, settings); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.ProjectCreated, id, p.Name, nil))
		return nil
	})
	if errors.Is(err, meta.ErrConflict) {
		return 0, fault.Conflictf("The project named %s already exists", spec.Name)
	}
	return id, err
}

// Update changes a project's metadata ("public" included), CVE allowlist and, for system
// administrators, storage limit. A project keeps its name and its registry.
func (s *Service) Update(ctx context.Context, ref string, byName bool, spec Spec) error {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResProject, rbac.ActUpdate)
	if err != nil {
		return err
	}
	if spec.Name != "" && spec.Name != p.Name {
		return fault.Invalidf("a project cannot be renamed: project_name must be left out or equal %s", p.Name)
	}
	if spec.RegistryID != nil && *spec.RegistryID != 0 {
		return fault.Invalidf("registry_id cannot be changed")
	}
	var u meta.ProjectUpdate
	if u.Public, u.Metadata, err = splitMetadata(spec.Metadata); err != nil {
		return err
	}
	if u.Public == nil {
		u.Public = spec.Public
	}
	if l := spec.Allowlist; l != nil {
		if l.ProjectID != nil && *l.ProjectID != 0 && *l.ProjectID != p.ID {
			return fault.Invalidf("project_id in cve_allowlist must be %d but it's %d", p.ID, *l.ProjectID)
		}
		items, err := l.validItems()
		if err != nil {
			return err
		}
		u.Allowlist = &meta.CVEAllowlist{ProjectID: p.ID, Items: items, ExpiresAt: l.ExpiresAt}
	}
	// The quota is managed through the quotas; a system administrator may also set it here.
	// Harbor ignores storage_limit on update, so others' values are ignored too.
	if spec.StorageLimit != nil && auth.PrincipalFrom(ctx).SysAdmin {
		if err := validStorageLimit(*spec.StorageLimit); err != nil {
			return err
		}
		u.StorageLimit = spec.StorageLimit
	}
	return s.update(ctx, p, u)
}

// update applies u to p with its event; ErrNotFound if p is gone.
func (s *Service) update(ctx context.Context, p meta.Project, u meta.ProjectUpdate) error {
	err := s.change(ctx, func(tx *meta.Tx) error {
		if err := tx.UpdateProject(ctx, p.ID, u); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.ProjectUpdated, p.ID, p.Name, nil))
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("project %s not found", p.Name)
	}
	return err
}

// notDeletable is why a project with repositories cannot be deleted.
const notDeletable = "the project contains repositories, can not be deleted"

// Delete deletes an empty project.
func (s *Service) Delete(ctx context.Context, ref string, byName bool) error {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResProject, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = s.change(ctx, func(tx *meta.Tx) error {
		if err := tx.DeleteProject(ctx, p.ID); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.ProjectDeleted, p.ID, p.Name, nil))
		return nil
	})
	switch {
	case errors.Is(err, meta.ErrNotEmpty):
		return fault.Preconditionf(notDeletable)
	case errors.Is(err, meta.ErrNotFound):
		return fault.NotFoundf("project %s not found", p.Name)
	}
	return err
}

// Deletable says whether the caller could delete the project now, and if not, why.
func (s *Service) Deletable(ctx context.Context, ref string, byName bool) (ok bool, why string, err error) {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResProject, rbac.ActDelete)
	if err != nil {
		return false, "", err
	}
	if p.RepoCount > 0 {
		return false, notDeletable, nil
	}
	return true, "", nil
}
