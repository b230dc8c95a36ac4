package ratelimit

import "time"

// Ceiling is a per-key limit under a global one: an event is allowed when
// its key's bucket and the shared bucket both hold a token. The key's bucket
// is asked first and the shared one only when it allows, so that a key
// flooding past its own rate takes nothing from the ceiling: one source
// cannot use up what the others are allowed. The per-key buckets are a
// Limiter's (bounded memory, least recently used dropped first); the
// ceiling bounds the total however many keys there are. Safe for concurrent
// use.
type Ceiling struct {
	perKey, total *Limiter
}

// NewCeiling allows perKey events per key and total events altogether,
// keeping at most maxKeys buckets (DefaultMaxKeys if not positive); now is
// the clock (time.Now if nil).
func NewCeiling(perKey, total Rate, maxKeys int, now func() time.Time) *Ceiling {
	return &Ceiling{perKey: New(perKey, maxKeys, now), total: New(total, 1, now)}
}

// Allow takes a token from key's bucket and then one from the shared
// bucket; it reports whether both had one. A key refused by its own bucket
// takes nothing from the shared one.
func (c *Ceiling) Allow(key string) bool {
	if ok, _ := c.perKey.Allow(key); !ok {
		return false
	}
	ok, _ := c.total.Allow("")
	return ok
}

// Keys is the number of per-key buckets kept.
func (c *Ceiling) Keys() int { return c.perKey.Len() }
