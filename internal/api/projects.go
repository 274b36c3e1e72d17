package api

// Projects: /projects (list, HEAD ?project_name=, create), /projects/{project_name_or_id}
// (get, update, delete), /_deletable, /summary and /metadatas (Harbor's swagger "project" and
// "projectMetadata" operations; behaviour from Harbor's project handlers).

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
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

var projectNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// projectReq is Harbor's ProjectReq, for creation and update.
type projectReq struct {
	ProjectName  string            `json:"project_name"`
	Public       *bool             `json:"public"`
	Metadata     map[string]string `json:"metadata"`
	StorageLimit *int64            `json:"storage_limit"`
	RegistryID   *int64            `json:"registry_id"`
	CVEAllowlist *allowlistReq     `json:"cve_allowlist"`
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

// projectJSON renders a project for the caller. md and al are nil for a listing without
// detail.
func (h *Handler) projectJSON(c *call, p meta.Project, md map[string]string, al *meta.CVEAllowlist) (projectJSON, error) {
	role, err := h.Authz.Role(c.r.Context(), c.p, p)
	if err != nil {
		return projectJSON{}, err
	}
	roles := []int{}
	if role != 0 {
		roles = append(roles, role)
	}
	out := projectJSON{
		ProjectID: p.ID, OwnerID: p.OwnerID, Name: p.Name,
		CreationTime: harborTime(p.CreatedAt), UpdateTime: harborTime(p.UpdatedAt),
		// The portal shows the public/private switch to those who may change it.
		Togglable:         c.p.SysAdmin || rbac.RoleAllows(role, rbac.Permission{Resource: rbac.ResMetadata, Action: rbac.ActUpdate}),
		CurrentUserRoleID: role, CurrentUserRoleIDs: roles, RepoCount: p.RepoCount,
	}
	if md != nil {
		out.OwnerName = p.OwnerName
		out.Metadata = withPublic(md, p.Public)
	}
	if al != nil {
		j := allowlistToJSON(*al)
		out.CVEAllowlist = &j
	}
	return out, nil
}

// withPublic returns the project's metadata with "public", which lives in the project row.
func withPublic(md map[string]string, public bool) map[string]string {
	out := make(map[string]string, len(md)+1)
	for k, v := range md {
		out[k] = v
	}
	out["public"] = strconv.FormatBool(public)
	return out
}

// Project metadata keys (Harbor's ProjectMetadata) and their rules. Values are strings;
// booleans are "true"/"false". Every key is stored and returned, including those whose feature
// (scanning, signatures, proxy cache) comes later.
var (
	boolMetadata = map[string]bool{
		"public": true, "enable_content_trust": true, "enable_content_trust_cosign": true, "prevent_vul": true,
		"auto_scan": true, "auto_sbom_generation": true, "reuse_sys_cve_allowlist": true,
		"proxy_cache_local_on_not_found": true, "proxy_referrer_api": true,
	}
	severities = map[string]bool{"none": true, "low": true, "medium": true, "high": true, "critical": true}
)

// validMetadata checks one metadata entry and returns its normalised value.
func validMetadata(key, value string) (string, error) {
	switch {
	case boolMetadata[key]:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return "", badRequest(fmt.Sprintf("invalid value %q for metadata %s: want \"true\" or \"false\"", value, key))
		}
		return strconv.FormatBool(b), nil
	case key == "severity":
		v := strings.ToLower(value)
		if !severities[v] {
			return "", badRequest(fmt.Sprintf("invalid value %q for metadata severity: want none, low, medium, high or critical", value))
		}
		return v, nil
	case key == "retention_id":
		if _, err := strconv.ParseUint(value, 10, 63); err != nil {
			return "", badRequest(fmt.Sprintf("invalid value %q for metadata retention_id: want the id of a retention policy", value))
		}
		return value, nil
	case key == "proxy_speed_kb" || key == "max_upstream_conn":
		if _, err := strconv.ParseInt(value, 10, 32); err != nil {
			return "", badRequest(fmt.Sprintf("invalid value %q for metadata %s: want a 32-bit integer", value, key))
		}
		return value, nil
	case key == "proxy_cache_filter_kind":
		if value != "" && value != "doublestar" && value != "regex" {
			return "", badRequest(fmt.Sprintf("invalid value %q for metadata proxy_cache_filter_kind: want doublestar or regex", value))
		}
		return value, nil
	case key == "proxy_cache_filter_pattern":
		return value, nil
	}
	return "", badRequest(fmt.Sprintf("invalid metadata key %q", key))
}

