package scan

// Scanner registrations (Harbor's /scanners) and each project's scanner: which adapters Berth
// may send scans to, which is the default, and which one a project uses. The rules follow
// Harbor's handler and controller (src/server/v2.0/handler/scanner.go, src/controller/scanner):
// a new registration is pinged before it is stored and becomes the default if there is none;
// the built-in registration cannot be changed or deleted; the access credential is never
// shown, and an update without one keeps it.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/scan/adapter"
	"github.com/berthreg/berth/internal/scan/report"
)

const (
	maxScannerName        = 128 // Harbor's column sizes
	maxScannerDescription = 1024
	// scannerPingTimeout bounds a metadata call made while answering a caller.
	scannerPingTimeout = 10 * time.Second
	// scannerHealthTTL is how long listings trust an adapter's answer (Harbor: 30 s).
	scannerHealthTTL = 30 * time.Second
)

// RegistrationStatus is a registration with what its adapter said of itself lately: Metadata
// when it answered (Healthy).
type RegistrationStatus struct {
	meta.ScannerRegistration
	Healthy  bool
	Metadata report.Metadata
}

// CanScanners reports whether the caller may act on scanner registrations (rbac.ActList,
// ActCreate, …), for a page deciding what to offer; the methods check it themselves.
func (s *Service) CanScanners(ctx context.Context, act rbac.Action) (bool, error) {
	return s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResScanner, act)
}

// CanScanAll reports whether the caller may act on scan-all (rbac.ActRead, ActCreate,
// ActUpdate, ActStop), as CanScanners.
func (s *Service) CanScanAll(ctx context.Context, act rbac.Action) (bool, error) {
	return s.Authz.CanSystem(ctx, auth.PrincipalFrom(ctx), rbac.ResScanAll, act)
}

// ListRegistrations returns one page of registrations with their adapters' health, the default
// first and then the newest unless sorted otherwise, and the total.
func (s *Service) ListRegistrations(ctx context.Context, lq meta.ListQuery) ([]RegistrationStatus, int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanner, rbac.ActList); err != nil {
		return nil, 0, err
	}
	return s.registrationPage(ctx, lq)
}

func (s *Service) registrationPage(ctx context.Context, lq meta.ListQuery) ([]RegistrationStatus, int64, error) {
	rs, total, err := s.Store.ListScannerRegistrations(ctx, lq)
	if err != nil {
		return nil, 0, err
	}
	return s.statuses(ctx, rs), total, nil
}

// Registration returns one registration with its adapter's health.
func (s *Service) Registration(ctx context.Context, uuid string) (RegistrationStatus, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanner, rbac.ActRead); err != nil {
		return RegistrationStatus{}, err
	}
	r, err := s.registration(ctx, uuid)
	if err != nil {
		return RegistrationStatus{}, err
	}
	return s.statuses(ctx, []meta.ScannerRegistration{r})[0], nil
}

// CreateRegistration checks a new registration's settings, pings its adapter and stores it;
// the creation is a ScannerCreated event of the same transaction.
func (s *Service) CreateRegistration(ctx context.Context, r meta.ScannerRegistration) (meta.ScannerRegistration, error) {
	r, err := s.pinged(ctx, rbac.ActCreate, r)
	if err != nil {
		return r, err
	}
	var created meta.ScannerRegistration
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		if created, err = tx.CreateScannerRegistration(ctx, r); err != nil {
			return err
		}
		tx.Emit(events.OfSystem(ctx, events.ScannerCreated, created.Name, registrationPayload(created)))
		return nil
	})
	if err != nil {
		return created, registrationError(err, r, "create")
	}
	return created, nil
}

// PingRegistration checks a registration's settings and that its adapter answers, storing
// nothing.
func (s *Service) PingRegistration(ctx context.Context, r meta.ScannerRegistration) error {
	_, err := s.pinged(ctx, rbac.ActRead, r)
	return err
}

// pinged authorizes act on scanners, checks the settings and pings the adapter.
func (s *Service) pinged(ctx context.Context, act rbac.Action, r meta.ScannerRegistration) (meta.ScannerRegistration, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanner, act); err != nil {
		return r, err
	}
	r, err := checkRegistration(r)
	if err != nil {
		return r, err
	}
	if _, err := s.metadata(ctx, r); err != nil {
		return r, fault.Invalidf("ping: %s", err.Error())
	}
	return r, nil
}

