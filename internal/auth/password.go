package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/crypto/argon2"
)

// argon2Params are the cost parameters recorded in every hash. New hashes use
// defaultArgon2Params (OWASP's argon2id recommendation: 19 MiB, 2 passes, 1
// lane); verification reads them back from the stored string, so they can be
// raised later without invalidating existing hashes.
type argon2Params struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

var defaultArgon2Params = argon2Params{memory: 19456, time: 2, threads: 1}

// CheapHashesForTests makes new hashes use argon2id's smallest cost (8 KiB, one pass). Tests
// that stand up many servers and accounts spend most of their time in argon2 otherwise; they
// call it from TestMain, before any hash is made. Verification reads the cost from each hash,
// so nothing else changes. It panics outside a test binary: a program must never weaken its
// hashes.
func CheapHashesForTests() {
	if !testing.Testing() {
		panic("auth: CheapHashesForTests called outside a test binary")
	}
	defaultArgon2Params = argon2Params{memory: 8, time: 1, threads: 1}
}

const (
	saltLen = 16
	keyLen  = 32

	// Bounds on what a stored hash may ask for: generous enough for future
	// parameter increases, tight enough that a corrupted or hostile row cannot
	// make one verification allocate gigabytes or spin for minutes.
	maxArgon2Memory  = 1 << 20 // KiB, 1 GiB
	maxArgon2Time    = 64
	minStoredSaltLen = 8
	maxStoredSaltLen = 64
	minStoredKeyLen  = 16
	maxStoredKeyLen  = 64
)

// phcB64 is the unpadded standard alphabet that the PHC string format uses.
var phcB64 = base64.RawStdEncoding.Strict()

// HashPassword returns an argon2id hash of password in PHC string format
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>") with a random 16-byte salt.
func HashPassword(password string) (string, error) {
	return hashPasswordWith(defaultArgon2Params, password)
}

func hashPasswordWith(p argon2Params, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: generate salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC-encoded argon2id
// hash. A hash it cannot parse is an error, not a mismatch, so that corrupted
// rows surface instead of silently locking users out.
func VerifyPassword(encoded, password string) (bool, error) {
	p, salt, want, err := parseArgon2Hash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var errMalformedHash = errors.New("auth: malformed password hash")

func parseArgon2Hash(encoded string) (p argon2Params, salt, key []byte, err error) {
	fail := func(format string, args ...any) (argon2Params, []byte, []byte, error) {
		return argon2Params{}, nil, nil, fmt.Errorf("%w: %s", errMalformedHash, fmt.Sprintf(format, args...))
	}
	// "$argon2id$v=19$m=..,t=..,p=..$salt$hash" splits into 6 fields, the first empty.
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" {
		return fail("want 5 '$'-separated fields")
	}
	if fields[1] != "argon2id" {
		return fail("unsupported algorithm %q", fields[1])
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported version %q", fields[2])
	}
	params := strings.Split(fields[3], ",")
	if len(params) != 3 {
		return fail("want parameters m,t,p")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(params[i], name+"=")
		if !ok {
			return fail("want parameter %q at position %d", name, i+1)
		}
		n, perr := strconv.ParseUint(v, 10, 32)
		if perr != nil || n == 0 {
			return fail("parameter %s=%q is not a positive integer", name, v)
		}
		vals[i] = n
	}
	if vals[0] > maxArgon2Memory || vals[1] > maxArgon2Time || vals[2] > 255 {
		return fail("parameters m=%d,t=%d,p=%d out of range", vals[0], vals[1], vals[2])
	}
	p = argon2Params{memory: uint32(vals[0]), time: uint32(vals[1]), threads: uint8(vals[2])}
	if salt, err = phcB64.DecodeString(fields[4]); err != nil {
		return fail("salt: %v", err)
	}
	if len(salt) < minStoredSaltLen || len(salt) > maxStoredSaltLen {
		return fail("salt length %d out of range", len(salt))
	}
	if key, err = phcB64.DecodeString(fields[5]); err != nil {
		return fail("hash: %v", err)
	}
	if len(key) < minStoredKeyLen || len(key) > maxStoredKeyLen {
		return fail("hash length %d out of range", len(key))
	}
	return p, salt, key, nil
}

const (
	randomPasswordLen      = 20
	randomPasswordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// RandomPassword returns a 20-character password that satisfies Harbor's
// password rules (8-128 characters with upper case, lower case and a digit);
// it is used for the generated first-start admin password.
func RandomPassword() string {
	for {
		pw := randomString(randomPasswordLen, randomPasswordAlphabet)
		// Retrying instead of forcing one character of each class into fixed
		// positions keeps every character uniformly distributed.
		if strings.ContainsAny(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") &&
			strings.ContainsAny(pw, "abcdefghijklmnopqrstuvwxyz") &&
			strings.ContainsAny(pw, "0123456789") {
			return pw
		}
	}
}

// randomString draws n characters uniformly from alphabet (at most 256
// characters) using crypto/rand, rejecting bytes that would bias the modulo.
func randomString(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		// crypto/rand.Read never fails since Go 1.24; it aborts the process instead.
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// CheckPasswordRules applies Harbor's password rules: 8 to 128 characters with at least one
// upper-case letter, one lower-case letter and one digit.
func CheckPasswordRules(pw string) error {
	if len(pw) < 8 || len(pw) > 128 {
		return errors.New("the password must be 8 to 128 characters long")
	}
	var upper, lower, digit bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if !upper || !lower || !digit {
		return errors.New("the password must contain at least one upper-case letter, one lower-case letter and one digit")
	}
	return nil
}
