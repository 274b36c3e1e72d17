package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAccounts is an in-memory AccountLookup that counts its calls.
type fakeAccounts struct {
	mu       sync.Mutex
	accounts map[string]Account
	lookups  int
	err      error // returned for every lookup when set
}

func (f *fakeAccounts) lookup(_ context.Context, name string) (Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return Account{}, f.err
	}
	a, ok := f.accounts[name]
	if !ok {
		return Account{}, ErrNoAccount
	}
	return a, nil
}

func (f *fakeAccounts) set(a Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[a.Name] = a
}

func (f *fakeAccounts) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// testAuthenticator wires an Authenticator to fake accounts, counts argon2
// verifications and lets the test move the clock.
type testAuthenticator struct {
	*Authenticator
	accounts *fakeAccounts
	verifies atomic.Int64
	clock    atomic.Int64 // seconds added to the base time
}

func newTestAuthenticator(t *testing.T, accounts ...Account) *testAuthenticator {
	t.Helper()
	f := &fakeAccounts{accounts: make(map[string]Account)}
	for _, a := range accounts {
		f.set(a)
	}
	ta := &testAuthenticator{Authenticator: NewAuthenticator(f.lookup), accounts: f}
	base := time.Unix(1_700_000_000, 0)
	ta.now = func() time.Time { return base.Add(time.Duration(ta.clock.Load()) * time.Second) }
	ta.verify = func(encoded, password string) (bool, error) {
		ta.verifies.Add(1)
		if encoded == dummyHash() {
			// The dummy hash has production parameters; its result is
			// ignored anyway, so spare the test the argon2 work.
			return false, nil
		}
		return VerifyPassword(encoded, password)
	}
	return ta
}

func TestAuthenticatorBasic(t *testing.T) {
	t.Parallel()
	admin := Account{ID: 1, Name: "admin", PasswordHash: mustHash(t, "Harbor12345"), SysAdmin: true}
	dev := Account{ID: 7, Name: "dev", PasswordHash: mustHash(t, "Dev12345")}
	external := Account{ID: 9, Name: "oidc-user"}
	tests := []struct {
		name, user, password string
		lookupErr            error
		want                 Principal
		wantErr              error
		wantVerifies         int64
	}{
		{name: "admin", user: "admin", password: "Harbor12345",
			want: Principal{Kind: User, ID: 1, Name: "admin", SysAdmin: true}, wantVerifies: 1},
		{name: "plain user", user: "dev", password: "Dev12345",
			want: Principal{Kind: User, ID: 7, Name: "dev"}, wantVerifies: 1},
		{name: "wrong password", user: "admin", password: "Harbor12346", wantErr: ErrBadCredentials, wantVerifies: 1},
		// Unknown names still cost one (dummy) verification, against timing probes.
		{name: "unknown user", user: "nobody", password: "Harbor12345", wantErr: ErrBadCredentials, wantVerifies: 1},
		{name: "empty password", user: "admin", password: "", wantErr: ErrBadCredentials},
		{name: "empty name", user: "", password: "Harbor12345", wantErr: ErrBadCredentials},
		// Accounts without a local password cost a (dummy) verification too.
		{name: "no local password", user: "oidc-user", password: "whatever1A", wantErr: ErrBadCredentials, wantVerifies: 1},
		{name: "lookup failure", user: "admin", password: "Harbor12345", lookupErr: errors.New("db down")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestAuthenticator(t, admin, dev, external)
			a.accounts.err = tt.lookupErr
			got, err := a.Basic(context.Background(), tt.user, tt.password)
			switch {
			case tt.lookupErr != nil:
				if !errors.Is(err, tt.lookupErr) || errors.Is(err, ErrBadCredentials) {
					t.Fatalf("err = %v; want the wrapped lookup error, not ErrBadCredentials", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v; want %v", err, tt.wantErr)
				}
			default:
				if err != nil || got != tt.want {
					t.Fatalf("Basic = %+v, %v; want %+v", got, err, tt.want)
				}
			}
			if n := a.verifies.Load(); n != tt.wantVerifies {
				t.Fatalf("%d argon2 verifications, want %d", n, tt.wantVerifies)
			}
		})
	}
}

func TestAuthenticatorCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newTestAuthenticator(t, Account{ID: 1, Name: "admin", PasswordHash: mustHash(t, "Harbor12345")})
	basic := func(password string) error {
		t.Helper()
		_, err := a.Basic(ctx, "admin", password)
		return err
	}
	expect := func(step string, err, wantErr error, wantLookups int, wantVerifies int64) {
		t.Helper()
		if !errors.Is(err, wantErr) {
			t.Fatalf("%s: err = %v; want %v", step, err, wantErr)
		}
		if n := a.accounts.lookupCount(); n != wantLookups {
			t.Fatalf("%s: %d lookups, want %d", step, n, wantLookups)
		}
		if n := a.verifies.Load(); n != wantVerifies {
			t.Fatalf("%s: %d argon2 verifications, want %d", step, n, wantVerifies)
		}
	}

	expect("first login", basic("Harbor12345"), nil, 1, 1)
	expect("cached login", basic("Harbor12345"), nil, 2, 1)
	expect("wrong password is not served from cache", basic("Harbor1234"), ErrBadCredentials, 3, 2)
	expect("failures are not cached", basic("Harbor1234"), ErrBadCredentials, 4, 3)
	expect("success still cached", basic("Harbor12345"), nil, 5, 3)

	// The principal is rebuilt from the fresh account even on a cache hit.
	a.accounts.set(Account{ID: 1, Name: "admin", PasswordHash: a.accounts.accounts["admin"].PasswordHash, SysAdmin: true})
	if p, err := a.Basic(ctx, "admin", "Harbor12345"); err != nil || !p.SysAdmin {
		t.Fatalf("after granting sysadmin: Basic = %+v, %v; want SysAdmin", p, err)
	}
	expect("cached login with changed flag", nil, nil, 6, 3)

	a.clock.Add(61)
	expect("entry expired", basic("Harbor12345"), nil, 7, 4)

	a.accounts.set(Account{ID: 1, Name: "admin", PasswordHash: mustHash(t, "NewPass123")})
	expect("old password after change", basic("Harbor12345"), ErrBadCredentials, 8, 5)
	expect("new password", basic("NewPass123"), nil, 9, 6)
	expect("new password cached", basic("NewPass123"), nil, 10, 6)
	if a.cache.len() != 2 {
		t.Fatalf("cache holds %d entries, want 2 (old and new hash)", a.cache.len())
	}
}

func TestAuthenticatorBoundsConcurrency(t *testing.T) {
	t.Parallel()
	a := newTestAuthenticator(t, Account{ID: 1, Name: "admin", PasswordHash: mustHash(t, "Harbor12345")})
	const limit = 2
	a.sem = make(chan struct{}, limit)
	// Eight wrong passwords at once would start a lockout; this test is about the bound only.
	a.SetThrottle(nil)
	var running, peak atomic.Int64
	release := make(chan struct{})
	a.verify = func(string, string) (bool, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return false, nil
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := a.Basic(context.Background(), "admin", "Harbor12345"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("Basic: %v; want ErrBadCredentials", err)
			}
		})
	}
	// Wait until the semaphore is full, then check that a waiter honours
	// cancellation instead of queueing forever.
	for len(a.sem) < limit {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Basic(ctx, "admin", "Harbor12345"); !errors.Is(err, context.Canceled) {
		t.Errorf("Basic with cancelled context while saturated: %v; want context.Canceled", err)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("%d concurrent verifications, limit %d", p, limit)
	}
}
