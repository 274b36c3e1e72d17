package api

// Repositories, artifacts, tags, accessories, additions and artifact labels: the content views
// of Harbor's API (swagger tags "repository" and "artifact"). Content itself is written by the
// registry service, whose rules /v2/ shares; these handlers show it the way Harbor does and
// route every change back through that service.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
)

// artifactRoutes registers the endpoints for repositories, artifacts, tags.
func (h *Handler) artifactRoutes(r route) {
	r("GET /repositories", h.listAllRepositories)
	r("GET /projects/{project_name}/repositories", h.listRepositories)
	const repo = "/projects/{project_name}/repositories/{repository_name}"
	r("GET "+repo, h.getRepository)
	r("PUT "+repo, h.updateRepository)
	r("DELETE "+repo, h.deleteRepository)
	const art = repo + "/artifacts"
	r("GET "+art, h.listArtifacts)
	r("POST "+art, h.copyArtifact)
	r("GET "+art+"/{reference}", h.getArtifact)
	r("DELETE "+art+"/{reference}", h.deleteArtifact)
	r("GET "+art+"/{reference}/tags", h.listTags)
	r("POST "+art+"/{reference}/tags", h.createTag)
	r("DELETE "+art+"/{reference}/tags/{tag_name}", h.deleteTag)
	r("GET "+art+"/{reference}/accessories", h.listAccessories)
	r("GET "+art+"/{reference}/additions/{addition}", h.getAddition)
	r("POST "+art+"/{reference}/labels", h.addArtifactLabel)
	r("DELETE "+art+"/{reference}/labels/{label_id}", h.removeArtifactLabel)
	r("GET /projects/{project_name_or_id}/artifacts", h.listProjectArtifacts)
}

// JSON shapes (swagger definitions Repository, Artifact, Tag, Reference, Platform, Accessory).

type repositoryJSON struct {
	ID            int64  `json:"id"`
	ProjectID     int64  `json:"project_id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	ArtifactCount int64  `json:"artifact_count"`
	PullCount     int64  `json:"pull_count"`
	CreationTime  string `json:"creation_time"`
	UpdateTime    string `json:"update_time"`
}

// repositoryReq is the Repository definition as a request: only description is used.
type repositoryReq struct {
	ID            int64  `json:"id"`
	ProjectID     int64  `json:"project_id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	ArtifactCount int64  `json:"artifact_count"`
	PullCount     int64  `json:"pull_count"`
	CreationTime  string `json:"creation_time"`
	UpdateTime    string `json:"update_time"`
}

type tagJSON struct {
	ID           int64  `json:"id"`
	RepositoryID int64  `json:"repository_id"`
	ArtifactID   int64  `json:"artifact_id"`
	Name         string `json:"name"`
	PushTime     string `json:"push_time"`
	PullTime     string `json:"pull_time"`
	Immutable    bool   `json:"immutable"`
}

type additionLink struct {
	Href     string `json:"href"`
	Absolute bool   `json:"absolute"`
}

