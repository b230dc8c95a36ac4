package connector

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of argon2id. They are written into
// every hash (PHC string format), so raising them later only affects new
// hashes; old ones still verify, and are rehashed at the next good login.
type Argon2Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultArgon2Params are OWASP's first recommendation for argon2id:
// 19 MiB of memory, 2 iterations, 1 lane, with a 16-byte salt and a 32-byte
// key. One hash takes a few tens of milliseconds on a server core.
var DefaultArgon2Params = Argon2Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Bounds on parameters read back from a stored hash, so that a corrupted or
// planted row cannot make one login allocate gigabytes or spin for minutes.
const (
	maxArgon2Memory     = 1 << 20 // KiB = 1 GiB
	maxArgon2Iterations = 64
	minArgon2Salt       = 8
	minArgon2Key        = 16
	maxArgon2Key        = 128
)

func (p Argon2Params) validate() error {
	switch {
	case p.Parallelism < 1:
		return errors.New("argon2id: parallelism must be at least 1")
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxArgon2Memory:
		return fmt.Errorf("argon2id: memory %d KiB out of range", p.Memory)
	case p.Iterations < 1 || p.Iterations > maxArgon2Iterations:
		return fmt.Errorf("argon2id: iterations %d out of range", p.Iterations)
	case p.SaltLength < minArgon2Salt || p.SaltLength > 64:
		return fmt.Errorf("argon2id: salt length %d out of range", p.SaltLength)
	case p.KeyLength < minArgon2Key || p.KeyLength > maxArgon2Key:
		return fmt.Errorf("argon2id: key length %d out of range", p.KeyLength)
	}
	return nil
}

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// hashPassword hashes password with params and a fresh salt from random:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
func hashPassword(password string, params Argon2Params, random io.Reader) (string, error) {
	if err := params.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, params.SaltLength)
	if _, err := io.ReadFull(random, salt); err != nil {
		return "", fmt.Errorf("argon2id: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, params.Iterations, params.Memory, params.Parallelism, params.KeyLength)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		params.Memory, params.Iterations, params.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// parseHash decodes a PHC argon2id string into its parameters, salt and key.
func parseHash(encoded string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("argon2id: not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("argon2id: unsupported version %q", parts[2])
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return p, nil, nil, fmt.Errorf("argon2id: bad parameter %q", kv)
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("argon2id: bad parameter %q", kv)
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, fmt.Errorf("argon2id: bad parameter %q", kv)
			}
			p.Parallelism = uint8(n)
		default:
			return p, nil, nil, fmt.Errorf("argon2id: unknown parameter %q", k)
		}
	}
	if len(seen) != 3 {
		return p, nil, nil, errors.New("argon2id: parameters m, t and p are required")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("argon2id: salt: %w", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, fmt.Errorf("argon2id: key: %w", err)
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return p, nil, nil, err
	}
	return p, salt, key, nil
}

// verifyPassword reports whether password matches encoded, comparing in
// constant time, and returns the parameters the hash was made with.
func verifyPassword(password, encoded string) (bool, Argon2Params, error) {
	p, salt, key, err := parseHash(encoded)
	if err != nil {
		return false, p, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	return subtle.ConstantTimeCompare(got, key) == 1, p, nil
}
