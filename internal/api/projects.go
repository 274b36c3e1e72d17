package api

// Projects: /projects (list, HEAD ?project_name=, create), /projects/{project_name_or_id}
// (get, update, delete), /_deletable, /summary and /metadatas (Harbor's swagger "project" and
// "projectMetadata" operations; behaviour from Harbor's project handlers).

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
)

func (h *Handler) projectRoutes(r route) {
	r("GET /projects", h.listProjects)
	r("HEAD /projects", h.headProject)
	r("POST /projects", h.createProject)
	r("GET /projects/{project_name_or_id}", h.getProject)
	r("PUT /projects/{project_name_or_id}", h.updateProject)
	r("DELETE /projects/{project_name_or_id}", h.deleteProject)
	r("GET /projects/{project_name_or_id}/_deletable", h.projectDeletable)
	r("GET /projects/{project_name_or_id}/summary", h.projectSummary)
	// The spec's path ends in a slash; clients that drop it are served too.
	for _, p := range []string{"/projects/{project_name_or_id}/metadatas/{$}", "/projects/{project_name_or_id}/metadatas"} {
		r("GET "+p, h.listProjectMetadata)
		r("POST "+p, h.addProjectMetadata)
	}
	r("GET /projects/{project_name_or_id}/metadatas/{meta_name}", h.getProjectMetadata)
	r("PUT /projects/{project_name_or_id}/metadatas/{meta_name}", h.updateProjectMetadata)
	r("DELETE /projects/{project_name_or_id}/metadatas/{meta_name}", h.deleteProjectMetadata)
	h.allowlistRoutes(r)
}

// projectReq is Harbor's ProjectReq, for creation and update.
type projectReq struct {
	ProjectName  string            `json:"project_name"`
	Public       *bool             `json:"public"`
	Metadata     map[string]string `json:"metadata"`
	StorageLimit *int64            `json:"storage_limit"`
	RegistryID   *int64            `json:"registry_id"`
	CVEAllowlist *allowlistReq     `json:"cve_allowlist"`
}

func (r projectReq) spec() project.Spec {
	s := project.Spec{Name: r.ProjectName, Public: r.Public, Metadata: r.Metadata, StorageLimit: r.StorageLimit, RegistryID: r.RegistryID}
	if r.CVEAllowlist != nil {
		l := r.CVEAllowlist.allowlist()
		s.Allowlist = &l
	}
	return s
}

