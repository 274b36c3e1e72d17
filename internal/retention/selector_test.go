package retention

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestSelectorMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		decoration, pattern, name string
		want                      bool
	}{
		{Matches, "**", "latest", true},
		{Matches, "**", "", true},
		{Excludes, "**", "latest", false},
		{Matches, "v1.*", "v1.2", true},
		{Matches, "v1.*", "v1.2.3", true},
		{Matches, "v1.*", "v10.1", false},
		{Matches, "v1.*", "v1", false},
		{Excludes, "v1.*", "v2.0", true},
		{Excludes, "v1.*", "v1.0", false},
		{Matches, "{release,stable}-*", "release-1.0", true},
		{Matches, "{release,stable}-*", "stable-x", true},
		{Matches, "{release,stable}-*", "dev-1", false},
		{Matches, "{release,stable}-*", "release", false},
		{Matches, "latest", "latest", true},
		{Matches, "latest", "Latest", false},
		{Matches, "v[0-9]*", "v3-rc", true},
		{RepoMatches, "**", "app", true},
		{RepoMatches, "**", "team/app/api", true},
		{RepoMatches, "team/**", "team/app", true},
		{RepoMatches, "team/**", "team/app/api", true},
		{RepoMatches, "team/**", "other/app", false},
		{RepoMatches, "team/**", "teamapp", false},
		{RepoMatches, "*", "app", true},
		{RepoMatches, "*", "team/app", false}, // one star stays within a path segment
		{RepoMatches, "team/*", "team/app/api", false},
		{RepoExcludes, "team/**", "other/app", true},
		{RepoExcludes, "team/**", "team/app", false},
		{RepoMatches, "{frontend,backend}", "backend", true},
	}
	for _, c := range cases {
		s := Selector{Kind: KindDoublestar, Decoration: c.decoration, Pattern: c.pattern}
		if got := s.Match(c.name); got != c.want {
			t.Errorf("%s %q on %q = %v, want %v", c.decoration, c.pattern, c.name, got, c.want)
		}
	}
}

func tagSel(decoration, pattern string) Selector {
	return Selector{Kind: KindDoublestar, Decoration: decoration, Pattern: pattern}
}

func repoScope(sels ...Selector) map[string][]Selector {
	return map[string][]Selector{ScopeRepository: sels}
}

func TestSelectorsMatchAllMustHold(t *testing.T) {
	t.Parallel()
	s := Selectors{
		Tags:  []Selector{tagSel(Matches, "v*"), tagSel(Excludes, "*-rc*")},
		Scope: repoScope(tagSel(RepoMatches, "team/**"), tagSel(RepoExcludes, "team/tmp-*")),
	}
	cases := []struct {
		repo, tag string
		want      bool
	}{
		{"team/app", "v1.0", true},
		{"team/app", "v1.0-rc1", false}, // the second tag selector does not hold
		{"team/app", "latest", false},   // the first does not
		{"team/tmp-build", "v1.0", false},
		{"other/app", "v1.0", false},
		{"team/a/b", "v2", true},
	}
	for _, c := range cases {
		if got := s.Match(c.repo, c.tag); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.repo, c.tag, got, c.want)
		}
	}
	if !MatchAll(nil, "anything") {
		t.Error("no selectors must pick everything")
	}
}

