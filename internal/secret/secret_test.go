package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestTokenAndHash(t *testing.T) {
	t.Parallel()
	tok, err := NewToken(bytes.NewReader(bytes.Repeat([]byte{7}, 32)), "ghsa_")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "ghsa_") || len(tok) != len("ghsa_")+43 {
		t.Errorf("token %q: want prefix and 43 base64url characters", tok)
	}
	if Hash(tok) != Hash(tok) || Hash(tok) == Hash(tok+"x") || len(Hash(tok)) != 64 {
		t.Error("Hash is not a stable SHA-256 hex digest")
	}
	if _, err := NewToken(bytes.NewReader(nil), "p"); err == nil {
		t.Error("NewToken accepted an exhausted random source")
	}
	a, _ := NewToken(nil, "")
	b, _ := NewToken(nil, "")
	if a == b {
		t.Error("two random tokens are equal")
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{1}, KeySize)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("client-secret", "oauth2provider:1")
	if strings.Contains(sealed, "client-secret") {
		t.Fatal("sealed value contains the plaintext")
	}
	if s.Seal("client-secret", "oauth2provider:1") == sealed {
		t.Error("sealing twice gave the same ciphertext: nonces must be random")
	}
	if got, err := s.Open(sealed, "oauth2provider:1"); err != nil || got != "client-secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "oauth2provider:2"); err == nil {
		t.Error("a value sealed for one row opened for another")
	}
	other, _ := NewSealer(bytes.Repeat([]byte{2}, KeySize))
	if _, err := other.Open(sealed, "oauth2provider:1"); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open with another key: %v, want ErrWrongKey", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := s.Open(tampered, "oauth2provider:1"); err == nil {
		t.Error("a tampered value opened")
	}
	for _, bad := range []string{"", "v2:x:y", "v1:only-two"} {
		if _, err := s.Open(bad, "a"); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if _, err := NewSealer(key[:16]); err == nil {
		t.Error("NewSealer accepted a 16-byte key")
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xfb}, KeySize)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, err := ParseKey(" " + enc.EncodeToString(key) + "\n")
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%v encoding) = %x, %v", enc, got, err)
		}
	}
	if _, err := ParseKey(base64.StdEncoding.EncodeToString(key[:31])); err == nil {
		t.Error("ParseKey accepted 31 bytes")
	}
	if _, err := ParseKey("not base64 !"); err == nil {
		t.Error("ParseKey accepted garbage")
	}
}