type referenceJSON struct {
	ParentID    int64             `json:"parent_id"`
	ChildID     int64             `json:"child_id"`
	ChildDigest string            `json:"child_digest"`
	Platform    *platformJSON     `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	URLs        []string          `json:"urls,omitempty"`
}

// platformJSON writes the swagger's Platform, whose property names carry quotes ("'os.version'",
// "'os.features'"): that is what Harbor's generated clients read.
type platformJSON registry.Platform

func (p platformJSON) MarshalJSON() ([]byte, error) {
	m := map[string]any{"architecture": p.Architecture, "os": p.OS}
	if p.OSVersion != "" {
		m["'os.version'"] = p.OSVersion
	}
	if len(p.OSFeatures) > 0 {
		m["'os.features'"] = p.OSFeatures
	}
	if p.Variant != "" {
		m["variant"] = p.Variant
	}
	return json.Marshal(m)
}

type accessoryJSON struct {
	ID                    int64  `json:"id"`
	ArtifactID            int64  `json:"artifact_id"`
	SubjectArtifactID     int64  `json:"subject_artifact_id"`
	SubjectArtifactDigest string `json:"subject_artifact_digest"`
	SubjectArtifactRepo   string `json:"subject_artifact_repo"`
	Size                  int64  `json:"size"`
	Digest                string `json:"digest"`
	Type                  string `json:"type"`
	Icon                  string `json:"icon"`
	CreationTime          string `json:"creation_time"`
}

// artifactJSON is Harbor's Artifact. Collections the caller asked for (with_tag, with_label,
// with_accessory) are always present, empty or not; the others are left out.
type artifactJSON struct {
	ID                int64                   `json:"id"`
	Type              string                  `json:"type"`
	MediaType         string                  `json:"media_type"`
	ManifestMediaType string                  `json:"manifest_media_type"`
	ArtifactType      string                  `json:"artifact_type"`
	ProjectID         int64                   `json:"project_id"`
	RepositoryID      int64                   `json:"repository_id"`
	RepositoryName    string                  `json:"repository_name"`
	Digest            string                  `json:"digest"`
	Size              int64                   `json:"size"`
	PushTime          string                  `json:"push_time"`
	PullTime          string                  `json:"pull_time"`
	ExtraAttrs        json.RawMessage         `json:"extra_attrs,omitempty"`
	Annotations       map[string]string       `json:"annotations,omitempty"`
	References        []referenceJSON         `json:"references,omitempty"`
	Tags              *[]tagJSON              `json:"tags,omitempty"`
	AdditionLinks     map[string]additionLink `json:"addition_links,omitempty"`
	Labels            *[]labelJSON            `json:"labels,omitempty"`
	ScanOverview      *map[string]any         `json:"scan_overview,omitempty"`
	SBOMOverview      map[string]any          `json:"sbom_overview,omitempty"`
	Accessories       *[]accessoryJSON        `json:"accessories,omitempty"`
}

func toRepositoryJSON(r meta.RepositoryInfo) repositoryJSON {
	return repositoryJSON{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Description: r.Description, ArtifactCount: r.ArtifactCount,
		PullCount: r.PullCount, CreationTime: harborTime(r.CreatedAt), UpdateTime: harborTime(r.UpdatedAt)}
}

// noneImmutable is the immutability test of listings that do not ask (with_immutable_status).
func noneImmutable(string) bool { return false }

func toTagJSON(t meta.Tag) tagJSON {
	return tagJSON{ID: t.ID, RepositoryID: t.RepositoryID, ArtifactID: t.ManifestID, Name: t.Name,
		PushTime: harborTime(t.PushedAt), PullTime: harborTime(t.PulledAt)}
}

// artifactPath is the API path of an artifact: the repository name relative to its project,
// double-encoded as Harbor's clients expect.
func artifactPath(repo, digest string) string {
	project, rest, _ := strings.Cut(repo, "/")
	return base + "/projects/" + project + "/repositories/" + url.PathEscape(url.PathEscape(rest)) + "/artifacts/" + digest
}

// Resolution of path parameters.

// repoCall is the project and full repository name ("project/name") a path addresses.
func (h *Handler) repoCall(c *call, res rbac.Resource, act rbac.Action) (meta.Project, string, error) {
	p, err := h.projectByName(c, pathValue(c, "project_name"))
	if err != nil {
		return p, "", err
	}
	if err := h.authorize(c, p, res, act); err != nil {
		return p, "", err
	}
	name := pathValue(c, "repository_name")
	if name == "" {
		return p, "", badRequest("repository name is required")
	}
	return p, p.Name + "/" + name, nil
}

// repository resolves the addressed repository after checking the permission.
func (h *Handler) repository(c *call, res rbac.Resource, act rbac.Action) (meta.Project, meta.RepositoryInfo, error) {
	p, name, err := h.repoCall(c, res, act)
	if err != nil {
		return p, meta.RepositoryInfo{}, err
	}
	repo, err := h.DB.RepositoryInfoByName(c.r.Context(), name)
	if errors.Is(err, meta.ErrNotFound) {
		return p, repo, notFound(fmt.Sprintf("repository %s not found", name))
	}
	return p, repo, err
}

// artifact resolves the addressed artifact (reference: tag or digest) after checking the
// permission.
func (h *Handler) artifact(c *call, res rbac.Resource, act rbac.Action) (meta.Project, meta.RepositoryInfo, meta.Manifest, error) {
	p, repo, err := h.repository(c, res, act)
	if err != nil {
		return p, repo, meta.Manifest{}, err
	}
	ref := pathValue(c, "reference")
	m, err := h.Reg.GetManifest(c.r.Context(), repo.Name, ref)
	if err != nil {
		var re *registry.Error
		if errors.As(err, &re) && re.Code == registry.CodeDigestInvalid {
			return p, repo, m, badRequest(re.Message)
		}
		if errors.As(err, &re) {
			sep := ":"
			if registry.IsDigest(ref) {
				sep = "@"
			}
			return p, repo, m, notFound(fmt.Sprintf("artifact %s%s%s not found", repo.Name, sep, ref))
		}
	}
	return p, repo, m, err
}

// registryError answers the registry's rule violations in Harbor's API shape.
func registryError(err error) error {
	var ie *registry.ImmutableError
	if errors.As(err, &ie) {
		verb := "updated"
		if ie.Delete {
			verb = "deleted"
		}
		return precondition(fmt.Sprintf("the tag %s configured as immutable, cannot be %s", ie.Tag, verb))
	}
	var re *registry.Error
	if !errors.As(err, &re) {
		return err
	}
	switch re.Code {
	case registry.CodeDenied:
		return &Error{http.StatusForbidden, "DENIED", re.Message}
	case registry.CodeNameUnknown, registry.CodeManifestUnknown, registry.CodeBlobUnknown, registry.CodeManifestBlobUnknown:
		return notFound(re.Message)
	case registry.CodePrecondition:
		return precondition(re.Message)
	case registry.CodeTooLarge:
		return &Error{http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE", re.Message}
	case registry.CodeUnauthorized:
		return unauthorized()
	}
	return badRequest(re.Message)
}

// Repositories.

func (h *Handler) listAllRepositories(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	repos, total, err := h.DB.ListRepositories(c.r.Context(), meta.RepositoryQuery{Visibility: rbac.Visibility(c.p), List: lq})
	if err != nil {
		return err
	}
	return writeRepositories(c, repos, page, lq.Limit, total)
}

func (h *Handler) listRepositories(c *call) error {
	p, err := h.projectByName(c, pathValue(c, "project_name"))
	if err != nil {
		return err
	}
	if err := h.authorize(c, p, rbac.ResRepository, rbac.ActList); err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	repos, total, err := h.DB.ListRepositories(c.r.Context(), meta.RepositoryQuery{ProjectID: p.ID, Visibility: meta.ProjectVisibility{All: true}, List: lq})
	if err != nil {
		return err
	}
	return writeRepositories(c, repos, page, lq.Limit, total)
}

func writeRepositories(c *call, repos []meta.RepositoryInfo, page, size int, total int64) error {
	out := make([]repositoryJSON, 0, len(repos))
	for _, r := range repos {
		out = append(out, toRepositoryJSON(r))
	}
	setPageHeaders(c.w, c.r, page, size, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) getRepository(c *call) error {
	_, repo, err := h.repository(c, rbac.ResRepository, rbac.ActRead)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toRepositoryJSON(repo))
	return nil
}

func (h *Handler) updateRepository(c *call) error {
	_, repo, err := h.repository(c, rbac.ResRepository, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var req repositoryReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	// As Harbor: the description is replaced by the one sent (empty when none is).
	if err := h.DB.SetRepositoryDescription(c.r.Context(), repo.ID, req.Description); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return notFound(fmt.Sprintf("repository %s not found", repo.Name))
		}
		return err
	}
	return ok(c)
}

// maxDeleteRounds bounds how often a repository deletion goes back for content pushed while it
// ran.
const maxDeleteRounds = 100

func (h *Handler) deleteRepository(c *call) error {
	p, repo, err := h.repository(c, rbac.ResRepository, rbac.ActDelete)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	if err := h.Reg.CheckRepositoryDeletable(ctx, p, repo.Name); err != nil {
		return registryError(err)
	}
	// Artifacts go one by one through the registry's DeleteManifest (the same rules, storage
	// accounting and audit as /v2/), indexes before the children they list; then the empty
	// repository.
	for round := 0; ; round++ {
		digests, err := h.DB.RootManifestDigests(ctx, repo.ID, 500)
		if err != nil {
			return err
		}
		for _, d := range digests {
			if err := h.Reg.DeleteManifest(ctx, repo.Name, d); err != nil {
				var ie *registry.ImmutableError
				if errors.As(err, &ie) {
					return registryError(err)
				}
				var re *registry.Error
				if errors.As(err, &re) && (re.Code == registry.CodeManifestUnknown || re.Code == registry.CodePrecondition) {
					continue // deleted, or listed by an index pushed meanwhile: the next round sees it
				}
				return registryError(err)
			}
		}
		if len(digests) > 0 && round < maxDeleteRounds {
			continue
		}
		err = h.DB.DeleteEmptyRepository(ctx, repo.ID)
		switch {
		case err == nil:
			h.audit(c, p.ID, "delete", "repository", repo.Name)
			return ok(c)
		case errors.Is(err, meta.ErrNotFound):
			return notFound(fmt.Sprintf("repository %s not found", repo.Name))
		case errors.Is(err, meta.ErrNotEmpty) && round < maxDeleteRounds:
			continue
		case errors.Is(err, meta.ErrNotEmpty):
			return conflict(fmt.Sprintf("repository %s is receiving new content; try again", repo.Name))
		default:
			return err
		}
	}
}

// Artifacts.

// artifactOpts are the with_* parameters of artifact reads.
type artifactOpts struct {
	tags, labels, scanOverview, sbomOverview, accessories, immutable bool
}

func artifactOptions(c *call) (artifactOpts, error) {
	var o artifactOpts
	var err error
	if o.tags, err = boolParam(c, "with_tag", true); err != nil {
		return o, err
	}
	if o.labels, err = boolParam(c, "with_label", false); err != nil {
		return o, err
	}
	if o.scanOverview, err = boolParam(c, "with_scan_overview", false); err != nil {
		return o, err
	}
	if o.accessories, err = boolParam(c, "with_accessory", false); err != nil {
		return o, err
	}
	if o.immutable, err = boolParam(c, "with_immutable_status", false); err != nil {
		return o, err
	}
	if o.sbomOverview, err = boolParam(c, "with_sbom_overview", false); err != nil {
		return o, err
	}
	// Accepted for compatibility; they change nothing Berth shows: signatures are
	// accessories, and accessories of parent indexes are not inherited.
	for _, name := range []string{"with_signature", "with_inherited_accessory", "latest_in_repository"} {
		if _, err := boolParam(c, name, false); err != nil {
			return o, err
		}
	}
	return o, nil
}

// artifactsJSON describes artifacts of project p the way Harbor's API shows them.
func (h *Handler) artifactsJSON(c *call, p meta.Project, arts []meta.Artifact, o artifactOpts) ([]artifactJSON, error) {
	ctx := c.r.Context()
	ids := make([]int64, len(arts))
	for i, a := range arts {
		ids[i] = a.ID
	}
	var tags map[int64][]meta.Tag
	var labels map[int64][]meta.Label
	var err error
	if o.tags {
		if tags, err = h.DB.TagsOfManifests(ctx, ids); err != nil {
			return nil, err
		}
	}
	if o.labels {
		if labels, err = h.DB.LabelsOfManifests(ctx, ids); err != nil {
			return nil, err
		}
	}
	immutable := map[string]func(string) bool{} // by repository
	var reports map[string]map[string]meta.ScanReport
	if o.scanOverview || o.sbomOverview {
		digests := make([]string, len(arts))
		for i, a := range arts {
			digests[i] = a.Digest
		}
		if reports, err = h.scanOverviews(c, p, digests); err != nil {
			return nil, err
		}
	}
	out := make([]artifactJSON, 0, len(arts))
	for _, a := range arts {
		info, err := h.Reg.DescribeArtifact(ctx, a.Manifest, true)
		if err != nil {
			return nil, err
		}
		j := artifactJSON{
			ID: a.ID, Type: info.Type, MediaType: info.MediaType, ManifestMediaType: a.MediaType, ArtifactType: info.ArtifactType,
			ProjectID: a.ProjectID, RepositoryID: a.RepositoryID, RepositoryName: a.RepositoryName, Digest: a.Digest,
			Size: info.Size, PushTime: harborTime(a.CreatedAt), PullTime: harborTime(a.PulledAt),
			ExtraAttrs: info.ExtraAttrs, Annotations: info.Annotations,
		}
		for _, r := range info.References {
			rj := referenceJSON{ParentID: a.ID, ChildID: r.ChildID, ChildDigest: r.ChildDigest, Annotations: r.Annotations, URLs: r.URLs}
			if r.Platform != nil {
				p := platformJSON(*r.Platform)
				rj.Platform = &p
			}
			j.References = append(j.References, rj)
		}
		links := map[string]additionLink{}
		for _, name := range info.Additions {
			links[name] = additionLink{Href: artifactPath(a.RepositoryName, a.Digest) + "/additions/" + name}
		}
		if info.Type == registry.ArtifactTypeImage {
			links["vulnerabilities"] = additionLink{Href: artifactPath(a.RepositoryName, a.Digest) + "/additions/vulnerabilities"}
		}
		if len(links) > 0 {
			j.AdditionLinks = links
		}
		if o.tags {
			imm := noneImmutable
			if o.immutable {
				if imm = immutable[a.RepositoryName]; imm == nil {
					if imm, err = h.Reg.ImmutableTags(ctx, p, a.RepositoryName); err != nil {
						return nil, err
					}
					immutable[a.RepositoryName] = imm
				}
			}
			ts := make([]tagJSON, 0, len(tags[a.ID]))
			for _, t := range tags[a.ID] {
				tj := toTagJSON(t)
				tj.Immutable = imm(t.Name)
				ts = append(ts, tj)
			}
			j.Tags = &ts
		}
		if o.labels {
			ls := make([]labelJSON, 0, len(labels[a.ID]))
			for _, l := range labels[a.ID] {
				ls = append(ls, toLabelJSON(l))
			}
			j.Labels = &ls
		}
		if o.scanOverview {
			ov := vulnOverview(c, reports[a.Digest])
			j.ScanOverview = &ov
		}
		if o.sbomOverview {
			j.SBOMOverview = sbomOverview(reports[a.Digest])
		}
		if o.accessories {
			accs, err := h.accessories(c, a.RepositoryName, a.Manifest)
			if err != nil {
				return nil, err
			}
			j.Accessories = &accs
		}
		out = append(out, j)
	}
	return out, nil
}

// accessories lists the accessories of an artifact, oldest first.
func (h *Handler) accessories(c *call, repoName string, m meta.Manifest) ([]accessoryJSON, error) {
	ms, err := h.DB.Accessories(c.r.Context(), m.RepositoryID, m.Digest)
	if err != nil {
		return nil, err
	}
	out := make([]accessoryJSON, 0, len(ms))
	for _, a := range ms {
		info, err := h.Reg.DescribeArtifact(c.r.Context(), a, false)
		if err != nil {
			return nil, err
		}
		out = append(out, accessoryJSON{
			ID: a.ID, ArtifactID: a.ID, SubjectArtifactID: m.ID, SubjectArtifactDigest: m.Digest, SubjectArtifactRepo: repoName,
			Size: info.Size, Digest: a.Digest, Type: registry.AccessoryType(a, m.Digest), CreationTime: harborTime(a.CreatedAt),
		})
	}
	return out, nil
}

func (h *Handler) listArtifacts(c *call) error {
	p, repo, err := h.repository(c, rbac.ResArtifact, rbac.ActList)
	if err != nil {
		return err
	}
	o, err := artifactOptions(c)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	if lq.NeedsArtMediaType() {
		if err := h.Reg.FillArtMediaTypes(c.r.Context(), repo.ID, p.ID); err != nil {
			return err
		}
	}
	arts, total, err := h.DB.ListArtifacts(c.r.Context(), meta.ArtifactQuery{RepositoryID: repo.ID, List: lq})
	if err != nil {
		return err
	}
	return h.writeArtifacts(c, p, arts, o, page, lq.Limit, total)
}

func (h *Handler) listProjectArtifacts(c *call) error {
	p, err := h.project(c, pathValue(c, "project_name_or_id"))
	if err != nil {
		return err
	}
	if err := h.authorize(c, p, rbac.ResArtifact, rbac.ActList); err != nil {
		return err
	}
	o, err := artifactOptions(c)
	if err != nil {
		return err
	}
	latest, err := boolParam(c, "latest_in_repository", false)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	// As the swagger says, latest_in_repository applies only to listings by media or artifact
	// type (the portal's "latest chart of each repository").
	latest = latest && lq.NeedsArtMediaType()
	if lq.NeedsArtMediaType() {
		if err := h.Reg.FillArtMediaTypes(c.r.Context(), 0, p.ID); err != nil {
			return err
		}
	}
	arts, total, err := h.DB.ListArtifacts(c.r.Context(), meta.ArtifactQuery{ProjectID: p.ID, List: lq, LatestInRepository: latest})
	if err != nil {
		return err
	}
	return h.writeArtifacts(c, p, arts, o, page, lq.Limit, total)
}

func (h *Handler) writeArtifacts(c *call, p meta.Project, arts []meta.Artifact, o artifactOpts, page, size int, total int64) error {
	out, err := h.artifactsJSON(c, p, arts, o)
	if err != nil {
		return err
	}
	setPageHeaders(c.w, c.r, page, size, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) getArtifact(c *call) error {
	p, repo, m, err := h.artifact(c, rbac.ResArtifact, rbac.ActRead)
	if err != nil {
		return err
	}
	o, err := artifactOptions(c)
	if err != nil {
		return err
	}
	if _, _, err := pagination(c.r.URL.Query()); err != nil {
		return err
	}
	out, err := h.artifactsJSON(c, p, []meta.Artifact{{Manifest: m, RepositoryName: repo.Name, ProjectID: p.ID}}, o)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, out[0])
	return nil
}

func (h *Handler) deleteArtifact(c *call) error {
	_, repo, m, err := h.artifact(c, rbac.ResArtifact, rbac.ActDelete)
	if err != nil {
		return err
	}
	// The registry records each deleted manifest in the audit log, as it does for /v2/.
	err = h.Reg.DeleteArtifact(c.r.Context(), repo.Name, m)
	if errors.Is(err, registry.ErrArtifactReferenced) {
		return &Error{http.StatusPreconditionFailed, "VIOLATE_FOREIGN_KEY_CONSTRAINT", err.Error()}
	}
	if err != nil {
		return registryError(err)
	}
	return ok(c)
}

// parseFrom splits copy's "from" parameter: "project/repository:tag" or
// "project/repository@digest" (a digest wins when both are given).
func parseFrom(from string) (repo, ref string, err error) {
	if name, d, ok := strings.Cut(from, "@"); ok {
		if _, err := registry.ParseDigest(d); err != nil {
			return "", "", badRequest(fmt.Sprintf("invalid digest in from=%q", from))
		}
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name = name[:i]
		}
		return name, d, nil
	}
	i := strings.LastIndex(from, ":")
	if i < 0 || i < strings.LastIndex(from, "/") {
		return "", "", badRequest(fmt.Sprintf(`invalid from=%q: want "project/repository:tag" or "project/repository@digest"`, from))
	}
	if !registry.ValidTag(from[i+1:]) {
		return "", "", badRequest(fmt.Sprintf("invalid tag in from=%q", from))
	}
	return from[:i], from[i+1:], nil
}

func (h *Handler) copyArtifact(c *call) error {
	dst, dstRepo, err := h.repoCall(c, rbac.ResRepository, rbac.ActPush)
	if err != nil {
		return err
	}
	from := c.r.URL.Query().Get("from")
	if from == "" {
		return badRequest(`the "from" parameter is required`)
	}
	srcRepo, ref, err := parseFrom(from)
	if err != nil {
		return err
	}
	srcProject, err := registry.ValidateRepository(srcRepo)
	if err != nil {
		return badRequest(fmt.Sprintf("invalid repository %q in from", srcRepo))
	}
	if _, err := registry.ValidateRepository(dstRepo); err != nil {
		return badRequest(fmt.Sprintf("invalid repository name %q", dstRepo))
	}
	sp, err := h.projectByName(c, srcProject)
	if err != nil {
		return err
	}
	if err := h.authorize(c, sp, rbac.ResRepository, rbac.ActPull); err != nil {
		return err
	}
	ctx := c.r.Context()
	m, err := h.Reg.GetManifest(ctx, srcRepo, ref)
	if err != nil {
		var re *registry.Error
		if errors.As(err, &re) {
			return notFound(fmt.Sprintf("artifact %s not found", from))
		}
		return err
	}
	// Harbor copies the outermost artifact with all its tags.
	tags, err := h.DB.TagsOfManifests(ctx, []int64{m.ID})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(tags[m.ID]))
	for _, t := range tags[m.ID] {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	if err := h.Reg.CopyArtifact(ctx, dst, dstRepo, srcRepo, m, names); err != nil {
		return registryError(err)
	}
	return created(c, artifactPath(dstRepo, m.Digest))
}

// Tags.

func (h *Handler) listTags(c *call) error {
	p, repo, m, err := h.artifact(c, rbac.ResTag, rbac.ActList)
	if err != nil {
		return err
	}
	withImmutable, err := boolParam(c, "with_immutable_status", false)
	if err != nil {
		return err
	}
	imm := noneImmutable
	if withImmutable {
		if imm, err = h.Reg.ImmutableTags(c.r.Context(), p, repo.Name); err != nil {
			return err
		}
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	tags, total, err := h.DB.ListManifestTags(c.r.Context(), m.ID, lq)
	if err != nil {
		return err
	}
	out := make([]tagJSON, 0, len(tags))
	for _, t := range tags {
		tj := toTagJSON(t)
		tj.Immutable = imm(t.Name)
		out = append(out, tj)
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) createTag(c *call) error {
	p, repo, m, err := h.artifact(c, rbac.ResTag, rbac.ActCreate)
	if err != nil {
		return err
	}
	var req struct {
		Name *string `json:"name"`
	}
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.Name == nil || *req.Name == "" {
		return badRequest("name is required")
	}
	name := *req.Name
	if !registry.ValidTag(name) {
		return badRequest(fmt.Sprintf("invalid tag name %q: must match ^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$", name))
	}
	_, err = h.DB.CreateTag(c.r.Context(), repo.ID, m.ID, name)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("tag %s already exists under the repository %s", name, repo.Name))
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("artifact %s@%s not found", repo.Name, m.Digest))
	case err != nil:
		return err
	}
	h.audit(c, p.ID, "create", "tag", repo.Name+":"+name)
	return created(c, artifactPath(repo.Name, m.Digest)+"/tags/"+name)
}

func (h *Handler) deleteTag(c *call) error {
	p, repo, m, err := h.artifact(c, rbac.ResTag, rbac.ActDelete)
	if err != nil {
		return err
	}
	name := pathValue(c, "tag_name")
	err = h.Reg.DeleteArtifactTag(c.r.Context(), p, repo.Name, m, name)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("tag %s not found on artifact %s@%s", name, repo.Name, m.Digest))
	}
	if err != nil {
		return registryError(err)
	}
	h.audit(c, p.ID, "delete", "tag", repo.Name+":"+name)
	return ok(c)
}

// Accessories.

func (h *Handler) listAccessories(c *call) error {
	_, repo, m, err := h.artifact(c, rbac.ResAccessory, rbac.ActList)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	all, err := h.accessories(c, repo.Name, m)
	if err != nil {
		return err
	}
	// An artifact has a handful of accessories: filter, sort and page them here.
	matched, err := filterAccessories(all, lq)
	if err != nil {
		return err
	}
	total := int64(len(matched))
	lo := min(lq.Offset, len(matched))
	hi := min(lo+lq.Limit, len(matched))
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, matched[lo:hi])
	return nil
}

// filterAccessories applies q (type, digest: exact, fuzzy or any-of) and sort (creation_time,
// newest first by default).
func filterAccessories(in []accessoryJSON, lq meta.ListQuery) ([]accessoryJSON, error) {
	out := make([]accessoryJSON, 0, len(in))
	for _, a := range in {
		keep := true
		for _, f := range lq.Filters {
			var v string
			switch f.Key {
			case "type":
				v = a.Type
			case "digest":
				v = a.Digest
			default:
				return nil, badRequest(fmt.Sprintf("cannot filter accessories by %q", f.Key))
			}
			switch f.Op {
			case meta.OpExact:
				keep = keep && v == f.Values[0]
			case meta.OpFuzzy:
				keep = keep && strings.Contains(strings.ToLower(v), strings.ToLower(f.Values[0]))
			case meta.OpAny:
				found := false
				for _, x := range f.Values {
					found = found || v == x
				}
				keep = keep && found
			default:
				return nil, badRequest(fmt.Sprintf("%s can be matched exactly, fuzzily or by any of several values", f.Key))
			}
		}
		if keep {
			out = append(out, a)
		}
	}
	desc := true
	for _, s := range lq.Sort {
		if s.Key != "creation_time" {
			return nil, badRequest(fmt.Sprintf("cannot sort accessories by %q", s.Key))
		}
		desc = s.Desc
	}
	sort.SliceStable(out, func(i, j int) bool {
		if desc {
			return out[i].ID > out[j].ID
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Additions.

func (h *Handler) getAddition(c *call) error {
	p, repo, m, err := h.artifact(c, rbac.ResArtifact, rbac.ActRead)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	addition := pathValue(c, "addition")
	notAvailable := notFound(fmt.Sprintf("addition %s is not available for artifact %s@%s", addition, repo.Name, m.Digest))
	switch addition {
	case registry.AdditionBuildHistory:
		history, ok, err := h.Reg.BuildHistory(ctx, m)
		if err != nil {
			return err
		}
		if !ok {
			return notAvailable
		}
		c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		c.w.WriteHeader(http.StatusOK)
		c.w.Write(history)
		return nil
	case "vulnerabilities":
		info, err := h.Reg.DescribeArtifact(ctx, m, false)
		if err != nil {
			return err
		}
		if info.Type != registry.ArtifactTypeImage {
			return notAvailable
		}
		return h.vulnerabilitiesAddition(c, p, m)
	case "sbom":
		return h.sbomAddition(c, p, m, notAvailable)
	case registry.AdditionValues, registry.AdditionReadme, registry.AdditionDependencies:
		content, contentType, ok, err := h.Reg.ChartAddition(ctx, m, addition)
		if err != nil {
			return err
		}
		if !ok {
			return notAvailable
		}
		c.w.Header().Set("Content-Type", contentType)
		c.w.WriteHeader(http.StatusOK)
		c.w.Write(content)
		return nil
	}
	return notAvailable
}

// Artifact labels.

func (h *Handler) addArtifactLabel(c *call) error {
	p, repo, m, err := h.artifact(c, rbac.ResArtifactLabel, rbac.ActCreate)
	if err != nil {
		return err
	}
	var req labelJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.ID <= 0 {
		return badRequest("the id of the label to add is required")
	}
	l, err := h.DB.LabelByID(c.r.Context(), req.ID)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("label %d not found", req.ID))
	}
	if err != nil {
		return err
	}
	if l.Scope == meta.LabelScopeProject && l.ProjectID != p.ID {
		return badRequest(fmt.Sprintf("label %d belongs to another project: only global labels and labels of project %s can be added", l.ID, p.Name))
	}
	err = h.DB.AttachLabel(c.r.Context(), m.ID, l.ID)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("label %d is already added to the artifact %s@%s", l.ID, repo.Name, m.Digest))
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("artifact %s@%s or label %d not found", repo.Name, m.Digest, l.ID))
	case err != nil:
		return err
	}
	return ok(c)
}

func (h *Handler) removeArtifactLabel(c *call) error {
	_, repo, m, err := h.artifact(c, rbac.ResArtifactLabel, rbac.ActDelete)
	if err != nil {
		return err
	}
	raw := c.r.PathValue("label_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return badRequest(fmt.Sprintf("invalid label ID %q", raw))
	}
	if err := h.DB.DetachLabel(c.r.Context(), m.ID, id); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return notFound(fmt.Sprintf("label %d is not added to the artifact %s@%s", id, repo.Name, m.Digest))
		}
		return err
	}
	return ok(c)
}