// splitMetadata validates request metadata and separates "public" (a column of the project)
// from the rest.
func splitMetadata(in map[string]string) (public *bool, md map[string]string, err error) {
	md = make(map[string]string, len(in))
	for k, v := range in {
		nv, err := validMetadata(k, v)
		if err != nil {
			return nil, nil, err
		}
		if k == "public" {
			b := nv == "true"
			public = &b
			continue
		}
		md[k] = nv
	}
	return public, md, nil
}

// validStorageLimit applies Harbor's rule for a storage hard limit: -1 or a positive size.
func validStorageLimit(v int64) error {
	if v <= 0 && v != meta.Unlimited {
		return badRequest(fmt.Sprintf("invalid value %d for resource storage: use -1 (unlimited) or a positive number of bytes", v))
	}
	return nil
}

func (h *Handler) createProject(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	ctx := c.r.Context()
	cfg, err := h.DB.SystemConfig(ctx)
	if err != nil {
		return err
	}
	if ok, err := h.Authz.CanCreateProject(ctx, c.p, cfg.ProjectCreationRestriction == "adminonly"); err != nil {
		return err
	} else if !ok {
		if cfg.ProjectCreationRestriction == "adminonly" {
			return &Error{http.StatusForbidden, "FORBIDDEN", "Only system admin can create project"}
		}
		return forbidden()
	}
	var req projectReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if len(req.ProjectName) == 0 || len(req.ProjectName) > 255 || !projectNameRE.MatchString(req.ProjectName) {
		return badRequest(fmt.Sprintf("project name %q is invalid: 1 to 255 characters matching %s", req.ProjectName, projectNameRE))
	}
	if req.RegistryID != nil && *req.RegistryID != 0 {
		if !c.p.SysAdmin {
			return &Error{http.StatusForbidden, "FORBIDDEN", "Only system admin can create proxy cache project"}
		}
		return badRequest(fmt.Sprintf("registry_id %d: proxy cache projects are not supported yet; leave registry_id out", *req.RegistryID))
	}
	public, md, err := splitMetadata(req.Metadata)
	if err != nil {
		return err
	}
	if public == nil {
		// The deprecated top-level "public" counts when the metadata does not say.
		public = req.Public
	}
	settings := meta.ProjectSettings{StorageLimit: meta.Unlimited}
	if cfg.QuotaPerProjectEnable {
		// As in Harbor, only system administrators choose a limit; everyone else's projects
		// get the configured default (storage_per_project), as do requests without one.
		settings.StorageLimit = cfg.StoragePerProject
		if req.StorageLimit != nil && *req.StorageLimit != 0 && c.p.SysAdmin {
			if err := validStorageLimit(*req.StorageLimit); err != nil {
				return err
			}
			settings.StorageLimit = *req.StorageLimit
		}
		if validStorageLimit(settings.StorageLimit) != nil {
			settings.StorageLimit = meta.Unlimited
		}
	}
	if req.CVEAllowlist != nil {
		if req.CVEAllowlist.ProjectID != nil && *req.CVEAllowlist.ProjectID != 0 {
			return badRequest("project_id in cve_allowlist must be left out (or 0) when creating a project")
		}
		if settings.Allowlist, err = req.CVEAllowlist.validItems(); err != nil {
			return err
		}
		settings.AllowlistExp = req.CVEAllowlist.ExpiresAt
	}
	owner := c.p.ID
	if c.p.Kind != auth.User {
		// Robots own nothing: their projects belong to the first system administrator.
		if owner, err = h.DB.DefaultProjectOwner(ctx); err != nil {
			return err
		}
	}
	p := meta.Project{Name: req.ProjectName, OwnerID: owner, Public: public != nil && *public, Metadata: md}
	id, err := h.DB.CreateProjectWith(ctx, p, settings)
	if errors.Is(err, meta.ErrConflict) {
		return conflict(fmt.Sprintf("The project named %s already exists", req.ProjectName))
	}
	if err != nil {
		return err
	}
	h.audit(c, id, "create", "project", req.ProjectName)
	loc := strconv.FormatInt(id, 10)
	if headerTrue(c, "X-Resource-Name-In-Location") {
		loc = req.ProjectName
	}
	return created(c, base+"/projects/"+loc)
}

// project resolves a name or id (Harbor accepts both; X-Is-Resource-Name forces the name) and
// checks that the caller can see it. Invisible projects are "not found".
func (h *Handler) project(c *call, ref string) (meta.Project, error) {
	_, err := strconv.ParseInt(ref, 10, 64)
	return h.resolveProject(c, ref, err != nil || headerTrue(c, "X-Is-Resource-Name"))
}

// headerTrue reads one of Harbor's boolean headers (absent or unparsable: false).
func headerTrue(c *call, name string) bool {
	b, _ := strconv.ParseBool(c.r.Header.Get(name))
	return b
}

