package api

// Labels: /labels and /labels/{label_id}, global and project labels (the rules are
// label.Service's). Attaching labels to artifacts is in artifacts.go.

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/berthreg/berth/internal/meta"
)

// labelRoutes registers the endpoints for labels.
func (h *Handler) labelRoutes(r route) {
	r("GET /labels", h.listLabels)
	r("POST /labels", h.createLabel)
	r("GET /labels/{label_id}", h.getLabel)
	r("PUT /labels/{label_id}", h.updateLabel)
	r("DELETE /labels/{label_id}", h.deleteLabel)
}

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

func (h *Handler) listLabels(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	params := c.r.URL.Query()
	q := meta.LabelQuery{Scope: params.Get("scope"), Name: params.Get("name"), List: lq}
	// A project_id that is not a number names no project.
	if id, err := strconv.ParseInt(params.Get("project_id"), 10, 64); err == nil {
		q.ProjectID = id
	}
	labels, total, err := h.Labels.List(c.r.Context(), q)
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
	var req labelJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	id, err := h.Labels.Create(c.r.Context(), meta.Label{Name: req.Name, Description: req.Description, Color: req.Color,
		Scope: req.Scope, ProjectID: req.ProjectID})
	if err != nil {
		return err
	}
	return created(c, base+"/labels/"+strconv.FormatInt(id, 10))
}

// labelID reads the label_id path parameter.
func labelID(c *call) (int64, error) {
	raw := c.r.PathValue("label_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest(fmt.Sprintf("invalid label ID %q", raw))
	}
	return id, nil
}

func (h *Handler) getLabel(c *call) error {
	id, err := labelID(c)
	if err != nil {
		return err
	}
	l, err := h.Labels.Get(c.r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toLabelJSON(l))
	return nil
}

func (h *Handler) updateLabel(c *call) error {
	id, err := labelID(c)
	if err != nil {
		return err
	}
	var req labelJSON
	if err := decode(c.r, &req); err != nil {
		return err
	}
	if err := h.Labels.Update(c.r.Context(), meta.Label{ID: id, Name: req.Name, Description: req.Description, Color: req.Color}); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteLabel(c *call) error {
	id, err := labelID(c)
	if err != nil {
		return err
	}
	if err := h.Labels.Delete(c.r.Context(), id); err != nil {
		return err
	}
	return ok(c)
}
