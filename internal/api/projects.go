package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

func (h *Handler) projectRoutes(r route) {
	r("GET /projects", h.listProjects)
	r("HEAD /projects", h.headProject)
	r("POST /projects", h.createProject)
	r("GET /projects/{project_name_or_id}", h.getProject)
	r("DELETE /projects/{project_name_or_id}", h.deleteProject)
}

var projectNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

type projectReq struct {
	ProjectName  string            `json:"project_name"`
	Public       *bool             `json:"public"`
	Metadata     map[string]string `json:"metadata"`
	StorageLimit *int64            `json:"storage_limit"`
	RegistryID   *int64            `json:"registry_id"`
	CVEAllowlist json.RawMessage   `json:"cve_allowlist"`
}

type projectJSON struct {
	ProjectID          int64             `json:"project_id"`
	OwnerID            int64             `json:"owner_id"`
	Name               string            `json:"name"`
	RegistryID         int64             `json:"registry_id"`
	CreationTime       string            `json:"creation_time"`
	UpdateTime         string            `json:"update_time"`
	Deleted            bool              `json:"deleted"`
	OwnerName          string            `json:"owner_name"`
	Togglable          bool              `json:"togglable"`
	CurrentUserRoleID  int               `json:"current_user_role_id"`
	CurrentUserRoleIDs []int             `json:"current_user_role_ids"`
	RepoCount          int64             `json:"repo_count"`
	Metadata           map[string]string `json:"metadata"`
}

func harborTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (h *Handler) projectJSON(c *call, p meta.Project, md map[string]string) (projectJSON, error) {
	role, err := h.Authz.Role(c.r.Context(), c.p, p)
	if err != nil {
		return projectJSON{}, err
	}
	if md == nil {
		md = map[string]string{}
	}
	md["public"] = strconv.FormatBool(p.Public)
	roles := []int{}
	if role != 0 {
		roles = append(roles, role)
	}
	return projectJSON{
		ProjectID: p.ID, OwnerID: p.OwnerID, Name: p.Name, CreationTime: harborTime(p.CreatedAt), UpdateTime: harborTime(p.UpdatedAt),
		OwnerName: p.OwnerName, Togglable: role == meta.RoleProjectAdmin || c.p.SysAdmin, CurrentUserRoleID: role,
		CurrentUserRoleIDs: roles, RepoCount: p.RepoCount, Metadata: md,
	}, nil
}

func (h *Handler) createProject(c *call) error {
	if c.p.IsAnonymous() {
		return unauthorized()
	}
	if !h.Authz.CanCreateProject(c.p, false) {
		return forbidden()
	}
	var req projectReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if len(req.ProjectName) == 0 || len(req.ProjectName) > 255 || !projectNameRE.MatchString(req.ProjectName) {
		return badRequest(fmt.Sprintf("project name %q is invalid: 1 to 255 characters matching %s", req.ProjectName, projectNameRE))
	}
	public := false
	md := map[string]string{}
	for k, v := range req.Metadata {
		if k == "public" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return badRequest(fmt.Sprintf("metadata public must be \"true\" or \"false\", not %q", v))
			}
			public = b
			continue
		}
		md[k] = v
	}
	if req.Public != nil && req.Metadata["public"] == "" {
		public = *req.Public
	}
	id, err := h.DB.CreateProject(c.r.Context(), meta.Project{Name: req.ProjectName, OwnerID: c.p.ID, Public: public, Metadata: md})
	if errors.Is(err, meta.ErrConflict) {
		return conflict(fmt.Sprintf("The project named %s already exists", req.ProjectName))
	}
	if err != nil {
		return err
	}
	return created(c, base+"/projects/"+strconv.FormatInt(id, 10))
}

// project resolves a name or id (Harbor accepts both; X-Is-Resource-Name forces the name) and
// checks that the caller can see it. Invisible projects are "not found".
func (h *Handler) project(c *call, ref string) (meta.Project, error) {
	var p meta.Project
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil && c.r.Header.Get("X-Is-Resource-Name") != "true" {
		p, err = h.DB.ProjectByID(c.r.Context(), id)
	} else {
		p, err = h.DB.ProjectByName(c.r.Context(), ref)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return p, notFound(fmt.Sprintf("project %s not found", ref))
	}
	if err != nil {
		return p, err
	}
	ok, err := h.Authz.CanSeeProject(c.r.Context(), c.p, p)
	if err != nil {
		return p, err
	}
	if !ok {
		if c.p.IsAnonymous() {
			return p, unauthorized()
		}
		return p, notFound(fmt.Sprintf("project %s not found", ref))
	}
	return p, nil
}

func (h *Handler) getProject(c *call) error {
	p, err := h.project(c, pathValue(c, "project_name_or_id"))
	if err != nil {
		return err
	}
	md, err := h.DB.ProjectMetadata(c.r.Context(), p.ID)
	if err != nil {
		return err
	}
	out, err := h.projectJSON(c, p, md)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) headProject(c *call) error {
	name := c.r.URL.Query().Get("project_name")
	if name == "" {
		return badRequest("project_name is required")
	}
	_, err := h.DB.ProjectByName(c.r.Context(), name)
	if errors.Is(err, meta.ErrNotFound) {
		c.w.WriteHeader(http.StatusNotFound)
		return nil
	}
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) listProjects(c *call) error {
	q := c.r.URL.Query()
	page, size, err := pagination(q)
	if err != nil {
		return err
	}
	f := meta.ProjectFilter{Name: q.Get("name"), AllVisible: c.p.SysAdmin, UserID: c.p.ID, Offset: (page - 1) * size, Limit: size}
	ps, total, err := h.DB.ListProjects(c.r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		md, err := h.DB.ProjectMetadata(c.r.Context(), p.ID)
		if err != nil {
			return err
		}
		j, err := h.projectJSON(c, p, md)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	setPageHeaders(c.w, c.r, page, size, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) deleteProject(c *call) error {
	ref := pathValue(c, "project_name_or_id")
	p, err := h.project(c, ref)
	if err != nil {
		return err
	}
	ok, err := h.Authz.Can(c.r.Context(), c.p, p, rbac.ResProject, rbac.ActDelete)
	if err != nil {
		return err
	}
	if !ok {
		return forbidden()
	}
	err = h.DB.DeleteProject(c.r.Context(), p.ID)
	switch {
	case errors.Is(err, meta.ErrNotEmpty):
		return precondition(fmt.Sprintf("the project %s is not empty: delete its repositories first", p.Name))
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("project %s not found", ref))
	case err != nil:
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}
