package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Tests of login throttling through the Authenticator (every entry point's path), with the
// test clock of newTestAuthenticator: no test sleeps.

var (
	addrA = netip.MustParseAddr("192.0.2.10")
	addrB = netip.MustParseAddr("192.0.2.20")
)

// from is a context whose requests come from addr.
func from(addr netip.Addr) context.Context {
	return WithClientAddr(context.Background(), addr)
}

// throttledAuthenticator is a test authenticator with the given thresholds (zero fields:
// defaults) that records the lockouts it reports.
func throttledAuthenticator(t *testing.T, cfg ThrottleConfig, accounts ...Account) (*testAuthenticator, *lockoutLog) {
	t.Helper()
	a := newTestAuthenticator(t, accounts...)
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = DefaultThrottleConfig().MaxFailures
	}
	a.SetThrottle(NewThrottle(cfg))
	log := &lockoutLog{}
	a.OnLockout(log.add)
	return a, log
}

type lockoutLog struct {
	mu  sync.Mutex
	all []Lockout
}

func (l *lockoutLog) add(_ context.Context, lo Lockout) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, lo)
}

func (l *lockoutLog) list() []Lockout {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Lockout(nil), l.all...)
}

// retryAfter returns the wait a throttled error asks for, failing the test if err is another.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	te, ok := errors.AsType[*ThrottledError](err)
	if !ok || !errors.Is(err, ErrThrottled) {
		t.Fatalf("err = %v; want a *ThrottledError", err)
	}
	return te.RetryAfter
}

