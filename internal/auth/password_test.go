package auth

import (
	"errors"
	"strings"
	"testing"
)

// testArgon2Params keeps hashing cheap in tests, where the race detector
// makes the production parameters slow.
var testArgon2Params = argon2Params{memory: 64, time: 1, threads: 1}

func mustHash(t *testing.T, password string) string {
	t.Helper()
	h, err := hashPasswordWith(testArgon2Params, password)
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	return h
}

func TestHashPasswordDefaultFormat(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("Harbor12345")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not use the default argon2id parameters", h)
	}
	_, salt, key, err := parseArgon2Hash(h)
	if err != nil {
		t.Fatalf("parse own hash: %v", err)
	}
	if len(salt) != saltLen || len(key) != keyLen {
		t.Fatalf("salt %d bytes, key %d bytes; want %d and %d", len(salt), len(key), saltLen, keyLen)
	}
	for pw, want := range map[string]bool{"Harbor12345": true, "harbor12345": false} {
		ok, err := VerifyPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v, nil", pw, ok, err, want)
		}
	}
}

func TestVerifyPasswordRoundtrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, password, attempt string
		want                    bool
	}{
		{"match", "Harbor12345", "Harbor12345", true},
		{"wrong password", "Harbor12345", "Harbor12346", false},
		{"case matters", "Harbor12345", "harbor12345", false},
		{"empty password matches itself", "", "", true},
		{"empty attempt", "Harbor12345", "", false},
		{"unicode", "pässwörd✓Zz9", "pässwörd✓Zz9", true},
		{"prefix is not enough", "Harbor12345", "Harbor1234", false},
		{"long", strings.Repeat("aB3", 43), strings.Repeat("aB3", 43), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := mustHash(t, tt.password)
			got, err := VerifyPassword(h, tt.attempt)
			if err != nil || got != tt.want {
				t.Fatalf("VerifyPassword = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
}

func TestHashPasswordSalted(t *testing.T) {
	t.Parallel()
	a, b := mustHash(t, "Harbor12345"), mustHash(t, "Harbor12345")
	if a == b {
		t.Fatalf("two hashes of the same password are equal: %q", a)
	}
}

func TestVerifyPasswordReadsParametersFromHash(t *testing.T) {
	t.Parallel()
	h, err := hashPasswordWith(argon2Params{memory: 128, time: 3, threads: 2}, "Harbor12345")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=128,t=3,p=2$") {
		t.Fatalf("hash %q does not record its parameters", h)
	}
	if ok, err := VerifyPassword(h, "Harbor12345"); err != nil || !ok {
		t.Fatalf("VerifyPassword with non-default parameters = %v, %v; want true", ok, err)
	}
	// The same salt and key under different recorded parameters must not
	// verify: the parameters really come from the string.
	altered := strings.Replace(h, "t=3", "t=2", 1)
	if ok, err := VerifyPassword(altered, "Harbor12345"); err != nil || ok {
		t.Fatalf("VerifyPassword with altered parameters = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	t.Parallel()
	good := mustHash(t, "Harbor12345")
	fields := strings.Split(good, "$") // "", alg, version, params, salt, key
	with := func(i int, v string) string {
		f := append([]string(nil), fields...)
		f[i] = v
		return strings.Join(f, "$")
	}
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"plaintext", "Harbor12345"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"extra field", good + "$x"},
		{"missing key", strings.Join(fields[:5], "$")},
		{"argon2i", with(1, "argon2i")},
		{"old version", with(2, "v=16")},
		{"version garbage", with(2, "v=19x")},
		{"params reordered", with(3, "t=1,m=64,p=1")},
		{"params missing p", with(3, "m=64,t=1")},
		{"params extra", with(3, "m=64,t=1,p=1,k=2")},
		{"m zero", with(3, "m=0,t=1,p=1")},
		{"t zero", with(3, "m=64,t=0,p=1")},
		{"p zero", with(3, "m=64,t=1,p=0")},
		{"p too big", with(3, "m=64,t=1,p=256")},
		{"m too big", with(3, "m=4294967295,t=1,p=1")},
		{"t too big", with(3, "m=64,t=1000000,p=1")},
		{"m negative", with(3, "m=-1,t=1,p=1")},
		{"m not a number", with(3, "m=lots,t=1,p=1")},
		{"salt not base64", with(4, "!!!!")},
		{"salt padded", with(4, fields[4]+"==")},
		{"salt too short", with(4, "AAAA")},
		{"key not base64", with(5, "@@@@")},
		{"key too short", with(5, "AAAAAAAA")},
		{"key empty", with(5, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, err := VerifyPassword(tt.hash, "Harbor12345")
			if !errors.Is(err, errMalformedHash) || ok {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want false, malformed-hash error", tt.hash, ok, err)
			}
		})
	}
}

func TestRandomPassword(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 200 {
		pw := RandomPassword()
		if len(pw) != randomPasswordLen {
			t.Fatalf("RandomPassword() = %q: length %d, want %d", pw, len(pw), randomPasswordLen)
		}
		if strings.Trim(pw, randomPasswordAlphabet) != "" ||
			!strings.ContainsAny(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") ||
			!strings.ContainsAny(pw, "abcdefghijklmnopqrstuvwxyz") ||
			!strings.ContainsAny(pw, "0123456789") {
			t.Fatalf("RandomPassword() = %q does not satisfy Harbor's password rules", pw)
		}
		if seen[pw] {
			t.Fatalf("RandomPassword() repeated %q", pw)
		}
		seen[pw] = true
	}
}
