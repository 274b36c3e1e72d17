package registry

// Tags of an artifact as the REST API, the portal and the CLI manage them (Harbor's "tag"
// resource). Creating and deleting a tag here are the registry's writes, as a push and a
// /v2/ tag deletion are: immutability applies, and each change is an event in its transaction.

import (
	"context"
	"errors"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// TagStore is what the tag service reads.
type TagStore interface {
	repositoryLookup
	ListManifestTags(ctx context.Context, manifestID int64, lq meta.ListQuery) ([]meta.Tag, int64, error)
}

// Tags holds the rules of the tags of artifacts.
type Tags struct {
	Registry *Service
	Store    TagStore
	Projects *project.Service
}

func (s *Tags) find() finder { return finder{s.Registry, s.Projects, s.Store} }

// TagView is a tag as the API shows it: with whether an immutability rule protects it, when
// the caller asked (else false).
type TagView struct {
	meta.Tag
	Immutable bool
}

// ArtifactRef names an artifact: its repository's full name and its digest.
type ArtifactRef struct {
	Repository string
	Digest     string
}

// List returns one page of the tags of an artifact (ref: a tag or digest of repository name of
// the project) and their total; withImmutable tells which of them are immutable.
func (s *Tags) List(ctx context.Context, projectName, name, ref string, lq meta.ListQuery, withImmutable bool) ([]TagView, int64, error) {
	p, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResTag, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	imm := noneImmutable
	if withImmutable {
		if imm, err = s.Registry.ImmutableTags(ctx, p, repo.Name); err != nil {
			return nil, 0, err
		}
	}
	tags, total, err := s.Store.ListManifestTags(ctx, m.ID, lq)
	if err != nil {
		return nil, 0, err
	}
	return tagViews(tags, imm), total, nil
}

// Create gives an artifact a new tag and returns the artifact.
func (s *Tags) Create(ctx context.Context, projectName, name, ref, tag string) (ArtifactRef, error) {
	p, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResTag, rbac.ActCreate)
	if err != nil {
		return ArtifactRef{}, err
	}
	if tag == "" {
		return ArtifactRef{}, fault.Invalidf("name is required")
	}
	if !ValidTag(tag) {
		return ArtifactRef{}, fault.Invalidf("invalid tag name %q: must match %s", tag, tagRE)
	}
	err = s.Registry.createTag(ctx, p, repo.Name, m, tag)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return ArtifactRef{}, fault.Conflictf("tag %s already exists under the repository %s", tag, repo.Name)
	case errors.Is(err, meta.ErrNotFound):
		return ArtifactRef{}, fault.NotFoundf("artifact %s@%s not found", repo.Name, m.Digest)
	case err != nil:
		return ArtifactRef{}, err
	}
	return ArtifactRef{Repository: repo.Name, Digest: m.Digest}, nil
}

// Delete removes a tag from an artifact. A tag an immutability rule protects is refused
// (*ImmutableError).
func (s *Tags) Delete(ctx context.Context, projectName, name, ref, tag string) error {
	p, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResTag, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = s.Registry.deleteTag(ctx, p, repo.Name, m, tag)
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("tag %s not found on artifact %s@%s", tag, repo.Name, m.Digest)
	}
	return err
}

// createTag points a new tag of the repository at the artifact m: meta.ErrConflict when the
// repository has the tag already, meta.ErrNotFound when m is gone.
func (s *Service) createTag(ctx context.Context, project meta.Project, repo string, m meta.Manifest, tag string) error {
	return s.DB.Tx(ctx, func(tx *meta.Tx) error {
		if _, err := tx.CreateTag(ctx, m.RepositoryID, m.ID, tag); err != nil {
			return err
		}
		tx.Emit(events.OfRepository(ctx, events.TagCreated, project.ID, repo, repo+":"+tag,
			events.Artifact{Repository: repo, Digest: m.Digest, MediaType: m.MediaType, ManifestID: m.ID, Tag: tag}))
		return nil
	})
}

// deleteTag removes a tag from the artifact m of the repository: meta.ErrNotFound when the tag
// is not the artifact's, *ImmutableError when an immutability rule protects it.
func (s *Service) deleteTag(ctx context.Context, project meta.Project, repo string, m meta.Manifest, tag string) error {
	imm, err := s.immutableTags(ctx, project, repo)
	if err != nil {
		return err
	}
	if imm != nil && imm(tag) {
		tags, err := s.DB.TagsOfManifests(ctx, []int64{m.ID})
		if err != nil {
			return err
		}
		for _, t := range tags[m.ID] {
			if t.Name == tag {
				return &ImmutableError{Repository: repo, Tag: tag, Delete: true}
			}
		}
		return meta.ErrNotFound
	}
	return s.DB.Tx(ctx, func(tx *meta.Tx) error {
		if err := tx.DeleteManifestTag(ctx, m.ID, tag); err != nil {
			return err
		}
		tx.Emit(events.OfRepository(ctx, events.TagDeleted, project.ID, repo, repo+":"+tag,
			events.Artifact{Repository: repo, Digest: m.Digest, Tag: tag}))
		return nil
	})
}

// noneImmutable is the immutability test of views that do not ask for it.
func noneImmutable(string) bool { return false }

// tagViews shows tags with their immutability.
func tagViews(tags []meta.Tag, immutable func(string) bool) []TagView {
	out := make([]TagView, 0, len(tags))
	for _, t := range tags {
		out = append(out, TagView{Tag: t, Immutable: immutable(t.Name)})
	}
	return out
}
