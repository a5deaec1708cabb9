// Package secret seals small secrets (SQL logins' passwords) for storage in
// the catalog with AES-256-GCM under a server key kept outside the catalog,
// so a copy of the catalog alone reveals no password.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Box seals and opens secrets with one key.
type Box struct{ aead cipher.AEAD }

// New makes a Box from a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext; the nonce is random and stored in front.
func (b *Box) Seal(plaintext string) []byte {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, []byte(plaintext), nil)
}

// Open decrypts what Seal made.
func (b *Box) Open(sealed []byte) (string, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed secret is too short")
	}
	p, err := b.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return "", errors.New("sealed secret does not open with this server key")
	}
	return string(p), nil
}

// LoadOrCreate reads the hex key in path, creating it (mode 0600) on first
// start. An environment-provided key (hex) takes precedence when non-empty.
func LoadOrCreate(path, fromEnv string) (*Box, error) {
	if fromEnv != "" {
		key, err := hex.DecodeString(strings.TrimSpace(fromEnv))
		if err != nil {
			return nil, fmt.Errorf("secret key from environment: %w", err)
		}
		return New(key)
	}
	text, err := LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("secret key %s is not hex: %w", path, err)
	}
	return New(key)
}

// LoadOrCreateKeyFile returns the trimmed contents of a key file, first
// writing a random 32-byte key in hex there (mode 0600) if it is missing.
func LoadOrCreateKeyFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
		text := hex.EncodeToString(key)
		if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write key %s: %w", path, err)
		}
		return text, nil
	}
	if err != nil {
		return "", fmt.Errorf("read key %s: %w", path, err)
	}
	return strings.TrimSpace(string(data)), nil
}
