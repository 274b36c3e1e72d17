package retention

// The evaluation of a policy over one repository, as a pure function of the policy's rules,
// the repository's artifacts and a clock (Harbor's "or" processor with its rule evaluators).
//
// Each artifact is one candidate, whatever number of tags it has; its push time is the latest
// push of the artifact or of any of its tags, its pull time likewise (Harbor's candidates).
// Every enabled rule whose repository selectors pick the repository takes the candidates its
// tag selectors pick and retains some of them by its template. A candidate that some rule picks
// but no rule retains is deleted; one that no rule picks is left alone. An artifact carrying an
// immutable tag is never deleted.

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// template is a rule template: what a rule retains of the candidates it picks.
type template struct {
	id      string
	display string // Harbor's display text (/retentions/metadatas)
	unit    string // of the parameter, named as the template: "COUNT", "DAYS"; "" for none
	max     int64  // the largest parameter accepted
	listed  bool   // shown by /retentions/metadatas, as Harbor shows it
	retain  func(picked []Candidate, n int64, now time.Time) []bool
}

// Bounds of Harbor's validators: counts below MaxInt16, days up to 20190904.
const (
	maxCount = math.MaxInt16 - 1
	maxDays  = 20190904
)

var templates = []template{
	{id: "latestPushedK", display: "the most recently pushed # artifacts", unit: "COUNT", max: maxCount, listed: true,
		retain: latest(func(c Candidate) time.Time { return c.PushedAt })},
	{id: "latestPulledN", display: "the most recently pulled # artifacts", unit: "COUNT", max: maxCount, listed: true,
		retain: latest(func(c Candidate) time.Time { return c.PulledAt })},
	{id: "nDaysSinceLastPush", display: "pushed within the last # days", unit: "DAYS", max: maxDays, listed: true,
		retain: within(func(c Candidate) time.Time { return c.PushedAt })},
	{id: "nDaysSinceLastPull", display: "pulled within the last # days", unit: "DAYS", max: maxDays, listed: true,
		retain: within(func(c Candidate) time.Time { return c.PulledAt })},
	{id: "always", display: "always", listed: true,
		retain: func(picked []Candidate, _ int64, _ time.Time) []bool { return fill(len(picked), true) }},
	// Templates Harbor's code registers without offering them in its metadata.
	{id: "latestActiveK", display: "the most recently pushed or pulled # artifacts", unit: "COUNT", max: maxCount,
		retain: latest(func(c Candidate) time.Time { return later(c.PushedAt, c.PulledAt) })},
	{id: "lastXDays", display: "pushed within the last # days", unit: "DAYS", max: maxDays,
		retain: within(func(c Candidate) time.Time { return c.PushedAt })},
	{id: "nothing", display: "none",
		retain: func(picked []Candidate, _ int64, _ time.Time) []bool { return fill(len(picked), false) }},
}

func templateByID(id string) (template, bool) {
	for _, t := range templates {
		if t.id == id {
			return t, true
		}
	}
	return template{}, false
}

func templateIDs() []string {
	ids := make([]string, len(templates))
	for i, t := range templates {
		ids[i] = t.id
	}
	return ids
}

func fill(n int, v bool) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// latest retains the n candidates with the latest time by key; ties go to the most recently
// pushed, then to the earlier in the list (candidates come newest first).
func latest(key func(Candidate) time.Time) func([]Candidate, int64, time.Time) []bool {
	return func(picked []Candidate, n int64, _ time.Time) []bool {
		order := make([]int, len(picked))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool {
			ka, kb := key(picked[order[a]]), key(picked[order[b]])
			if !ka.Equal(kb) {
				return ka.After(kb)
			}
			return picked[order[a]].PushedAt.After(picked[order[b]].PushedAt)
		})
		out := make([]bool, len(picked))
		for i := 0; i < len(order) && int64(i) < n; i++ {
			out[order[i]] = true
		}
		return out
	}
}

// within retains the candidates whose time by key is at most n days before now; a zero time
// (never pulled) is never within.
func within(key func(Candidate) time.Time) func([]Candidate, int64, time.Time) []bool {
	return func(picked []Candidate, n int64, now time.Time) []bool {
		cutoff := now.Add(-time.Duration(n) * 24 * time.Hour)
		out := make([]bool, len(picked))
		for i, c := range picked {
			t := key(c)
			out[i] = !t.IsZero() && !t.Before(cutoff)
		}
		return out
	}
}

// Candidate is an artifact of the repository being evaluated.
type Candidate struct {
	Digest   string
	Tags     []string
	PushedAt time.Time // latest push of the artifact or of one of its tags
	PulledAt time.Time // latest pull of the artifact or of one of its tags; zero if never
}

// Verdict is what a policy does with a candidate.
type Verdict int

const (
	// Untouched: no rule picks the candidate, so the policy leaves it alone.
	Untouched Verdict = iota
	// Retained: a rule retains it.
	Retained
	// Deleted: rules pick it, none retains it.
	Deleted
	// Immutable: it would be deleted, but one of its tags is immutable.
	Immutable
)

// Decision is the verdict on one candidate and the rules behind it.
type Decision struct {
	Candidate
	Verdict Verdict
	// PickedBy and RetainedBy are the ids of the rules whose selectors pick the candidate and
	// of those that retain it.
	PickedBy   []int
	RetainedBy []int
	// ImmutableTag is the tag that protects an Immutable candidate.
	ImmutableTag string
}

