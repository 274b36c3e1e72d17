package registry

// Artifacts as the REST API, the portal and the CLI see and manage them (Harbor's "artifact"
// resource): listings with what each asks to include, an artifact's additions and labels,
// copies between repositories, and deletion with what belongs to the artifact. What an
// artifact is (its type, size, references) is derived in describe.go.

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// ArtifactStore is what the artifact service reads and writes.
type ArtifactStore interface {
	repositoryLookup
	ListArtifacts(ctx context.Context, aq meta.ArtifactQuery) ([]meta.Artifact, int64, error)
	TagsOfManifests(ctx context.Context, ids []int64) (map[int64][]meta.Tag, error)
	LabelsOfManifests(ctx context.Context, ids []int64) (map[int64][]meta.Label, error)
	Accessories(ctx context.Context, repoID int64, digest string) ([]meta.Manifest, error)
	AccessoriesOfMany(ctx context.Context, repoID int64, digests []string) (map[string][]meta.Manifest, error)
	LabelByID(ctx context.Context, id int64) (meta.Label, error)
	AttachLabel(ctx context.Context, manifestID, labelID int64) error
	DetachLabel(ctx context.Context, manifestID, labelID int64) error
}

// Artifacts holds the rules of artifacts.
type Artifacts struct {
	Registry *Service
	Store    ArtifactStore
	Projects *project.Service
}

func (s *Artifacts) find() finder { return finder{s.Registry, s.Projects, s.Store} }

// Details are what a view of artifacts includes beyond the artifacts themselves (Harbor's
// with_* parameters).
type Details struct {
	Tags bool
	// ImmutableStatus tells, with Tags, which tags an immutability rule protects.
	ImmutableStatus bool
	Labels          bool
	Accessories     bool
}

// ArtifactView is an artifact as the API shows it.
type ArtifactView struct {
	meta.Artifact
	Info ArtifactInfo
	// Tags, Labels and Accessories are there when Details asked for them.
	Tags        []TagView
	Labels      []meta.Label
	Accessories []Accessory
}

// ArtifactList is one page of a listing of artifacts of a project.
type ArtifactList struct {
	Project   meta.Project
	Artifacts []ArtifactView
	Total     int64
}

// FindFor resolves an artifact (ref: a tag or a digest) of repository name of a project, after
// checking that the caller in ctx holds a permission in the project (what scanning an artifact
// needs, say).
func (s *Artifacts) FindFor(ctx context.Context, projectName, name, ref string, res rbac.Resource, act rbac.Action) (meta.Project, meta.RepositoryInfo, meta.Manifest, error) {
	return s.find().artifact(ctx, projectName, name, ref, res, act)
}

// List returns one page of the artifacts of repository name of a project.
func (s *Artifacts) List(ctx context.Context, projectName, name string, lq meta.ListQuery, d Details) (ArtifactList, error) {
	p, repo, err := s.find().repository(ctx, projectName, name, rbac.ResArtifact, rbac.ActList)
	if err != nil {
		return ArtifactList{}, err
	}
	return s.list(ctx, p, meta.ArtifactQuery{RepositoryID: repo.ID, List: lq}, d)
}

// ListInProject returns one page of the artifacts of every repository of a project (ref: its
// name, or its id unless byName). latest keeps the latest artifact of each repository; as the
// swagger says, it applies only to listings by media or artifact type (the portal's "latest
// chart of each repository").
func (s *Artifacts) ListInProject(ctx context.Context, ref string, byName bool, lq meta.ListQuery, latest bool, d Details) (ArtifactList, error) {
	p, err := s.Projects.FindFor(ctx, ref, byName, rbac.ResArtifact, rbac.ActList)
	if err != nil {
		return ArtifactList{}, err
	}
	return s.list(ctx, p, meta.ArtifactQuery{ProjectID: p.ID, List: lq, LatestInRepository: latest && lq.NeedsArtMediaType()}, d)
}

func (s *Artifacts) list(ctx context.Context, p meta.Project, aq meta.ArtifactQuery, d Details) (ArtifactList, error) {
	if aq.List.NeedsArtMediaType() {
		if err := s.Registry.FillArtMediaTypes(ctx, aq.RepositoryID, p.ID); err != nil {
			return ArtifactList{}, err
		}
	}
	arts, total, err := s.Store.ListArtifacts(ctx, aq)
	if err != nil {
		return ArtifactList{}, err
	}
	views, err := s.views(ctx, p, arts, d)
	if err != nil {
		return ArtifactList{}, err
	}
	return ArtifactList{Project: p, Artifacts: views, Total: total}, nil
}

