// Package secret makes and protects secrets: random bearer tokens (stored
// only as SHA-256 hashes: they carry 256 bits of entropy, so a slow hash adds
// nothing and a fast one keeps lookups indexable) and AES-256-GCM sealing of
// secrets Gatehouse must read back (upstream client secrets), bound to the
// row they belong to so a sealed value cannot be moved to another row.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// NewToken returns prefix followed by 32 random bytes, base64url-encoded.
func NewToken(r io.Reader, prefix string) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash is the lookup hash of a high-entropy token.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// KeySize is the length of a key-encryption key.
const KeySize = 32

// Sealer encrypts and decrypts with one AES-256-GCM key.
type Sealer struct {
	aead  cipher.AEAD
	keyID string
}

// NewSealer builds a Sealer from a 32-byte key. The key ID (a hash prefix of
// the key) is written into every sealed value so that a wrong key is reported
// as such instead of as corruption.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key: want %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	id := sha256.Sum256(append([]byte("gatehouse-kek-id:"), key...))
	return &Sealer{aead: aead, keyID: hex.EncodeToString(id[:4])}, nil
}

// ParseKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("encryption key: want %d bytes, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("encryption key: not base64")
}

// Seal encrypts plaintext bound to aad (the owning row's identity).
func (s *Sealer) Seal(plaintext, aad string) string {
	ct := s.aead.Seal(nil, nil, []byte(plaintext), []byte(aad))
	return "v1:" + s.keyID + ":" + base64.RawStdEncoding.EncodeToString(ct)
}

// ErrWrongKey: the value was sealed under another key.
var ErrWrongKey = errors.New("sealed with a different encryption key")

// Open decrypts a value from Seal with the same aad.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	parts := strings.SplitN(sealed, ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", errors.New("open sealed value: unknown format")
	}
	if parts[1] != s.keyID {
		return "", fmt.Errorf("open sealed value: %w (key %s)", ErrWrongKey, parts[1])
	}
	ct, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil {
		return "", fmt.Errorf("open sealed value: %w", err)
	}
	pt, err := s.aead.Open(nil, nil, ct, []byte(aad))
	if err != nil {
		return "", fmt.Errorf("open sealed value: %w", err)
	}
	return string(pt), nil
}