// projectJSON is Harbor's Project. owner_name, metadata and cve_allowlist are left out of
// listings asked for with_detail=false, as Harbor does.
type projectJSON struct {
	ProjectID          int64             `json:"project_id"`
	OwnerID            int64             `json:"owner_id"`
	Name               string            `json:"name"`
	RegistryID         int64             `json:"registry_id"`
	CreationTime       string            `json:"creation_time"`
	UpdateTime         string            `json:"update_time"`
	Deleted            bool              `json:"deleted"`
	OwnerName          string            `json:"owner_name,omitempty"`
	Togglable          bool              `json:"togglable"`
	CurrentUserRoleID  int               `json:"current_user_role_id"`
	CurrentUserRoleIDs []int             `json:"current_user_role_ids"`
	RepoCount          int64             `json:"repo_count"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	CVEAllowlist       *allowlistJSON    `json:"cve_allowlist,omitempty"`
}

func harborTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func toProjectJSON(v project.View) projectJSON {
	p := v.Project
	roles := []int{}
	if v.Role != 0 {
		roles = append(roles, v.Role)
	}
	out := projectJSON{
		ProjectID: p.ID, OwnerID: p.OwnerID, Name: p.Name,
		CreationTime: harborTime(p.CreatedAt), UpdateTime: harborTime(p.UpdatedAt),
		Togglable: v.Togglable, CurrentUserRoleID: v.Role, CurrentUserRoleIDs: roles, RepoCount: p.RepoCount,
	}
	if v.Metadata != nil {
		out.OwnerName = p.OwnerName
		out.Metadata = v.Metadata
	}
	if v.Allowlist != nil {
		j := allowlistToJSON(*v.Allowlist)
		out.CVEAllowlist = &j
	}
	return out
}

// projectJSON renders a project the caller found by other means (a search), with md, its
// stored metadata, and al, its CVE allowlist (nil: left out).
func (h *Handler) projectJSON(c *call, p meta.Project, md map[string]string, al *meta.CVEAllowlist) (projectJSON, error) {
	v, err := h.Projects.Describe(c.r.Context(), p, md, al)
	if err != nil {
		return projectJSON{}, err
	}
	return toProjectJSON(v), nil
}

func (h *Handler) createProject(c *call) error {
	var req projectReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	id, err := h.Projects.Create(c.r.Context(), req.spec())
	if err != nil {
		return err
	}
	loc := strconv.FormatInt(id, 10)
	if headerTrue(c, "X-Resource-Name-In-Location") {
		loc = req.ProjectName
	}
	return created(c, base+"/projects/"+loc)
}

// headerTrue reads one of Harbor's boolean headers (absent or unparsable: false).
func headerTrue(c *call, name string) bool {
	b, _ := strconv.ParseBool(c.r.Header.Get(name))
	return b
}

func (h *Handler) getProject(c *call) error {
	ref, byName := projectRef(c, "project_name_or_id")
	v, err := h.Projects.Get(c.r.Context(), ref, byName)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toProjectJSON(v))
	return nil
}

// headProject answers whether a project name is taken (see project.Service.Exists).
func (h *Handler) headProject(c *call) error {
	name := c.r.URL.Query().Get("project_name")
	if name == "" {
		return badRequest("project_name is required")
	}
	if err := h.Projects.Exists(c.r.Context(), name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func boolParam(c *call, name string, def bool) (bool, error) {
	s := c.r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest(fmt.Sprintf("%s %q must be true or false", name, s))
	}
	return b, nil
}

func (h *Handler) listProjects(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	params := c.r.URL.Query()
	if name := params.Get("name"); name != "" {
		lq.Filters = append(lq.Filters, meta.Filter{Key: "name", Op: meta.OpFuzzy, Values: []string{name}})
	}
	if owner := params.Get("owner"); owner != "" {
		lq.Filters = append(lq.Filters, meta.Filter{Key: "owner", Op: meta.OpExact, Values: []string{owner}})
	}
	if params.Get("public") != "" {
		public, err := boolParam(c, "public", false)
		if err != nil {
			return err
		}
		lq.Filters = append(lq.Filters, meta.Filter{Key: "public", Op: meta.OpExact, Values: []string{strconv.FormatBool(public)}})
	}
	detail, err := boolParam(c, "with_detail", true)
	if err != nil {
		return err
	}
	vs, total, err := h.Projects.List(c.r.Context(), lq, detail)
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, toProjectJSON(v))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) updateProject(c *call) error {
	var req projectReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Projects.Update(c.r.Context(), ref, byName, req.spec()); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteProject(c *call) error {
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Projects.Delete(c.r.Context(), ref, byName); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) projectDeletable(c *call) error {
	ref, byName := projectRef(c, "project_name_or_id")
	deletable, why, err := h.Projects.Deletable(c.r.Context(), ref, byName)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, struct {
		Deletable bool   `json:"deletable"`
		Message   string `json:"message,omitempty"`
	}{deletable, why})
	return nil
}

// resourceList is Harbor's ResourceList: {"storage": bytes}.
type resourceList map[string]int64

func (h *Handler) projectSummary(c *call) error {
	ref, byName := projectRef(c, "project_name_or_id")
	sum, err := h.Projects.Summary(c.r.Context(), ref, byName)
	if err != nil {
		return err
	}
	type quotaSummary struct {
		Hard resourceList `json:"hard"`
		Used resourceList `json:"used"`
	}
	var out struct {
		RepoCount         int64         `json:"repo_count"`
		ProjectAdminCount *int64        `json:"project_admin_count,omitempty"`
		MaintainerCount   *int64        `json:"maintainer_count,omitempty"`
		DeveloperCount    *int64        `json:"developer_count,omitempty"`
		GuestCount        *int64        `json:"guest_count,omitempty"`
		LimitedGuestCount *int64        `json:"limited_guest_count,omitempty"`
		Quota             *quotaSummary `json:"quota,omitempty"`
	}
	out.RepoCount = sum.RepoCount
	if q := sum.Quota; q != nil {
		out.Quota = &quotaSummary{Hard: resourceList{"storage": q.Hard}, Used: resourceList{"storage": q.Used}}
	}
	if counts := sum.MemberCounts; counts != nil {
		n := func(role int) *int64 { v := counts[role]; return &v }
		out.ProjectAdminCount, out.MaintainerCount = n(meta.RoleProjectAdmin), n(meta.RoleMaintainer)
		out.DeveloperCount, out.GuestCount, out.LimitedGuestCount = n(meta.RoleDeveloper), n(meta.RoleGuest), n(meta.RoleLimitedGuest)
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) listProjectMetadata(c *call) error {
	ref, byName := projectRef(c, "project_name_or_id")
	md, err := h.Projects.Metadata(c.r.Context(), ref, byName)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, md)
	return nil
}

func (h *Handler) addProjectMetadata(c *call) error {
	var in map[string]string
	if err := decode(c.r, &in); err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Projects.AddMetadata(c.r.Context(), ref, byName, in); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) getProjectMetadata(c *call) error {
	ref, byName := projectRef(c, "project_name_or_id")
	name := pathValue(c, "meta_name")
	v, err := h.Projects.MetadataValue(c.r.Context(), ref, byName, name)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]string{name: v})
	return nil
}

func (h *Handler) updateProjectMetadata(c *call) error {
	name := pathValue(c, "meta_name")
	var in map[string]string
	if err := decode(c.r, &in); err != nil {
		return err
	}
	value, found := in[name]
	if !found || len(in) != 1 {
		return badRequest(fmt.Sprintf("the body must be {%q: value}", name))
	}
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Projects.SetMetadata(c.r.Context(), ref, byName, name, value); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteProjectMetadata(c *call) error {
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Projects.DeleteMetadata(c.r.Context(), ref, byName, pathValue(c, "meta_name")); err != nil {
		return err
	}
	return ok(c)
}
