package retention

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var evalNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func evalDaysAgo(d int) time.Time { return evalNow.Add(-time.Duration(d) * 24 * time.Hour) }

// cand is a candidate pushed d days ago, pulled p days ago (p < 0: never), with tags.
func evalCand(digest string, d, p int, tags ...string) Candidate {
	c := Candidate{Digest: digest, Tags: tags, PushedAt: evalDaysAgo(d)}
	if p >= 0 {
		c.PulledAt = evalDaysAgo(p)
	}
	return c
}

func evalSel(decoration, pattern string, untagged bool) Selector {
	return Selector{Kind: KindDoublestar, Decoration: decoration, Pattern: pattern, Extras: Extras{Untagged: untagged}}
}

// rule builds a normalized rule: template with its parameter (ignored by always/nothing), the
// tag selector and the repository pattern.
func evalRule(template string, n int, tags Selector, repo string) Rule {
	r := Rule{Template: template, Params: map[string]any{template: float64(n)},
		Selectors: Selectors{Tags: []Selector{tags}, Scope: map[string][]Selector{ScopeRepository: {evalSel(RepoMatches, repo, false)}}}}
	if err := r.normalize(); err != nil {
		panic(err)
	}
	return r
}

func evalRules(rules ...Rule) []Rule {
	for i := range rules {
		rules[i].ID = i + 1
	}
	return rules
}

// Fifteen images pushed one a day, newest first (as the store lists them): v15 today ... v1.
func evalFifteen() []Candidate {
	var out []Candidate
	for i := 15; i >= 1; i-- {
		out = append(out, evalCand(fmt.Sprintf("sha256:%02d", i), 15-i, -1, fmt.Sprintf("v%d", i)))
	}
	return out
}

