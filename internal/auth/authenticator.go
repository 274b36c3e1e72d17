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

// Principal is the principal the account logs in as.
func (a Account) Principal() Principal {
	if a.Robot {
		return Principal{Kind: Robot, ID: a.ID, Name: a.Name}
	}
	return Principal{Kind: User, ID: a.ID, Name: a.Name, SysAdmin: a.SysAdmin}
}

// AccountLookup finds a local account by login name; it returns ErrNoAccount
// if there is none.
type AccountLookup func(ctx context.Context, name string) (Account, error)

const (
	verifyCacheTTL  = 60 * time.Second
	verifyCacheSize = 10000
)

// Authenticator checks Basic credentials against local accounts, throttling guesses (see
// throttle.go): every entry point that takes a password or a robot secret checks it here.
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
	// throttle slows and locks out guessing; nil throttles nothing.
	throttle  *Throttle
	onLockout func(context.Context, Lockout)
}

// NewAuthenticator returns an Authenticator that resolves names with lookup, throttling
// failed logins with the default thresholds.
func NewAuthenticator(lookup AccountLookup) *Authenticator {
	key := make([]byte, 32)
	// crypto/rand.Read never fails since Go 1.24; it aborts the process instead.
	_, _ = rand.Read(key)
	return &Authenticator{
		lookup:   lookup,
		hmacKey:  key,
		cache:    newTTLCache[[sha256.Size]byte, struct{}](verifyCacheSize),
		sem:      make(chan struct{}, runtime.NumCPU()),
		now:      time.Now,
		verify:   VerifyPassword,
		throttle: NewThrottle(DefaultThrottleConfig()),
	}
}

// SetThrottle replaces the login throttle; nil turns throttling off. Call it before use.
func (a *Authenticator) SetThrottle(t *Throttle) { a.throttle = t }

// OnLockout sets f to be told of each lockout as it begins (to record it in the audit log).
// f runs on the request that failed, after the throttle's lock is released. Call it before use.
func (a *Authenticator) OnLockout(f func(context.Context, Lockout)) { a.onLockout = f }

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
// both yield ErrBadCredentials; a client locked out by the throttle (the client address comes
// from ctx, see WithClientAddr) gets a *ThrottledError without its password being checked;
// other errors (lookup failures, a corrupted stored hash, a cancelled context) are returned
// wrapped.
func (a *Authenticator) Basic(ctx context.Context, name, password string) (Principal, error) {
	acct, err := a.BasicAccount(ctx, name, password)
	if err != nil {
		return Principal{}, err
	}
	return acct.Principal(), nil
}

// BasicAccount is Basic answering with the account itself (the token service binds refresh
// tokens to its credential).
func (a *Authenticator) BasicAccount(ctx context.Context, name, password string) (Account, error) {
	if name == "" || password == "" {
		return Account{}, ErrBadCredentials
	}
	client := ClientAddrFrom(ctx)
	allow := func() error { return a.throttle.Allow(name, client, a.now()) }
	if err := allow(); err != nil {
		return Account{}, err
	}
	acct, ok, err := a.check(ctx, name, password, allow)
	if err != nil {
		return Account{}, err
	}
	if !ok {
		started, err := a.throttle.Failed(name, client, a.now())
		if a.onLockout != nil {
			for _, l := range started {
				a.onLockout(ctx, l)
			}
		}
		if err != nil {
			return Account{}, err
		}
		return Account{}, ErrBadCredentials
	}
	a.throttle.Succeeded(name, client, a.now())
	return acct, nil
}

// PasswordMatches reports whether password is the password of account name, without
// throttling and without counting a mismatch as a failed login: for callers that have
// authenticated the caller otherwise (a password change checks that the new password differs
// from the current one). It bounds the argon2 work like Basic.
func (a *Authenticator) PasswordMatches(ctx context.Context, name, password string) (bool, error) {
	if name == "" || password == "" {
		return false, nil
	}
	_, ok, err := a.check(ctx, name, password, nil)
	return ok, err
}

// check looks the account up and verifies the password: ok is false for an unknown name, an
// account without a local password (e.g. from an external identity provider) and a wrong
// password, each at the cost of one argon2 verification so that response times do not tell
// them apart. recheck, when set, runs once a verification slot is free: concurrent guesses
// queued behind the slots are refused if the ones before them started a lockout.
func (a *Authenticator) check(ctx context.Context, name, password string, recheck func() error) (Account, bool, error) {
	var acct Account
	var err error
	if input.Text(name) != "" {
		// No account has a name that is not text, and no store could look one up.
		err = ErrNoAccount
	} else {
		acct, err = a.lookup(ctx, name)
	}
	if errors.Is(err, ErrNoAccount) || err == nil && acct.PasswordHash == "" {
		if _, err := a.verifyLimited(ctx, dummyHash, password, recheck); err != nil {
			return Account{}, false, err
		}
		return Account{}, false, nil
	}
	if err != nil {
		return Account{}, false, fmt.Errorf("auth: look up account %q: %w", name, err)
	}
	key := a.cacheKey(name, password, acct.PasswordHash)
	if _, ok := a.cache.get(key, a.now()); ok {
		return acct, true, nil
	}
	ok, err := a.verifyLimited(ctx, func() string { return acct.PasswordHash }, password, recheck)
	if err != nil {
		if errors.Is(err, ErrThrottled) {
			return Account{}, false, err
		}
		return Account{}, false, fmt.Errorf("auth: verify password of %q: %w", name, err)
	}
	if !ok {
		return Account{}, false, nil
	}
	now := a.now()
	a.cache.put(key, struct{}{}, now.Add(verifyCacheTTL), now)
	return acct, true, nil
}

// verifyLimited runs a.verify once a semaphore slot is free, and recheck (if set) first. The
// hash is passed as a function so the dummy hash is computed inside the slot too.
func (a *Authenticator) verifyLimited(ctx context.Context, hash func() string, password string, recheck func() error) (bool, error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("auth: wait for password verification: %w", ctx.Err())
	}
	defer func() { <-a.sem }()
	if recheck != nil {
		if err := recheck(); err != nil {
			return false, err
		}
	}
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
