package testenv

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/keys"
)

// rsaPoolSize is how many distinct RSA keys a test process generates; later
// RS256 keys reuse them in turn (each under its own kid).
const rsaPoolSize = 8

// rsaPoolBits is the size of the pooled RSA keys: the smallest the keys
// package opens. Production keys are keys.RSABits.
const rsaPoolBits = 2048

var rsaPool struct {
	sync.Mutex
	keys []*rsa.PrivateKey
	next int
}

// SigningKeyMaterial is a keys.Manager.NewPrivateKey for tests: fresh ECDSA
// keys, and RSA keys from a small per-process pool, since the platform
// publishes an RS256 key set and generating an RSA 3072 key costs most of a
// second, which every test environment would pay twice.
func SigningKeyMaterial(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	if alg != keys.RS256 {
		return keys.NewPrivateKey(alg)
	}
	rsaPool.Lock()
	defer rsaPool.Unlock()
	if len(rsaPool.keys) < rsaPoolSize {
		k, err := rsa.GenerateKey(rand.Reader, rsaPoolBits)
		if err != nil {
			return nil, fmt.Errorf("test RSA key: %w", err)
		}
		rsaPool.keys = append(rsaPool.keys, k)
		return k, nil
	}
	k := rsaPool.keys[rsaPool.next%rsaPoolSize]
	rsaPool.next++
	return k, nil
}
