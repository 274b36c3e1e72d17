package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Access is one entry of a token's "access" claim (Docker token spec).
type Access struct {
	Type    string   `json:"type"`            // "repository", "registry"
	Class   string   `json:"class,omitempty"` // e.g. "plugin" from "repository(plugin):..."
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

var errBadScope = errors.New("auth: malformed scope")

// maxScopeActions bounds the distinct actions per resource. Real clients ask
// for at most a handful; the bound keeps the duplicate checks, which scan the
// list, cheap on hostile input.
const maxScopeActions = 16

// ParseScope parses one scope: "repository:library/nginx:pull,push",
// "repository(plugin):a/b:pull", "registry:catalog:*". The type ends at the
// first ':' and the actions start after the last one, so a name may itself
// contain ':' (a "host:port/path" name). Duplicate actions are dropped.
func ParseScope(s string) (Access, error) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Access{}, fmt.Errorf("%w %q: want type:name:actions", errBadScope, s)
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return Access{}, fmt.Errorf("%w %q: want type:name:actions", errBadScope, s)
	}
	name, actions := rest[:i], rest[i+1:]

	var class string
	if open := strings.IndexByte(typ, '('); open >= 0 {
		if !strings.HasSuffix(typ, ")") {
			return Access{}, fmt.Errorf("%w %q: unterminated class", errBadScope, s)
		}
		typ, class = typ[:open], typ[open+1:len(typ)-1]
		if !isScopeWord(class) {
			return Access{}, fmt.Errorf("%w %q: bad resource class", errBadScope, s)
		}
	}
	if !isScopeWord(typ) {
		return Access{}, fmt.Errorf("%w %q: bad resource type", errBadScope, s)
	}
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return Access{}, fmt.Errorf("%w %q: bad resource name", errBadScope, s)
	}
	a := Access{Type: typ, Class: class, Name: name}
	for act := range strings.SplitSeq(actions, ",") {
		if !isAction(act) {
			return Access{}, fmt.Errorf("%w %q: bad action %q", errBadScope, s, act)
		}
		if !slices.Contains(a.Actions, act) {
			if len(a.Actions) == maxScopeActions {
				return Access{}, fmt.Errorf("%w %q: more than %d actions", errBadScope, s, maxScopeActions)
			}
			a.Actions = append(a.Actions, act)
		}
	}
	return a, nil
}

// ParseScopes parses every scope in params; a parameter may hold several
// space-separated scopes (the OAuth2 form encoding). Scopes naming the same
// resource (type, class and name) are merged into one entry with the union of
// their actions, in order of first appearance.
func ParseScopes(params []string) ([]Access, error) {
	type resource struct{ typ, class, name string }
	var out []Access
	// index maps a resource to its entry in out; a map rather than a scan
	// because a 64 KiB form can carry thousands of scopes.
	index := make(map[resource]int)
	for _, p := range params {
		for s := range strings.FieldsSeq(p) {
			a, err := ParseScope(s)
			if err != nil {
				return nil, err
			}
			r := resource{a.Type, a.Class, a.Name}
			i, seen := index[r]
			if !seen {
				index[r] = len(out)
				out = append(out, a)
				continue
			}
			for _, act := range a.Actions {
				if !slices.Contains(out[i].Actions, act) {
					if len(out[i].Actions) == maxScopeActions {
						return nil, fmt.Errorf("%w: more than %d actions for %s %q", errBadScope, maxScopeActions, a.Type, a.Name)
					}
					out[i].Actions = append(out[i].Actions, act)
				}
			}
		}
	}
	return out, nil
}

// isScopeWord matches resource types and classes: lower-case letters and
// digits, as in the distribution token grammar.
func isScopeWord(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) < 0
}

// isAction matches "pull", "push", "delete", "scanner-pull", "*".
func isAction(s string) bool {
	if s == "*" {
		return true
	}
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || r == '-' || r == '_')
	}) < 0
}
