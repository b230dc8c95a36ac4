package oidc

import (
	"strconv"
	"testing"
	"time"
)

// TestVerifiedCacheEvictsOldest: the cache grows to verifiedTokens entries,
// then each new token evicts the oldest one, so it never holds more.
func TestVerifiedCacheEvictsOldest(t *testing.T) {
	t.Parallel()
	c := newVerifiedCache()
	now := time.Unix(1000, 0)
	key := func(i int) [32]byte { return tokenKey("token-" + strconv.Itoa(i)) }
	for i := range verifiedTokens + 2 {
		c.put(key(i), &verifiedToken{kid: strconv.Itoa(i), expires: now.Add(time.Hour)})
		c.put(key(i), &verifiedToken{kid: "again", expires: now.Add(time.Hour)}) // a repeat changes nothing
	}
	if len(c.m) != verifiedTokens || len(c.order) != verifiedTokens {
		t.Fatalf("%d entries, %d in order; want %d", len(c.m), len(c.order), verifiedTokens)
	}
	for _, i := range []int{0, 1} {
		if _, ok := c.get(key(i), now); ok {
			t.Errorf("token %d, among the oldest, still cached", i)
		}
	}
	for _, i := range []int{2, verifiedTokens / 2, verifiedTokens + 1} {
		if v, ok := c.get(key(i), now); !ok || v.kid != strconv.Itoa(i) {
			t.Errorf("token %d: %v %v, want it cached as first put", i, v, ok)
		}
	}
	if _, ok := c.get(key(2), now.Add(time.Hour)); ok {
		t.Error("an expired entry answered")
	}
}
