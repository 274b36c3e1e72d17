package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer  = "harbor-token-issuer"
	testService = "harbor-registry"
)

var testBaseTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testClock is a settable clock for TokenService.now.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time      { return testBaseTime.Add(time.Duration(c.offset.Load())) }
func (c *testClock) set(d time.Duration) { c.offset.Store(int64(d)) }

func newTestTokenService(t *testing.T, key *ecdsa.PrivateKey, issuer, service string, ttl time.Duration) (*TokenService, *testClock) {
	t.Helper()
	s := NewTokenService(key, issuer, service, ttl)
	c := &testClock{}
	s.now = c.now
	return s, c
}

func TestTokenIssueVerify(t *testing.T) {
	t.Parallel()
	access := []Access{
		{Type: "repository", Name: "library/nginx", Actions: []string{"pull", "push"}},
		{Type: "repository", Class: "plugin", Name: "a/b", Actions: []string{"pull"}},
	}
	tests := []struct {
		name   string
		p      Principal
		access []Access
	}{
		{"admin", Principal{Kind: User, ID: 1, Name: "admin", SysAdmin: true}, access},
		{"user", Principal{Kind: User, ID: 42, Name: "dev"}, access[:1]},
		{"robot", Principal{Kind: Robot, ID: 3, Name: "robot$library+ci"}, access[1:]},
		{"anonymous", Principal{Kind: Anonymous}, access[:1]},
		{"no access", Principal{Kind: User, ID: 42, Name: "dev"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestTokenService(t, newTestKey(t), testIssuer, testService, 30*time.Minute)
			tok, expiresIn, issuedAt, err := s.Issue(t.Context(), tt.p, tt.access)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if expiresIn != 1800 || !issuedAt.Equal(testBaseTime) {
				t.Fatalf("Issue: expires_in %d, issued_at %v; want 1800, %v", expiresIn, issuedAt, testBaseTime)
			}
			got, err := s.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantAccess := tt.access
			if wantAccess == nil {
				wantAccess = []Access{}
			}
			want := &Claims{Principal: tt.p, Access: wantAccess, ExpiresAt: testBaseTime.Add(30 * time.Minute), IssuedAt: testBaseTime}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Verify = %+v; want %+v", got, want)
			}

			// The header and registered claims follow the Docker token spec.
			var rc jwt.RegisteredClaims
			parsed, _, err := jwt.NewParser().ParseUnverified(tok, &rc)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Header["alg"] != "ES256" || parsed.Header["kid"] != s.kid || s.kid == "" {
				t.Fatalf("header %v; want alg ES256 and kid %q", parsed.Header, s.kid)
			}
			if rc.Issuer != testIssuer || rc.Subject != tt.p.Name || !reflect.DeepEqual(rc.Audience, jwt.ClaimStrings{testService}) ||
				rc.ID == "" || rc.NotBefore == nil || rc.IssuedAt == nil {
				t.Fatalf("registered claims %+v", rc)
			}
		})
	}
}

