package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
)

// PutManifestResult is what the client hears back.
type PutManifestResult struct {
	Digest  digest.Digest
	Subject string // the subject digest, for the OCI-Subject header
	Created bool
	Tags    []string // the tags now pointing at it
}

// PutManifest validates and stores a manifest under ref (a tag or the manifest's digest), also
// pointing extraTags at it (the spec's ?tag= parameters of a push by digest). Every blob it
// references must be linked in the repository and every child manifest present.
func (s *Service) PutManifest(ctx context.Context, project meta.Project, repo, ref, contentType string, body []byte, extraTags ...string) (PutManifestResult, error) {
	if int64(len(body)) > s.MaxManifestSize {
		return PutManifestResult{}, errorf(CodeTooLarge, "manifest is larger than %d bytes", s.MaxManifestSize)
	}
	var d digest.Digest
	var tags []string
	for _, t := range extraTags {
		if !ValidTag(t) {
			return PutManifestResult{}, errorf(CodeManifestInvalid, "invalid tag %q: must match %s", t, tagRE)
		}
		tags = append(tags, t)
	}
	if IsDigest(ref) {
		want, err := ParseDigest(ref)
		if err != nil {
			return PutManifestResult{}, err
		}
		d = want.Algorithm().FromBytes(body)
		if d != want {
			return PutManifestResult{}, errorf(CodeDigestInvalid, "manifest digest is %s, not %s", d, want)
		}
	} else {
		if !ValidTag(ref) {
			return PutManifestResult{}, errorf(CodeManifestInvalid, "invalid tag %q: must match %s", ref, tagRE)
		}
		tags = append(tags, ref)
		d = digest.FromBytes(body)
	}
	p, err := parseManifest(contentType, body)
	if err != nil {
		return PutManifestResult{}, err
	}
	var immutable func(string) bool
	if len(tags) > 0 {
		if immutable, err = s.immutableTags(ctx, project, repo); err != nil {
			return PutManifestResult{}, err
		}
	}
	params := meta.PutManifestParams{
		ProjectID:     project.ID,
		Repository:    repo,
		Digest:        d.String(),
		MediaType:     p.mediaType,
		ArtifactType:  p.artifactType,
		ConfigDigest:  p.config,
		SubjectDigest: p.subject,
		Payload:       body,
		Annotations:   p.annotations,
		Blobs:         p.blobs,
		Children:      p.children,
		Tags:          tags,
		Immutable:     immutable,
	}
	var res meta.PutManifestResult
	err = s.DB.Tx(ctx, func(tx *meta.Tx) error {
		var err error
		if res, err = tx.PutManifest(ctx, params); err != nil {
			return err
		}
		tx.Emit(pushEvents(ctx, project, repo, d.String(), p.mediaType, tags, res)...)
		return nil
	})
	var bu *meta.BlobUnknownError
	var bs *meta.BlobSizeError
	var mu *meta.ManifestUnknownError
	var it *meta.ImmutableTagError
	if denied := quotaDenied(err); denied != nil {
		s.emitQuotaExceeded(ctx, project, repo, d.String(), err)
		return PutManifestResult{}, denied
	}
	switch {
	case errors.As(err, &bu):
		return PutManifestResult{}, &Error{Code: CodeManifestBlobUnknown, Message: "blob unknown to repository: " + bu.Digest, Detail: map[string]string{"digest": bu.Digest}}
	case errors.As(err, &bs):
		return PutManifestResult{}, errorf(CodeManifestInvalid, "%v", bs)
	case errors.As(err, &mu):
		return PutManifestResult{}, &Error{Code: CodeManifestBlobUnknown, Message: "manifest unknown to repository: " + mu.Digest, Detail: map[string]string{"digest": mu.Digest}}
	case errors.As(err, &it):
		return PutManifestResult{}, &ImmutableError{Repository: repo, Tag: it.Tag}
	case err != nil:
		return PutManifestResult{}, err
	}
	return PutManifestResult{Digest: d, Subject: p.subject, Created: res.Created, Tags: tags}, nil
}