// Get returns an artifact (ref: a tag or a digest) of repository name of a project, and the
// project.
func (s *Artifacts) Get(ctx context.Context, projectName, name, ref string, d Details) (meta.Project, ArtifactView, error) {
	p, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResArtifact, rbac.ActRead)
	if err != nil {
		return p, ArtifactView{}, err
	}
	views, err := s.views(ctx, p, []meta.Artifact{{Manifest: m, RepositoryName: repo.Name, ProjectID: p.ID}}, d)
	if err != nil {
		return p, ArtifactView{}, err
	}
	return p, views[0], nil
}

// views describes artifacts of project p with the details asked for.
func (s *Artifacts) views(ctx context.Context, p meta.Project, arts []meta.Artifact, d Details) ([]ArtifactView, error) {
	ids := make([]int64, len(arts))
	for i, a := range arts {
		ids[i] = a.ID
	}
	var tags map[int64][]meta.Tag
	var labels map[int64][]meta.Label
	var err error
	if d.Tags {
		if tags, err = s.Store.TagsOfManifests(ctx, ids); err != nil {
			return nil, err
		}
	}
	if d.Labels {
		if labels, err = s.Store.LabelsOfManifests(ctx, ids); err != nil {
			return nil, err
		}
	}
	// Accessories of a page of artifacts are read in one query per repository.
	var accessories map[int64]map[string][]meta.Manifest
	if d.Accessories {
		digests := map[int64][]string{}
		for _, a := range arts {
			digests[a.RepositoryID] = append(digests[a.RepositoryID], a.Digest)
		}
		accessories = map[int64]map[string][]meta.Manifest{}
		for repoID, ds := range digests {
			if accessories[repoID], err = s.Store.AccessoriesOfMany(ctx, repoID, ds); err != nil {
				return nil, err
			}
		}
	}
	immutable := map[string]func(string) bool{} // by repository, read once per view
	out := make([]ArtifactView, 0, len(arts))
	for _, a := range arts {
		v := ArtifactView{Artifact: a, Labels: labels[a.ID]}
		if v.Info, err = s.Registry.DescribeArtifact(ctx, a.Manifest, true); err != nil {
			return nil, err
		}
		if d.Tags {
			imm := noneImmutable
			if d.ImmutableStatus {
				if imm = immutable[a.RepositoryName]; imm == nil {
					if imm, err = s.Registry.ImmutableTags(ctx, p, a.RepositoryName); err != nil {
						return nil, err
					}
					immutable[a.RepositoryName] = imm
				}
			}
			v.Tags = tagViews(tags[a.ID], imm)
		}
		if d.Accessories {
			if v.Accessories, err = s.describeAccessories(ctx, a.RepositoryName, a.Manifest, accessories[a.RepositoryID][a.Digest]); err != nil {
				return nil, err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Delete deletes an artifact with what belongs to it (see Service.DeleteArtifact). One that an
// index lists is refused with Harbor's VIOLATE_FOREIGN_KEY_CONSTRAINT.
func (s *Artifacts) Delete(ctx context.Context, projectName, name, ref string) error {
	_, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResArtifact, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = s.Registry.DeleteArtifact(ctx, repo.Name, m)
	if errors.Is(err, ErrArtifactReferenced) {
		return fault.WithCode(fault.Precondition, "VIOLATE_FOREIGN_KEY_CONSTRAINT", "%v", err)
	}
	return err
}

// Copy copies the artifact from names ("project/repository:tag" or "project/repository@digest")
// into repository name of a project, with all its tags, as Harbor's copy does; it returns the
// copy. The caller must be allowed to push there and to pull from the source.
func (s *Artifacts) Copy(ctx context.Context, projectName, name, from string) (ArtifactRef, error) {
	dst, dstRepo, err := s.find().repositoryName(ctx, projectName, name, rbac.ResRepository, rbac.ActPush)
	if err != nil {
		return ArtifactRef{}, err
	}
	if from == "" {
		return ArtifactRef{}, fault.Invalidf(`the "from" parameter is required`)
	}
	srcRepo, ref, err := parseFrom(from)
	if err != nil {
		return ArtifactRef{}, err
	}
	srcProject, err := ValidateRepository(srcRepo)
	if err != nil {
		return ArtifactRef{}, fault.Invalidf("invalid repository %q in from", srcRepo)
	}
	if _, err := ValidateRepository(dstRepo); err != nil {
		return ArtifactRef{}, fault.Invalidf("invalid repository name %q", dstRepo)
	}
	if _, err := s.Projects.FindFor(ctx, srcProject, true, rbac.ResRepository, rbac.ActPull); err != nil {
		return ArtifactRef{}, err
	}
	m, err := s.Registry.GetManifest(ctx, srcRepo, ref)
	var re *Error
	if errors.As(err, &re) {
		return ArtifactRef{}, fault.NotFoundf("artifact %s not found", from)
	}
	if err != nil {
		return ArtifactRef{}, err
	}
	// Harbor copies the outermost artifact with all its tags.
	tags, err := s.Store.TagsOfManifests(ctx, []int64{m.ID})
	if err != nil {
		return ArtifactRef{}, err
	}
	names := make([]string, 0, len(tags[m.ID]))
	for _, t := range tags[m.ID] {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	if err := s.Registry.CopyArtifact(ctx, dst, dstRepo, srcRepo, m, names); err != nil {
		return ArtifactRef{}, err
	}
	return ArtifactRef{Repository: dstRepo, Digest: m.Digest}, nil
}

// parseFrom splits copy's "from": "project/repository:tag" or "project/repository@digest" (a
// digest wins when both are given).
func parseFrom(from string) (repo, ref string, err error) {
	if name, d, ok := strings.Cut(from, "@"); ok {
		if _, err := ParseDigest(d); err != nil {
			return "", "", fault.Invalidf("invalid digest in from=%q", from)
		}
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name = name[:i]
		}
		return name, d, nil
	}
	i := strings.LastIndex(from, ":")
	if i < 0 || i < strings.LastIndex(from, "/") {
		return "", "", fault.Invalidf(`invalid from=%q: want "project/repository:tag" or "project/repository@digest"`, from)
	}
	if !ValidTag(from[i+1:]) {
		return "", "", fault.Invalidf("invalid tag in from=%q", from)
	}
	return from[:i], from[i+1:], nil
}

// Additions that the scan reports of an artifact are.
const (
	AdditionVulnerabilities = "vulnerabilities"
	AdditionSBOM            = "sbom"
)

// Addition is one addition of an artifact: its content or, for the additions that are scan
// reports (FromScan: vulnerabilities, sbom), the artifact whose report the scan service serves.
type Addition struct {
	Name        string
	Project     meta.Project
	Repository  string
	Artifact    meta.Manifest
	Content     []byte
	ContentType string
	FromScan    bool
}

// Unavailable is the refusal of an addition the artifact does not have.
func (a Addition) Unavailable() error {
	return fault.NotFoundf("addition %s is not available for artifact %s@%s", a.Name, a.Repository, a.Artifact.Digest)
}

// Addition returns an addition of an artifact (ref: a tag or a digest) of repository name of a
// project: build_history of images, vulnerabilities of images and sbom (see FromScan), and
// values.yaml, readme.md and dependencies of charts.
func (s *Artifacts) Addition(ctx context.Context, projectName, name, ref, addition string) (Addition, error) {
	p, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResArtifact, rbac.ActRead)
	if err != nil {
		return Addition{}, err
	}
	a := Addition{Name: addition, Project: p, Repository: repo.Name, Artifact: m}
	var ok bool
	switch addition {
	case AdditionBuildHistory:
		a.Content, ok, err = s.Registry.BuildHistory(ctx, m)
		a.ContentType = "application/json; charset=utf-8"
	case AdditionVulnerabilities:
		var info ArtifactInfo
		info, err = s.Registry.DescribeArtifact(ctx, m, false)
		ok, a.FromScan = info.Type == ArtifactTypeImage, true
	case AdditionSBOM:
		ok, a.FromScan = true, true
	case AdditionValues, AdditionReadme, AdditionDependencies:
		a.Content, a.ContentType, ok, err = s.Registry.ChartAddition(ctx, m, addition)
	}
	if err != nil {
		return Addition{}, err
	}
	if !ok {
		return Addition{}, a.Unavailable()
	}
	return a, nil
}

// AddLabel attaches a label to an artifact: a global label, or one of the artifact's project.
func (s *Artifacts) AddLabel(ctx context.Context, projectName, name, ref string, labelID int64) error {
	p, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResArtifactLabel, rbac.ActCreate)
	if err != nil {
		return err
	}
	if labelID <= 0 {
		return fault.Invalidf("the id of the label to add is required")
	}
	l, err := s.Store.LabelByID(ctx, labelID)
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("label %d not found", labelID)
	}
	if err != nil {
		return err
	}
	if l.Scope == meta.LabelScopeProject && l.ProjectID != p.ID {
		return fault.Invalidf("label %d belongs to another project: only global labels and labels of project %s can be added", l.ID, p.Name)
	}
	err = s.Store.AttachLabel(ctx, m.ID, l.ID)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return fault.Conflictf("label %d is already added to the artifact %s@%s", l.ID, repo.Name, m.Digest)
	case errors.Is(err, meta.ErrNotFound):
		return fault.NotFoundf("artifact %s@%s or label %d not found", repo.Name, m.Digest, l.ID)
	}
	return err
}

