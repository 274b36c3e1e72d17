package retention

// Tag retention policies (Harbor's /retentions, definitions RetentionPolicy and RetentionRule):
// the policy model exactly as Harbor's JSON shows it, its validation, and the rule templates.
// A project has at most one policy; its rules are OR-combined (engine.go), and it runs by hand
// or on its trigger's cron (run.go).

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
)

// Harbor's fixed values of a retention policy.
const (
	AlgorithmOR         = "or"
	ActionRetain        = "retain"
	TriggerKindSchedule = "Schedule"
	ScopeLevelProject   = "project"
)

// MaxRules is how many rules a policy may hold (Harbor: "only 15 rules are allowed at most").
const MaxRules = 15

// Policy is Harbor's RetentionPolicy.
type Policy struct {
	ID        int64    `json:"id"`
	Algorithm string   `json:"algorithm"`
	Rules     []Rule   `json:"rules"`
	Trigger   *Trigger `json:"trigger"`
	Scope     *Scope   `json:"scope"`
}

// Rule is Harbor's RetentionRule: which artifacts it looks at (its selectors) and which of
// those it retains (its template with its parameter).
type Rule struct {
	ID       int            `json:"id"`
	Priority int            `json:"priority"`
	Disabled bool           `json:"disabled"`
	Action   string         `json:"action"`
	Template string         `json:"template"`
	Params   map[string]any `json:"params"`
	Selectors
}

// Trigger is Harbor's RetentionRuleTrigger: kind "Schedule" with settings {"cron": "..."}; an
// empty cron means the policy runs only when asked to.
type Trigger struct {
	Kind     string         `json:"kind"`
	Settings map[string]any `json:"settings"`
	// References is in Harbor's spec and sent back by its portal, but means nothing: accepted
	// and dropped.
	References map[string]any `json:"references,omitempty"`
}

// Scope is Harbor's RetentionPolicyScope: level "project", ref the project's id.
type Scope struct {
	Level string `json:"level"`
	Ref   int64  `json:"ref"`
}

// ErrRuleConflict refuses a policy that holds the same rule twice (Harbor answers 409).
var ErrRuleConflict = errors.New("conflicting rules")

// Cron is the policy's schedule ("" for none).
func (p Policy) Cron() string {
	if p.Trigger == nil {
		return ""
	}
	s, _ := p.Trigger.Settings["cron"].(string)
	return s
}

// Normalize fills in what Harbor's portal and clients may leave out (algorithm "or", action
// "retain", an unscheduled trigger), numbers the rules 1…n, keeps of each rule's params only
// its template's parameter, and validates the policy. Errors name the field and say what is
// wanted; a rule given twice wraps ErrRuleConflict. Whether scope.ref names a project is for
// the caller to check.
func (p *Policy) Normalize() error {
	if p.Algorithm == "" {
		p.Algorithm = AlgorithmOR
	}
	if p.Algorithm != AlgorithmOR {
		return fmt.Errorf("algorithm: %q is not supported (want %q)", p.Algorithm, AlgorithmOR)
	}
	if p.Scope == nil {
		return fmt.Errorf(`scope is required: {"level":%q,"ref":<project id>}`, ScopeLevelProject)
	}
	if p.Scope.Level != ScopeLevelProject {
		return fmt.Errorf("scope.level: %q is not supported (want %q)", p.Scope.Level, ScopeLevelProject)
	}
	if p.Scope.Ref <= 0 {
		return fmt.Errorf("scope.ref: invalid project id %d", p.Scope.Ref)
	}
	if err := p.normalizeTrigger(); err != nil {
		return err
	}
	if len(p.Rules) > MaxRules {
		return fmt.Errorf("rules: only %d rules are allowed at most, got %d", MaxRules, len(p.Rules))
	}
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
	seen := map[string]int{}
	for i := range p.Rules {
		r := &p.Rules[i]
		if err := r.normalize(); err != nil {
			return fmt.Errorf("rules[%d].%w", i, err)
		}
		r.ID = i + 1
		// Harbor compares whole rules, ids aside.
		key, err := json.Marshal(Rule{Priority: r.Priority, Disabled: r.Disabled, Action: r.Action, Template: r.Template,
			Params: r.Params, Selectors: Selectors{Tags: sortedSelectors(r.Tags), Scope: map[string][]Selector{ScopeRepository: sortedSelectors(r.Repositories())}}})
		if err != nil {
			return err
		}
		if j, dup := seen[string(key)]; dup {
			return fmt.Errorf("%w: rules[%d] is the same rule as rules[%d]", ErrRuleConflict, i, j)
		}
		seen[string(key)] = i
	}
	return nil
}

