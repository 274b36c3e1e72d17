package retention

// Tag immutability (Harbor's immutable tag rules, /projects/{p}/immutabletagrules): a tag that
// an enabled rule of its project picks cannot be moved to other content or deleted, nor can
// its artifact; its first push is allowed. The registry enforces it (registry.ImmutableTags).

import (
	"encoding/json"
	"fmt"

	"github.com/berthreg/berth/internal/meta"
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
	return r.Selectors.Validate()
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
