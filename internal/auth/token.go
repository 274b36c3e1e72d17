package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// stampKey keys the credential stamps of refresh tokens (credentialStamp).
	stampKey []byte
}

// NewTokenService returns a service that signs with key and issues tokens for
// service, valid for ttl. ES256 is defined only for P-256, so any other key is
// a programming error and panics here rather than at the first Issue.
func NewTokenService(key *ecdsa.PrivateKey, issuer, service string, ttl time.Duration) *TokenService {
	if key == nil || key.Curve != elliptic.P256() {
		panic("auth: NewTokenService needs a P-256 key")
	}
	s := &TokenService{
		key:      key,
		kid:      keyID(&key.PublicKey),
		issuer:   issuer,
		service:  service,
		ttl:      ttl,
		now:      time.Now,
		cache:    newTTLCache[[sha256.Size]byte, *Claims](tokenCacheSize),
		stampKey: deriveStampKey(key),
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

// deriveStampKey derives the key of refresh tokens' credential stamps from the signing key,
// which every replica shares.
func deriveStampKey(key *ecdsa.PrivateKey) []byte {
	secret, err := key.Bytes()
	if err != nil {
		panic(fmt.Sprintf("auth: encode token signing key: %v", err))
	}
	k, err := hkdf.Key(sha256.New, secret, nil, "berth refresh token credential stamp v1", 32)
	if err != nil {
		panic(fmt.Sprintf("auth: derive credential stamp key: %v", err))
	}
	return k
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

// refreshClaims is the JWT payload of a refresh token: the account it was issued to, by name,
// kind and id, and a stamp of the credential it was issued against.
type refreshClaims struct {
	jwt.RegisteredClaims
	Kind string `json:"berth_kind"`
	UID  int64  `json:"berth_uid"`
	Cred string `json:"berth_cred"`
}

// IssueRefresh signs an OAuth2 refresh token for the account (audience service+"#refresh", no
// access, valid 30 days). It is bound to the account's id and to its current password or
// secret: VerifyRefresh refuses it once either changes.
func (s *TokenService) IssueRefresh(a Account) (string, error) {
	if a.Name == "" || a.ID == 0 || a.PasswordHash == "" {
		return "", errors.New("auth: refresh token needs an account with a credential")
	}
	now := s.now().UTC().Truncate(time.Second)
	return s.sign(refreshClaims{
		RegisteredClaims: s.registered(a.Name, s.service+refreshAudienceSuffix, now, refreshTokenTTL),
		Kind:             a.Principal().Kind.String(),
		UID:              a.ID,
		Cred:             s.credentialStamp(a),
	})
}

// credentialStamp identifies the credential an account has now: an HMAC, under a key derived
// from the signing key (so every replica computes the same), of the account's kind, id and
// stored password hash. Every change of a password or secret stores a new hash (each has a
// fresh salt) — a user's change, an administrator's reset, a robot's secret refresh, and a
// deleted account created again under the same name — so the stamp changes with each, and no
// counter needs storing. The hash itself is never revealed: the stamp is a keyed digest of it.
func (s *TokenService) credentialStamp(a Account) string {
	m := hmac.New(sha256.New, s.stampKey)
	var buf []byte
	for _, f := range []string{a.Principal().Kind.String(), strconv.FormatInt(a.ID, 10), a.PasswordHash} {
		buf = binary.AppendUvarint(buf[:0], uint64(len(f)))
		m.Write(buf)
		m.Write([]byte(f))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// VerifyRefresh checks a refresh token and finds the account it was issued to with lookup:
// still there under the same name, with the same id and kind, and the same password or
// secret. A token that fails any of these is ErrInvalidToken; an account that is gone is the
// lookup's ErrNoAccount; a lookup failure is returned wrapped.
func (s *TokenService) VerifyRefresh(ctx context.Context, token string, lookup AccountLookup) (Account, error) {
	var rc refreshClaims
	if _, err := s.refreshParser.ParseWithClaims(token, &rc, s.keyFunc); err != nil {
		return Account{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if rc.Subject == "" || rc.UID == 0 || rc.Cred == "" {
		// Tokens issued before refresh tokens were bound to a credential carry none.
		return Account{}, fmt.Errorf("%w: refresh token without subject or credential", ErrInvalidToken)
	}
	a, err := lookup(ctx, rc.Subject)
	if errors.Is(err, ErrNoAccount) {
		return Account{}, err
	}
	if err != nil {
		return Account{}, fmt.Errorf("auth: look up account %q: %w", rc.Subject, err)
	}
	if a.ID != rc.UID || a.Principal().Kind.String() != rc.Kind {
		return Account{}, fmt.Errorf("%w: refresh token of another account named %q", ErrInvalidToken, rc.Subject)
	}
	if a.PasswordHash == "" || !hmac.Equal([]byte(s.credentialStamp(a)), []byte(rc.Cred)) {
		return Account{}, fmt.Errorf("%w: the password or secret of %q changed", ErrInvalidToken, rc.Subject)
	}
	return a, nil
}