func (p *Policy) normalizeTrigger() error {
	if p.Trigger == nil {
		p.Trigger = &Trigger{}
	}
	t := p.Trigger
	if t.Kind == "" {
		t.Kind = TriggerKindSchedule
	}
	if t.Kind != TriggerKindSchedule {
		return fmt.Errorf("trigger.kind: %q is not supported (want %q)", t.Kind, TriggerKindSchedule)
	}
	cron := ""
	switch v := t.Settings["cron"].(type) {
	case nil:
	case string:
		cron = strings.TrimSpace(v)
	default:
		return fmt.Errorf("trigger.settings.cron: want a string such as \"0 0 0 * * *\", got %v", v)
	}
	if cron != "" {
		if _, err := jobs.ParseCron(cron); err != nil {
			return fmt.Errorf("trigger.settings.cron: %w", err)
		}
	}
	t.Settings = map[string]any{"cron": cron}
	t.References = nil
	return nil
}

// normalize checks one rule; errors start with the field name, for Normalize to prefix.
func (r *Rule) normalize() error {
	if r.Action == "" {
		r.Action = ActionRetain
	}
	if r.Action != ActionRetain {
		return fmt.Errorf("action: %q is not supported (want %q)", r.Action, ActionRetain)
	}
	if r.Template == "" {
		return fmt.Errorf("template is required (one of %s)", strings.Join(templateIDs(), ", "))
	}
	tpl, ok := templateByID(r.Template)
	if !ok {
		return fmt.Errorf("template: unknown template %q (want one of %s)", r.Template, strings.Join(templateIDs(), ", "))
	}
	params := map[string]any{}
	if tpl.unit != "" {
		v, found := r.Params[tpl.id]
		if !found {
			return fmt.Errorf("params: missing required parameter %s for template %s", tpl.id, tpl.id)
		}
		n, err := paramInt(v)
		if err != nil {
			return fmt.Errorf("params.%s: %v", tpl.id, err)
		}
		if n < 0 {
			return fmt.Errorf("params.%s: %d is less than zero", tpl.id, n)
		}
		if n > tpl.max {
			return fmt.Errorf("params.%s: %d is too large (at most %d)", tpl.id, n, tpl.max)
		}
		params[tpl.id] = n
	}
	r.Params = params
	if err := r.Selectors.Normalize(); err != nil {
		return err
	}
	if r.Scope == nil {
		r.Scope = map[string][]Selector{}
	}
	return nil
}

// paramInt reads a rule parameter: a whole JSON number, or a string holding one (what some
// clients send from a form field).
func paramInt(v any) (int64, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%v is not a whole number", x)
		}
		return int64(x), nil
	case json.Number:
		return x.Int64()
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %v", v)
}

// param is a normalized rule's parameter.
func (r Rule) param() int64 {
	n, _ := paramInt(r.Params[r.Template])
	return n
}

// Row is the policy as the store keeps it: its JSON without the id, which is the row's.
func (p Policy) Row() (string, error) {
	p.ID = 0
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("retention policy: %w", err)
	}
	return string(b), nil
}

// PolicyOf reads a stored policy.
func PolicyOf(row meta.RetentionPolicy) (Policy, error) {
	var p Policy
	if err := json.Unmarshal([]byte(row.Policy), &p); err != nil {
		return Policy{}, fmt.Errorf("retention policy %d: %w", row.ID, err)
	}
	p.ID = row.ID
	p.Scope = &Scope{Level: ScopeLevelProject, Ref: row.ProjectID}
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Params == nil {
			r.Params = map[string]any{}
		}
		if r.Tags == nil {
			r.Tags = []Selector{}
		}
		if r.Scope == nil {
			r.Scope = map[string][]Selector{}
		}
	}
	if p.Trigger == nil {
		p.Trigger = &Trigger{Kind: TriggerKindSchedule, Settings: map[string]any{"cron": ""}}
	}
	return p, nil
}