func TestTokenVerifyRejects(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	user := Principal{Kind: User, ID: 1, Name: "admin"}
	access := []Access{{Type: "repository", Name: "p/r", Actions: []string{"pull"}}}

	issue := func(t *testing.T, s *TokenService) string {
		t.Helper()
		tok, _, _, err := s.Issue(t.Context(), user, access)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// signWith signs arbitrary claims the way an attacker or a misconfigured
	// peer might.
	signWith := func(t *testing.T, method jwt.SigningMethod, signKey any, claims jwt.Claims, kid string) string {
		t.Helper()
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"] = kid
		signed, err := tok.SignedString(signKey)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	validClaims := func(s *TokenService) accessClaims {
		return accessClaims{
			RegisteredClaims: s.registered(user.Name, testService, testBaseTime, time.Hour),
			Access:           access, Kind: "user", UID: 1,
		}
	}

	tests := []struct {
		name  string
		token func(t *testing.T, s *TokenService) string
		clock time.Duration // where the verifier's clock stands
	}{
		{"garbage", func(*testing.T, *TokenService) string { return "not.a.jwt" }, 0},
		{"empty", func(*testing.T, *TokenService) string { return "" }, 0},
		{"expired beyond leeway", issue, 30*time.Minute + 31*time.Second},
		{"not yet valid", issue, -time.Minute},
		{"other key", func(t *testing.T, _ *TokenService) string {
			other, _ := newTestTokenService(t, newTestKey(t), testIssuer, testService, 30*time.Minute)
			return issue(t, other)
		}, 0},
		{"other key with our kid", func(t *testing.T, s *TokenService) string {
			return signWith(t, jwt.SigningMethodES256, newTestKey(t), validClaims(s), s.kid)
		}, 0},
		{"other issuer", func(t *testing.T, _ *TokenService) string {
			other, _ := newTestTokenService(t, key, "someone-else", testService, 30*time.Minute)
			return issue(t, other)
		}, 0},
		{"other audience", func(t *testing.T, _ *TokenService) string {
			other, _ := newTestTokenService(t, key, testIssuer, "other-registry", 30*time.Minute)
			return issue(t, other)
		}, 0},
		{"HS256", func(t *testing.T, s *TokenService) string {
			return signWith(t, jwt.SigningMethodHS256, []byte("secret"), validClaims(s), s.kid)
		}, 0},
		{"HS256 keyed with the public key", func(t *testing.T, s *TokenService) string {
			der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			return signWith(t, jwt.SigningMethodHS256, der, validClaims(s), s.kid)
		}, 0},
		{"alg none", func(t *testing.T, s *TokenService) string {
			return signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims(s), s.kid)
		}, 0},
		{"ES384", func(t *testing.T, s *TokenService) string {
			k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return signWith(t, jwt.SigningMethodES384, k, validClaims(s), s.kid)
		}, 0},
		{"missing kind", func(t *testing.T, s *TokenService) string {
			c := validClaims(s)
			c.Kind = ""
			return signWith(t, jwt.SigningMethodES256, key, c, s.kid)
		}, 0},
		{"anonymous kind with subject", func(t *testing.T, s *TokenService) string {
			c := validClaims(s)
			c.Kind = "anonymous"
			return signWith(t, jwt.SigningMethodES256, key, c, s.kid)
		}, 0},
		{"missing exp", func(t *testing.T, s *TokenService) string {
			c := validClaims(s)
			c.ExpiresAt = nil
			return signWith(t, jwt.SigningMethodES256, key, c, s.kid)
		}, 0},
		{"refresh token", func(t *testing.T, s *TokenService) string {
			tok, err := s.IssueRefresh(Account{ID: user.ID, Name: user.Name, PasswordHash: "$argon2id$hash"})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, clock := newTestTokenService(t, key, testIssuer, testService, 30*time.Minute)
			tok := tt.token(t, s)
			clock.set(tt.clock)
			if c, err := s.Verify(tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", c, err)
			}
			if n := s.cache.len(); n != 0 {
				t.Fatalf("rejected token left %d cache entries", n)
			}
		})
	}
}

func TestTokenExpiryLeeway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		at    time.Duration
		valid bool
	}{
		{"fresh", 0, true},
		{"clock slightly behind", -20 * time.Second, true},
		{"at expiry", 5 * time.Minute, true},
		{"within leeway", 5*time.Minute + 29*time.Second, true},
		{"beyond leeway", 5*time.Minute + 31*time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, clock := newTestTokenService(t, newTestKey(t), testIssuer, testService, 5*time.Minute)
			tok, _, _, err := s.Issue(t.Context(), Principal{Kind: User, ID: 1, Name: "admin"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			clock.set(tt.at)
			if _, err := s.Verify(tok); (err == nil) != tt.valid {
				t.Fatalf("Verify at %v: %v; want valid=%v", tt.at, err, tt.valid)
			}
		})
	}
}

