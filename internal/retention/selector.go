// Package retention holds the rules that keep or protect tags: tag retention and tag
// immutability. Both pick what they apply to with Harbor's selectors, defined here: a rule has
// tag selectors and scope selectors (repositories), each a doublestar pattern that includes
// what it matches ("matches", "repoMatches") or what it does not ("excludes", "repoExcludes").
package retention

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// KindDoublestar is the one selector kind: a doublestar pattern ("**", "v1.*",
// "{release,stable}-*", "team/**"). A selector sent without a kind has this one: Harbor stores
// such a selector as it is and treats it as doublestar; Berth fills the kind in, so that it
// is shown as what it does.
const KindDoublestar = "doublestar"

// Decorations: how a selector's pattern picks names.
const (
	Matches      = "matches"      // tag selectors: the tags the pattern matches
	Excludes     = "excludes"     // tag selectors: the tags the pattern does not match
	RepoMatches  = "repoMatches"  // repository selectors: the repositories the pattern matches
	RepoExcludes = "repoExcludes" // repository selectors: the repositories it does not match
)

// ScopeRepository is the key of scope_selectors that holds the repository selectors, the only
// scope Harbor's rules use.
const ScopeRepository = "repository"

var (
	tagDecorations        = []string{Matches, Excludes}
	repositoryDecorations = []string{RepoMatches, RepoExcludes}
)

// Selector picks tag or repository names with a pattern. Repository names are matched without
// their project: in project "myproj", repository "myproj/team/app" is matched as "team/app".
type Selector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     Extras `json:"extras,omitzero"`
}

// Extras are a selector's options. Harbor sends and shows them as a JSON document inside a
// string ("{\"untagged\":true}"); a plain object is accepted too.
type Extras struct {
	// Untagged: a retention tag selector also picks artifacts that have no tag.
	Untagged bool
}

type extrasDoc struct {
	Untagged bool `json:"untagged"`
}

// MarshalJSON writes the extras as Harbor does: a string holding a JSON object.
func (e Extras) MarshalJSON() ([]byte, error) {
	doc, err := json.Marshal(extrasDoc(e))
	if err != nil {
		return nil, err
	}
	return json.Marshal(string(doc))
}

// UnmarshalJSON reads a string holding a JSON object (Harbor's form), an object, "" or null.
// Keys other than untagged are ignored, as Harbor ignores them.
func (e *Extras) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if strings.TrimSpace(s) == "" {
			*e = Extras{}
			return nil
		}
		b = []byte(s)
	}
	var doc *extrasDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf(`extras %s: want a JSON object such as {"untagged":true}: %v`, b, err)
	}
	*e = Extras{}
	if doc != nil {
		*e = Extras(*doc)
	}
	return nil
}

// Match reports whether the selector picks name: a name the pattern matches for matches and
// repoMatches, a name it does not match for excludes and repoExcludes. The selector must be
// valid (see Selectors.Validate).
func (s Selector) Match(name string) bool {
	m := doublestar.MatchUnvalidated(s.Pattern, name)
	if s.Decoration == Excludes || s.Decoration == RepoExcludes {
		return !m
	}
	return m
}

// validate checks one selector; field names it in errors ("tag_selectors[0]").
func (s Selector) validate(field string, decorations []string) error {
	switch {
	case s.Kind != KindDoublestar:
		return fmt.Errorf("%s.kind: unknown selector kind %q (want %q)", field, s.Kind, KindDoublestar)
	case s.Decoration == "":
		return fmt.Errorf("%s.decoration is required (%s)", field, strings.Join(decorations, " or "))
	case !slices.Contains(decorations, s.Decoration):
		return fmt.Errorf("%s.decoration: unknown decoration %q (want %s)", field, s.Decoration, strings.Join(decorations, " or "))
	case s.Pattern == "":
		return fmt.Errorf("%s.pattern is required", field)
	case !doublestar.ValidatePattern(s.Pattern):
		return fmt.Errorf("%s.pattern: %q is not a valid doublestar pattern", field, s.Pattern)
	}
	return nil
}

