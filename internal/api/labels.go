package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// labelRoutes registers the endpoints for labels.
func (h *Handler) labelRoutes(r route) {
	r("GET /labels", h.listLabels)
	r("POST /labels", h.createLabel)
	r("GET /labels/{label_id}", h.getLabel)
	r("PUT /labels/{label_id}", h.updateLabel)
	r("DELETE /labels/{label_id}", h.deleteLabel)
}

// Labels are global (scope "g", managed by system administrators) or belong to one project
// (scope "p", managed by its project administrators and maintainers, readable by whoever may
// read the project's labels).

var labelColorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

const maxLabelName = 128

// labelJSON is Harbor's Label; requests use it too (id and times are read-only).
type labelJSON struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Color        string `json:"color"`
	Scope        string `json:"scope"`
	ProjectID    int64  `json:"project_id"`
	CreationTime string `json:"creation_time"`
	UpdateTime   string `json:"update_time"`
}

func toLabelJSON(l meta.Label) labelJSON {
	return labelJSON{ID: l.ID, Name: l.Name, Description: l.Description, Color: l.Color, Scope: l.Scope,
		ProjectID: l.ProjectID, CreationTime: harborTime(l.CreatedAt), UpdateTime: harborTime(l.UpdatedAt)}
}

// validLabel checks what a label's author controls: name and color.
func validLabel(l labelJSON) error {
	if l.Name == "" {
		return badRequest("name is required")
	}
	if len(l.Name) > maxLabelName {
		return badRequest(fmt.Sprintf("name is longer than %d characters", maxLabelName))
	}
	if l.Color != "" && !labelColorRE.MatchString(l.Color) {
		return badRequest(fmt.Sprintf("invalid color %q: want #RRGGBB", l.Color))
	}
	return nil
}

// labelAccess checks that the caller may perform act on labels of the label's scope: system
// administrators for global labels, the project's roles for project labels. A project the
// caller cannot see answers "not found" (notFoundMsg).
func (h *Handler) labelAccess(c *call, l meta.Label, act rbac.Action, notFoundMsg string) error {
	if l.Scope == meta.LabelScopeGlobal {
		if act == rbac.ActRead || act == rbac.ActList {
			return h.requireSignedIn(c)
		}
		return h.authorizeSystem(c, rbac.ResLabel, act)
	}
	p, err := h.DB.ProjectByID(c.r.Context(), l.ProjectID)
	if errors.Is(err, meta.ErrNotFound) {
		return notFound(notFoundMsg)
	}
	if err != nil {
		return err
	}
	visible, err := h.Authz.CanSeeProject(c.r.Context(), c.p, p)
	if err != nil {
		return err
	}
	if !visible {
		if c.p.IsAnonymous() {
			return unauthorized()
		}
		return notFound(notFoundMsg)
	}
	return h.authorize(c, p, rbac.ResLabel, act)
}

func (h *Handler) listLabels(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	params := c.r.URL.Query()
	q := meta.LabelQuery{Scope: params.Get("scope"), Name: params.Get("name"), List: lq}
	switch q.Scope {
	case meta.LabelScopeGlobal:
	case meta.LabelScopeProject:
		pid, err := strconv.ParseInt(params.Get("project_id"), 10, 64)
		if err != nil || pid <= 0 {
			return badRequest("must with project ID when to query project labels")
		}
		q.ProjectID = pid
		if err := h.labelAccess(c, meta.Label{Scope: meta.LabelScopeProject, ProjectID: pid}, rbac.ActList,
			fmt.Sprintf("project %d not found", pid)); err != nil {
			return err
		}
	default:
		return badRequest(fmt.Sprintf("invalid scope: %s", q.Scope))
	}
	labels, total, err := h.DB.ListLabels(c.r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]labelJSON, 0, len(labels))
	for _, l := range labels {
		out = append(out, toLabelJSON(l))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) createLabel(c *call) error {
	if err := h.requireSignedIn(c); err != nil {
		return err
	}
	var req labelJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := validLabel(req); err != nil {
		return err
	}
	l := meta.Label{Name: req.Name, Description: req.Description, Color: req.Color, Scope: req.Scope, ProjectID: req.ProjectID}
	switch l.Scope {
	case meta.LabelScopeGlobal:
		l.ProjectID = 0
	case meta.LabelScopeProject:
		if l.ProjectID <= 0 {
			return badRequest(fmt.Sprintf("invalid project ID: %d", l.ProjectID))
		}
	default:
		return badRequest(fmt.Sprintf("unrecognized scope: %q (g or p)", l.Scope))
	}
	if err := h.labelAccess(c, l, rbac.ActCreate, fmt.Sprintf("project %d not found", l.ProjectID)); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			return badRequest(fmt.Sprintf("invalid project ID: %d", l.ProjectID))
		}
		return err
	}
	id, err := h.DB.CreateLabel(c.r.Context(), l)
	if errors.Is(err, meta.ErrConflict) {
		return conflict(fmt.Sprintf("label %s already exists", l.Name))
	}
	if err != nil {
		return err
	}
	return created(c, base+"/labels/"+strconv.FormatInt(id, 10))
}

// labelAt resolves the label_id path parameter, checking the caller may perform act on it.
func (h *Handler) labelAt(c *call, act rbac.Action) (meta.Label, error) {
	raw := c.r.PathValue("label_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return meta.Label{}, badRequest(fmt.Sprintf("invalid label ID %q", raw))
	}
	msg := fmt.Sprintf("label %d not found", id)
	l, err := h.DB.LabelByID(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) {
		if c.p.IsAnonymous() {
			return l, unauthorized()
		}
		return l, notFound(msg)
	}
	if err != nil {
		return l, err
	}
	return l, h.labelAccess(c, l, act, msg)
}

func (h *Handler) getLabel(c *call) error {
	l, err := h.labelAt(c, rbac.ActRead)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toLabelJSON(l))
	return nil
}

func (h *Handler) updateLabel(c *call) error {
	l, err := h.labelAt(c, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var req labelJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	// Only name, description and color change: scope and project are fixed at creation.
	if err := validLabel(req); err != nil {
		return err
	}
	l.Name, l.Description, l.Color = req.Name, req.Description, req.Color
	err = h.DB.UpdateLabel(c.r.Context(), l)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("label %s already exists", l.Name))
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("label %d not found", l.ID))
	case err != nil:
		return err
	}
	return ok(c)
}

func (h *Handler) deleteLabel(c *call) error {
	l, err := h.labelAt(c, rbac.ActDelete)
	if err != nil {
		return err
	}
	// Deleting the label detaches it from every artifact in the same statement (cascade).
	if err := h.DB.DeleteLabel(c.r.Context(), l.ID); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return notFound(fmt.Sprintf("label %d not found", l.ID))
		}
		return err
	}
	return ok(c)
}
