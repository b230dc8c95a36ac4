package policy

import (
	"container/list"
	"fmt"
	"sync"
)

// CacheKey identifies one version of one stored policy. A policy's version
// must change whenever its document changes (a revision number, an update
// timestamp or a content hash), so that a cached program is never stale.
type CacheKey struct {
	// ID is the policy's owner: a role ID, or the organization ID for a
	// guardrail (prefix it to keep the two apart).
	ID string
	// Version is the policy's version.
	Version string
}

// Cache keeps compiled policies, least recently used first out, up to a
// bounded number. Compiling a policy parses, type-checks and cost-estimates
// every expression (about a millisecond for a large role) while evaluating
// one takes microseconds, so enforcement must not compile per request; the
// bound keeps memory flat however many roles an installation has. It is safe
// for concurrent use. Two goroutines missing the same key may both compile;
// the second result replaces the first, which is harmless (same input, same
// program) and cheaper than making every other key wait.
type Cache struct {
	env      *Env
	capacity int

	mu      sync.Mutex
	entries map[CacheKey]*list.Element
	order   *list.List // front: most recently used
	hits    uint64
	misses  uint64
}

type cacheEntry struct {
	key      CacheKey
	compiled *Compiled
}

// NewCache returns a cache of at most capacity compiled policies (at least 1)
// compiled in env.
func NewCache(env *Env, capacity int) *Cache {
	if capacity < 1 {
		capacity = 1
	}
	// The map grows with use: sized for capacity up front it held 384 KiB
	// of an idle server's heap before a single policy was compiled.
	return &Cache{env: env, capacity: capacity, entries: map[CacheKey]*list.Element{}, order: list.New()}
}

// Get returns the compiled policy for key, compiling p on a miss. p must be
// the document of that version. Compile errors are returned, not cached: a
// stored policy was already compiled once when it was written, so an error
// here means the environment changed (e.g. a service was removed).
func (c *Cache) Get(key CacheKey, p Policy) (*Compiled, error) {
	if compiled := c.lookup(key, true); compiled != nil {
		return compiled, nil
	}
	compiled, err := Compile(p, c.env)
	if err != nil {
		return nil, fmt.Errorf("compile policy %s version %s: %w", key.ID, key.Version, err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		el.Value.(*cacheEntry).compiled = compiled
		c.order.MoveToFront(el)
		return compiled, nil
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, compiled: compiled})
	for c.order.Len() > c.capacity {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
	return compiled, nil
}

// Load is Get for callers that hold only the key: source is called, to read
// the policy document, on a miss only. Enforcement reads a role's version on
// every request but its policy text only when that version is not compiled
// yet.
func (c *Cache) Load(key CacheKey, source func() (Policy, error)) (*Compiled, error) {
	if compiled := c.lookup(key, false); compiled != nil {
		return compiled, nil
	}
	p, err := source()
	if err != nil {
		return nil, fmt.Errorf("load policy %s version %s: %w", key.ID, key.Version, err)
	}
	return c.Get(key, p)
}

// lookup returns the cached policy for key (counting a hit), nil on a miss
// (counted only with countMiss: Load's miss is counted by the Get it makes).
func (c *Cache) lookup(key CacheKey, countMiss bool) *Compiled {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		c.hits++
		return el.Value.(*cacheEntry).compiled
	}
	if countMiss {
		c.misses++
	}
	return nil
}

// Forget drops every cached version of the policy id (after a delete).
func (c *Cache) Forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*cacheEntry); e.key.ID == id {
			c.order.Remove(el)
			delete(c.entries, e.key)
		}
		el = next
	}
}

// CacheStats are a cache's counters.
type CacheStats struct {
	// Len is the number of cached policies.
	Len int
	// Hits and Misses count Get calls since the cache was made.
	Hits, Misses uint64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Len: c.order.Len(), Hits: c.hits, Misses: c.misses}
}
