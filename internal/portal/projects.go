package portal

// Projects: the list (/projects), the create form (/projects/new, POST /projects), a project's
// page with its repositories (/projects/{project}), its deletion (/projects/{project}/delete)
// and a repository's artifacts (/projects/{project}/repositories/{repo...}). The data comes
// from the services /api/v2.0's project, repository and artifact endpoints use.

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// The columns each listing sorts by: those its store sorts by.
var (
	projectSortKeys    = []string{"name", "public", "creation_time"}
	repositorySortKeys = []string{"name", "pull_count", "creation_time", "update_time"}
	artifactSortKeys   = []string{"push_time", "pull_time"}
)

type projectRow struct {
	project.View
	// Quota is nil when the caller may not read it.
	Quota     *meta.Quota
	CanDelete bool
}

type projectsPage struct {
	Rows      []projectRow
	List      listing
	CanCreate bool
	Deleted   string // the project just deleted, for the notice
}

func (h *Handler) listProjects(c *call) error {
	lq, l, err := parseListing(c.r, projectSortKeys)
	if err != nil {
		return err
	}
	views, total, err := h.Projects.List(c.ctx(), lq, false)
	if err != nil {
		return err
	}
	l.Total = total
	pg := projectsPage{List: l, Rows: make([]projectRow, 0, len(views)), Deleted: c.r.URL.Query().Get("deleted")}
	for _, v := range views {
		row := projectRow{View: v}
		// The quota as the project's summary shows it: to those who may read it.
		sum, err := h.Projects.Summary(c.ctx(), strconv.FormatInt(v.Project.ID, 10), false)
		if err != nil {
			return err
		}
		row.Quota = sum.Quota
		if row.CanDelete, err = h.Projects.Can(c.ctx(), v.Project, rbac.ResProject, rbac.ActDelete); err != nil {
			return err
		}
		pg.Rows = append(pg.Rows, row)
	}
	if pg.CanCreate, err = h.Projects.CanCreate(c.ctx()); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "projects", pg)
	return nil
}

// Quota use for the pages: a fraction for a <meter>.
func quotaRatio(q *meta.Quota) float64 {
	if q == nil || q.Hard <= 0 {
		return 0
	}
	return math.Min(1, float64(q.Used)/float64(q.Hard))
}

type newProjectPage struct {
	Name       string
	Public     bool
	Limit      string
	Unit       string
	Units      []string
	ChooseSize bool // system administrators choose a project's storage limit
	Error      string
}

// storageUnits are the units of the storage limit field, in bytes.
var storageUnits = map[string]int64{"MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}

func (h *Handler) newProjectForm(c *call) error {
	if c.p.IsAnonymous() {
		return fault.ErrUnauthorized
	}
	h.render(c.w, c, http.StatusOK, "project_new", newProjectPage{Unit: "GiB", Units: []string{"MiB", "GiB", "TiB"}, ChooseSize: c.p.SysAdmin})
	return nil
}

func (h *Handler) createProject(c *call) error {
	f := c.r.PostForm
	pg := newProjectPage{Name: strings.TrimSpace(f.Get("name")), Public: f.Get("public") == "on",
		Limit: strings.TrimSpace(f.Get("storage_limit")), Unit: f.Get("storage_unit"),
		Units: []string{"MiB", "GiB", "TiB"}, ChooseSize: c.p.SysAdmin}
	spec := project.Spec{Name: pg.Name, Public: &pg.Public}
	err := func() error {
		if pg.Limit != "" {
			limit, err := storageLimit(pg.Limit, pg.Unit)
			if err != nil {
				return err
			}
			spec.StorageLimit = &limit
		}
		_, err := h.Projects.Create(c.ctx(), spec)
		return err
	}()
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok {
			return err
		}
		if code == http.StatusUnauthorized || code == http.StatusForbidden && !strings.Contains(msg, "admin") {
			return err
		}
		pg.Error = msg
		h.render(c.w, c, code, "project_new", pg)
		return nil
	}
	http.Redirect(c.w, c.r, "/projects/"+url.PathEscape(pg.Name), http.StatusSeeOther)
	return nil
}

// storageLimit reads the storage limit field: -1 for none, else a positive whole number of
// the unit.
func storageLimit(value, unit string) (int64, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, fault.Invalidf("The storage limit %q is not a whole number: use -1 for no limit, or a size such as 10.", value)
	}
	if n == -1 {
		return meta.Unlimited, nil
	}
	size, ok := storageUnits[unit]
	if !ok {
		return 0, fault.Invalidf("Choose the storage limit's unit: MiB, GiB or TiB.")
	}
	if n > math.MaxInt64/size {
		return 0, fault.Invalidf("The storage limit %d %s is too large.", n, unit)
	}
	// The service says what is wrong with 0 or a negative size, in the API's words.
	return n * size, nil
}

type projectPage struct {
	project.View
	// DeletedRepo is the repository just deleted, for the notice.
	DeletedRepo  string
	Summary      project.Summary
	Repositories []repositoryRow
	List         listing
	CanDelete    bool
	Tabs         projectTabs
	// Push is the push commands box; nil for those who may not push.
	Push *pushBox
}

type repositoryRow struct {
	meta.RepositoryInfo
	Short string // the name within the project
}

func (h *Handler) showProject(c *call) error {
	name := c.r.PathValue("project")
	lq, l, err := parseListing(c.r, repositorySortKeys)
	if err != nil {
		return err
	}
	v, err := h.Projects.Get(c.ctx(), name, true)
	if err != nil {
		return err
	}
	pg := projectPage{View: v, List: l, DeletedRepo: c.r.URL.Query().Get("deleted")}
	if pg.Tabs, err = h.projectTabs(c, v, "summary"); err != nil {
		return err
	}
	if pg.Summary, err = h.Projects.Summary(c.ctx(), name, true); err != nil {
		return err
	}
	repos, total, err := h.Repositories.List(c.ctx(), name, lq)
	if err != nil {
		return err
	}
	pg.List.Total = total
	for _, r := range repos {
		pg.Repositories = append(pg.Repositories, repositoryRow{RepositoryInfo: r, Short: strings.TrimPrefix(r.Name, name+"/")})
	}
	if pg.CanDelete, err = h.Projects.Can(c.ctx(), v.Project, rbac.ResProject, rbac.ActDelete); err != nil {
		return err
	}
	if pg.Push, err = h.pushCommands(c, v); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "project", pg)
	return nil
}

type deletePage struct {
	Name      string
	Deletable bool
	Why       string
	Error     string
}

// deleteProjectForm asks for confirmation, or says why the project cannot be deleted; a
// caller who may not delete it is refused by the service.
func (h *Handler) deleteProjectForm(c *call) error {
	name := c.r.PathValue("project")
	ok, why, err := h.Projects.Deletable(c.ctx(), name, true)
	if err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "project_delete", deletePage{Name: name, Deletable: ok, Why: sentenceOrEmpty(why)})
	return nil
}

func (h *Handler) deleteProject(c *call) error {
	name := c.r.PathValue("project")
	if err := h.Projects.Delete(c.ctx(), name, true); err != nil {
		if fault.KindOf(err) == fault.Precondition {
			_, msg, _ := refusal(err)
			h.render(c.w, c, http.StatusPreconditionFailed, "project_delete", deletePage{Name: name, Error: msg})
			return nil
		}
		return err
	}
	http.Redirect(c.w, c.r, "/projects?deleted="+url.QueryEscape(name), http.StatusSeeOther)
	return nil
}

func sentenceOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	return sentence(s)
}
