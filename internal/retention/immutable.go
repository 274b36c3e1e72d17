package retention

// Tag immutability (Harbor's immutable tag rules, /projects/{p}/immutabletagrules): a tag that
// an enabled rule of its project picks cannot be moved to other content or deleted, nor can
// its artifact; its first push is allowed. The rules are kept here (ImmutableRules); the
// registry enforces them (registry.ImmutableTags).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/project"
	"github.com/berthreg/berth/internal/rbac"
)

// Harbor's fixed values of an immutability rule.
const (
	ActionImmutable   = "immutable"
	TemplateImmutable = "immutable_template"
)

// MaxImmutableRules is how many immutability rules a project may hold.
const MaxImmutableRules = 15

// ImmutableRule is Harbor's ImmutableRule, as the API shows it.
type ImmutableRule struct {
	ID       int64          `json:"id"`
	Priority int            `json:"priority"`
	Disabled bool           `json:"disabled"`
	Action   string         `json:"action"`
	Template string         `json:"template"`
	Params   map[string]any `json:"params"`
	Selectors
}

// Normalize fills in the values Harbor fixes (action, template, empty params) where the
// client left them out, then validates the rule: another action or template, or invalid
// selectors, are errors that name the field.
func (r *ImmutableRule) Normalize() error {
	if r.Action == "" {
		r.Action = ActionImmutable
	}
	if r.Action != ActionImmutable {
		return fmt.Errorf("action: unknown action %q (want %q)", r.Action, ActionImmutable)
	}
	if r.Template == "" {
		r.Template = TemplateImmutable
	}
	if r.Template != TemplateImmutable {
		return fmt.Errorf("template: unknown template %q (want %q)", r.Template, TemplateImmutable)
	}
	if r.Params == nil {
		r.Params = map[string]any{}
	}
	return r.Selectors.Normalize()
}

// storedRule is what the store keeps as the rule's JSON; id, priority and disabled are
// columns of their own.
type storedRule struct {
	Action   string         `json:"action"`
	Template string         `json:"template"`
	Params   map[string]any `json:"params"`
	Selectors
}

// Row is the rule as the store keeps it in the project.
func (r ImmutableRule) Row(projectID int64) (meta.ImmutableRule, error) {
	b, err := json.Marshal(storedRule{Action: r.Action, Template: r.Template, Params: r.Params, Selectors: r.Selectors})
	if err != nil {
		return meta.ImmutableRule{}, fmt.Errorf("immutable rule: %w", err)
	}
	return meta.ImmutableRule{ID: r.ID, ProjectID: projectID, Priority: r.Priority, Disabled: r.Disabled, Rule: string(b), Key: r.Key()}, nil
}

// ImmutableRuleOf reads a stored rule.
func ImmutableRuleOf(row meta.ImmutableRule) (ImmutableRule, error) {
	var s storedRule
	if err := json.Unmarshal([]byte(row.Rule), &s); err != nil {
		return ImmutableRule{}, fmt.Errorf("immutable rule %d: %w", row.ID, err)
	}
	r := ImmutableRule{ID: row.ID, Priority: row.Priority, Disabled: row.Disabled, Action: s.Action, Template: s.Template, Params: s.Params, Selectors: s.Selectors}
	if r.Params == nil {
		r.Params = map[string]any{}
	}
	if r.Tags == nil {
		r.Tags = []Selector{}
	}
	if r.Scope == nil {
		r.Scope = map[string][]Selector{}
	}
	return r, nil
}

// ImmutableStore is what the immutability rule service reads and writes.
type ImmutableStore interface {
	ListImmutableRules(ctx context.Context, projectID int64, lq meta.ListQuery) ([]meta.ImmutableRule, int64, error)
	CreateImmutableRule(ctx context.Context, r meta.ImmutableRule, limit int) (int64, error)
	UpdateImmutableRule(ctx context.Context, r meta.ImmutableRule) error
	SetImmutableRuleDisabled(ctx context.Context, projectID, id int64, disabled bool) error
	DeleteImmutableRule(ctx context.Context, projectID, id int64) error
}

