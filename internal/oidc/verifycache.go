package oidc

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedTokens is how many checked access tokens verifiedCache keeps
// (about 300 bytes each).
const verifiedTokens = 8192

// verifiedCache remembers access tokens whose signature, typ, issuer and
// audience have been checked, by the SHA-256 of the whole token: a client
// presents the same token to userinfo and /api/v1 again and again until it
// expires, and checking the ECDSA signature was a third of such a request's
// CPU. Only those checks are skipped: the signing key must still be
// published (a dropped key invalidates its tokens at once), and expiry and
// revocation are checked on every use as before. The same bytes always
// verify the same way, so an entry can only ever answer for the token that
// produced it.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[32]byte]*verifiedToken
	// order is the insertion order, for eviction: it grows to
	// verifiedTokens, then next walks it as a ring, at the oldest key.
	order [][32]byte
	next  int
}

type verifiedToken struct {
	claims  AccessClaims
	kid     string
	alg     string
	expires time.Time
}

// newVerifiedCache returns an empty cache. It grows with use instead of
// being sized for verifiedTokens up front: that was 1 MiB of an idle
// server's 7 MiB of live heap (docs/PERFORMANCE.md).
func newVerifiedCache() *verifiedCache {
	return &verifiedCache{m: map[[32]byte]*verifiedToken{}}
}

func tokenKey(raw string) [32]byte { return sha256.Sum256([]byte(raw)) }

// get returns the checked claims of the token with key k, unless it has
// expired by now.
func (c *verifiedCache) get(k [32]byte, now time.Time) (*verifiedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if !ok || !now.Before(v.expires) {
		return nil, false
	}
	return v, true
}

// put remembers a checked token, evicting the oldest entry when full.
func (c *verifiedCache) put(k [32]byte, v *verifiedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.order) < verifiedTokens {
		c.order = append(c.order, k)
	} else {
		delete(c.m, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % verifiedTokens
	}
	c.m[k] = v
}
