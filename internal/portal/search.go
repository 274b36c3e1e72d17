package portal

// Search (/search?q=): projects and repositories whose names contain the text, among those the
// caller may see, from the catalog service that answers /api/v2.0/search.

import (
	"net/http"
	"strings"

	"github.com/berthreg/berth/internal/meta"
)

type searchRepo struct {
	meta.SearchRepository
	Short string // the name within the project
}

type searchPage struct {
	Query        string
	Projects     []meta.Project
	Repositories []searchRepo
}

func (h *Handler) search(c *call) error {
	q := strings.TrimSpace(c.r.URL.Query().Get("q"))
	pg := searchPage{Query: q}
	if q != "" {
		found, err := h.Catalog.Search(c.ctx(), q)
		if err != nil {
			return err
		}
		for _, p := range found.Projects {
			pg.Projects = append(pg.Projects, p.Project)
		}
		for _, r := range found.Repositories {
			pg.Repositories = append(pg.Repositories, searchRepo{SearchRepository: r, Short: strings.TrimPrefix(r.Name, r.ProjectName+"/")})
		}
	}
	h.render(c.w, c, http.StatusOK, "search", pg)
	return nil
}
