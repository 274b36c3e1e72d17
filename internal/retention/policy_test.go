package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/meta"
)

// recipePolicy is the RECIPE's policy as Harbor's portal sends it: keep the 10 most recently
// pushed OR what was pushed within 30 days, every repository, daily.
const recipePolicy = `{
  "algorithm": "or",
  "rules": [
    {"disabled": false, "action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 10},
     "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
     "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}},
    {"disabled": false, "action": "retain", "template": "nDaysSinceLastPush", "params": {"nDaysSinceLastPush": 30},
     "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
     "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}
  ],
  "trigger": {"kind": "Schedule", "references": {}, "settings": {"cron": "0 0 0 * * *"}},
  "scope": {"level": "project", "ref": 7}
}`

func parsePolicy(t *testing.T, s string) Policy {
	t.Helper()
	var p Policy
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyNormalizeRecipe(t *testing.T) {
	p := parsePolicy(t, recipePolicy)
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	if p.Cron() != "0 0 0 * * *" || len(p.Rules) != 2 || p.Rules[0].ID != 1 || p.Rules[1].ID != 2 {
		t.Fatalf("normalized policy %+v", p)
	}
	if p.Rules[0].param() != 10 || p.Rules[1].param() != 30 || !p.Rules[0].Tags[0].Extras.Untagged {
		t.Fatalf("rules %+v", p.Rules)
	}
	// The store's round trip gives back the same policy, scope from the row.
	row, err := p.Row()
	if err != nil {
		t.Fatal(err)
	}
	back, err := PolicyOf(meta.RetentionPolicy{ID: 3, ProjectID: 7, Policy: row})
	if err != nil {
		t.Fatal(err)
	}
	p.ID = 3
	a, _ := json.Marshal(p)
	b, _ := json.Marshal(back)
	if string(a) != string(b) {
		t.Fatalf("round trip:\n%s\n%s", a, b)
	}
	if strings.Contains(string(b), "references") || !strings.Contains(string(b), `"extras":"{\"untagged\":true}"`) {
		t.Fatalf("stored form %s", b)
	}
}

func TestPolicyNormalizeDefaults(t *testing.T) {
	// Selectors without a kind have Harbor's default, doublestar.
	p := parsePolicy(t, `{"scope":{"level":"project","ref":1},"rules":[{"template":"always",
		"tag_selectors":[{"decoration":"matches","pattern":"**"}],
		"scope_selectors":{"repository":[{"decoration":"repoMatches","pattern":"**"}]}}]}`)
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	if p.Algorithm != "or" || p.Trigger.Kind != "Schedule" || p.Cron() != "" || p.Rules[0].Action != "retain" || len(p.Rules[0].Params) != 0 {
		t.Fatalf("defaults not filled in: %+v %+v", p, p.Trigger)
	}
	if p.Rules[0].Tags[0].Kind != KindDoublestar || p.Rules[0].Repositories()[0].Kind != KindDoublestar {
		t.Fatalf("selector kinds not filled in: %+v", p.Rules[0].Selectors)
	}
	// …and are the same rule as with the kind given: twice is a conflict.
	twice := parsePolicy(t, `{"scope":{"level":"project","ref":1},"rules":[
		{"template":"always","tag_selectors":[{"decoration":"matches","pattern":"**"}],"scope_selectors":{"repository":[{"decoration":"repoMatches","pattern":"**"}]}},
		{"template":"always","tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}]}`)
	if err := twice.Normalize(); !errors.Is(err, ErrRuleConflict) {
		t.Fatalf("the same rule with and without selector kinds: %v", err)
	}
	// A policy without rules is valid: Harbor's portal creates one to hold a schedule.
	empty := parsePolicy(t, `{"algorithm":"or","rules":[],"trigger":{"kind":"Schedule","settings":{"cron":""}},"scope":{"level":"project","ref":1}}`)
	if err := empty.Normalize(); err != nil {
		t.Fatal(err)
	}
	// Parameters may come as strings; other keys of params are dropped.
	s := parsePolicy(t, strings.Replace(recipePolicy, `{"latestPushedK": 10}`, `{"latestPushedK": "12", "other": 1}`, 1))
	if err := s.Normalize(); err != nil || s.Rules[0].param() != 12 || len(s.Rules[0].Params) != 1 {
		t.Fatalf("string parameter: %v %+v", err, s.Rules[0].Params)
	}
}

func TestPolicyValidation(t *testing.T) {
	mod := func(from, to string) string {
		if !strings.Contains(recipePolicy, from) {
			panic("no " + from)
		}
		return strings.Replace(recipePolicy, from, to, 1)
	}
	oneRule := func(i int) string {
		return fmt.Sprintf(`{"template":"latestPushedK","params":{"latestPushedK":%d},
			"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],
			"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`, i)
	}
	var sixteen []string
	for i := range 16 {
		sixteen = append(sixteen, oneRule(i))
	}
	cases := []struct {
		name, policy, want string
	}{
		{"unknown template", mod(`"template": "latestPushedK"`, `"template": "keepSome"`), `rules[0].template: unknown template "keepSome"`},
		{"missing template", mod(`"template": "latestPushedK", `, ``), "rules[0].template is required"},
		{"missing parameter", mod(`{"latestPushedK": 10}`, `{}`), "rules[0].params: missing required parameter latestPushedK"},
		{"negative parameter", mod(`{"latestPushedK": 10}`, `{"latestPushedK": -1}`), "rules[0].params.latestPushedK: -1 is less than zero"},
		{"fractional parameter", mod(`{"latestPushedK": 10}`, `{"latestPushedK": 1.5}`), "not a whole number"},
		{"huge parameter", mod(`{"latestPushedK": 10}`, `{"latestPushedK": 40000}`), "too large"},
		{"action", mod(`"action": "retain", "template": "nDays`, `"action": "delete", "template": "nDays`), `rules[1].action: "delete" is not supported`},
		{"algorithm", mod(`"algorithm": "or"`, `"algorithm": "and"`), `algorithm: "and" is not supported`},
		{"sixteen rules", `{"rules":[` + strings.Join(sixteen, ",") + `],"scope":{"level":"project","ref":1}}`, "only 15 rules are allowed at most"},
		{"bad cron", mod(`"0 0 0 * * *"`, `"0 0 * * *"`), "trigger.settings.cron"},
		{"cron of another type", mod(`"0 0 0 * * *"`, `5`), "trigger.settings.cron"},
		{"trigger kind", mod(`"kind": "Schedule"`, `"kind": "Event"`), `trigger.kind: "Event" is not supported`},
		{"selector kind", mod(`"kind": "doublestar", "decoration": "matches"`, `"kind": "regex", "decoration": "matches"`), `rules[0].tag_selectors[0].kind: unknown selector kind "regex" (want "doublestar")`},
		{"repository selector kind", mod(`"kind": "doublestar", "decoration": "repoMatches"`, `"kind": "label", "decoration": "repoMatches"`), `rules[0].scope_selectors.repository[0].kind: unknown selector kind "label"`},
		{"selector decoration", mod(`"decoration": "repoMatches"`, `"decoration": "matches"`), "rules[0].scope_selectors.repository[0].decoration"},
		{"selector pattern", mod(`"pattern": "**", "extras"`, `"pattern": "[", "extras"`), "rules[0].tag_selectors[0].pattern"},
		{"no tag selector", mod(`"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],`, `"tag_selectors": [],`), "rules[0].tag_selectors"},
		{"scope level", mod(`"level": "project"`, `"level": "system"`), `scope.level: "system" is not supported`},
		{"scope ref", mod(`"ref": 7`, `"ref": 0`), "scope.ref: invalid project id 0"},
		{"no scope", mod(`,
  "scope": {"level": "project", "ref": 7}`, ``), "scope is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := parsePolicy(t, c.policy)
			err := p.Normalize()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if errors.Is(err, ErrRuleConflict) {
				t.Fatalf("%v is not a conflict", err)
			}
		})
	}
	// The same rule twice is a conflict (Harbor: 409).
	dup := parsePolicy(t, `{"rules":[`+oneRule(3)+`,`+oneRule(3)+`],"scope":{"level":"project","ref":1}}`)
	if err := dup.Normalize(); !errors.Is(err, ErrRuleConflict) {
		t.Fatalf("duplicate rules: %v", err)
	}
}

func TestMetadatas(t *testing.T) {
	m := Metadatas()
	var ids []string
	for _, tpl := range m.Templates {
		ids = append(ids, tpl.RuleTemplate)
	}
	if got := strings.Join(ids, ","); got != "latestPushedK,latestPulledN,nDaysSinceLastPush,nDaysSinceLastPull,always" {
		t.Fatalf("templates %s", got)
	}
	if len(m.Templates[4].Params) != 0 || m.Templates[0].Params[0] != (ParamMetadata{Type: "int", Unit: "COUNT", Required: true}) {
		t.Fatalf("params %+v", m.Templates)
	}
}