// Reason says why, in the words of the task log.
func (d Decision) Reason() string {
	switch d.Verdict {
	case Retained:
		return "retained by " + ruleList(d.RetainedBy)
	case Deleted:
		return "picked by " + ruleList(d.PickedBy) + ", retained by none"
	case Immutable:
		return "retained: tag " + d.ImmutableTag + " is immutable"
	}
	return "picked by no rule"
}

func ruleList(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	if len(ids) == 1 {
		return "rule " + s[0]
	}
	return "rules " + strings.Join(s, ", ")
}

// Applies reports whether any enabled rule's repository selectors pick the repository (named
// without its project): only those repositories get a task in a run.
func Applies(rules []Rule, repo string) bool {
	for _, r := range rules {
		if !r.Disabled && r.MatchRepository(repo) {
			return true
		}
	}
	return false
}

// Evaluate decides what the rules (OR-combined) do with each candidate of the repository repo
// (named without its project) at time now. immutable tells whether a tag is protected (nil:
// none is). Decisions come in the candidates' order.
func Evaluate(rules []Rule, repo string, candidates []Candidate, immutable func(tag string) bool, now time.Time) []Decision {
	out := make([]Decision, len(candidates))
	for i, c := range candidates {
		out[i] = Decision{Candidate: c}
	}
	for _, r := range rules {
		if r.Disabled || !r.MatchRepository(repo) {
			continue
		}
		tpl, ok := templateByID(r.Template)
		if !ok {
			continue // Normalize refuses unknown templates; a stored one is never unknown
		}
		var idx []int
		var picked []Candidate
		for i, c := range candidates {
			if r.picks(c) {
				idx = append(idx, i)
				picked = append(picked, c)
				out[i].PickedBy = append(out[i].PickedBy, r.ID)
			}
		}
		for j, keep := range tpl.retain(picked, r.param(), now) {
			if keep {
				out[idx[j]].RetainedBy = append(out[idx[j]].RetainedBy, r.ID)
			}
		}
	}
	for i := range out {
		d := &out[i]
		switch {
		case len(d.RetainedBy) > 0:
			d.Verdict = Retained
		case len(d.PickedBy) > 0:
			d.Verdict = Deleted
			if immutable != nil {
				if k := slices.IndexFunc(d.Tags, immutable); k >= 0 {
					d.Verdict, d.ImmutableTag = Immutable, d.Tags[k]
				}
			}
		}
	}
	return out
}

// picks reports whether every tag selector of the rule picks the candidate, as Harbor's
// doublestar selector does: a tagged artifact when one of its tags matches the pattern
// ("matches") or one does not ("excludes"); an untagged artifact when the selector includes
// untagged artifacts — a "matches" selector with extras {"untagged":true}, an "excludes"
// selector without it (Harbor's portal: "excluding <pattern>, untagged artifacts too" unticked).
func (r Rule) picks(c Candidate) bool {
	for _, s := range r.Tags {
		if len(c.Tags) == 0 {
			if s.Extras.Untagged != (s.Decoration == Matches) {
				return false
			}
			continue
		}
		if !slices.ContainsFunc(c.Tags, s.Match) {
			return false
		}
	}
	return true
}

// Metadata is Harbor's RetentionMetadata: the templates and selectors a policy may use.
type Metadata struct {
	Templates      []TemplateMetadata `json:"templates"`
	ScopeSelectors []SelectorMetadata `json:"scope_selectors"`
	TagSelectors   []SelectorMetadata `json:"tag_selectors"`
}

// TemplateMetadata is Harbor's RetentionRuleMetadata.
type TemplateMetadata struct {
	RuleTemplate string          `json:"rule_template"`
	DisplayText  string          `json:"display_text"`
	Action       string          `json:"action"`
	Params       []ParamMetadata `json:"params"`
}

// ParamMetadata is Harbor's RetentionRuleParamMetadata.
type ParamMetadata struct {
	Type     string `json:"type"`
	Unit     string `json:"unit"`
	Required bool   `json:"required"`
}

// SelectorMetadata is Harbor's RetentionSelectorMetadata.
type SelectorMetadata struct {
	DisplayText string   `json:"display_text"`
	Kind        string   `json:"kind"`
	Decorations []string `json:"decorations"`
}

// Metadatas is what /retentions/metadatas answers: the templates Harbor offers, in its order.
func Metadatas() Metadata {
	m := Metadata{
		ScopeSelectors: []SelectorMetadata{{DisplayText: "Repositories", Kind: KindDoublestar, Decorations: repositoryDecorations}},
		TagSelectors:   []SelectorMetadata{{DisplayText: "Tags", Kind: KindDoublestar, Decorations: tagDecorations}},
	}
	for _, t := range templates {
		if !t.listed {
			continue
		}
		params := []ParamMetadata{}
		if t.unit != "" {
			params = append(params, ParamMetadata{Type: "int", Unit: t.unit, Required: true})
		}
		m.Templates = append(m.Templates, TemplateMetadata{RuleTemplate: t.id, DisplayText: t.display, Action: ActionRetain, Params: params})
	}
	return m
}
