package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken wraps every reason a bearer or refresh token is refused.
var ErrInvalidToken = errors.New("auth: invalid token")

const (
	// tokenLeeway absorbs clock skew between replicas and clients.
	tokenLeeway = 30 * time.Second
	// refreshTokenTTL is how long an OAuth2 refresh token stays valid.
	refreshTokenTTL = 30 * 24 * time.Hour
	// refreshAudienceSuffix gives refresh tokens their own audience, so an
	// access token is never accepted as a refresh token nor the reverse.
	refreshAudienceSuffix = "#refresh"
	tokenCacheSize        = 10000
)

// Claims is what a verified registry token says.
type Claims struct {
	Principal Principal
	Access    []Access
	ExpiresAt time.Time
	IssuedAt  time.Time
}

// accessClaims is the JWT payload of a registry bearer token.
type accessClaims struct {
	jwt.RegisteredClaims
	Access   []Access `json:"access"`
	Kind     string   `json:"berth_kind"`
	UID      int64    `json:"berth_uid,omitempty"`
	SysAdmin bool     `json:"berth_sysadmin,omitempty"`
}

// TokenService issues and verifies registry bearer tokens (JWT, ES256).
//
// Verification runs on every registry request, so successful results are
// cached under the SHA-256 of the token until the token expires.
type TokenService struct {
	key     *ecdsa.PrivateKey
	kid     string
	issuer  string
	service string
	ttl     time.Duration
	ttlFunc func(context.Context) time.Duration // when set, the current lifetime (it can change at run time)
	now     func() time.Time

	accessParser  *jwt.Parser
	refreshParser *jwt.Parser
	cache         *ttlCache[[sha256.Size]byte, *Claims]
}

// NewTokenService returns a service that signs with key and issues tokens for
// service, valid for ttl. ES256 is defined only for P-256, so any other key is
// a programming error and panics here rather than at the first Issue.
func NewTokenService(key *ecdsa.PrivateKey, issuer, service string, ttl time.Duration) *TokenService {
	if key == nil || key.Curve != elliptic.P256() {
		panic("auth: NewTokenService needs a P-256 key")
	}
	s := &TokenService{
		key:     key,
		kid:     keyID(&key.PublicKey),
		issuer:  issuer,
		service: service,
		ttl:     ttl,
		now:     time.Now,
		cache:   newTTLCache[[sha256.Size]byte, *Claims](tokenCacheSize),
	}
	opts := func(aud string) []jwt.ParserOption {
		return []jwt.ParserOption{
			jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(aud),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(tokenLeeway),
			// A closure so that tests can move s.now after construction.
			jwt.WithTimeFunc(func() time.Time { return s.now() }),
		}
	}
	s.accessParser = jwt.NewParser(opts(service)...)
	s.refreshParser = jwt.NewParser(opts(service + refreshAudienceSuffix)...)
	return s
}

// keyID is a short fingerprint of the public key for the JWT "kid" header:
// the first 120 bits of the SHA-256 of its PKIX encoding, base64url.
func keyID(pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		// Only unsupported curves fail, and NewTokenService admits only P-256.
		panic(fmt.Sprintf("auth: marshal token public key: %v", err))
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:15])
}

func (s *TokenService) registered(sub, aud string, now time.Time, ttl time.Duration) jwt.RegisteredClaims {
	jti := make([]byte, 16)
	// crypto/rand.Read never fails since Go 1.24; it aborts the process instead.
	_, _ = rand.Read(jti)
	return jwt.RegisteredClaims{
		Issuer:    s.issuer,
		Subject:   sub,
		Audience:  jwt.ClaimStrings{aud},
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        base64.RawURLEncoding.EncodeToString(jti),
	}
}

func (s *TokenService) sign(claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return signed, nil
}

// SetLifetime makes the token lifetime follow f (e.g. Harbor's token_expiration setting, which
// administrators change at run time) instead of the fixed ttl given to NewTokenService.
func (s *TokenService) SetLifetime(f func(context.Context) time.Duration) { s.ttlFunc = f }

