package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/input"
)

// Account is what the authenticator needs to know about a local user or a robot account.
type Account struct {
	ID           int64
	Name         string
	PasswordHash string // for robots, the hash of the secret
	SysAdmin     bool
	// Robot marks a robot account: the principal is then of kind Robot and ID is the robot's.
	Robot bool
}

// AccountLookup finds a local account by login name; it returns ErrNoAccount
// if there is none.
type AccountLookup func(ctx context.Context, name string) (Account, error)

const (
	verifyCacheTTL  = 60 * time.Second
	verifyCacheSize = 10000
)

// Authenticator checks Basic credentials against local accounts.
//
// Clients send Basic credentials on every request and argon2id costs tens of
// milliseconds, so successful verifications are remembered for a minute. The
// cache key is an HMAC (under a per-process random key) of the name, the
// password and the stored hash: no plaintext is kept, and a password change
// produces a different stored hash and so a cache miss. The account is still
// looked up on every call, which keeps the principal (e.g. the sysadmin flag)
// current and lets a deleted account fail immediately.
type Authenticator struct {
	lookup  AccountLookup
	hmacKey []byte
	cache   *ttlCache[[sha256.Size]byte, struct{}]
	// sem bounds concurrent argon2 computations (19 MiB each) so that a flood
	// of logins queues instead of exhausting memory.
	sem chan struct{}
	now func() time.Time
	// verify is VerifyPassword; tests replace it to count calls.
	verify func(encoded, password string) (bool, error)
}

// NewAuthenticator returns an Authenticator that resolves names with lookup.
func NewAuthenticator(lookup AccountLookup) *Authenticator {
	key := make([]byte, 32)
	// crypto/rand.Read never fails since Go 1.24; it aborts the process instead.
	_, _ = rand.Read(key)
	return &Authenticator{
		lookup:  lookup,
		hmacKey: key,
		cache:   newTTLCache[[sha256.Size]byte, struct{}](verifyCacheSize),
		sem:     make(chan struct{}, runtime.NumCPU()),
		now:     time.Now,
		verify:  VerifyPassword,
	}
}

// dummyHash is verified against when the account does not exist, so that an
// unknown name costs the same argon2 work as a wrong password and response
// times do not reveal which names exist.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword(RandomPassword())
	if err != nil {
		panic(fmt.Sprintf("auth: hash dummy password: %v", err))
	}
	return h
})

// Basic authenticates a name and password. Unknown names and wrong passwords
// both yield ErrBadCredentials; other errors (lookup failures, a corrupted
// stored hash, a cancelled context) are returned wrapped.
func (a *Authenticator) Basic(ctx context.Context, name, password string) (Principal, error) {
	if name == "" || password == "" {
		return Principal{}, ErrBadCredentials
	}
	var acct Account
	var err error
	if input.Text(name) != "" {
		// No account has a name that is not text, and no store could look one up.
		err = ErrNoAccount
	} else {
		acct, err = a.lookup(ctx, name)
	}
	if errors.Is(err, ErrNoAccount) {
		if _, err := a.verifyLimited(ctx, dummyHash, password); err != nil {
			return Principal{}, err
		}
		return Principal{}, ErrBadCredentials
	}
	if err != nil {
		return Principal{}, fmt.Errorf("auth: look up account %q: %w", name, err)
	}
	if acct.PasswordHash == "" {
		// Accounts without a local password (e.g. from an external identity
		// provider) cannot log in with a password here.
		return Principal{}, ErrBadCredentials
	}
	p := Principal{Kind: User, ID: acct.ID, Name: acct.Name, SysAdmin: acct.SysAdmin}
	if acct.Robot {
		p = Principal{Kind: Robot, ID: acct.ID, Name: acct.Name}
	}

	key := a.cacheKey(name, password, acct.PasswordHash)
	if _, ok := a.cache.get(key, a.now()); ok {
		return p, nil
	}
	ok, err := a.verifyLimited(ctx, func() string { return acct.PasswordHash }, password)
	if err != nil {
		return Principal{}, fmt.Errorf("auth: verify password of %q: %w", name, err)
	}
	if !ok {
		return Principal{}, ErrBadCredentials
	}
	now := a.now()
	a.cache.put(key, struct{}{}, now.Add(verifyCacheTTL), now)
	return p, nil
}

// verifyLimited runs a.verify once a semaphore slot is free. The hash is
// passed as a function so the dummy hash is computed inside the slot too.
func (a *Authenticator) verifyLimited(ctx context.Context, hash func() string, password string) (bool, error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("auth: wait for password verification: %w", ctx.Err())
	}
	defer func() { <-a.sem }()
	return a.verify(hash(), password)
}

// cacheKey length-prefixes each field so that no two different triples can
// produce the same HMAC input, whatever bytes the name or password contain.
func (a *Authenticator) cacheKey(name, password, storedHash string) [sha256.Size]byte {
	m := hmac.New(sha256.New, a.hmacKey)
	var buf []byte
	for _, s := range []string{name, password, storedHash} {
		buf = binary.AppendUvarint(buf[:0], uint64(len(s)))
		m.Write(buf)
		m.Write([]byte(s))
	}
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}