// UpdateRegistration replaces a registration's settings with r's. A credential left empty
// keeps the stored one while the authentication type stays and needs one: callers never see
// it, so one sending back what it read sends none (Harbor does the same). The change is a
// ScannerUpdated event of the same transaction.
func (s *Service) UpdateRegistration(ctx context.Context, uuid string, r meta.ScannerRegistration) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanner, rbac.ActUpdate); err != nil {
		return err
	}
	cur, err := s.registration(ctx, uuid)
	if err != nil {
		return err
	}
	if cur.Immutable {
		return registrationError(meta.ErrImmutableScanner, cur, "update")
	}
	if r.AccessCredential == "" && r.Auth != adapter.AuthNone && r.Auth == cur.Auth {
		r.AccessCredential = cur.AccessCredential
	}
	if r, err = checkRegistration(r); err != nil {
		return err
	}
	r.UUID = cur.UUID
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		if err := tx.UpdateScannerRegistration(ctx, r); err != nil {
			return err
		}
		tx.Emit(events.OfSystem(ctx, events.ScannerUpdated, r.Name, registrationPayload(r)))
		return nil
	})
	s.Scanners.Forget()
	return registrationError(err, r, "update")
}

// DeleteRegistration removes a registration (the built-in one cannot go) and returns what it
// was; the deletion is a ScannerDeleted event of the same transaction.
func (s *Service) DeleteRegistration(ctx context.Context, uuid string) (meta.ScannerRegistration, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanner, rbac.ActDelete); err != nil {
		return meta.ScannerRegistration{}, err
	}
	cur, err := s.registration(ctx, uuid)
	if err != nil {
		return cur, err
	}
	var deleted meta.ScannerRegistration
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		if deleted, err = tx.DeleteScannerRegistration(ctx, cur.UUID); err != nil {
			return err
		}
		tx.Emit(events.OfSystem(ctx, events.ScannerDeleted, deleted.Name, registrationPayload(deleted)))
		return nil
	})
	s.Scanners.Forget()
	return deleted, registrationError(err, cur, "delete")
}

// SetDefaultRegistration applies {is_default}: true makes the registration the default (a
// ScannerUpdated event); false changes nothing (Harbor's behaviour: the default role only
// moves to another registration). Harbor's generated client leaves a false is_default out,
// so a body without it means false.
func (s *Service) SetDefaultRegistration(ctx context.Context, uuid string, isDefault bool) error {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanner, rbac.ActUpdate); err != nil {
		return err
	}
	cur, err := s.registration(ctx, uuid)
	if err != nil {
		return err
	}
	if !isDefault {
		return nil
	}
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		if err := tx.SetDefaultScannerRegistration(ctx, cur.UUID); err != nil {
			return err
		}
		tx.Emit(events.OfSystem(ctx, events.ScannerUpdated, cur.Name, registrationPayload(cur)))
		return nil
	})
	s.Scanners.Forget()
	return registrationError(err, cur, "set as default")
}

// RegistrationMetadata asks a registration's adapter for its metadata now (the built-in
// scanner answers in process).
func (s *Service) RegistrationMetadata(ctx context.Context, uuid string) (report.Metadata, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResScanner, rbac.ActRead); err != nil {
		return report.Metadata{}, err
	}
	r, err := s.registration(ctx, uuid)
	if err != nil {
		return report.Metadata{}, err
	}
	md, err := s.metadata(ctx, r)
	switch {
	case r.Immutable && err != nil:
		return md, fault.New(fault.Unavailable, "the built-in scanner: %s", err.Error())
	case err != nil:
		// The request was fine; the adapter was not.
		return md, fault.New(fault.Upstream, "%s", err.Error())
	}
	return md, nil
}

// Each project's scanner: reading it needs scanner:read in the project (every role; Harbor also
// requires a signed-in caller), choosing it scanner:create (project administrators).

// ProjectScanner returns the registration a project scans with: its pick, else the default.
// ref is the project's name, or its id unless byName.
func (s *Service) ProjectScanner(ctx context.Context, ref string, byName bool) (RegistrationStatus, error) {
	p, err := s.scannerProject(ctx, ref, byName, rbac.ActRead)
	if err != nil {
		return RegistrationStatus{}, err
	}
	r, err := s.Store.ScannerForProject(ctx, p.ID)
	if errors.Is(err, meta.ErrNotFound) {
		return RegistrationStatus{}, fault.NotFoundf("no scanner is configured for project %s, and there is no default scanner", p.Name)
	}
	if err != nil {
		return RegistrationStatus{}, err
	}
	return s.statuses(ctx, []meta.ScannerRegistration{r})[0], nil
}

// SetProjectScanner makes a project scan with an enabled registration; the choice is a
// ProjectScannerSet event of the same transaction.
func (s *Service) SetProjectScanner(ctx context.Context, ref string, byName bool, uuid string) error {
	p, err := s.scannerProject(ctx, ref, byName, rbac.ActCreate)
	if err != nil {
		return err
	}
	if uuid == "" {
		return fault.Invalidf("uuid is required")
	}
	r, err := s.Store.ScannerRegistrationByUUID(ctx, uuid)
	if errors.Is(err, meta.ErrNotFound) {
		return fault.Invalidf("scanner registration %s not found", uuid)
	}
	if err != nil {
		return err
	}
	if r.Disabled {
		return fault.Invalidf("scanner registration %s is deactivated", r.Name)
	}
	err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
		if err := tx.SetProjectScanner(ctx, p.ID, r.UUID); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.ProjectScannerSet, p.ID, p.Name+":"+r.Name, registrationPayload(r)))
		return nil
	})
	s.Scanners.Forget()
	if errors.Is(err, meta.ErrNotFound) {
		return fault.Invalidf("scanner registration %s not found", uuid)
	}
	return err
}

