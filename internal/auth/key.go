package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// signingKeySetting is the metadata-store key holding the token signing key.
const signingKeySetting = "token_signing_key"

// SettingStore is the part of the metadata store through which replicas share
// the token signing key.
type SettingStore interface {
	// Setting returns the value and whether it exists.
	Setting(ctx context.Context, key string) (string, bool, error)
	// SetSettingIfAbsent stores value unless the key already exists, and
	// returns the value now stored (the existing one if another replica won
	// the race).
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)
}

// LoadOrCreateSigningKey returns the token signing key stored under
// "token_signing_key" (PKCS#8 PEM). On first start it generates a P-256 key and
// stores it unless another replica got there first; either way every replica
// ends up using the stored key, so tokens issued by one verify on all.
func LoadOrCreateSigningKey(ctx context.Context, st SettingStore) (*ecdsa.PrivateKey, error) {
	stored, ok, err := st.Setting(ctx, signingKeySetting)
	if err != nil {
		return nil, fmt.Errorf("auth: read %s: %w", signingKeySetting, err)
	}
	if !ok {
		fresh, err := newSigningKeyPEM()
		if err != nil {
			return nil, err
		}
		if stored, err = st.SetSettingIfAbsent(ctx, signingKeySetting, fresh); err != nil {
			return nil, fmt.Errorf("auth: store %s: %w", signingKeySetting, err)
		}
	}
	key, err := parseSigningKey(stored)
	if err != nil {
		return nil, fmt.Errorf("auth: setting %s: %w", signingKeySetting, err)
	}
	return key, nil
}

func newSigningKeyPEM() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("auth: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("auth: encode signing key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func parseSigningKey(s string) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PKCS#8 PEM private key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("want an ECDSA key, got %T", parsed)
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("want a P-256 key, got %s", key.Curve.Params().Name)
	}
	return key, nil
}
