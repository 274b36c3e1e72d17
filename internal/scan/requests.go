package scan

import (
	"context"
	"errors"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Scan requests from callers: a scan (or SBOM) of one artifact, stopping it, reading its log.

// Projects finds a project as the caller may see it and checks a permission in it
// (*project.Service).
type Projects interface {
	FindFor(ctx context.Context, ref string, byName bool, res rbac.Resource, act rbac.Action) (meta.Project, error)
}

// Artifacts finds an artifact as the caller may address it and checks a permission in its
// project (*registry.Artifacts).
type Artifacts interface {
	FindFor(ctx context.Context, projectName, name, ref string, res rbac.Resource, act rbac.Action) (meta.Project, meta.RepositoryInfo, meta.Manifest, error)
}

// Target names the artifact of a request: a project, a repository in it (without the project)
// and a tag or digest.
type Target struct {
	Project    string
	Repository string
	Reference  string
}

// Request queues a scan of the given type ("" is vulnerability) of an artifact by its
// project's scanner, for a caller who may create such scans there; a scan already pending or
// running is left alone. Either way the request is a ScanRequested event of the transaction
// that writes the report row.
func (s *Service) Request(ctx context.Context, t Target, scanType string) error {
	typ, err := scanTypeOf(scanType)
	if err != nil {
		return err
	}
	p, repo, m, err := s.target(ctx, t, typ, rbac.ActCreate)
	if err != nil {
		return err
	}
	if !Scannable(m.MediaType, configMediaType(m.Payload)) {
		return fault.Invalidf("artifact %s@%s: the artifact is not a container image: nothing to scan", repo, m.Digest)
	}
	sc, err := s.Scanners.ForProject(ctx, p.ID)
	if err != nil {
		return err
	}
	ev := events.OfRepository(ctx, events.ScanRequested, p.ID, repo, repo+"@"+m.Digest,
		events.Scan{Repository: repo, Digest: m.Digest, Scanner: sc.UUID, Type: typ})
	_, err = s.prepare(ctx, sc, repo, m.Digest, typ, true, ev)
	return err
}

// Stop asks the scan of the given type of an artifact to stop, for a caller who may stop such
// scans. As in Harbor, stopping a scan that has already ended is accepted and changes nothing;
// only an artifact that never had such a scan is refused (Invalid).
func (s *Service) Stop(ctx context.Context, t Target, scanType string) error {
	typ, err := scanTypeOf(scanType)
	if err != nil {
		return err
	}
	p, repo, m, err := s.target(ctx, t, typ, rbac.ActStop)
	if err != nil {
		return err
	}
	scanned, err := s.stop(ctx, p, m.Digest, typ)
	if err != nil {
		return err
	}
	if !scanned {
		// Harbor's refusal when there is no scan to stop, in its words.
		return fault.Invalidf("no scan job for artifact digest=%s (no %s scan of %s)", m.Digest, typ, repo)
	}
	return nil
}

// ScanLog returns the log of one of an artifact's scan reports, for a caller who may read
// scans.
func (s *Service) ScanLog(ctx context.Context, t Target, reportID string) (string, error) {
	_, repo, m, err := s.artifact(ctx, t, rbac.ResScan, rbac.ActRead)
	if err != nil {
		return "", err
	}
	r, err := s.Store.ScanReportByID(ctx, reportID)
	if errors.Is(err, meta.ErrNotFound) || err == nil && r.Digest != m.Digest {
		return "", fault.NotFoundf("scan report %s of %s@%s not found", reportID, repo, m.Digest)
	}
	if err != nil {
		return "", err
	}
	return s.Store.ScanLog(ctx, r.ID)
}

// scanTypeOf checks a requested scan type.
func scanTypeOf(t string) (string, error) {
	switch t {
	case "":
		return TypeVulnerability, nil
	case TypeVulnerability, TypeSBOM:
		return t, nil
	}
	return "", fault.Invalidf("scan_type %q is not vulnerability or sbom", t)
}

// target resolves the artifact of a request about scans of a type, checking the action on
// that type (scan or sbom).
func (s *Service) target(ctx context.Context, t Target, scanType string, act rbac.Action) (meta.Project, string, meta.Manifest, error) {
	res := rbac.ResScan
	if scanType == TypeSBOM {
		res = rbac.ResSBOM
	}
	return s.artifact(ctx, t, res, act)
}

// artifact resolves a target after checking a permission in its project, and returns the
// project, the repository's full name and the manifest.
func (s *Service) artifact(ctx context.Context, t Target, res rbac.Resource, act rbac.Action) (meta.Project, string, meta.Manifest, error) {
	p, repo, m, err := s.Artifacts.FindFor(ctx, t.Project, t.Repository, t.Reference, res, act)
	return p, repo.Name, m, err
}
