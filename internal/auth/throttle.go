package auth

// Login throttling: every password or secret the Authenticator checks (Basic credentials on
// /v2/ and /api/, the token service's password grant, the portal's /c/login, the current
// password of a password change) first asks the Throttle, so every entry point is slowed the
// same way. Bearer tokens and session cookies never reach it: only guesses are throttled.
//
// Failures are counted under three keys, each with its own threshold:
//
//   - the account and the client address together (MaxFailures, 5 by default). Reaching it
//     locks that pair out: its attempts are refused unchecked, even with the right password,
//     so a guess made during a lockout can never succeed. Success resets this count.
//   - the client address, over all accounts (AddressMaxFailures, 20): one address spraying
//     one or two guesses at many names is locked out of every account it has not logged in
//     to before.
//   - the account, over all addresses (AccountMaxFailures, 100): a guessing campaign spread
//     over many addresses locks the account — but only for addresses that have failed
//     recently (on any account) and have never logged in to it. An address with a clean
//     record still has its attempts checked, and so does one its user signed in from before.
//
// Why not simply lock an account after N failures: then anyone could lock any user out by
// failing N times with their name. Keying the hard lock by (account, address) confines the
// damage to the attacker's own address; the coarser per-address and per-account limits stop
// the two ways around it (many names from one address, many addresses at one name) while
// still letting a legitimate user in from a clean or known address. A user behind the same
// NAT as an attacker can be caught by the per-address lock until they have signed in once
// from there; an operator can raise AddressMaxFailures for such networks.
//
// A lockout lasts LockoutMin (30 s) at the threshold and doubles with each further failure,
// up to LockoutMax (15 min). Counts halve every four LockoutMax of time (an hour by default),
// so a user's occasional typos are forgotten, while an attacker who waits out each lockout
// keeps meeting long ones: about six guesses an hour (150 a day) per address and account.
//
// Unknown names are counted exactly like existing ones (the throttle never asks which names
// exist), so a 429 reveals nothing an attacker could not have provoked with any name.
//
// The counts live in memory, per replica: with N replicas behind a load balancer an attacker
// gets at most N times the guesses. Each of the three tables holds at most MaxEntries keys
// (accounts are kept as SHA-256 digests, so a long name costs no more than a short one); when
// one is full the least recently used of the oldest keys that is not locked out is forgotten
// (evict), so spraying names or addresses bounds memory and forgets idle keys before the locks
// of an attack in progress.
// IPv6 clients are counted by their /64 network, which one host usually holds whole.