func TestThrottleLocksAccountForAddress(t *testing.T) {
	t.Parallel()
	dev := Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")}
	a, log := throttledAuthenticator(t, ThrottleConfig{}, dev)

	for i := 1; i < 5; i++ {
		if _, err := a.Basic(from(addrA), "dev", "wrong-Pass1"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v; want ErrBadCredentials", i, err)
		}
	}
	// The fifth failure starts the lockout: the answer says so at once.
	if d := retryAfter(t, second(a.Basic(from(addrA), "dev", "wrong-Pass2"))); d != 30*time.Second {
		t.Fatalf("first lockout %v, want 30s", d)
	}
	verified := a.verifies.Load()
	// During the lockout even the right password is refused, without being checked.
	a.clock.Add(10)
	if d := retryAfter(t, second(a.Basic(from(addrA), "dev", "Dev12345"))); d != 20*time.Second {
		t.Fatalf("Retry-After 10 s into the lockout: %v, want 20s", d)
	}
	if n := a.verifies.Load(); n != verified {
		t.Fatalf("%d passwords verified during the lockout, want none", n-verified)
	}
	// Another address is not locked out: the user gets in from there.
	if p, err := a.Basic(from(addrB), "dev", "Dev12345"); err != nil || p.Name != "dev" {
		t.Fatalf("right password from another address: %+v, %v", p, err)
	}
	want := []Lockout{{Account: "dev", Client: addrA, Scope: LockAccountAddress, Failures: 5, For: 30 * time.Second}}
	if got := log.list(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lockouts %+v, want %+v", got, want)
	}

	// The lockout expires; success then resets the pair's count.
	a.clock.Add(20)
	if _, err := a.Basic(from(addrA), "dev", "Dev12345"); err != nil {
		t.Fatalf("right password after the lockout: %v", err)
	}
	for i := 1; i < 5; i++ {
		if _, err := a.Basic(from(addrA), "dev", "wrong-Pass1"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d after a success: %v; want ErrBadCredentials (count reset)", i, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestThrottleLockoutGrows: each failure past the threshold doubles the lockout, up to the cap;
// counts halve every four times the cap, so an attacker who waits out each lockout keeps
// meeting the longest one, and a user's old typos are forgotten.
func TestThrottleLockoutGrows(t *testing.T) {
	t.Parallel()
	a, log := throttledAuthenticator(t, ThrottleConfig{LockoutMin: 30 * time.Second, LockoutMax: 5 * time.Minute},
		Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")})
	for range 4 {
		_, _ = a.Basic(from(addrA), "dev", "wrong-Pass1")
	}
	for i, want := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		if d := retryAfter(t, second(a.Basic(from(addrA), "dev", "wrong-Pass1"))); d != want {
			t.Fatalf("lockout %d: %v, want %v", i+1, d, want)
		}
		a.clock.Add(int64(want / time.Second))
	}
	// Six lockouts, each begun after the one before had expired.
	if n := len(log.list()); n != 6 {
		t.Fatalf("%d lockouts reported, want 6", n)
	}
	// 10 failures, then 20 min of quiet (one half-life) leaves 5: the next failure locks again.
	a.clock.Add(20 * 60)
	if d := retryAfter(t, second(a.Basic(from(addrA), "dev", "wrong-Pass1"))); d != time.Minute {
		t.Fatalf("after one half-life: lockout %v, want 1m (count 10 halved to 5, plus 1)", d)
	}
	// Hours of quiet forget everything.
	a.clock.Add(4 * 3600)
	if _, err := a.Basic(from(addrA), "dev", "wrong-Pass1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("after hours: %v; want ErrBadCredentials", err)
	}
}

// TestThrottleUnknownAccountLikeKnown: a name that does not exist is counted, locked and
// answered exactly like one that does, at the same argon2 cost, so neither the status nor the
// timing nor Retry-After tells them apart.
func TestThrottleUnknownAccountLikeKnown(t *testing.T) {
	t.Parallel()
	run := func(name string) (answers []string, verifies int64) {
		a, _ := throttledAuthenticator(t, ThrottleConfig{}, Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")})
		for range 8 {
			_, err := a.Basic(from(addrA), name, "wrong-Pass1")
			var te *ThrottledError
			switch {
			case errors.As(err, &te):
				answers = append(answers, te.Message())
			case errors.Is(err, ErrBadCredentials):
				answers = append(answers, "bad credentials")
			default:
				t.Fatalf("%s: %v", name, err)
			}
			a.clock.Add(1)
		}
		return answers, a.verifies.Load()
	}
	known, knownVerifies := run("dev")
	unknown, unknownVerifies := run("nobody")
	if fmt.Sprint(known) != fmt.Sprint(unknown) || knownVerifies != unknownVerifies {
		t.Fatalf("known account: %q (%d verifications)\nunknown: %q (%d verifications)", known, knownVerifies, unknown, unknownVerifies)
	}
	if known[4] != "too many failed login attempts: try again in 30 seconds" {
		t.Fatalf("fifth answer %q", known[4])
	}
}

// TestThrottleAddressSpraying: one address guessing at many names is locked out of every
// account it has not logged in to, not of those it has; other addresses are unaffected.
func TestThrottleAddressSpraying(t *testing.T) {
	t.Parallel()
	dev := Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")}
	ops := Account{ID: 8, Name: "ops", PasswordHash: mustHash(t, "Ops12345")}
	a, log := throttledAuthenticator(t, ThrottleConfig{AddressMaxFailures: 10}, dev, ops)
	// dev has signed in from addrA before.
	if _, err := a.Basic(from(addrA), "dev", "Dev12345"); err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if _, err := a.Basic(from(addrA), fmt.Sprintf("user%d", i), "wrong-Pass1"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v; want ErrBadCredentials", i, err)
		}
	}
	retryAfter(t, second(a.Basic(from(addrA), "user9", "wrong-Pass1")))
	if got := log.list(); len(got) != 1 || got[0].Scope != LockAddress || got[0].Account != "user9" || got[0].Client != addrA {
		t.Fatalf("lockouts %+v, want one of scope address", got)
	}
	verified := a.verifies.Load()
	// ops never signed in from addrA: refused unchecked, right password or not.
	retryAfter(t, second(a.Basic(from(addrA), "ops", "Ops12345")))
	if a.verifies.Load() != verified {
		t.Fatal("a password was checked from a locked-out address")
	}
	// dev did: still checked.
	if _, err := a.Basic(from(addrA), "dev", "Dev12345"); err != nil {
		t.Fatalf("dev from its known address: %v", err)
	}
	// Other addresses are not concerned.
	if _, err := a.Basic(from(addrB), "ops", "Ops12345"); err != nil {
		t.Fatalf("ops from another address: %v", err)
	}
}

// TestThrottleDistributedGuessing: guesses at one account from many addresses lock the account
// for addresses that have failed, but a clean address, or one the user signed in from before,
// still gets in: an attacker cannot lock the user out.
func TestThrottleDistributedGuessing(t *testing.T) {
	t.Parallel()
	dev := Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")}
	a, log := throttledAuthenticator(t, ThrottleConfig{AccountMaxFailures: 20}, dev)
	home := netip.MustParseAddr("198.51.100.1")
	if _, err := a.Basic(from(home), "dev", "Dev12345"); err != nil {
		t.Fatal(err)
	}
	bot := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}) }
	for i := range 19 {
		if _, err := a.Basic(from(bot(i)), "dev", "wrong-Pass1"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v; want ErrBadCredentials", i, err)
		}
	}
	retryAfter(t, second(a.Basic(from(bot(19)), "dev", "wrong-Pass1")))
	if got := log.list(); len(got) != 1 || got[0].Scope != LockAccount {
		t.Fatalf("lockouts %+v, want one of scope account", got)
	}
	// Addresses that have failed are refused unchecked, right password or not.
	retryAfter(t, second(a.Basic(from(bot(3)), "dev", "Dev12345")))
	// A clean address is checked: a wrong guess is a plain failure, the right password works.
	if _, err := a.Basic(from(netip.MustParseAddr("198.51.100.2")), "dev", "Dev12345"); err != nil {
		t.Fatalf("clean address during the account lockout: %v", err)
	}
	// The user's known address is checked even after a typo of its own.
	if _, err := a.Basic(from(home), "dev", "typo-Pass1"); !errors.Is(err, ErrBadCredentials) && !errors.Is(err, ErrThrottled) {
		t.Fatalf("typo from the known address: %v", err)
	}
	if _, err := a.Basic(from(home), "dev", "Dev12345"); err != nil {
		t.Fatalf("known address during the account lockout: %v", err)
	}
}