func TestSelectorsNormalize(t *testing.T) {
	t.Parallel()
	valid := func() Selectors {
		return Selectors{Tags: []Selector{tagSel(Matches, "**")}, Scope: repoScope(tagSel(RepoMatches, "**"))}
	}
	cases := []struct {
		name   string
		change func(s *Selectors)
		field  string // in the error; "" = valid
	}{
		{"valid", func(*Selectors) {}, ""},
		{"brace alternatives", func(s *Selectors) { s.Tags[0].Pattern = "{release,stable}-*" }, ""},
		{"excludes", func(s *Selectors) {
			s.Tags[0].Decoration = Excludes
			s.Scope[ScopeRepository][0].Decoration = RepoExcludes
		}, ""},
		{"no tag selectors", func(s *Selectors) { s.Tags = nil }, "tag_selectors"},
		{"no scope", func(s *Selectors) { s.Scope = nil }, "scope_selectors.repository"},
		{"no repository selectors", func(s *Selectors) { s.Scope[ScopeRepository] = nil }, "scope_selectors.repository"},
		{"unknown scope", func(s *Selectors) { s.Scope["namespace"] = []Selector{tagSel(RepoMatches, "**")} }, "scope_selectors"},
		// Harbor's default kind, as its clients may leave it out (see TestSelectorsDefaultKind).
		{"no tag selector kind", func(s *Selectors) { s.Tags[0].Kind = "" }, ""},
		{"no repository selector kind", func(s *Selectors) { s.Scope[ScopeRepository][0].Kind = "" }, ""},
		{"unknown kind", func(s *Selectors) { s.Tags[0].Kind = "regexp" }, "tag_selectors[0].kind"},
		{"unknown kind in capitals", func(s *Selectors) { s.Tags[0].Kind = "DOUBLESTAR" }, "tag_selectors[0].kind"},
		{"label kind", func(s *Selectors) { s.Scope[ScopeRepository][0].Kind = "label" }, "scope_selectors.repository[0].kind"},
		{"no decoration", func(s *Selectors) { s.Tags[0].Decoration = "" }, "tag_selectors[0].decoration"},
		{"unknown decoration", func(s *Selectors) { s.Tags[0].Decoration = "matching" }, "tag_selectors[0].decoration"},
		{"repository decoration on a tag", func(s *Selectors) { s.Tags[0].Decoration = RepoMatches }, "tag_selectors[0].decoration"},
		{"tag decoration on a repository", func(s *Selectors) { s.Scope[ScopeRepository][0].Decoration = Matches }, "scope_selectors.repository[0].decoration"},
		{"empty pattern", func(s *Selectors) { s.Tags[0].Pattern = "" }, "tag_selectors[0].pattern"},
		{"empty repository pattern", func(s *Selectors) { s.Scope[ScopeRepository][0].Pattern = "" }, "scope_selectors.repository[0].pattern"},
		{"unclosed class", func(s *Selectors) { s.Tags[0].Pattern = "v[0-9" }, "tag_selectors[0].pattern"},
		{"unclosed braces", func(s *Selectors) { s.Scope[ScopeRepository][0].Pattern = "{a,b" }, "scope_selectors.repository[0].pattern"},
		{"second selector", func(s *Selectors) { s.Tags = append(s.Tags, tagSel(Excludes, "[")) }, "tag_selectors[1].pattern"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := valid()
			c.change(&s)
			err := s.Normalize()
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("Normalize: %v", err)
			case c.field != "" && err == nil:
				t.Fatalf("Normalize accepted %+v", s)
			case c.field != "" && !strings.HasPrefix(err.Error(), c.field):
				t.Fatalf("error %q does not name %s", err, c.field)
			}
		})
	}
}

// TestSelectorsDefaultKind: selectors sent without a kind get doublestar, every one of them,
// and then select (and compare) as the same selectors with the kind given.
func TestSelectorsDefaultKind(t *testing.T) {
	t.Parallel()
	var s Selectors
	if err := json.Unmarshal([]byte(`{"tag_selectors":[{"decoration":"matches","pattern":"v*"},{"kind":"","decoration":"excludes","pattern":"v0*"}],
		"scope_selectors":{"repository":[{"decoration":"repoMatches","pattern":"team/**"}]}}`), &s); err != nil {
		t.Fatal(err)
	}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	for _, sel := range append(slices.Clone(s.Tags), s.Repositories()...) {
		if sel.Kind != KindDoublestar {
			t.Errorf("selector %+v: kind %q, want %q", sel, sel.Kind, KindDoublestar)
		}
	}
	if !s.Match("team/app", "v1") || s.Match("team/app", "v0.9") || s.Match("other", "v1") {
		t.Errorf("selectors %+v select wrongly", s)
	}
	explicit := Selectors{Tags: []Selector{tagSel(Matches, "v*"), tagSel(Excludes, "v0*")}, Scope: repoScope(tagSel(RepoMatches, "team/**"))}
	if s.Key() != explicit.Key() {
		t.Error("selectors without a kind have another key than the same selectors with kind doublestar")
	}
}

