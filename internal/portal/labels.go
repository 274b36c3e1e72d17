package portal

// Labels: a project's labels (/projects/{project}/labels, scope "p") and the system's global
// labels (/admin/labels, scope "g"), one set of pages for both. Everything goes through the
// label service (internal/label), as /api/v2.0/labels does; its rules decide who may read and
// change which labels.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// projectPagesRoutes are the routes of a project's labels, policies and logs, and of the
// global labels.
func (h *Handler) projectPagesRoutes(mux *http.ServeMux) {
	for _, base := range []string{"/projects/{project}/labels", "/admin/labels"} {
		mux.Handle("GET "+base, h.page(h.listLabels))
		mux.Handle("POST "+base, h.change(h.createLabel))
		mux.Handle("GET "+base+"/{label}/edit", h.page(h.editLabelForm))
		mux.Handle("POST "+base+"/{label}", h.change(h.updateLabel))
		mux.Handle("GET "+base+"/{label}/delete", h.page(h.deleteLabelForm))
		mux.Handle("POST "+base+"/{label}/delete", h.change(h.deleteLabel))
	}
	h.policyRoutes(mux)
	mux.Handle("GET /projects/{project}/logs", h.page(h.projectLogs))
}

// labelScope is where the labels of a page belong: a project, or the system.
type labelScope struct {
	// Project is the project's name, "" for the global labels.
	Project   string
	Tabs      projectTabs
	Base      string // the list's URL
	CanCreate bool
	CanUpdate bool
	CanDelete bool
	scope     string
	projectID int64
}

func (h *Handler) labelScope(c *call) (labelScope, error) {
	name := c.r.PathValue("project")
	can := map[rbac.Action]bool{}
	acts := []rbac.Action{rbac.ActCreate, rbac.ActUpdate, rbac.ActDelete}
	var s labelScope
	if name == "" {
		if err := requireSignedIn(c); err != nil {
			return s, err
		}
		s = labelScope{Base: "/admin/labels", scope: meta.LabelScopeGlobal}
		for _, act := range acts {
			ok, err := h.Labels.CanGlobal(c.ctx(), act)
			if err != nil {
				return s, err
			}
			can[act] = ok
		}
	} else {
		v, err := h.Projects.Get(c.ctx(), name, true)
		if err != nil {
			return s, err
		}
		s = labelScope{Project: v.Project.Name, Base: "/projects/" + url.PathEscape(v.Project.Name) + "/labels",
			scope: meta.LabelScopeProject, projectID: v.Project.ID}
		if s.Tabs, err = h.projectTabs(c, v, "labels"); err != nil {
			return s, err
		}
		for _, act := range acts {
			if can[act], err = h.Projects.Can(c.ctx(), v.Project, rbac.ResLabel, act); err != nil {
				return s, err
			}
		}
	}
	s.CanCreate, s.CanUpdate, s.CanDelete = can[rbac.ActCreate], can[rbac.ActUpdate], can[rbac.ActDelete]
	return s, nil
}

var labelSortKeys = []string{"name", "creation_time", "update_time"}

// labelForm is what the create and edit forms hold.
type labelForm struct {
	Name, Description, Color string
}

// defaultLabelColor is the colour the create form starts with.
const defaultLabelColor = "#0b5cad"

type labelsPage struct {
	labelScope
	Rows   []meta.Label
	List   listing
	Form   labelForm
	Notice string
	Error  string
}

var labelNotices = map[string]string{
	"created": "The label was created.",
	"updated": "The label was saved.",
	"deleted": "The label was deleted.",
}

func (h *Handler) listLabels(c *call) error {
	s, err := h.labelScope(c)
	if err != nil {
		return err
	}
	pg := labelsPage{labelScope: s, Notice: labelNotices[c.r.URL.Query().Get("done")], Form: labelForm{Color: defaultLabelColor}}
	return h.renderLabels(c, pg, http.StatusOK)
}