import (
	"container/list"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ThrottleConfig sets the thresholds of login throttling (see the comment at the top of this
// file). The zero MaxFailures turns throttling off.
type ThrottleConfig struct {
	// MaxFailures is how many failures of one account from one address start a lockout of
	// that account for that address.
	MaxFailures int
	// AddressMaxFailures is how many failures from one address, over all accounts, start a
	// lockout of the address (for accounts it has not logged in to).
	AddressMaxFailures int
	// AccountMaxFailures is how many failures of one account, over all addresses, start a
	// lockout of the account for addresses that have failed recently and never logged in to it.
	AccountMaxFailures int
	// LockoutMin is the first lockout; each further failure doubles it, up to LockoutMax.
	LockoutMin, LockoutMax time.Duration
	// MaxEntries bounds each table: pairs, addresses and accounts.
	MaxEntries int
}

// DefaultThrottleConfig is the configuration's defaults.
func DefaultThrottleConfig() ThrottleConfig {
	return ThrottleConfig{
		MaxFailures:        5,
		AddressMaxFailures: 20,
		AccountMaxFailures: 100,
		LockoutMin:         30 * time.Second,
		LockoutMax:         15 * time.Minute,
		MaxEntries:         20000,
	}
}

// ErrThrottled is what a refused attempt's error wraps (a *ThrottledError).
var ErrThrottled = errors.New("auth: too many failed logins")

// ThrottledError refuses a login attempt, unchecked, during a lockout.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string { return e.Message() }

func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// Seconds is RetryAfter in whole seconds, rounded up: the Retry-After header's value.
func (e *ThrottledError) Seconds() int {
	return max(1, int((e.RetryAfter+time.Second-1)/time.Second))
}

// Message is what the client is told; the same whatever the account, so it reveals nothing.
func (e *ThrottledError) Message() string {
	return fmt.Sprintf("too many failed login attempts: try again in %d seconds", e.Seconds())
}

// Lockout scopes: what a lockout is keyed by.
const (
	LockAccountAddress = "account_address"
	LockAddress        = "address"
	LockAccount        = "account"
)

// Lockout is the start of a lockout, reported once when it begins (for the audit log).
type Lockout struct {
	// Account is the name the attempt gave, whether or not such an account exists.
	Account string
	// Client is the address of the client whose failure started the lockout.
	Client netip.Addr
	// Scope is LockAccountAddress, LockAddress or LockAccount.
	Scope string
	// Failures is the count that reached the threshold; For is how long the lockout lasts.
	Failures int
	For      time.Duration
}

// trustFor is how long a successful login keeps its address known to the account: attempts
// from a known address are exempt from the per-address and per-account locks.
const trustFor = 30 * 24 * time.Hour

// evictScan is how many of the least recently used entries eviction looks through for one
// that is not locked out.
const evictScan = 16

// Throttle counts failed logins and decides which attempts may be checked. It is safe for
// concurrent use; a nil *Throttle throttles nothing.
type Throttle struct {
	cfg      ThrottleConfig
	halfLife time.Duration

	mu       sync.Mutex
	pairs    *lru[pairKey, *pairState]
	addrs    *lru[netip.Addr, *counter]
	accounts *lru[accountKey, *counter]
}

type accountKey [sha256.Size]byte

type pairKey struct {
	account accountKey
	addr    netip.Addr
}

// NewThrottle returns a throttle with the given thresholds, or nil (no throttling) when
// cfg.MaxFailures is 0. Unset fields take the defaults.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.MaxFailures <= 0 {
		return nil
	}
	def := DefaultThrottleConfig()
	if cfg.AddressMaxFailures <= 0 {
		cfg.AddressMaxFailures = def.AddressMaxFailures
	}
	if cfg.AccountMaxFailures <= 0 {
		cfg.AccountMaxFailures = def.AccountMaxFailures
	}
	if cfg.LockoutMax <= 0 {
		cfg.LockoutMax = def.LockoutMax
	}
	if cfg.LockoutMin <= 0 {
		cfg.LockoutMin = min(def.LockoutMin, cfg.LockoutMax)
	}
	cfg.LockoutMin = min(cfg.LockoutMin, cfg.LockoutMax)
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = def.MaxEntries
	}
	t := &Throttle{cfg: cfg, halfLife: 4 * cfg.LockoutMax}
	// Eviction spares entries that lock something out: forgetting those would end a lockout.
	t.pairs = newLRU[pairKey](cfg.MaxEntries, func(p *pairState, now time.Time) bool { return !now.Before(p.lockedUntil) })
	t.addrs = newLRU[netip.Addr](cfg.MaxEntries, func(c *counter, now time.Time) bool { return !now.Before(c.lockedUntil) })
	t.accounts = newLRU[accountKey](cfg.MaxEntries, func(c *counter, now time.Time) bool { return !now.Before(c.lockedUntil) })
	return t
}