// projectByName resolves a path parameter that is always a project name.
func (h *Handler) projectByName(c *call, name string) (meta.Project, error) {
	return h.resolveProject(c, name, true)
}

func (h *Handler) resolveProject(c *call, ref string, byName bool) (meta.Project, error) {
	return h.Projects.Find(c.r.Context(), ref, byName)
}

// projectAndAuthorize resolves the path's project and checks one permission in it.
func (h *Handler) projectAndAuthorize(c *call, res rbac.Resource, act rbac.Action) (meta.Project, error) {
	p, err := h.project(c, pathValue(c, "project_name_or_id"))
	if err != nil {
		return p, err
	}
	return p, h.authorize(c, p, res, act)
}

func (h *Handler) getProject(c *call) error {
	// Seeing a project is not reading it: a robot sees the projects it holds any permission in,
	// but reads one only with project:read (for users the two are the same).
	p, err := h.projectAndAuthorize(c, rbac.ResProject, rbac.ActRead)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	md, err := h.DB.ProjectMetadata(ctx, p.ID)
	if err != nil {
		return err
	}
	al, err := h.DB.CVEAllowlist(ctx, p.ID)
	if err != nil {
		return err
	}
	out, err := h.projectJSON(c, p, md, &al)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// headProject answers whether a project name is taken: 200 if it is and the caller can see it,
// 404 if it is free. A taken name the caller cannot see is 403 (401 anonymous), as in Harbor,
// so the portal still reports it taken.
func (h *Handler) headProject(c *call) error {
	name := c.r.URL.Query().Get("project_name")
	if name == "" {
		return badRequest("project_name is required")
	}
	p, err := h.DB.ProjectByName(c.r.Context(), name)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("project %s not found", name))
	}
	if err != nil {
		return err
	}
	ok, err := h.Authz.CanSeeProject(c.r.Context(), c.p, p)
	if err != nil {
		return err
	}
	if !ok {
		if c.p.IsAnonymous() {
			return unauthorized()
		}
		return forbidden()
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
	ctx := c.r.Context()
	ps, total, err := h.DB.ListProjectsPage(ctx, lq, rbac.Visibility(c.p))
	if err != nil {
		return err
	}
	var mds map[int64]map[string]string
	var als map[int64]meta.CVEAllowlist
	if detail {
		ids := make([]int64, len(ps))
		for i, p := range ps {
			ids[i] = p.ID
		}
		if mds, err = h.DB.ProjectsMetadata(ctx, ids); err != nil {
			return err
		}
		if als, err = h.DB.CVEAllowlists(ctx, ids); err != nil {
			return err
		}
	}
	out := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		var al *meta.CVEAllowlist
		if detail {
			l := als[p.ID]
			al = &l
		}
		j, err := h.projectJSON(c, p, mds[p.ID], al)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) updateProject(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResProject, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var req projectReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if req.ProjectName != "" && req.ProjectName != p.Name {
		return badRequest("a project cannot be renamed: project_name must be left out or equal " + p.Name)
	}
	if req.RegistryID != nil && *req.RegistryID != 0 {
		return badRequest("registry_id cannot be changed")
	}
	var u meta.ProjectUpdate
	if u.Public, u.Metadata, err = splitMetadata(req.Metadata); err != nil {
		return err
	}
	if u.Public == nil {
		u.Public = req.Public
	}
	if l := req.CVEAllowlist; l != nil {
		if l.ProjectID != nil && *l.ProjectID != 0 && *l.ProjectID != p.ID {
			return badRequest(fmt.Sprintf("project_id in cve_allowlist must be %d but it's %d", p.ID, *l.ProjectID))
		}
		items, err := l.validItems()
		if err != nil {
			return err
		}
		u.Allowlist = &meta.CVEAllowlist{ProjectID: p.ID, Items: items, ExpiresAt: l.ExpiresAt}
	}
	// The quota is managed through /quotas; a system administrator may also set it here.
	// Harbor ignores storage_limit on update, so others' values are ignored too.
	if req.StorageLimit != nil && c.p.SysAdmin {
		if err := validStorageLimit(*req.StorageLimit); err != nil {
			return err
		}
		u.StorageLimit = req.StorageLimit
	}
	err = h.DB.UpdateProject(c.r.Context(), p.ID, u)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("project %s not found", p.Name))
	}
	if err != nil {
		return err
	}
	return ok(c)
}

const notDeletableMessage = "the project contains repositories, can not be deleted"