// MatchAll reports whether every selector picks name (true for no selectors).
func MatchAll(sels []Selector, name string) bool {
	for _, s := range sels {
		if !s.Match(name) {
			return false
		}
	}
	return true
}

// Selectors are what a rule applies to: its tag selectors and its scope selectors, in
// Harbor's JSON shape. A tag is picked when the repository selectors all pick its repository
// and the tag selectors all pick its name.
type Selectors struct {
	Tags  []Selector            `json:"tag_selectors"`
	Scope map[string][]Selector `json:"scope_selectors"`
}

// Repositories are the repository selectors (scope_selectors.repository).
func (s Selectors) Repositories() []Selector { return s.Scope[ScopeRepository] }

// Normalize gives every selector without a kind the default kind, doublestar, then checks that
// there is at least one tag and one repository selector, that each is a doublestar selector
// with a decoration of its list and a valid pattern, and that no other scope is named. Errors
// name the offending field.
func (s *Selectors) Normalize() error {
	defaultKind(s.Tags)
	for _, sels := range s.Scope {
		defaultKind(sels)
	}
	return s.validate()
}

func defaultKind(sels []Selector) {
	for i := range sels {
		if sels[i].Kind == "" {
			sels[i].Kind = KindDoublestar
		}
	}
}

func (s Selectors) validate() error {
	if len(s.Tags) == 0 {
		return fmt.Errorf("tag_selectors: at least one selector is required")
	}
	for i, sel := range s.Tags {
		if err := sel.validate(fmt.Sprintf("tag_selectors[%d]", i), tagDecorations); err != nil {
			return err
		}
	}
	for k := range s.Scope {
		if k != ScopeRepository {
			return fmt.Errorf("scope_selectors: unknown scope %q (want %q)", k, ScopeRepository)
		}
	}
	if len(s.Repositories()) == 0 {
		return fmt.Errorf("scope_selectors.%s: at least one selector is required", ScopeRepository)
	}
	for i, sel := range s.Repositories() {
		if err := sel.validate(fmt.Sprintf("scope_selectors.%s[%d]", ScopeRepository, i), repositoryDecorations); err != nil {
			return err
		}
	}
	return nil
}

// MatchRepository reports whether the rule applies to the repository; repo is the name
// without its project (see RepositoryInProject).
func (s Selectors) MatchRepository(repo string) bool { return MatchAll(s.Repositories(), repo) }

// MatchTag reports whether the tag selectors pick the tag name.
func (s Selectors) MatchTag(tag string) bool { return MatchAll(s.Tags, tag) }

// Match reports whether the rule picks the tag of the repository (named without its project).
func (s Selectors) Match(repo, tag string) bool { return s.MatchRepository(repo) && s.MatchTag(tag) }

// Key identifies what the selectors pick: equal for selector lists that differ only in order,
// so that a project can refuse a second rule with the same selectors.
func (s Selectors) Key() string {
	canon := Selectors{Tags: sortedSelectors(s.Tags), Scope: map[string][]Selector{}}
	for k, v := range s.Scope {
		canon.Scope[k] = sortedSelectors(v)
	}
	b, err := json.Marshal(canon) // maps marshal with sorted keys
	if err != nil {
		panic(err) // selectors are strings and booleans: marshalling cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func sortedSelectors(in []Selector) []Selector {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b Selector) int {
		return strings.Compare(a.Kind+"\x00"+a.Decoration+"\x00"+a.Pattern+"\x00"+fmt.Sprint(a.Extras.Untagged),
			b.Kind+"\x00"+b.Decoration+"\x00"+b.Pattern+"\x00"+fmt.Sprint(b.Extras.Untagged))
	})
	return slices.Compact(out)
}

// RepositoryInProject is a repository's name as repository selectors see it: without the
// project ("myproj/team/app" in project "myproj" is "team/app").
func RepositoryInProject(repo, project string) string {
	return strings.TrimPrefix(repo, project+"/")
}