func TestEvaluate(t *testing.T) {
	all := evalSel(Matches, "**", false)
	allUntagged := evalSel(Matches, "**", true)
	cases := []struct {
		name       string
		rules      []Rule
		repo       string
		candidates []Candidate
		immutable  func(string) bool
		deleted    []string // digests, in candidate order
		untouched  []string
		immutables []string
	}{
		{
			name:       "the recipe's first half: the 10 most recently pushed stay",
			rules:      evalRules(evalRule("latestPushedK", 10, all, "**")),
			repo:       "app",
			candidates: evalFifteen(),
			deleted:    []string{"sha256:05", "sha256:04", "sha256:03", "sha256:02", "sha256:01"},
		},
		{
			name:       "the recipe: 10 most recent OR pushed within 30 days keeps everything recent",
			rules:      evalRules(evalRule("latestPushedK", 10, all, "**"), evalRule("nDaysSinceLastPush", 30, all, "**")),
			repo:       "app",
			candidates: evalFifteen(),
		},
		{
			name:  "the recipe's shape with old images: beyond the K newest, those older than 30 days go",
			rules: evalRules(evalRule("latestPushedK", 2, all, "**"), evalRule("nDaysSinceLastPush", 30, all, "**")),
			repo:  "app",
			candidates: []Candidate{
				evalCand("sha256:a", 1, -1, "a"), evalCand("sha256:b", 40, -1, "b"), evalCand("sha256:c", 10, -1, "c"),
				evalCand("sha256:d", 50, -1, "d"), evalCand("sha256:e", 31, -1, "e"),
			},
			deleted: []string{"sha256:b", "sha256:d", "sha256:e"},
		},
		{
			name:       "nDaysSinceLastPush keeps what was pushed within n days, boundary included",
			rules:      evalRules(evalRule("nDaysSinceLastPush", 30, all, "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:new", 29, -1, "new"), evalCand("sha256:edge", 30, -1, "edge"), evalCand("sha256:old", 31, -1, "old")},
			deleted:    []string{"sha256:old"},
		},
		{
			name:  "latestPulledN keeps the most recently pulled; never pulled ones fill up by push time",
			rules: evalRules(evalRule("latestPulledN", 2, all, "**")),
			repo:  "app",
			candidates: []Candidate{
				evalCand("sha256:a", 1, -1, "a"), evalCand("sha256:b", 2, 10, "b"), evalCand("sha256:c", 3, 1, "c"), evalCand("sha256:d", 4, -1, "d"),
			},
			deleted: []string{"sha256:a", "sha256:d"},
		},
		{
			name:       "nDaysSinceLastPull: never pulled is not within",
			rules:      evalRules(evalRule("nDaysSinceLastPull", 7, all, "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:a", 1, -1, "a"), evalCand("sha256:b", 100, 6, "b"), evalCand("sha256:c", 1, 8, "c")},
			deleted:    []string{"sha256:a", "sha256:c"},
		},
		{
			name:       "latestActiveK ranks by the later of push and pull",
			rules:      evalRules(evalRule("latestActiveK", 1, all, "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:a", 5, -1, "a"), evalCand("sha256:b", 50, 1, "b")},
			deleted:    []string{"sha256:a"},
		},
		{
			name:       "always keeps, nothing deletes what it picks",
			rules:      evalRules(evalRule("always", 0, evalSel(Matches, "release-*", false), "**"), evalRule("nothing", 0, evalSel(Matches, "dev-*", false), "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:r", 9, -1, "release-1"), evalCand("sha256:d", 1, -1, "dev-1"), evalCand("sha256:x", 1, -1, "other")},
			deleted:    []string{"sha256:d"},
			untouched:  []string{"sha256:x"},
		},
		{
			name:       "tags no rule picks are left alone",
			rules:      evalRules(evalRule("latestPushedK", 1, evalSel(Matches, "v*", false), "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:a", 1, -1, "v2"), evalCand("sha256:b", 2, -1, "v1"), evalCand("sha256:c", 3, -1, "latest")},
			deleted:    []string{"sha256:b"},
			untouched:  []string{"sha256:c"},
		},
		{
			name:       "an artifact with several tags is one candidate, picked when one tag matches",
			rules:      evalRules(evalRule("latestPushedK", 1, evalSel(Matches, "v*", false), "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:a", 1, -1, "v2"), evalCand("sha256:b", 2, -1, "latest", "v1")},
			deleted:    []string{"sha256:b"},
		},
		{
			name:  "excludes picks an artifact one of whose tags the pattern does not match",
			rules: evalRules(evalRule("nothing", 0, evalSel(Excludes, "keep-*", true), "**")),
			repo:  "app",
			candidates: []Candidate{
				evalCand("sha256:a", 1, -1, "keep-1"), evalCand("sha256:b", 1, -1, "keep-2", "tmp"), evalCand("sha256:c", 1, -1, "tmp2"), evalCand("sha256:u", 1, -1),
			},
			deleted:   []string{"sha256:b", "sha256:c"},
			untouched: []string{"sha256:a", "sha256:u"},
		},
		{
			name:       "untagged artifacts: only a matches selector with untagged picks them",
			rules:      evalRules(evalRule("latestPushedK", 1, all, "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:u1", 1, -1), evalCand("sha256:a", 2, -1, "a"), evalCand("sha256:b", 3, -1, "b")},
			deleted:    []string{"sha256:b"},
			untouched:  []string{"sha256:u1"},
		},
		{
			name:       "untagged artifacts picked by untagged:true compete like the rest",
			rules:      evalRules(evalRule("latestPushedK", 1, allUntagged, "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:u1", 1, -1), evalCand("sha256:a", 2, -1, "a"), evalCand("sha256:u2", 3, -1)},
			deleted:    []string{"sha256:a", "sha256:u2"},
		},
		{
			name:       "excludes without untagged picks untagged artifacts (Harbor's portal default)",
			rules:      evalRules(evalRule("nothing", 0, evalSel(Excludes, "x", false), "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:u", 1, -1)},
			deleted:    []string{"sha256:u"},
		},
		{
			name:       "a rule whose repository selector does not pick the repository does nothing",
			rules:      evalRules(evalRule("nothing", 0, all, "team/**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:a", 1, -1, "a")},
			untouched:  []string{"sha256:a"},
		},
		{
			name:       "repository patterns see names without the project",
			rules:      evalRules(evalRule("latestPushedK", 0, all, "team/*")),
			repo:       "team/app",
			candidates: []Candidate{evalCand("sha256:a", 1, -1, "a")},
			deleted:    []string{"sha256:a"},
		},
		{
			name: "disabled rules do nothing",
			rules: func() []Rule {
				r := evalRules(evalRule("nothing", 0, all, "**"))
				r[0].Disabled = true
				return r
			}(),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:a", 1, -1, "a")},
			untouched:  []string{"sha256:a"},
		},
		{
			name:       "an artifact with an immutable tag is never deleted",
			rules:      evalRules(evalRule("latestPushedK", 1, all, "**")),
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:a", 1, -1, "a"), evalCand("sha256:b", 2, -1, "dev", "prod-1"), evalCand("sha256:c", 3, -1, "c")},
			immutable:  func(tag string) bool { return tag == "prod-1" },
			deleted:    []string{"sha256:c"},
			immutables: []string{"sha256:b"},
		},
		{
			name:       "no rules, nothing happens",
			repo:       "app",
			candidates: []Candidate{evalCand("sha256:a", 1, -1, "a")},
			untouched:  []string{"sha256:a"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := Evaluate(c.rules, c.repo, c.candidates, c.immutable, evalNow)
			if len(ds) != len(c.candidates) {
				t.Fatalf("%d decisions for %d candidates", len(ds), len(c.candidates))
			}
			var deleted, untouched, immutables []string
			for i, d := range ds {
				if d.Digest != c.candidates[i].Digest {
					t.Fatalf("decision %d is for %s, want %s", i, d.Digest, c.candidates[i].Digest)
				}
				switch d.Verdict {
				case Deleted:
					deleted = append(deleted, d.Digest)
				case Untouched:
					untouched = append(untouched, d.Digest)
				case Immutable:
					immutables = append(immutables, d.Digest)
				}
				if d.Reason() == "" {
					t.Errorf("%s: no reason", d.Digest)
				}
			}
			if !slices.Equal(deleted, c.deleted) {
				t.Errorf("deleted %v, want %v", deleted, c.deleted)
			}
			if !slices.Equal(untouched, c.untouched) {
				t.Errorf("untouched %v, want %v", untouched, c.untouched)
			}
			if !slices.Equal(immutables, c.immutables) {
				t.Errorf("immutable %v, want %v", immutables, c.immutables)
			}
		})
	}
}