// throttleAddr is the key of a client address: IPv4 as it is, IPv6 by its /64 network.
func throttleAddr(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

func keyOf(name string, addr netip.Addr) pairKey {
	return pairKey{account: sha256.Sum256([]byte(name)), addr: throttleAddr(addr)}
}

// counter is a decaying failure count with the lockout it has earned.
type counter struct {
	failures int
	// since is when the current half-life period of failures began.
	since       time.Time
	lockedUntil time.Time
}

// decay halves the count once for every half-life since the period began.
func (c *counter) decay(now time.Time, halfLife time.Duration) {
	if c.failures == 0 {
		c.since = now
		return
	}
	n := now.Sub(c.since) / halfLife
	if n <= 0 {
		return
	}
	if n >= 31 {
		c.failures, c.since = 0, now
		return
	}
	c.failures >>= n
	c.since = c.since.Add(n * halfLife)
	if c.failures == 0 {
		c.since = now
	}
}

// fail counts one failure; at threshold or beyond it locks for LockoutMin doubled once per
// failure past the threshold, capped at LockoutMax. started reports a lockout that begins
// now (nothing was locked before).
func (t *Throttle) fail(c *counter, threshold int, now time.Time) (started bool, d time.Duration) {
	c.decay(now, t.halfLife)
	c.failures++
	if c.failures < threshold {
		return false, 0
	}
	// LockoutMin doubled once per failure past the threshold, compared without overflowing.
	d = t.cfg.LockoutMax
	if steps := c.failures - threshold; steps < 63 && t.cfg.LockoutMin <= t.cfg.LockoutMax>>steps {
		d = t.cfg.LockoutMin << steps
	}
	started = !now.Before(c.lockedUntil)
	if until := now.Add(d); until.After(c.lockedUntil) {
		c.lockedUntil = until
	}
	return started, d
}

// pairState is a counter of one account from one address, and whether that address has
// logged in to the account.
type pairState struct {
	counter
	trustedUntil time.Time
}

func remaining(until, now time.Time) time.Duration {
	if d := until.Sub(now); d > 0 {
		return d
	}
	return 0
}

// waitLocked is how long an attempt keyed by k must wait before it may be checked; 0 if it
// may be checked now.
func (t *Throttle) waitLocked(k pairKey, now time.Time) time.Duration {
	var wait time.Duration
	pair, ok := t.pairs.get(k)
	trusted := false
	if ok {
		wait = remaining(pair.lockedUntil, now)
		trusted = now.Before(pair.trustedUntil)
	}
	if trusted {
		return wait
	}
	addr, ok := t.addrs.get(k.addr)
	if !ok {
		return wait
	}
	wait = max(wait, remaining(addr.lockedUntil, now))
	addr.decay(now, t.halfLife)
	if addr.failures > 0 {
		if acct, ok := t.accounts.get(k.account); ok {
			wait = max(wait, remaining(acct.lockedUntil, now))
		}
	}
	return wait
}

// Allow reports whether an attempt to log in to account name from addr may be checked now:
// nil, or a *ThrottledError saying how long to wait.
func (t *Throttle) Allow(name string, addr netip.Addr, now time.Time) error {
	if t == nil {
		return nil
	}
	k := keyOf(name, addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if wait := t.waitLocked(k, now); wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// Failed counts a failed attempt to log in to account name from addr. It returns the
// lockouts the failure started, and a *ThrottledError if the client is now locked out (nil
// if it may try again at once).
func (t *Throttle) Failed(name string, addr netip.Addr, now time.Time) ([]Lockout, error) {
	if t == nil {
		return nil, nil
	}
	k := keyOf(name, addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	var started []Lockout
	note := func(scope string, c *counter, threshold int) {
		if ok, d := t.fail(c, threshold, now); ok {
			started = append(started, Lockout{Account: name, Client: addr, Scope: scope, Failures: c.failures, For: d})
		}
	}
	pair, ok := t.pairs.get(k)
	if !ok {
		pair = &pairState{}
		t.pairs.add(k, pair, now)
	}
	note(LockAccountAddress, &pair.counter, t.cfg.MaxFailures)
	a, ok := t.addrs.get(k.addr)
	if !ok {
		a = &counter{}
		t.addrs.add(k.addr, a, now)
	}
	note(LockAddress, a, t.cfg.AddressMaxFailures)
	acct, ok := t.accounts.get(k.account)
	if !ok {
		acct = &counter{}
		t.accounts.add(k.account, acct, now)
	}
	note(LockAccount, acct, t.cfg.AccountMaxFailures)
	if wait := t.waitLocked(k, now); wait > 0 {
		return started, &ThrottledError{RetryAfter: wait}
	}
	return started, nil
}

// Succeeded records a successful login to account name from addr: the pair's count and
// lockout are cleared, and the address becomes known to the account (exempt from the
// per-address and per-account locks). The per-address and per-account counts stay: one
// good password must not wipe the record of guesses at other accounts.
func (t *Throttle) Succeeded(name string, addr netip.Addr, now time.Time) {
	if t == nil {
		return
	}
	k := keyOf(name, addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	pair, ok := t.pairs.get(k)
	if !ok {
		pair = &pairState{}
		t.pairs.add(k, pair, now)
	}
	pair.counter = counter{}
	pair.trustedUntil = now.Add(trustFor)
}

// sizes reports how many keys each table holds (for tests of the memory bound).
func (t *Throttle) sizes() (pairs, addrs, accounts int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pairs.len(), t.addrs.len(), t.accounts.len()
}

// lru is a bounded map that forgets its least recently used keys, preferring those idle
// reports as cheap to lose. It is not safe for concurrent use (the Throttle's mutex guards it).
type lru[K comparable, V any] struct {
	max   int
	order *list.List // of *lruItem[K, V], most recently used first
	items map[K]*list.Element
	idle  func(V, time.Time) bool
}

type lruItem[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int, idle func(V, time.Time) bool) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), items: make(map[K]*list.Element), idle: idle}
}

// get returns the value under k and marks it used.
func (c *lru[K, V]) get(k K) (V, bool) {
	e, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruItem[K, V]).val, true
}

// add stores v under a key not yet present, first making room if the map is full.
func (c *lru[K, V]) add(k K, v V, now time.Time) {
	for len(c.items) >= c.max {
		c.evict(now)
	}
	c.items[k] = c.order.PushFront(&lruItem[K, V]{key: k, val: v})
}

// evict removes the least recently used of the last evictScan entries that is idle, or the
// least recently used entry if none of them is.
func (c *lru[K, V]) evict(now time.Time) {
	victim := c.order.Back()
	for e, i := victim, 0; e != nil && i < evictScan; e, i = e.Prev(), i+1 {
		if c.idle(e.Value.(*lruItem[K, V]).val, now) {
			victim = e
			break
		}
	}
	delete(c.items, victim.Value.(*lruItem[K, V]).key)
	c.order.Remove(victim)
}

func (c *lru[K, V]) len() int { return len(c.items) }