// quotaWarnPercent is the usage, in percent of a project's limit, at which a push warns
// (Harbor's QUOTA_WARNING).
const quotaWarnPercent = 85

// pushEvents are the events of a push: the artifact pushed (with the tags it now carries), and
// a quota warning when the push took the project's usage across quotaWarnPercent of its limit.
func pushEvents(ctx context.Context, project meta.Project, repo, dgst, mediaType string, tags []string, res meta.PutManifestResult) []meta.Event {
	resource := repo + "@" + dgst
	if len(tags) > 0 {
		resource = repo + ":" + tags[0]
	}
	evs := []meta.Event{events.OfRepository(ctx, events.ArtifactPushed, project.ID, repo, resource, events.Artifact{
		Repository: repo, Digest: dgst, MediaType: mediaType, ManifestID: res.ManifestID, Tags: tags, Created: res.Created})}
	if res.Charged > 0 && res.Hard > 0 {
		limit := res.Hard * quotaWarnPercent / 100
		if res.Used >= limit && res.Used-res.Charged < limit {
			evs = append(evs, events.OfProject(ctx, events.QuotaWarning, project.ID, project.Name, events.Quota{
				Repository: repo, Digest: dgst, Used: res.Used, Hard: res.Hard,
				Message: fmt.Sprintf("project %s uses %d%% or more of its storage quota", project.Name, quotaWarnPercent)}))
		}
	}
	return evs
}

// emitQuotaExceeded records the refusal of a push over quota; the push itself changed nothing,
// so the event has a transaction of its own.
func (s *Service) emitQuotaExceeded(ctx context.Context, project meta.Project, repo, dgst string, err error) {
	var qe *meta.QuotaExceededError
	errors.As(err, &qe)
	ev := events.OfProject(ctx, events.QuotaExceeded, project.ID, project.Name, events.Quota{
		Repository: repo, Digest: dgst, Used: qe.Used, Hard: qe.Hard, Message: qe.Error()})
	if err := s.DB.EmitEvents(context.WithoutCancel(ctx), ev); err != nil {
		s.Log.WarnContext(ctx, "record quota exceeded", "project", project.Name, "err", err)
	}
}

// quotaDenied turns a quota refusal into the client's DENIED error (403) with Harbor's
// message; other errors give nil.
func quotaDenied(err error) *Error {
	var qe *meta.QuotaExceededError
	if errors.As(err, &qe) {
		return &Error{Code: CodeDenied, Message: qe.Error()}
	}
	return nil
}

// GetManifest resolves a tag or digest of the repository.
func (s *Service) GetManifest(ctx context.Context, repo, ref string) (meta.Manifest, error) {
	var m meta.Manifest
	var err error
	if IsDigest(ref) {
		if _, err := ParseDigest(ref); err != nil {
			return m, err
		}
		m, err = s.DB.ManifestByDigest(ctx, repo, ref)
	} else {
		if !ValidTag(ref) {
			return m, errorf(CodeManifestInvalid, "invalid tag %q", ref)
		}
		m, err = s.DB.ManifestByTag(ctx, repo, ref)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return m, errorf(CodeManifestUnknown, "manifest %s unknown to repository %s", ref, repo)
	}
	return m, err
}

// RecordPull notes a pull time and a pull event ("pull" of repo:tag or repo@digest by the
// caller in ctx) without holding up the response: both are written off the request path.
func (s *Service) RecordPull(ctx context.Context, project meta.Project, repo string, m meta.Manifest, ref string) {
	tag := ""
	resource := repo + "@" + m.Digest
	if !IsDigest(ref) {
		tag = ref
		resource = repo + ":" + ref
	}
	s.pulls.record(s, pullEvent{projectID: project.ID, repo: repo, resource: resource, actor: events.Actor(ctx),
		digest: m.Digest, mediaType: m.MediaType, tag: tag}, m.ID)
}

