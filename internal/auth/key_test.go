package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// memSettings is an in-memory SettingStore.
type memSettings struct {
	mu     sync.Mutex
	values map[string]string
	writes int
	// beforeRead, when set, runs at the start of every Setting call; the race
	// test uses it to hold readers until all have seen the key absent.
	beforeRead func()
}

func newMemSettings() *memSettings { return &memSettings{values: make(map[string]string)} }

func (m *memSettings) Setting(_ context.Context, key string) (string, bool, error) {
	if m.beforeRead != nil {
		m.beforeRead()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[key]
	return v, ok, nil
}

func (m *memSettings) SetSettingIfAbsent(_ context.Context, key, value string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.values[key]; ok {
		return v, nil
	}
	m.values[key] = value
	m.writes++
	return value, nil
}

type failingSettings struct{ err error }

func (f failingSettings) Setting(context.Context, string) (string, bool, error) {
	return "", false, f.err
}

func (f failingSettings) SetSettingIfAbsent(context.Context, string, string) (string, error) {
	return "", f.err
}

func TestLoadOrCreateSigningKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newMemSettings()
	k1, err := LoadOrCreateSigningKey(ctx, st)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if !strings.HasPrefix(st.values["token_signing_key"], "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("stored value is not PKCS#8 PEM: %q", st.values["token_signing_key"])
	}
	k2, err := LoadOrCreateSigningKey(ctx, st)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if !k1.Equal(k2) || st.writes != 1 {
		t.Fatalf("second call returned a different key or wrote again (%d writes)", st.writes)
	}
	// A key loaded from the store signs tokens another replica can verify.
	tok, _, _, err := NewTokenService(k1, testIssuer, testService, time.Minute).Issue(t.Context(), Principal{Kind: User, ID: 1, Name: "admin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokenService(k2, testIssuer, testService, time.Minute).Verify(tok); err != nil {
		t.Fatalf("token from replica 1 rejected by replica 2: %v", err)
	}
}

func TestLoadOrCreateSigningKeyRace(t *testing.T) {
	t.Parallel()
	const replicas = 4
	st := newMemSettings()
	var arrived sync.WaitGroup
	arrived.Add(replicas)
	// Every replica reads "absent" before any of them writes, so all generate
	// a key and race on SetSettingIfAbsent.
	st.beforeRead = func() { arrived.Done(); arrived.Wait() }

	keys := make([]string, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			k, err := LoadOrCreateSigningKey(context.Background(), st)
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				return
			}
			keys[i] = keyID(&k.PublicKey)
		})
	}
	wg.Wait()
	for i, k := range keys {
		if k != keys[0] {
			t.Fatalf("replica %d uses key %s, replica 0 uses %s", i, k, keys[0])
		}
	}
	if st.writes != 1 {
		t.Fatalf("%d writes, want 1", st.writes)
	}
}

func TestLoadOrCreateSigningKeyErrors(t *testing.T) {
	t.Parallel()
	pkcs8PEM := func(key any) string {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		store SettingStore
	}{
		{"store read fails", failingSettings{errors.New("db down")}},
		{"not PEM", storeWith("hello")},
		{"wrong PEM type", storeWith("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")},
		{"P-384 key", storeWith(pkcs8PEM(p384))},
		{"Ed25519 key", storeWith(pkcs8PEM(ed))},
		{"PEM garbage", storeWith("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if k, err := LoadOrCreateSigningKey(context.Background(), tt.store); err == nil {
				t.Fatalf("LoadOrCreateSigningKey = %v; want an error", k)
			}
		})
	}
}

func storeWith(v string) *memSettings {
	st := newMemSettings()
	st.values["token_signing_key"] = v
	return st
}
