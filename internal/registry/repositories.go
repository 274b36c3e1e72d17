package registry

// Repositories as the REST API, the portal and the CLI manage them (Harbor's "repository"
// resource): listing, reading, describing and deleting. Content itself changes only through the
// registry's rules (Service), so a repository deleted here goes artifact by artifact through the
// same deletion as /v2/.

import (
	"context"
	"errors"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// RepositoryStore is what the repository service reads and writes.
type RepositoryStore interface {
	repositoryLookup
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	ListRepositories(ctx context.Context, rq meta.RepositoryQuery) ([]meta.RepositoryInfo, int64, error)
	SetRepositoryDescription(ctx context.Context, id int64, description string) error
	RootManifestDigests(ctx context.Context, repoID int64, n int) ([]string, error)
}

// Repositories holds the rules of repositories.
type Repositories struct {
	Registry *Service
	Store    RepositoryStore
	Projects *project.Service
}

func (s *Repositories) find() finder { return finder{s.Registry, s.Projects, s.Store} }

// ListAll returns one page of the repositories of every project the caller in ctx may see, and
// their total.
func (s *Repositories) ListAll(ctx context.Context, lq meta.ListQuery) ([]meta.RepositoryInfo, int64, error) {
	return s.Store.ListRepositories(ctx, meta.RepositoryQuery{Visibility: rbac.Visibility(auth.PrincipalFrom(ctx)), List: lq})
}

// List returns one page of the repositories of a project, and their total.
func (s *Repositories) List(ctx context.Context, projectName string, lq meta.ListQuery) ([]meta.RepositoryInfo, int64, error) {
	p, err := s.Projects.FindFor(ctx, projectName, true, rbac.ResRepository, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.ListRepositories(ctx, meta.RepositoryQuery{ProjectID: p.ID, Visibility: meta.ProjectVisibility{All: true}, List: lq})
}

// Get returns a repository of a project, named relative to the project.
func (s *Repositories) Get(ctx context.Context, projectName, name string) (meta.RepositoryInfo, error) {
	_, repo, err := s.find().repository(ctx, projectName, name, rbac.ResRepository, rbac.ActRead)
	return repo, err
}

// SetDescription replaces a repository's description (as Harbor does, with "" when none is
// given).
func (s *Repositories) SetDescription(ctx context.Context, projectName, name, description string) error {
	_, repo, err := s.find().repository(ctx, projectName, name, rbac.ResRepository, rbac.ActUpdate)
	if err != nil {
		return err
	}
	err = s.Store.SetRepositoryDescription(ctx, repo.ID, description)
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("repository %s not found", repo.Name)
	}
	return err
}

// maxDeleteRounds bounds how often a repository deletion goes back for content pushed while it
// ran.
const maxDeleteRounds = 100

// Delete deletes a repository with everything in it. A repository holding an immutable tag is
// refused before anything goes (*ImmutableError). Artifacts go one by one through
// DeleteManifest (the rules, storage accounting and events of /v2/), indexes before the
// children they list; then the emptied repository, with its event, in one transaction.
func (s *Repositories) Delete(ctx context.Context, projectName, name string) error {
	p, repo, err := s.find().repository(ctx, projectName, name, rbac.ResRepository, rbac.ActDelete)
	if err != nil {
		return err
	}
	if err := s.Registry.CheckRepositoryDeletable(ctx, p, repo.Name); err != nil {
		return err
	}
	for round := 0; ; round++ {
		digests, err := s.Store.RootManifestDigests(ctx, repo.ID, 500)
		if err != nil {
			return err
		}
		for _, d := range digests {
			if err := s.Registry.DeleteManifest(ctx, repo.Name, d); err != nil && !deletedMeanwhile(err) {
				return err
			}
		}
		if len(digests) > 0 && round < maxDeleteRounds {
			continue
		}
		err = s.Store.Tx(ctx, func(tx *meta.Tx) error {
			if err := tx.DeleteEmptyRepository(ctx, repo.ID); err != nil {
				return err
			}
			tx.Emit(events.OfRepository(ctx, events.RepositoryDeleted, p.ID, repo.Name, repo.Name, nil))
			return nil
		})
		switch {
		case errors.Is(err, meta.ErrNotFound):
			return fault.NotFoundf("repository %s not found", repo.Name)
		case errors.Is(err, meta.ErrNotEmpty) && round < maxDeleteRounds:
			continue
		case errors.Is(err, meta.ErrNotEmpty):
			return fault.Conflictf("repository %s is receiving new content; try again", repo.Name)
		}
		return err
	}
}

// deletedMeanwhile reports whether a manifest a repository deletion went for is gone already,
// or is listed by an index pushed meanwhile, which the deletion's next round finds.
func deletedMeanwhile(err error) bool {
	var ie *ImmutableError
	if errors.As(err, &ie) {
		return false
	}
	var re *Error
	return errors.As(err, &re) && (re.Code == CodeManifestUnknown || re.Code == CodePrecondition)
}

// repositoryLookup is what resolving a repository of a path reads.
type repositoryLookup interface {
	RepositoryInfoByName(ctx context.Context, name string) (meta.RepositoryInfo, error)
}

// finder resolves what a request names — a repository of a project, an artifact in it — as the
// caller in ctx may see it, after checking one permission in the project: a project the caller
// cannot see is not found, whatever it holds.
type finder struct {
	reg      *Service
	projects *project.Service
	repos    repositoryLookup
}

// repositoryName returns the project and the full name ("project/name") of a repository, which
// need not exist.
func (f finder) repositoryName(ctx context.Context, projectName, name string, res rbac.Resource, act rbac.Action) (meta.Project, string, error) {
	p, err := f.projects.FindFor(ctx, projectName, true, res, act)
	if err != nil {
		return p, "", err
	}
	if name == "" {
		return p, "", fault.Invalidf("repository name is required")
	}
	return p, p.Name + "/" + name, nil
}

// repository resolves an existing repository.
func (f finder) repository(ctx context.Context, projectName, name string, res rbac.Resource, act rbac.Action) (meta.Project, meta.RepositoryInfo, error) {
	p, full, err := f.repositoryName(ctx, projectName, name, res, act)
	if err != nil {
		return p, meta.RepositoryInfo{}, err
	}
	repo, err := f.repos.RepositoryInfoByName(ctx, full)
	if errors.Is(err, meta.ErrNotFound) {
		return p, repo, fault.NotFoundf("repository %s not found", full)
	}
	return p, repo, err
}

// artifact resolves an artifact of an existing repository by reference: a tag or a digest.
func (f finder) artifact(ctx context.Context, projectName, name, ref string, res rbac.Resource, act rbac.Action) (meta.Project, meta.RepositoryInfo, meta.Manifest, error) {
	p, repo, err := f.repository(ctx, projectName, name, res, act)
	if err != nil {
		return p, repo, meta.Manifest{}, err
	}
	m, err := f.reg.GetManifest(ctx, repo.Name, ref)
	var re *Error
	switch {
	case errors.As(err, &re) && re.Code == CodeDigestInvalid:
		return p, repo, m, fault.Invalidf("%s", re.Message)
	case errors.As(err, &re):
		sep := ":"
		if IsDigest(ref) {
			sep = "@"
		}
		return p, repo, m, fault.NotFoundf("artifact %s%s%s not found", repo.Name, sep, ref)
	}
	return p, repo, m, err
}
