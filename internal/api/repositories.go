package api

// Repositories (swagger tag "repository"), through the registry's repository service.

import (
	"net/http"

	"github.com/berthreg/berth/internal/meta"
)

func (h *Handler) listAllRepositories(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	repos, total, err := h.Repositories.ListAll(c.r.Context(), lq)
	if err != nil {
		return err
	}
	return writeRepositories(c, repos, page, lq.Limit, total)
}

func (h *Handler) listRepositories(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	repos, total, err := h.Repositories.List(c.r.Context(), pathValue(c, "project_name"), lq)
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
	repo, err := h.Repositories.Get(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toRepositoryJSON(repo))
	return nil
}

func (h *Handler) updateRepository(c *call) error {
	var req repositoryJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Repositories.SetDescription(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name"), req.Description); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteRepository(c *call) error {
	if err := h.Repositories.Delete(c.r.Context(), pathValue(c, "project_name"), pathValue(c, "repository_name")); err != nil {
		return err
	}
	return ok(c)
}
