package api

// Tag immutability rules of a project (swagger tag "immutable"), through the retention
// package's rule service; the registry enforces the rules on /v2/ and on the API's content
// changes (internal/registry/immutable.go).

import (
	"net/http"
	"strconv"
	"strings"

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
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	rules, total, err := h.Immutable.List(c.r.Context(), ref, byName, lq)
	if err != nil {
		return err
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, rules)
	return nil
}

func (h *Handler) createImmutableRule(c *call) error {
	var req immutableRuleReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	id, err := h.Immutable.Create(c.r.Context(), ref, byName, req.ImmutableRule)
	if err != nil {
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
	var req immutableRuleReq
	if err := decode(c.r, &req); err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Immutable.Update(c.r.Context(), ref, byName, id, req.ImmutableRule); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) deleteImmutableRule(c *call) error {
	id, err := pathID(c, "immutable_rule_id", "immutable rule")
	if err != nil {
		return err
	}
	ref, byName := projectRef(c, "project_name_or_id")
	if err := h.Immutable.Delete(c.r.Context(), ref, byName, id); err != nil {
		return err
	}
	return ok(c)
}
