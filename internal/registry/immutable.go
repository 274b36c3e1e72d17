package registry

// Tag immutability, for /v2/ and the API alike: a tag that an enabled immutability rule of its
// project picks (repository and tag name, see internal/retention) may be pushed the first time
// and pushed again with the same content, but not moved to other content nor deleted, and an
// artifact carrying it cannot be deleted. The move check runs inside the push's transaction
// (meta.PutManifestParams.Immutable).

import (
	"context"
	"errors"
	"fmt"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/retention"
)

// ImmutableError refuses a change to a tag an immutability rule protects. To the /v2/
// handlers it is a PRECONDITION *Error (412) with Harbor's message; the API reads Tag and
// Delete to answer in its own words.
type ImmutableError struct {
	Repository string // the full repository name ("project/name")
	Tag        string
	Delete     bool // a deletion was refused (else a push that would move the tag)
}

func (e *ImmutableError) Error() string {
	return fmt.Sprintf("Failed to process request due to '%s:%s' configured as immutable.", e.Repository, e.Tag)
}

// As lets errors.As(err, **Error) see the refusal as PRECONDITION.
func (e *ImmutableError) As(target any) bool {
	if t, ok := target.(**Error); ok {
		*t = &Error{Code: CodePrecondition, Message: e.Error()}
		return true
	}
	return false
}

// ImmutableTags returns the test for whether a tag of the repository (its full name) is
// immutable now: whether an enabled rule of the project picks the repository and the tag.
// Retention asks it so that it never deletes what is protected.
func (s *Service) ImmutableTags(ctx context.Context, project meta.Project, repo string) (func(tag string) bool, error) {
	imm, err := s.immutableTags(ctx, project, repo)
	if err != nil || imm != nil {
		return imm, err
	}
	return func(string) bool { return false }, nil
}

// immutableTags is ImmutableTags, nil when no rule applies to the repository at all (the
// usual case, which then costs nothing more).
func (s *Service) immutableTags(ctx context.Context, project meta.Project, repo string) (func(tag string) bool, error) {
	rows, err := s.enabledImmutableRules(ctx, project.ID)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	name := retention.RepositoryInProject(repo, project.Name)
	var rules []retention.ImmutableRule
	for _, row := range rows {
		r, err := retention.ImmutableRuleOf(row)
		if err != nil {
			return nil, err
		}
		if r.MatchRepository(name) {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		return nil, nil
	}
	return func(tag string) bool {
		for _, r := range rules {
			if r.MatchTag(tag) {
				return true
			}
		}
		return false
	}, nil
}

// immutableTagsOf is immutableTags for a repository named alone (its project looked up).
func (s *Service) immutableTagsOf(ctx context.Context, repo string) (func(tag string) bool, error) {
	name, err := ValidateRepository(repo)
	if err != nil {
		return nil, err
	}
	p, err := s.lookupProject(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil // no project, no rules: the operation itself reports what is missing
	}
	if err != nil {
		return nil, fmt.Errorf("look up project %s: %w", name, err)
	}
	return s.immutableTags(ctx, p, repo)
}

// checkDeletable refuses to delete a manifest of the repository that carries an immutable tag.
func (s *Service) checkDeletable(ctx context.Context, repo, digest string) error {
	imm, err := s.immutableTagsOf(ctx, repo)
	if err != nil || imm == nil {
		return err
	}
	m, err := s.DB.ManifestByDigest(ctx, repo, digest)
	if errors.Is(err, meta.ErrNotFound) {
		return nil // DeleteManifest answers "unknown"
	}
	if err != nil {
		return err
	}
	tags, err := s.DB.TagsOfManifests(ctx, []int64{m.ID})
	if err != nil {
		return err
	}
	for _, t := range tags[m.ID] {
		if imm(t.Name) {
			return &ImmutableError{Repository: repo, Tag: t.Name, Delete: true}
		}
	}
	return nil
}

// CheckRepositoryDeletable refuses (*ImmutableError) to delete a repository that holds an
// immutable tag, before anything of it is deleted.
func (s *Service) CheckRepositoryDeletable(ctx context.Context, project meta.Project, repo string) error {
	imm, err := s.immutableTags(ctx, project, repo)
	if err != nil || imm == nil {
		return err
	}
	for last := ""; ; {
		tags, err := s.DB.ListTags(ctx, repo, last, 1000)
		if err != nil || len(tags) == 0 {
			return err
		}
		for _, t := range tags {
			if imm(t) {
				return &ImmutableError{Repository: repo, Tag: t, Delete: true}
			}
		}
		last = tags[len(tags)-1]
	}
}
