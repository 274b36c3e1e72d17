package api

// JSON shapes of content (swagger definitions Repository, Artifact, Tag, Reference, Platform,
// Accessory) and how the registry's views become them.

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/registry"
)

// repositoryJSON is Harbor's Repository; requests use it too (only the description is read).
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

func toRepositoryJSON(r meta.RepositoryInfo) repositoryJSON {
	return repositoryJSON{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Description: r.Description, ArtifactCount: r.ArtifactCount,
		PullCount: r.PullCount, CreationTime: harborTime(r.CreatedAt), UpdateTime: harborTime(r.UpdatedAt)}
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

func toTagsJSON(tags []registry.TagView) []tagJSON {
	out := make([]tagJSON, 0, len(tags))
	for _, t := range tags {
		out = append(out, tagJSON{ID: t.ID, RepositoryID: t.RepositoryID, ArtifactID: t.ManifestID, Name: t.Name,
			PushTime: harborTime(t.PushedAt), PullTime: harborTime(t.PulledAt), Immutable: t.Immutable})
	}
	return out
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

func toAccessoriesJSON(accs []registry.Accessory) []accessoryJSON {
	out := make([]accessoryJSON, 0, len(accs))
	for _, a := range accs {
		out = append(out, accessoryJSON{ID: a.Manifest.ID, ArtifactID: a.Manifest.ID, SubjectArtifactID: a.SubjectID,
			SubjectArtifactDigest: a.Subject.Digest, SubjectArtifactRepo: a.Subject.Repository, Size: a.Size,
			Digest: a.Manifest.Digest, Type: a.Type, CreationTime: harborTime(a.Manifest.CreatedAt)})
	}
	return out
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

// toArtifactJSON shows an artifact with the collections d asked for; scan overviews are the
// caller's to add.
func toArtifactJSON(v registry.ArtifactView, d registry.Details) artifactJSON {
	info := v.Info
	j := artifactJSON{
		ID: v.ID, Type: info.Type, MediaType: info.MediaType, ManifestMediaType: v.MediaType, ArtifactType: info.ArtifactType,
		ProjectID: v.ProjectID, RepositoryID: v.RepositoryID, RepositoryName: v.RepositoryName, Digest: v.Digest,
		Size: info.Size, PushTime: harborTime(v.CreatedAt), PullTime: harborTime(v.PulledAt),
		ExtraAttrs: info.ExtraAttrs, Annotations: info.Annotations,
	}
	for _, r := range info.References {
		rj := referenceJSON{ParentID: v.ID, ChildID: r.ChildID, ChildDigest: r.ChildDigest, Annotations: r.Annotations, URLs: r.URLs}
		if r.Platform != nil {
			p := platformJSON(*r.Platform)
			rj.Platform = &p
		}
		j.References = append(j.References, rj)
	}
	links := map[string]additionLink{}
	for _, name := range info.Additions {
		links[name] = additionLink{Href: artifactPath(v.RepositoryName, v.Digest) + "/additions/" + name}
	}
	if info.Type == registry.ArtifactTypeImage {
		links[registry.AdditionVulnerabilities] = additionLink{Href: artifactPath(v.RepositoryName, v.Digest) + "/additions/" + registry.AdditionVulnerabilities}
	}
	if len(links) > 0 {
		j.AdditionLinks = links
	}
	if d.Tags {
		ts := toTagsJSON(v.Tags)
		j.Tags = &ts
	}
	if d.Labels {
		ls := make([]labelJSON, 0, len(v.Labels))
		for _, l := range v.Labels {
			ls = append(ls, toLabelJSON(l))
		}
		j.Labels = &ls
	}
	if d.Accessories {
		as := toAccessoriesJSON(v.Accessories)
		j.Accessories = &as
	}
	return j
}

// artifactPath is the API path of an artifact: the repository name relative to its project,
// double-encoded as Harbor's clients expect.
func artifactPath(repo, digest string) string {
	project, rest, _ := strings.Cut(repo, "/")
	return base + "/projects/" + project + "/repositories/" + url.PathEscape(url.PathEscape(rest)) + "/artifacts/" + digest
}