func TestTokenVerifyCache(t *testing.T) {
	t.Parallel()
	s, clock := newTestTokenService(t, newTestKey(t), testIssuer, testService, 5*time.Minute)
	access := []Access{{Type: "repository", Name: "p/r", Actions: []string{"pull", "push"}}}
	tok, _, _, err := s.Issue(t.Context(), Principal{Kind: User, ID: 1, Name: "admin"}, access)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	// Make the parser refuse everything: from now on only the cache can
	// answer, which shows the second verification does no JWT work.
	s.accessParser = jwt.NewParser(jwt.WithValidMethods([]string{"no-such-alg"}))
	second, err := s.Verify(tok)
	if err != nil {
		t.Fatalf("cached Verify: %v", err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("cached claims %+v differ from first %+v", second, first)
	}
	// Callers get copies: changing one must not poison the cache.
	second.Access[0].Actions[0] = "delete"
	second.Principal.SysAdmin = true
	third, err := s.Verify(tok)
	if err != nil || !reflect.DeepEqual(third, first) {
		t.Fatalf("after mutating a result, Verify = %+v, %v; want %+v", third, err, first)
	}
	// The cache never outlives what the parser would accept.
	clock.set(5*time.Minute + 31*time.Second)
	if _, err := s.Verify(tok); err == nil {
		t.Fatal("cache served a token past expiry and leeway")
	}
}

func TestRefreshToken(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	s, clock := newTestTokenService(t, key, testIssuer, testService, 30*time.Minute)
	devHash := mustHash(t, "Dev12345")
	accounts := &fakeAccounts{accounts: map[string]Account{"dev": {ID: 42, Name: "dev", PasswordHash: devHash}}}
	dev := accounts.accounts["dev"]

	rt, err := s.IssueRefresh(dev)
	if err != nil {
		t.Fatalf("IssueRefresh: %v", err)
	}
	if got, err := s.VerifyRefresh(t.Context(), rt, accounts.lookup); err != nil || got != dev {
		t.Fatalf("VerifyRefresh = %+v, %v; want %+v", got, err, dev)
	}
	var rc refreshClaims
	if _, _, err := jwt.NewParser().ParseUnverified(rt, &rc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rc.Audience, jwt.ClaimStrings{testService + "#refresh"}) || !rc.ExpiresAt.Equal(testBaseTime.Add(30*24*time.Hour)) ||
		rc.Subject != "dev" || rc.UID != 42 || rc.Kind != "user" || rc.Cred == "" {
		t.Fatalf("refresh claims %+v", rc)
	}
	if strings.Contains(rt, devHash) || strings.Contains(string(mustDecodeJWTPayload(t, rt)), devHash) {
		t.Fatal("refresh token carries the password hash")
	}

	access, _, _, err := s.Issue(t.Context(), dev.Principal(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyRefresh(t.Context(), access, accounts.lookup); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("VerifyRefresh(access token) = %v; want ErrInvalidToken", err)
	}
	if _, err := s.Verify(rt); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify(refresh token) = %v; want ErrInvalidToken", err)
	}
	other, _ := newTestTokenService(t, newTestKey(t), testIssuer, testService, 30*time.Minute)
	foreign, err := other.IssueRefresh(dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyRefresh(t.Context(), foreign, accounts.lookup); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("VerifyRefresh(other key) = %v; want ErrInvalidToken", err)
	}
	// A refresh token as issued before they were bound to a credential: subject only.
	legacy, err := s.sign(s.registered("dev", testService+refreshAudienceSuffix, testBaseTime, refreshTokenTTL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyRefresh(t.Context(), legacy, accounts.lookup); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("VerifyRefresh(unbound token) = %v; want ErrInvalidToken", err)
	}
	for _, a := range []Account{{}, {Name: "dev", ID: 42}, {Name: "", ID: 42, PasswordHash: devHash}} {
		if _, err := s.IssueRefresh(a); err == nil {
			t.Fatalf("IssueRefresh(%+v) succeeded", a)
		}
	}
	clock.set(30*24*time.Hour + time.Minute)
	if _, err := s.VerifyRefresh(t.Context(), rt, accounts.lookup); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("VerifyRefresh after 30 days = %v; want ErrInvalidToken", err)
	}
}

// TestRefreshTokenBoundToCredential: a refresh token stops working as soon as the account it
// was issued to changes its password or secret, or is replaced by another account with the
// same name; an unchanged account keeps refreshing, its administrator flag read afresh.
func TestRefreshTokenBoundToCredential(t *testing.T) {
	t.Parallel()
	devHash, robotHash := mustHash(t, "Dev12345"), mustHash(t, "Robot1234")
	tests := []struct {
		name   string
		change func(a *fakeAccounts)
		// wantErr nil: the token still refreshes.
		wantErr error
	}{
		{"unchanged", func(*fakeAccounts) {}, nil},
		{"promoted to administrator", func(a *fakeAccounts) {
			a.set(Account{ID: 42, Name: "dev", PasswordHash: devHash, SysAdmin: true})
		}, nil},
		{"password changed", func(a *fakeAccounts) {
			a.set(Account{ID: 42, Name: "dev", PasswordHash: mustHash(t, "Dev12345-new")})
		}, ErrInvalidToken},
		// Even the same password, set again, is a new hash (a new salt): a reset always revokes.
		{"password reset to the same", func(a *fakeAccounts) {
			a.set(Account{ID: 42, Name: "dev", PasswordHash: mustHash(t, "Dev12345")})
		}, ErrInvalidToken},
		{"deleted", func(a *fakeAccounts) { delete(a.accounts, "dev") }, ErrNoAccount},
		{"recreated under the same name", func(a *fakeAccounts) {
			a.set(Account{ID: 43, Name: "dev", PasswordHash: devHash})
		}, ErrInvalidToken},
		{"replaced by a robot of the same name", func(a *fakeAccounts) {
			a.set(Account{ID: 42, Name: "dev", PasswordHash: devHash, Robot: true})
		}, ErrInvalidToken},
		{"password removed", func(a *fakeAccounts) {
			a.set(Account{ID: 42, Name: "dev"})
		}, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestTokenService(t, newTestKey(t), testIssuer, testService, 30*time.Minute)
			accounts := &fakeAccounts{accounts: map[string]Account{
				"dev":       {ID: 42, Name: "dev", PasswordHash: devHash},
				"robot$bot": {ID: 42, Name: "robot$bot", PasswordHash: robotHash, Robot: true},
			}}
			rt, err := s.IssueRefresh(accounts.accounts["dev"])
			if err != nil {
				t.Fatal(err)
			}
			tt.change(accounts)
			got, err := s.VerifyRefresh(t.Context(), rt, accounts.lookup)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("VerifyRefresh = %+v, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != accounts.accounts["dev"] {
				t.Fatalf("VerifyRefresh = %+v, %v; want %+v", got, err, accounts.accounts["dev"])
			}
		})
	}
	t.Run("robot secret refreshed", func(t *testing.T) {
		t.Parallel()
		s, _ := newTestTokenService(t, newTestKey(t), testIssuer, testService, 30*time.Minute)
		accounts := &fakeAccounts{accounts: map[string]Account{"robot$bot": {ID: 5, Name: "robot$bot", PasswordHash: robotHash, Robot: true}}}
		rt, err := s.IssueRefresh(accounts.accounts["robot$bot"])
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.VerifyRefresh(t.Context(), rt, accounts.lookup); err != nil || got.Principal().Kind != Robot {
			t.Fatalf("VerifyRefresh = %+v, %v; want the robot", got, err)
		}
		accounts.set(Account{ID: 5, Name: "robot$bot", PasswordHash: mustHash(t, "Robot1234-new"), Robot: true})
		if _, err := s.VerifyRefresh(t.Context(), rt, accounts.lookup); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("VerifyRefresh after the secret changed = %v; want ErrInvalidToken", err)
		}
	})
	t.Run("lookup failure", func(t *testing.T) {
		t.Parallel()
		s, _ := newTestTokenService(t, newTestKey(t), testIssuer, testService, 30*time.Minute)
		accounts := &fakeAccounts{accounts: map[string]Account{"dev": {ID: 42, Name: "dev", PasswordHash: devHash}}}
		rt, err := s.IssueRefresh(accounts.accounts["dev"])
		if err != nil {
			t.Fatal(err)
		}
		accounts.err = errors.New("db down")
		if _, err := s.VerifyRefresh(t.Context(), rt, accounts.lookup); err == nil || errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrNoAccount) {
			t.Fatalf("VerifyRefresh with the store down = %v; want the lookup error", err)
		}
	})
}

func mustDecodeJWTPayload(t *testing.T, tok string) []byte {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewTokenServiceNeedsP256(t *testing.T) {
	t.Parallel()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("NewTokenService accepted a P-384 key")
		}
	}()
	NewTokenService(k, testIssuer, testService, time.Minute)
}
