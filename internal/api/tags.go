package api

// Tags of an artifact (swagger tag "artifact"), through the registry's tag service.

import (
	"net/http"
)

func (h *Handler) listTags(c *call) error {
	withImmutable, err := boolParam(c, "with_immutable_status", false)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	tags, total, err := h.Tags.List(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"),
		pathValue(c, "reference"), lq, withImmutable)
	if err != nil {
		return err
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, toTagsJSON(tags))
	return nil
}

// tagReq is the body of a tag creation: Harbor's NewTag, which names the tag, or the whole
// Tag, which Harbor took before NewTag and its generated clients still send (the other fields
// are the server's to set, and ignored).
type tagReq struct {
	Name         string  `json:"name"`
	ID           *int64  `json:"id"`
	RepositoryID *int64  `json:"repository_id"`
	ArtifactID   *int64  `json:"artifact_id"`
	PushTime     *string `json:"push_time"`
	PullTime     *string `json:"pull_time"`
	Immutable    *bool   `json:"immutable"`
}

func (h *Handler) createTag(c *call) error {
	var req tagReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	art, err := h.Tags.Create(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"),
		pathValue(c, "reference"), req.Name)
	if err != nil {
		return err
	}
	return created(c, artifactPath(art.Repository, art.Digest)+"/tags/"+req.Name)
}

func (h *Handler) deleteTag(c *call) error {
	err := h.Tags.Delete(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"),
		pathValue(c, "reference"), pathValue(c, "tag_name"))
	if err != nil {
		return err
	}
	return ok(c)
}
