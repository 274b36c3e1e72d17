package api

// Artifacts, their additions and labels, and copies (swagger tag "artifact"); with
// repositories.go, tags.go and accessories.go, the content views of Harbor's API. The rules are
// the registry's content services (Repositories, Artifacts, Tags), which share /v2/'s rules;
// the handlers parse and answer, and artifactjson.go holds the JSON shapes.

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/registry"
)

// artifactRoutes registers the endpoints for repositories, artifacts, tags and accessories.
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

// artifactOpts are the with_* parameters of artifact reads: what the registry's views include,
// and the scan overviews.
type artifactOpts struct {
	registry.Details
	scanOverview, sbomOverview bool
}

func artifactOptions(c *call) (artifactOpts, error) {
	var o artifactOpts
	var err error
	if o.Tags, err = boolParam(c, "with_tag", true); err != nil {
		return o, err
	}
	if o.Labels, err = boolParam(c, "with_label", false); err != nil {
		return o, err
	}
	if o.scanOverview, err = boolParam(c, "with_scan_overview", false); err != nil {
		return o, err
	}
	if o.Accessories, err = boolParam(c, "with_accessory", false); err != nil {
		return o, err
	}
	if o.ImmutableStatus, err = boolParam(c, "with_immutable_status", false); err != nil {
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

func (h *Handler) listArtifacts(c *call) error {
	o, err := artifactOptions(c)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	list, err := h.Artifacts.List(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"), lq, o.Details)
	if err != nil {
		return err
	}
	return h.writeArtifacts(c, list, o, page, lq.Limit)
}

func (h *Handler) listProjectArtifacts(c *call) error {
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
	ref, byName := projectRef(c, "project_name_or_id")
	list, err := h.Artifacts.ListInProject(c.r.Context(), ref, byName, lq, latest, o.Details)
	if err != nil {
		return err
	}
	return h.writeArtifacts(c, list, o, page, lq.Limit)
}

func (h *Handler) writeArtifacts(c *call, list registry.ArtifactList, o artifactOpts, page, size int) error {
	out, err := h.artifactsJSON(c, list.Project, list.Artifacts, o)
	if err != nil {
		return err
	}
	setPageHeaders(c.w, c.r, page, size, list.Total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// artifactsJSON shows artifacts of project p, with the scan overviews o asks for.
func (h *Handler) artifactsJSON(c *call, p meta.Project, views []registry.ArtifactView, o artifactOpts) ([]artifactJSON, error) {
	var reports map[string]map[string]meta.ScanReport
	if o.scanOverview || o.sbomOverview {
		digests := make([]string, len(views))
		for i, v := range views {
			digests[i] = v.Digest
		}
		var err error
		if reports, err = h.scanOverviews(c, p, digests); err != nil {
			return nil, err
		}
	}
	out := make([]artifactJSON, 0, len(views))
	for _, v := range views {
		j := toArtifactJSON(v, o.Details)
		if o.scanOverview {
			ov := vulnOverview(c, reports[v.Digest])
			j.ScanOverview = &ov
		}
		if o.sbomOverview {
			j.SBOMOverview = sbomOverview(reports[v.Digest])
		}
		out = append(out, j)
	}
	return out, nil
}

func (h *Handler) getArtifact(c *call) error {
	o, err := artifactOptions(c)
	if err != nil {
		return err
	}
	if _, _, err := pagination(c.r.URL.Query()); err != nil {
		return err
	}
	p, v, err := h.Artifacts.Get(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"), pathValue(c, "reference"), o.Details)
	if err != nil {
		return err
	}
	out, err := h.artifactsJSON(c, p, []registry.ArtifactView{v}, o)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, out[0])
	return nil
}

func (h *Handler) deleteArtifact(c *call) error {
	err := h.Artifacts.Delete(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"), pathValue(c, "reference"))
	if err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) copyArtifact(c *call) error {
	art, err := h.Artifacts.Copy(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"), c.r.URL.Query().Get("from"))
	if err != nil {
		return err
	}
	return created(c, artifactPath(art.Repository, art.Digest))
}

// Additions.

func (h *Handler) getAddition(c *call) error {
	a, err := h.Artifacts.Addition(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"),
		pathValue(c, "reference"), pathValue(c, "addition"))
	if err != nil {
		return err
	}
	switch {
	case !a.FromScan:
		c.w.Header().Set("Content-Type", a.ContentType)
		c.w.WriteHeader(http.StatusOK)
		c.w.Write(a.Content)
		return nil
	case a.Name == registry.AdditionVulnerabilities:
		return h.vulnerabilitiesAddition(c, a.Project, a.Artifact)
	}
	return h.sbomAddition(c, a.Project, a.Artifact, a.Unavailable())
}

// Artifact labels.

func (h *Handler) addArtifactLabel(c *call) error {
	var req labelJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	err := h.Artifacts.AddLabel(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"), pathValue(c, "reference"), req.ID)
	if err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) removeArtifactLabel(c *call) error {
	raw := c.r.PathValue("label_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return badRequest(fmt.Sprintf("invalid label ID %q", raw))
	}
	err = h.Artifacts.RemoveLabel(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"), pathValue(c, "reference"), id)
	if err != nil {
		return err
	}
	return ok(c)
}
