package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzParseScope: an accepted scope has a type and class of lower-case letters and digits, a
// name without spaces or control characters, and 1 to 16 distinct actions; written back in the
// token spec's form it parses to the same access.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:library/nginx:pull,push", "repository(plugin):a/b:pull", "registry:catalog:*",
		"repository:host:5000/a/b:pull", "repository:a:", "repository::pull", ":a:pull", "repository(x:a:pull", "Repository:a:pull",
		"repository:a b:pull", "repository:a\x00:pull", "repository:a:pull,pull,push", "repository:a:" + strings.Repeat("x,", 17) + "y",
		"repository:a:scanner-pull", "repository:a:pu ll", "a:b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseScope(s)
		if err != nil {
			if !errors.Is(err, errBadScope) {
				t.Fatalf("ParseScope(%q): %v, want a malformed scope", s, err)
			}
			return
		}
		if !isScopeWord(a.Type) || (a.Class != "" && !isScopeWord(a.Class)) || a.Name == "" ||
			strings.IndexFunc(a.Name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			t.Fatalf("ParseScope(%q) = %+v", s, a)
		}
		if len(a.Actions) == 0 || len(a.Actions) > maxScopeActions {
			t.Fatalf("ParseScope(%q): %d actions", s, len(a.Actions))
		}
		for i, act := range a.Actions {
			if !isAction(act) || slices.Contains(a.Actions[:i], act) {
				t.Fatalf("ParseScope(%q): actions %q", s, a.Actions)
			}
		}
		typ := a.Type
		if a.Class != "" {
			typ += "(" + a.Class + ")"
		}
		again, err := ParseScope(typ + ":" + a.Name + ":" + strings.Join(a.Actions, ","))
		if err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("ParseScope(%q) = %+v, written back it parses as %+v, %v", s, a, again, err)
		}
	})
}

// FuzzParseScopes: the scopes of a token request, several to a parameter; each resource is
// listed once with distinct actions.
func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"repository:a/b:pull repository:a/b:push", "repository:a:pull  registry:catalog:*", " ", "",
		"repository:a:pull\trepository:a:pull", "repository:a:" + strings.Repeat("a,", 20)} {
		f.Add(s, "repository:c/d:pull")
	}
	f.Fuzz(func(t *testing.T, p1, p2 string) {
		out, err := ParseScopes([]string{p1, p2})
		if err != nil {
			if !errors.Is(err, errBadScope) {
				t.Fatalf("ParseScopes: %v", err)
			}
			return
		}
		seen := map[[3]string]bool{}
		for _, a := range out {
			k := [3]string{a.Type, a.Class, a.Name}
			if seen[k] {
				t.Fatalf("ParseScopes(%q, %q): %v listed twice", p1, p2, k)
			}
			seen[k] = true
			if len(a.Actions) == 0 || len(a.Actions) > maxScopeActions {
				t.Fatalf("ParseScopes(%q, %q): %+v", p1, p2, a)
			}
			for i, act := range a.Actions {
				if slices.Contains(a.Actions[:i], act) {
					t.Fatalf("ParseScopes(%q, %q): actions %q", p1, p2, a.Actions)
				}
			}
		}
	})
}

// FuzzVerifyToken: a bearer or refresh token verifies only if this service issued it, and then
// says what was issued; anything else is refused as an invalid token.
func FuzzVerifyToken(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	s := NewTokenService(key, testIssuer, testService, 30*time.Minute)
	s.now = func() time.Time { return testBaseTime }
	account := Account{ID: 7, Name: "dev", PasswordHash: "$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2g"}
	issued := account.Principal()
	lookup := func(context.Context, string) (Account, error) { return account, nil }
	access := []Access{{Type: "repository", Name: "library/app", Actions: []string{"pull", "push"}}}
	tok, _, _, err := s.Issue(context.Background(), issued, access)
	if err != nil {
		f.Fatal(err)
	}
	refresh, err := s.IssueRefresh(account)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(refresh)
	f.Add(tok + "x")
	f.Add(strings.Replace(tok, ".", "..", 1))
	for _, j := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", strings.Repeat("A", 5000)} {
		f.Add(j)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify: %v, want an invalid token", err)
			}
		} else if c.Principal != issued || !reflect.DeepEqual(c.Access, access) || !c.IssuedAt.Equal(testBaseTime) {
			t.Fatalf("Verify(%q) = %+v: not what was issued", token, c)
		}
		got, err := s.VerifyRefresh(context.Background(), token, lookup)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("VerifyRefresh: %v, want an invalid token", err)
			}
		} else if got.ID != account.ID || got.Name != account.Name {
			t.Fatalf("VerifyRefresh(%q) = %+v: not what was issued", token, got)
		}
	})
}
