package api

// Tag immutability rules of a project (swagger tag "immutable"). The rules are checked here and
// stored through the metadata store; the registry enforces them on /v2/ and on the API's
// content changes (internal/registry/immutable.go).

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/retention"
)

// immutableRoutes registers the endpoints for immutability rules.
func (h *Handler) immutableRoutes(r route) {
	const rules = "/projects/{project_name_or_id}/immutabletagrules"
	r("GET "+rules, h.listImmutableRules)
	r("POST "+rules, h.createImmutableRule)
	r("PUT "+rules+"/{immutable_rule_id}", h.updateImmutableRule)
	r("DELETE "+rules+"/{immutable_rule_id}", h.deleteImmutableRule)
}

// immutableRuleReq is an ImmutableRule as clients send it: Harbor's portal adds the project's
// id, which the path decides (Harbor ignores it too).
type immutableRuleReq struct {
	retention.ImmutableRule
	ProjectID int64 `json:"project_id"`
}

func (h *Handler) listImmutableRules(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResImmutableTag, rbac.ActList)
	if err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	rows, total, err := h.DB.ListImmutableRules(c.r.Context(), p.ID, lq)
	if err != nil {
		return err
	}
	out := make([]retention.ImmutableRule, 0, len(rows))
	for _, row := range rows {
		r, err := retention.ImmutableRuleOf(row)
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (h *Handler) createImmutableRule(c *call) error {
	p, err := h.projectAndAuthorize(c, rbac.ResImmutableTag, rbac.ActCreate)
	if err != nil {
		return err
	}
	var req immutableRuleReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	rule := req.ImmutableRule
	if err := rule.Normalize(); err != nil {
		return badRequest(err.Error())
	}
	row, err := rule.Row(p.ID)
	if err != nil {
		return err
	}
	id, err := h.DB.CreateImmutableRule(c.r.Context(), row, retention.MaxImmutableRules)
	if err := immutableRuleError(err, p, 0); err != nil {
		return err
	}
	return created(c, strings.TrimSuffix(c.r.URL.Path, "/")+"/"+strconv.FormatInt(id, 10))
}

// updateImmutableRule replaces a rule, or, when the body names no selectors
// ({"disabled":true}), only enables or disables it.
func (h *Handler) updateImmutableRule(c *call) error {
	id, err := pathID(c, "immutable_rule_id", "immutable rule")
	if err != nil {
		return err
	}
	p, err := h.projectAndAuthorize(c, rbac.ResImmutableTag, rbac.ActUpdate)
	if err != nil {
		return err
	}
	var req immutableRuleReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	rule := req.ImmutableRule
	if rule.ID != 0 && rule.ID != id {
		return badRequest("the immutable_rule_id doesn't match the id in the payload body of ImmutableRule")
	}
	ctx := c.r.Context()
	if rule.Tags == nil && rule.Scope == nil {
		err = h.DB.SetImmutableRuleDisabled(ctx, p.ID, id, rule.Disabled)
	} else {
		if err := rule.Normalize(); err != nil {
			return badRequest(err.Error())
		}
		rule.ID = id
		var row meta.ImmutableRule
		if row, err = rule.Row(p.ID); err != nil {
			return err
		}
		err = h.DB.UpdateImmutableRule(ctx, row)
	}
	if err := immutableRuleError(err, p, id); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteImmutableRule(c *call) error {
	id, err := pathID(c, "immutable_rule_id", "immutable rule")
	if err != nil {
		return err
	}
	p, err := h.projectAndAuthorize(c, rbac.ResImmutableTag, rbac.ActDelete)
	if err != nil {
		return err
	}
	if err := immutableRuleError(h.DB.DeleteImmutableRule(c.r.Context(), p.ID, id), p, id); err != nil {
		return err
	}
	return ok(c)
}

// immutableRuleError answers the store's refusals of a rule change (id 0: a new rule).
func immutableRuleError(err error, p meta.Project, id int64) error {
	switch {
	case errors.Is(err, meta.ErrConflict):
		return conflict(fmt.Sprintf("an immutable tag rule with the same selectors already exists in project %s", p.Name))
	case errors.Is(err, meta.ErrRuleLimit):
		return badRequest(fmt.Sprintf("project %s already has %d immutable tag rules, the most it may have", p.Name, retention.MaxImmutableRules))
	case errors.Is(err, meta.ErrNotFound) && id == 0:
		return notFound(fmt.Sprintf("project %s not found", p.Name))
	case errors.Is(err, meta.ErrNotFound):
		return notFound(fmt.Sprintf("immutable tag rule %d not found in project %s", id, p.Name))
	}
	return err
}