func (s *TokenService) lifetime(ctx context.Context) time.Duration {
	if s.ttlFunc != nil {
		if d := s.ttlFunc(ctx); d > 0 {
			return d
		}
	}
	return s.ttl
}

// Issue signs a bearer token granting access to p. It returns the token, its
// lifetime in seconds and its issue time (UTC, whole seconds as in the JWT).
func (s *TokenService) Issue(ctx context.Context, p Principal, access []Access) (token string, expiresIn int, issuedAt time.Time, err error) {
	now := s.now().UTC().Truncate(time.Second)
	if access == nil {
		// Registries expect an array, never null.
		access = []Access{}
	}
	ttl := s.lifetime(ctx)
	token, err = s.sign(accessClaims{
		RegisteredClaims: s.registered(p.Name, s.service, now, ttl),
		Access:           access,
		Kind:             p.Kind.String(),
		UID:              p.ID,
		SysAdmin:         p.SysAdmin,
	})
	if err != nil {
		return "", 0, time.Time{}, err
	}
	return token, int(ttl / time.Second), now, nil
}

// Verify checks a bearer token's signature, algorithm, issuer, audience and
// validity window (with 30 s leeway) and returns its claims. The caller gets
// its own copy and may modify it.
func (s *TokenService) Verify(token string) (*Claims, error) {
	key := sha256.Sum256([]byte(token))
	if c, ok := s.cache.get(key, s.now()); ok {
		return c.clone(), nil
	}
	var ac accessClaims
	if _, err := s.accessParser.ParseWithClaims(token, &ac, s.keyFunc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	c, err := ac.toClaims()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// Cache for as long as the parser itself would accept the token, so a
	// cache hit never answers differently from a fresh verification.
	s.cache.put(key, c, c.ExpiresAt.Add(tokenLeeway), s.now())
	return c.clone(), nil
}

func (s *TokenService) keyFunc(t *jwt.Token) (any, error) {
	if kid, _ := t.Header["kid"].(string); kid != s.kid {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	return &s.key.PublicKey, nil
}

func (ac *accessClaims) toClaims() (*Claims, error) {
	kind, err := parsePrincipalKind(ac.Kind)
	if err != nil {
		return nil, err
	}
	if (kind == Anonymous) != (ac.Subject == "") {
		return nil, fmt.Errorf("subject %q does not match principal kind %s", ac.Subject, kind)
	}
	// The parser requires exp; iat is optional in JWT, but Issue always sets
	// it and callers compare it with project creation times.
	if ac.IssuedAt == nil {
		return nil, errors.New("missing iat claim")
	}
	access := ac.Access
	if access == nil {
		access = []Access{}
	}
	return &Claims{
		Principal: Principal{Kind: kind, ID: ac.UID, Name: ac.Subject, SysAdmin: ac.SysAdmin},
		Access:    access,
		ExpiresAt: ac.ExpiresAt.UTC(),
		IssuedAt:  ac.IssuedAt.UTC(),
	}, nil
}

func (c *Claims) clone() *Claims {
	out := *c
	out.Access = make([]Access, len(c.Access))
	for i, a := range c.Access {
		a.Actions = slices.Clone(a.Actions)
		out.Access[i] = a
	}
	return &out
}

// IssueRefresh signs an OAuth2 refresh token for p (audience service+"#refresh",
// no access, valid 30 days). Anonymous principals get none.
func (s *TokenService) IssueRefresh(p Principal) (string, error) {
	if p.IsAnonymous() || p.Name == "" {
		return "", errors.New("auth: refresh token needs an authenticated principal")
	}
	now := s.now().UTC().Truncate(time.Second)
	return s.sign(s.registered(p.Name, s.service+refreshAudienceSuffix, now, refreshTokenTTL))
}

// VerifyRefresh checks a refresh token and returns the name it was issued to.
// The caller must still confirm that the account exists.
func (s *TokenService) VerifyRefresh(token string) (name string, err error) {
	var rc jwt.RegisteredClaims
	if _, err := s.refreshParser.ParseWithClaims(token, &rc, s.keyFunc); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if rc.Subject == "" {
		return "", fmt.Errorf("%w: refresh token without subject", ErrInvalidToken)
	}
	return rc.Subject, nil
}