// DeleteManifest deletes by digest (the manifest and its tags) or by tag (the tag only, as
// distribution-spec 1.1 defines). A tag an immutability rule protects, or a manifest carrying
// one, is refused with *ImmutableError.
func (s *Service) DeleteManifest(ctx context.Context, repo, ref string) error {
	if !IsDigest(ref) {
		if !ValidTag(ref) {
			return errorf(CodeManifestInvalid, "invalid tag %q", ref)
		}
		imm, err := s.immutableTagsOf(ctx, repo)
		if err != nil {
			return err
		}
		if imm != nil && imm(ref) {
			// Refused only if it exists: an unknown tag is unknown whatever the rules say.
			if _, err := s.GetManifest(ctx, repo, ref); err != nil {
				return err
			}
			return &ImmutableError{Repository: repo, Tag: ref, Delete: true}
		}
		projectID, err := s.projectIDOf(ctx, repo)
		if err != nil {
			return err
		}
		err = s.DB.Tx(ctx, func(tx *meta.Tx) error {
			d, err := tx.DeleteTag(ctx, repo, ref)
			if err != nil {
				return err
			}
			tx.Emit(events.OfRepository(ctx, events.TagDeleted, projectID, repo, repo+":"+ref,
				events.Artifact{Repository: repo, Digest: d, Tag: ref}))
			return nil
		})
		if errors.Is(err, meta.ErrNotFound) {
			return errorf(CodeManifestUnknown, "tag %s unknown to repository %s", ref, repo)
		}
		return err
	}
	if _, err := ParseDigest(ref); err != nil {
		return err
	}
	if err := s.checkDeletable(ctx, repo, ref); err != nil {
		return err
	}
	projectID, err := s.projectIDOf(ctx, repo)
	if err != nil {
		return err
	}
	err = s.DB.Tx(ctx, func(tx *meta.Tx) error {
		tags, err := tx.DeleteManifest(ctx, repo, ref)
		if err != nil {
			return err
		}
		tx.Emit(events.OfRepository(ctx, events.ArtifactDeleted, projectID, repo, repo+"@"+ref,
			events.Artifact{Repository: repo, Digest: ref, Tags: tags}))
		return nil
	})
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return errorf(CodeManifestUnknown, "manifest %s unknown to repository %s", ref, repo)
	case errors.Is(err, meta.ErrReferenced):
		return errorf(CodePrecondition, "manifest %s is referenced by an index in %s: delete the index first", ref, repo)
	}
	return err
}

// projectIDOf is the id of the project a repository belongs to, for the events of a deletion;
// 0 when there is none (the deletion then finds nothing to delete).
func (s *Service) projectIDOf(ctx context.Context, repo string) (int64, error) {
	p, err := s.Project(ctx, repo)
	var re *Error
	if errors.As(err, &re) {
		return 0, nil
	}
	return p.ID, err
}

// ReferrersIndex is the referrers API answer: an OCI image index of descriptors.
type ReferrersIndex struct {
	SchemaVersion int                   `json:"schemaVersion"`
	MediaType     string                `json:"mediaType"`
	Manifests     []ReferrersDescriptor `json:"manifests"`
}

type ReferrersDescriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Referrers lists the manifests whose subject is dgst, filtered by artifact type when given.
func (s *Service) Referrers(ctx context.Context, repo, dgst, artifactType string) (ReferrersIndex, error) {
	if _, err := ParseDigest(dgst); err != nil {
		return ReferrersIndex{}, err
	}
	rs, err := s.DB.Referrers(ctx, repo, dgst, artifactType)
	if err != nil {
		return ReferrersIndex{}, err
	}
	idx := ReferrersIndex{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: make([]ReferrersDescriptor, 0, len(rs))}
	for _, r := range rs {
		d := ReferrersDescriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size, ArtifactType: r.ArtifactType}
		if r.Annotations != "" {
			if err := json.Unmarshal([]byte(r.Annotations), &d.Annotations); err != nil {
				return ReferrersIndex{}, fmt.Errorf("annotations of %s: %w", r.Digest, err)
			}
		}
		idx.Manifests = append(idx.Manifests, d)
	}
	return idx, nil
}