// ScannerCandidates returns one page of the registrations a project may pick, for those who
// may pick one.
func (s *Service) ScannerCandidates(ctx context.Context, ref string, byName bool, lq meta.ListQuery) ([]RegistrationStatus, int64, error) {
	if _, err := s.scannerProject(ctx, ref, byName, rbac.ActCreate); err != nil {
		return nil, 0, err
	}
	return s.registrationPage(ctx, lq)
}

// scannerProject finds a project for a signed-in caller allowed act on its scanner.
func (s *Service) scannerProject(ctx context.Context, ref string, byName bool, act rbac.Action) (meta.Project, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return meta.Project{}, err
	}
	return s.Projects.FindFor(ctx, ref, byName, rbac.ResScanner, act)
}

// registration reads a registration by uuid.
func (s *Service) registration(ctx context.Context, uuid string) (meta.ScannerRegistration, error) {
	r, err := s.Store.ScannerRegistrationByUUID(ctx, uuid)
	if errors.Is(err, meta.ErrNotFound) {
		return r, fault.NotFoundf("scanner %s not found", uuid)
	}
	return r, err
}

// checkRegistration normalises a registration's settings and checks them.
func checkRegistration(r meta.ScannerRegistration) (meta.ScannerRegistration, error) {
	r.Name, r.URL = strings.TrimSpace(r.Name), adapter.NormalizeURL(r.URL)
	switch {
	case r.Name == "":
		return r, fault.Invalidf("name is required")
	case len(r.Name) > maxScannerName:
		return r, fault.Invalidf("name is longer than %d characters", maxScannerName)
	case len(r.Description) > maxScannerDescription:
		return r, fault.Invalidf("description is longer than %d characters", maxScannerDescription)
	}
	if err := adapter.RegistrationOf(r).Validate(); err != nil {
		return r, fault.Invalidf("%s", err.Error())
	}
	return r, nil
}

// registrationError answers the store's refusals about registration r.
func registrationError(err error, r meta.ScannerRegistration, op string) error {
	switch {
	case errors.Is(err, meta.ErrImmutableScanner):
		// Harbor's words.
		return fault.Forbiddenf("registration %s is not allowed to %s as it is immutable: scanner API: %s", r.Name, op, op)
	case errors.Is(err, meta.ErrScannerDisabled) && op == "update":
		return fault.Invalidf("default registration %s can not be marked to deactivated", r.UUID)
	case errors.Is(err, meta.ErrScannerDisabled):
		return fault.Invalidf("registration %s is deactivated and can not be the default", r.UUID)
	case errors.Is(err, meta.ErrConflict):
		return fault.Conflictf("a scanner registration named %s or with url %s already exists", r.Name, r.URL)
	case errors.Is(err, meta.ErrNotFound):
		return fault.NotFoundf("scanner %s not found", r.UUID)
	}
	return err
}

// registrationPayload is what the events of a registration carry: never its credential.
func registrationPayload(r meta.ScannerRegistration) map[string]string {
	return map[string]string{"uuid": r.UUID, "name": r.Name, "url": r.URL}
}

// metadata asks a registration's adapter for its metadata now, and remembers the answer for
// listings.
func (s *Service) metadata(ctx context.Context, reg meta.ScannerRegistration) (report.Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, scannerPingTimeout)
	defer cancel()
	ar := adapter.RegistrationOf(reg)
	md, err := s.Engines.Engine(ar).Metadata(ctx)
	if !reg.Immutable {
		s.registrationHealth().Put(ar, md, err)
	}
	return md, err
}

// statuses adds their adapters' health to registrations, asking the adapters the health cache
// has no fresh answer for, all at once.
func (s *Service) statuses(ctx context.Context, rs []meta.ScannerRegistration) []RegistrationStatus {
	out := make([]RegistrationStatus, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		out[i].ScannerRegistration = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, scannerPingTimeout)
			defer cancel()
			ar := adapter.RegistrationOf(r)
			e := s.Engines.Engine(ar)
			var md report.Metadata
			var err error
			if r.Immutable {
				md, err = e.Metadata(ctx) // in process: nothing to save
			} else {
				md, err = s.registrationHealth().Metadata(ctx, ar, e)
			}
			if err == nil {
				out[i].Healthy, out[i].Metadata = true, md
			}
		}()
	}
	wg.Wait()
	return out
}

// registrationHealth is the adapters' metadata as listings show it, kept scannerHealthTTL.
func (s *Service) registrationHealth() *adapter.MetadataCache {
	s.healthOnce.Do(func() { s.health = &adapter.MetadataCache{TTL: scannerHealthTTL} })
	return s.health
}