func (h *Handler) deleteProject(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResProject, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = h.DB.DeleteProject(c.r.Context(), p.ID)
	switch {
	case errors.Is(err, meta.ErrNotEmpty):
		return precondition(notDeletableMessage)
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("project %s not found", p.Name))
	case err != nil:
		return err
	}
	h.audit(c, p.ID, "delete", "project", p.Name)
	return ok(c)
}

func (h *Handler) projectDeletable(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResProject, rbac.ActDelete)
	if err != nil {
		return err
	}
	out := struct {
		Deletable bool   `json:"deletable"`
		Message   string `json:"message,omitempty"`
	}{Deletable: p.RepoCount == 0}
	if !out.Deletable {
		out.Message = notDeletableMessage
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// resourceList is Harbor's ResourceList: {"storage": bytes}.
type resourceList map[string]int64

func (h *Handler) projectSummary(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResProject, rbac.ActRead)
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
	out.RepoCount = p.RepoCount
	ctx := c.r.Context()
	// As in Harbor, each part appears only to those who may read it.
	if ok, err := h.Authz.Can(ctx, c.p, p, rbac.ResQuota, rbac.ActRead); err != nil {
		return err
	} else if ok {
		q, err := h.DB.QuotaByProject(ctx, p.ID)
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		if err == nil {
			out.Quota = &quotaSummary{Hard: resourceList{"storage": q.Hard}, Used: resourceList{"storage": q.Used}}
		}
	}
	if ok, err := h.Authz.Can(ctx, c.p, p, rbac.ResMember, rbac.ActList); err != nil {
		return err
	} else if ok {
		counts, err := h.DB.MemberRoleCounts(ctx, p.ID)
		if err != nil {
			return err
		}
		n := func(role int) *int64 { v := counts[role]; return &v }
		out.ProjectAdminCount, out.MaintainerCount = n(meta.RoleProjectAdmin), n(meta.RoleMaintainer)
		out.DeveloperCount, out.GuestCount, out.LimitedGuestCount = n(meta.RoleDeveloper), n(meta.RoleGuest), n(meta.RoleLimitedGuest)
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) listProjectMetadata(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResMetadata, rbac.ActList)
	if err != nil {
		return err
	}
	md, err := h.DB.ProjectMetadata(c.r.Context(), p.ID)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, withPublic(md, p.Public))
	return nil
}

func (h *Handler) addProjectMetadata(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResMetadata, rbac.ActCreate)
	if err != nil {
		return err
	}
	var in map[string]string
	if err := decode(c.r, &in); err != nil {
		return err
	}
	if len(in) == 0 {
		return badRequest("the body must name at least one metadata key and its value")
	}
	md := make(map[string]string, len(in))
	for k, v := range in {
		if md[k], err = validMetadata(k, v); err != nil {
			return err
		}
	}
	err = h.DB.AddProjectMetadata(c.r.Context(), p.ID, md)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return conflict("the metadata already exists: update it with PUT .../metadatas/{meta_name}")
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("project %s not found", p.Name))
	case err != nil:
		return err
	}
	return ok(c)
}

func (h *Handler) getProjectMetadata(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResMetadata, rbac.ActRead)
	if err != nil {
		return err
	}
	name := pathValue(c, "meta_name")
	md, err := h.DB.ProjectMetadata(c.r.Context(), p.ID)
	if err != nil {
		return err
	}
	v, found := withPublic(md, p.Public)[name]
	if !found {
		return notFound(fmt.Sprintf("metadata %s of project %s not found", name, p.Name))
	}
	writeJSON(c.w, http.StatusOK, map[string]string{name: v})
	return nil
}

func (h *Handler) updateProjectMetadata(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResMetadata, rbac.ActUpdate)
	if err != nil {
		return err
	}
	name := pathValue(c, "meta_name")
	var in map[string]string
	if err := decode(c.r, &in); err != nil {
		return err
	}
	value, found := in[name]
	if !found || len(in) != 1 {
		return badRequest(fmt.Sprintf("the body must be {%q: value}", name))
	}
	if value, err = validMetadata(name, value); err != nil {
		return err
	}
	var u meta.ProjectUpdate
	if name == "public" {
		b := value == "true"
		u.Public = &b
	} else {
		u.Metadata = map[string]string{name: value}
	}
	if err := h.DB.UpdateProject(c.r.Context(), p.ID, u); errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("project %s not found", p.Name))
	} else if err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteProjectMetadata(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResMetadata, rbac.ActDelete)
	if err != nil {
		return err
	}
	name := pathValue(c, "meta_name")
	err = h.DB.DeleteProjectMetadata(c.r.Context(), p.ID, name)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(fmt.Sprintf("metadata %s of project %s not found", name, p.Name))
	}
	if err != nil {
		return err
	}
	return ok(c)
}