// ImmutableRules holds the rules of a project's immutability rules. A project is named by ref:
// its name, or its id unless byName.
type ImmutableRules struct {
	Store    ImmutableStore
	Projects *project.Service
}

// List returns one page of a project's rules and their total.
func (s *ImmutableRules) List(ctx context.Context, ref string, byName bool, lq meta.ListQuery) ([]ImmutableRule, int64, error) {
	p, err := s.Projects.FindFor(ctx, ref, byName, rbac.ResImmutableTag, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	rows, total, err := s.Store.ListImmutableRules(ctx, p.ID, lq)
	if err != nil {
		return nil, 0, err
	}
	out := make([]ImmutableRule, 0, len(rows))
	for _, row := range rows {
		r, err := ImmutableRuleOf(row)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, nil
}

// Create adds a rule to a project and returns its id.
func (s *ImmutableRules) Create(ctx context.Context, ref string, byName bool, rule ImmutableRule) (int64, error) {
	p, err := s.Projects.FindFor(ctx, ref, byName, rbac.ResImmutableTag, rbac.ActCreate)
	if err != nil {
		return 0, err
	}
	if err := rule.Normalize(); err != nil {
		return 0, fault.Invalidf("%v", err)
	}
	row, err := rule.Row(p.ID)
	if err != nil {
		return 0, err
	}
	id, err := s.Store.CreateImmutableRule(ctx, row, MaxImmutableRules)
	return id, immutableRuleError(err, p, 0)
}

// Update replaces rule id of a project, or, when the rule names no selectors (a body of
// {"disabled":true}), only enables or disables it. The rule's own id, if any, must be id.
func (s *ImmutableRules) Update(ctx context.Context, ref string, byName bool, id int64, rule ImmutableRule) error {
	p, err := s.Projects.FindFor(ctx, ref, byName, rbac.ResImmutableTag, rbac.ActUpdate)
	if err != nil {
		return err
	}
	if rule.ID != 0 && rule.ID != id {
		return fault.Invalidf("the immutable_rule_id doesn't match the id in the payload body of ImmutableRule")
	}
	if rule.Tags == nil && rule.Scope == nil {
		return immutableRuleError(s.Store.SetImmutableRuleDisabled(ctx, p.ID, id, rule.Disabled), p, id)
	}
	if err := rule.Normalize(); err != nil {
		return fault.Invalidf("%v", err)
	}
	rule.ID = id
	row, err := rule.Row(p.ID)
	if err != nil {
		return err
	}
	return immutableRuleError(s.Store.UpdateImmutableRule(ctx, row), p, id)
}

// Delete removes rule id of a project.
func (s *ImmutableRules) Delete(ctx context.Context, ref string, byName bool, id int64) error {
	p, err := s.Projects.FindFor(ctx, ref, byName, rbac.ResImmutableTag, rbac.ActDelete)
	if err != nil {
		return err
	}
	return immutableRuleError(s.Store.DeleteImmutableRule(ctx, p.ID, id), p, id)
}

// immutableRuleError refuses what the store refused of a rule change (id 0: a new rule).
func immutableRuleError(err error, p meta.Project, id int64) error {
	switch {
	case errors.Is(err, meta.ErrConflict):
		return fault.Conflictf("an immutable tag rule with the same selectors already exists in project %s", p.Name)
	case errors.Is(err, meta.ErrRuleLimit):
		return fault.Invalidf("project %s already has %d immutable tag rules, the most it may have", p.Name, MaxImmutableRules)
	case errors.Is(err, meta.ErrNotFound) && id == 0:
		return fault.NotFoundf("project %s not found", p.Name)
	case errors.Is(err, meta.ErrNotFound):
		return fault.NotFoundf("immutable tag rule %d not found in project %s", id, p.Name)
	}
	return err
}
