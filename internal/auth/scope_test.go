package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// distinctActions returns n different well-formed actions, comma-separated.
func distinctActions(n int) string {
	acts := make([]string, n)
	for i := range acts {
		acts[i] = "act" + strings.Repeat("x", i)
	}
	return strings.Join(acts, ",")
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Access
	}{
		{"repository:library/nginx:pull,push", Access{Type: "repository", Name: "library/nginx", Actions: []string{"pull", "push"}}},
		{"repository:library/nginx:pull", Access{Type: "repository", Name: "library/nginx", Actions: []string{"pull"}}},
		{"repository(plugin):a/b:pull", Access{Type: "repository", Class: "plugin", Name: "a/b", Actions: []string{"pull"}}},
		{"registry:catalog:*", Access{Type: "registry", Name: "catalog", Actions: []string{"*"}}},
		{"repository:localhost:5000/p/r:pull", Access{Type: "repository", Name: "localhost:5000/p/r", Actions: []string{"pull"}}},
		{"repository:p/r:delete,scanner-pull", Access{Type: "repository", Name: "p/r", Actions: []string{"delete", "scanner-pull"}}},
		{"repository:p/r:pull,push,pull", Access{Type: "repository", Name: "p/r", Actions: []string{"pull", "push"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseScope(tt.in)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseScope(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseScopeMalformed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		"repository",
		"repository:p/r",
		"repository::pull",
		":p/r:pull",
		"repository:p/r:",
		"repository:p/r:pull,",
		"repository:p/r:pull,,push",
		"repository:p/r:PULL",
		"Repository:p/r:pull",
		"repository(plugin:a/b:pull",
		"repository():a/b:pull",
		"repository(Plugin):a/b:pull",
		"repo sitory:p/r:pull",
		"repository:p/\tr:pull",
		"repository:p/r\x00:pull",
		"repository:p/r:pull push",
		"repository:p/r:" + distinctActions(maxScopeActions+1),
	} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			if got, err := ParseScope(in); !errors.Is(err, errBadScope) {
				t.Fatalf("ParseScope(%q) = %+v, %v; want a malformed-scope error", in, got, err)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		params  []string
		want    []Access
		wantErr bool
	}{
		{name: "none", params: nil, want: nil},
		{name: "empty parameter", params: []string{"", "  "}, want: nil},
		{name: "repeated parameters", params: []string{"repository:a/b:pull", "repository:c/d:push"}, want: []Access{
			{Type: "repository", Name: "a/b", Actions: []string{"pull"}},
			{Type: "repository", Name: "c/d", Actions: []string{"push"}},
		}},
		{name: "space separated", params: []string{"repository:a/b:pull registry:catalog:*"}, want: []Access{
			{Type: "repository", Name: "a/b", Actions: []string{"pull"}},
			{Type: "registry", Name: "catalog", Actions: []string{"*"}},
		}},
		{name: "merge duplicates", params: []string{"repository:a/b:pull", "repository:c/d:pull repository:a/b:push,pull"}, want: []Access{
			{Type: "repository", Name: "a/b", Actions: []string{"pull", "push"}},
			{Type: "repository", Name: "c/d", Actions: []string{"pull"}},
		}},
		{name: "class kept apart", params: []string{"repository:a/b:pull repository(plugin):a/b:push"}, want: []Access{
			{Type: "repository", Name: "a/b", Actions: []string{"pull"}},
			{Type: "repository", Class: "plugin", Name: "a/b", Actions: []string{"push"}},
		}},
		{name: "one bad scope fails all", params: []string{"repository:a/b:pull", "bogus"}, wantErr: true},
		{name: "merged actions bounded", params: []string{
			"repository:a/b:" + distinctActions(maxScopeActions),
			"repository:a/b:pull",
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseScopes(tt.params)
			if tt.wantErr {
				if !errors.Is(err, errBadScope) {
					t.Fatalf("ParseScopes = %+v, %v; want a malformed-scope error", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseScopes = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