func TestDecisionReasons(t *testing.T) {
	rules := evalRules(evalRule("latestPushedK", 1, evalSel(Matches, "**", false), "**"), evalRule("nDaysSinceLastPush", 5, evalSel(Matches, "**", false), "**"))
	ds := Evaluate(rules, "app", []Candidate{evalCand("sha256:a", 1, -1, "a"), evalCand("sha256:b", 3, -1, "b"), evalCand("sha256:c", 9, -1, "c")}, nil, evalNow)
	want := []string{"retained by rules 1, 2", "retained by rule 2", "picked by rules 1, 2, retained by none"}
	for i, d := range ds {
		if d.Reason() != want[i] {
			t.Errorf("%s: reason %q, want %q", d.Digest, d.Reason(), want[i])
		}
	}
}

func TestApplies(t *testing.T) {
	rules := evalRules(evalRule("always", 0, evalSel(Matches, "**", false), "team/**"), evalRule("always", 0, evalSel(Matches, "**", false), "app"))
	rules[1].Disabled = true
	for repo, want := range map[string]bool{"team/a": true, "team/a/b": true, "app": false, "other": false} {
		if got := Applies(rules, repo); got != want {
			t.Errorf("Applies(%q) = %v, want %v", repo, got, want)
		}
	}
}
