package portal

import (
	"net/url"

	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// projectTabs are the links between a project's pages, each shown only to those who may read
// it (the services' permission table, through project.Service.Can).
type projectTabs struct {
	Project string
	Current string
	Tabs    []tab
}

type tab struct {
	Key, Label, Path string
}

func (h *Handler) projectTabs(c *call, v project.View, current string) (projectTabs, error) {
	base := "/projects/" + url.PathEscape(v.Project.Name)
	t := projectTabs{Project: v.Project.Name, Current: current, Tabs: []tab{
		{"summary", "Summary", base},
		{"repositories", "Repositories", base + "#repositories"},
	}}
	for _, x := range []struct {
		key, label, path string
		res              rbac.Resource
	}{
		{"members", "Members", "/members", rbac.ResMember},
		{"labels", "Labels", "/labels", rbac.ResLabel},
		// Policies holds tag retention and tag immutability: shown to those who may list either.
		{"policies", "Policies", "/policies", rbac.ResTagRetention},
		{"robots", "Robot accounts", "/robots", rbac.ResRobot},
		{"logs", "Logs", "/logs", rbac.ResLog},
		{"configuration", "Configuration", "/configuration", rbac.ResMetadata},
	} {
		ok, err := h.Projects.Can(c.ctx(), v.Project, x.res, rbac.ActList)
		if err == nil && !ok && x.key == "policies" {
			ok, err = h.Projects.Can(c.ctx(), v.Project, rbac.ResImmutableTag, rbac.ActList)
		}
		if err != nil {
			return t, err
		}
		if ok {
			t.Tabs = append(t.Tabs, tab{x.key, x.label, base + x.path})
		}
	}
	return t, nil
}