// TestThrottleIPv6Network: an IPv6 client is counted by its /64, which one host holds whole.
func TestThrottleIPv6Network(t *testing.T) {
	t.Parallel()
	a, _ := throttledAuthenticator(t, ThrottleConfig{}, Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")})
	for i := range 5 {
		_, _ = a.Basic(from(netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1))), "dev", "wrong-Pass1")
	}
	retryAfter(t, second(a.Basic(from(netip.MustParseAddr("2001:db8::ffff")), "dev", "Dev12345")))
	if _, err := a.Basic(from(netip.MustParseAddr("2001:db8:0:1::1")), "dev", "Dev12345"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	// IPv4 and the same address mapped into IPv6 are one client.
	for range 5 {
		_, _ = a.Basic(from(addrA), "dev", "wrong-Pass1")
	}
	retryAfter(t, second(a.Basic(from(netip.AddrFrom16(addrA.As16())), "dev", "Dev12345")))
}

// TestThrottleMemoryBound: spraying names from many addresses never grows the tables past
// MaxEntries, and does not evict the lockout of an attack in progress.
func TestThrottleMemoryBound(t *testing.T) {
	t.Parallel()
	th := NewThrottle(ThrottleConfig{MaxFailures: 5, MaxEntries: 64})
	now := time.Unix(1_700_000_000, 0)
	victim := netip.MustParseAddr("198.51.100.7")
	for range 5 {
		_, _ = th.Failed("dev", victim, now)
	}
	if th.Allow("dev", victim, now) == nil {
		t.Fatal("no lockout after 5 failures")
	}
	for i := range 5000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		_, _ = th.Failed(fmt.Sprintf("sprayed-name-%d-%s", i, string(make([]byte, i%1000))), addr, now)
		th.Succeeded(fmt.Sprintf("other-%d", i), addr, now)
	}
	pairs, addrs, accounts := th.sizes()
	if pairs > 64 || addrs > 64 || accounts > 64 {
		t.Fatalf("tables hold %d pairs, %d addresses, %d accounts; bound 64", pairs, addrs, accounts)
	}
	if th.Allow("dev", victim, now) == nil {
		t.Fatal("the spray evicted a lockout in progress")
	}
}

// TestThrottleOff: MaxFailures 0 turns throttling off.
func TestThrottleOff(t *testing.T) {
	t.Parallel()
	if NewThrottle(ThrottleConfig{}) != nil {
		t.Fatal("NewThrottle with MaxFailures 0 throttles")
	}
	a := newTestAuthenticator(t, Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")})
	a.SetThrottle(nil)
	for range 20 {
		if _, err := a.Basic(from(addrA), "dev", "wrong-Pass1"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("%v; want ErrBadCredentials", err)
		}
	}
	if _, err := a.Basic(from(addrA), "dev", "Dev12345"); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordMatchesIsNotThrottled: checking that a new password differs from the current one
// is no login attempt: it neither counts a failure nor is refused during a lockout.
func TestPasswordMatchesIsNotThrottled(t *testing.T) {
	t.Parallel()
	a, _ := throttledAuthenticator(t, ThrottleConfig{}, Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")})
	for range 10 {
		if ok, err := a.PasswordMatches(from(addrA), "dev", "Other12345"); ok || err != nil {
			t.Fatalf("PasswordMatches = %v, %v", ok, err)
		}
	}
	if _, err := a.Basic(from(addrA), "dev", "Dev12345"); err != nil {
		t.Fatalf("login after PasswordMatches mismatches: %v", err)
	}
	for range 5 {
		_, _ = a.Basic(from(addrA), "dev", "wrong-Pass1")
	}
	if ok, err := a.PasswordMatches(from(addrA), "dev", "Dev12345"); !ok || err != nil {
		t.Fatalf("PasswordMatches during a lockout = %v, %v; want true", ok, err)
	}
}