func (h *Handler) renderLabels(c *call, pg labelsPage, code int) error {
	lq, l, err := parseListing(c.r, labelSortKeys)
	if err != nil {
		return err
	}
	q := meta.LabelQuery{Scope: pg.scope, ProjectID: pg.projectID, List: lq}
	if f, ok := q.List.Take("name"); ok {
		q.Name = f.Values[0]
	}
	rows, total, err := h.Labels.List(c.ctx(), q)
	if err != nil {
		return err
	}
	l.Total = total
	pg.Rows, pg.List = rows, l
	h.render(c.w, c, code, "labels", pg)
	return nil
}

// formLabel reads the create and edit forms.
func formLabel(c *call) labelForm {
	f := c.r.PostForm
	return labelForm{Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description")), Color: strings.TrimSpace(f.Get("color"))}
}

func (h *Handler) createLabel(c *call) error {
	s, err := h.labelScope(c)
	if err != nil {
		return err
	}
	form := formLabel(c)
	_, err = h.Labels.Create(c.ctx(), meta.Label{Name: form.Name, Description: form.Description, Color: form.Color,
		Scope: s.scope, ProjectID: s.projectID})
	if err != nil {
		code, msg, ok := formRefusal(err)
		if !ok {
			return err
		}
		return h.renderLabels(c, labelsPage{labelScope: s, Form: form, Error: msg}, code)
	}
	http.Redirect(c.w, c.r, s.Base+"?done=created", http.StatusSeeOther)
	return nil
}

// scopedLabel is the label with the id in the path, of the page's scope: a label of another
// project, or a global one under a project, is not found here.
func (h *Handler) scopedLabel(c *call) (labelScope, meta.Label, error) {
	s, err := h.labelScope(c)
	if err != nil {
		return s, meta.Label{}, err
	}
	raw := c.r.PathValue("label")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return s, meta.Label{}, fault.NotFoundf("There is no label %q here.", raw)
	}
	l, err := h.Labels.Get(c.ctx(), id)
	if err != nil {
		return s, l, err
	}
	if l.Scope != s.scope || l.ProjectID != s.projectID && s.scope == meta.LabelScopeProject {
		return s, l, fault.NotFoundf("There is no label %d here.", id)
	}
	return s, l, nil
}

type labelEditPage struct {
	labelScope
	Label meta.Label
	Form  labelForm
	Error string
}

func (h *Handler) editLabelForm(c *call) error {
	s, l, err := h.scopedLabel(c)
	if err != nil {
		return err
	}
	// Those who may not change labels get the refusal the service would give, not a form.
	if !s.CanUpdate {
		return fault.ErrForbidden
	}
	color := l.Color
	if color == "" {
		color = defaultLabelColor
	}
	h.render(c.w, c, http.StatusOK, "label_edit", labelEditPage{labelScope: s, Label: l, Form: labelForm{Name: l.Name, Description: l.Description, Color: color}})
	return nil
}

func (h *Handler) updateLabel(c *call) error {
	s, l, err := h.scopedLabel(c)
	if err != nil {
		return err
	}
	form := formLabel(c)
	if err := h.Labels.Update(c.ctx(), meta.Label{ID: l.ID, Name: form.Name, Description: form.Description, Color: form.Color}); err != nil {
		code, msg, ok := formRefusal(err)
		if !ok {
			return err
		}
		h.render(c.w, c, code, "label_edit", labelEditPage{labelScope: s, Label: l, Form: form, Error: msg})
		return nil
	}
	http.Redirect(c.w, c.r, s.Base+"?done=updated", http.StatusSeeOther)
	return nil
}

func (h *Handler) deleteLabelForm(c *call) error {
	s, l, err := h.scopedLabel(c)
	if err != nil {
		return err
	}
	if !s.CanDelete {
		return fault.ErrForbidden
	}
	h.render(c.w, c, http.StatusOK, "label_delete", labelEditPage{labelScope: s, Label: l})
	return nil
}

func (h *Handler) deleteLabel(c *call) error {
	s, l, err := h.scopedLabel(c)
	if err != nil {
		return err
	}
	if err := h.Labels.Delete(c.ctx(), l.ID); err != nil {
		return err
	}
	http.Redirect(c.w, c.r, s.Base+"?done=deleted", http.StatusSeeOther)
	return nil
}