// RemoveLabel detaches a label from an artifact.
func (s *Artifacts) RemoveLabel(ctx context.Context, projectName, name, ref string, labelID int64) error {
	_, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResArtifactLabel, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = s.Store.DetachLabel(ctx, m.ID, labelID)
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("label %d is not added to the artifact %s@%s", labelID, repo.Name, m.Digest)
	}
	return err
}

// ErrArtifactReferenced refuses to delete an artifact that an index lists.
var ErrArtifactReferenced = errors.New("the deleting artifact is referenced by others")

// DeleteArtifact deletes an artifact as Harbor's API does: the manifest and its tags, then its
// accessories, then those of its index children that nothing else uses (untagged and listed by
// no other index). Every manifest goes through DeleteManifest, so /v2/'s rules, accounting and
// events apply to each. An artifact an index lists is refused with ErrArtifactReferenced, one
// with an immutable tag with *ImmutableError.
func (s *Service) DeleteArtifact(ctx context.Context, repo string, m meta.Manifest) error {
	parents, err := s.DB.ParentDigests(ctx, m.ID)
	if err != nil {
		return err
	}
	if len(parents) > 0 {
		return ErrArtifactReferenced
	}
	return s.deleteDeeply(ctx, repo, m, true, 0)
}

func (s *Service) deleteDeeply(ctx context.Context, repo string, m meta.Manifest, root bool, depth int) error {
	accessories, err := s.DB.Accessories(ctx, m.RepositoryID, m.Digest)
	if err != nil {
		return err
	}
	var children []string
	if IsIndex(m.MediaType) {
		doc, err := decodeDoc(m)
		if err != nil {
			return err
		}
		for _, e := range doc.Manifests {
			children = append(children, e.Digest)
		}
	}
	if err := s.DeleteManifest(ctx, repo, m.Digest); err != nil {
		var ie *ImmutableError
		if errors.As(err, &ie) {
			if root {
				return err
			}
			return nil // an accessory with an immutable tag (cosign's legacy signature) stays
		}
		var re *Error
		if errors.As(err, &re) && re.Code == CodePrecondition {
			if root {
				return ErrArtifactReferenced
			}
			return nil // another index still lists it: it stays
		}
		if errors.As(err, &re) && re.Code == CodeManifestUnknown && !root {
			return nil // deleted meanwhile
		}
		return err
	}
	if depth >= maxIndexDepth {
		return nil
	}
	for _, a := range accessories {
		if err := s.deleteDeeply(ctx, repo, a, false, depth+1); err != nil {
			return err
		}
	}
	if len(children) == 0 {
		return nil
	}
	byDigest, err := s.DB.ManifestsByDigests(ctx, m.RepositoryID, children)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(byDigest))
	for _, c := range byDigest {
		ids = append(ids, c.ID)
	}
	tags, err := s.DB.TagsOfManifests(ctx, ids)
	if err != nil {
		return err
	}
	for _, d := range dedupeStrings(children) {
		c, ok := byDigest[d]
		if !ok || len(tags[c.ID]) > 0 {
			continue // a tagged child is an artifact of its own
		}
		if err := s.deleteDeeply(ctx, repo, c, false, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func dedupeStrings(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