func TestSelectorExtras(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    Extras
		wantErr bool
	}{
		{`"{\"untagged\":true}"`, Extras{Untagged: true}, false},
		{`"{\"untagged\": false}"`, Extras{}, false},
		{`{"untagged":true}`, Extras{Untagged: true}, false},
		{`""`, Extras{}, false},
		{`null`, Extras{}, false},
		{`"{\"untagged\":true,\"other\":1}"`, Extras{Untagged: true}, false},
		{`"not json"`, Extras{}, true},
		{`"{\"untagged\":\"yes\"}"`, Extras{}, true},
		{`5`, Extras{}, true},
	}
	for _, c := range cases {
		var s Selector
		err := json.Unmarshal([]byte(`{"kind":"doublestar","decoration":"matches","pattern":"**","extras":`+c.in+`}`), &s)
		if (err != nil) != c.wantErr || (err == nil && s.Extras != c.want) {
			t.Errorf("extras %s: %+v, %v", c.in, s.Extras, err)
		}
	}
	// Written back the way Harbor writes them: a string, and left out when there is nothing.
	b, err := json.Marshal([]Selector{{Kind: KindDoublestar, Decoration: Matches, Pattern: "**", Extras: Extras{Untagged: true}}, tagSel(Matches, "x")})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"kind":"doublestar","decoration":"matches","pattern":"**","extras":"{\"untagged\":true}"},{"kind":"doublestar","decoration":"matches","pattern":"x"}]`
	if string(b) != want {
		t.Errorf("marshal: %s\nwant %s", b, want)
	}
}

func TestSelectorsKey(t *testing.T) {
	t.Parallel()
	a := Selectors{Tags: []Selector{tagSel(Matches, "v*"), tagSel(Excludes, "*-rc")}, Scope: repoScope(tagSel(RepoMatches, "**"))}
	b := Selectors{Tags: []Selector{tagSel(Excludes, "*-rc"), tagSel(Matches, "v*")}, Scope: repoScope(tagSel(RepoMatches, "**"))}
	c := Selectors{Tags: []Selector{tagSel(Matches, "v*")}, Scope: repoScope(tagSel(RepoMatches, "**"))}
	d := Selectors{Tags: []Selector{tagSel(Matches, "v*")}, Scope: repoScope(tagSel(RepoExcludes, "**"))}
	if a.Key() != b.Key() {
		t.Error("the order of selectors changes the key")
	}
	if a.Key() == c.Key() || c.Key() == d.Key() {
		t.Error("different selectors share a key")
	}
}

func TestRepositoryInProject(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ repo, project, want string }{
		{"myproj/team/app", "myproj", "team/app"},
		{"myproj/app", "myproj", "app"},
		{"myprojx/app", "myproj", "myprojx/app"},
	} {
		if got := RepositoryInProject(c.repo, c.project); got != c.want {
			t.Errorf("RepositoryInProject(%q, %q) = %q, want %q", c.repo, c.project, got, c.want)
		}
	}
}

func TestImmutableRuleNormalize(t *testing.T) {
	t.Parallel()
	r := ImmutableRule{Selectors: Selectors{Tags: []Selector{tagSel(Matches, "**")}, Scope: repoScope(tagSel(RepoMatches, "**"))}}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	if r.Action != ActionImmutable || r.Template != TemplateImmutable || r.Params == nil {
		t.Errorf("normalized rule %+v", r)
	}
	for _, bad := range []ImmutableRule{
		{Action: "retain", Selectors: r.Selectors},
		{Template: "latestPushedK", Selectors: r.Selectors},
		{},
	} {
		if err := bad.Normalize(); err == nil {
			t.Errorf("Normalize accepted %+v", bad)
		}
	}
	row, err := r.Row(7)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ImmutableRuleOf(row)
	if err != nil || back.Key() != r.Key() || back.Action != r.Action || row.ProjectID != 7 || row.Key != r.Key() {
		t.Errorf("round trip through the store: %+v, %v", back, err)
	}
}
