// Package ratelimit keeps one token bucket per key (a client ID, an IP
// address, an account) in bounded memory, on golang.org/x/time/rate.
//
// A Rate "N/unit" allows N events per unit on average and bursts of N: a
// bucket of N tokens refilled at N per unit. Buckets that have refilled
// completely are indistinguishable from new ones and are dropped; when more
// than MaxKeys keys are live at once (a flood from many addresses) the least
// recently used bucket goes first, which can only make the limiter more
// lenient towards that key, never stricter. A key longer than 256 bytes (a
// client_id or an email is what a request sent) is kept as its SHA-256, so
// that the memory is bounded by the number of keys alone.
//
// The limits are per process: with N replicas behind a load balancer, a key
// gets up to N times the rate.
package ratelimit

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is N events per Per, with bursts of N. The zero Rate is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Enabled reports whether r limits anything.
func (r Rate) Enabled() bool { return r.N > 0 && r.Per > 0 }

// String renders r as ParseRate reads it.
func (r Rate) String() string {
	if !r.Enabled() {
		return "off"
	}
	for _, u := range units {
		if r.Per == u.d {
			return strconv.Itoa(r.N) + "/" + u.name
		}
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

var units = []struct {
	name string
	d    time.Duration
}{{"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}

// ParseRate reads "N/s", "N/m", "N/h" or "N/DURATION" (e.g. "5/10s"); "off"
// or "0" is no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count <= 0 {
		return Rate{}, fmt.Errorf("rate %q: want N/s, N/m, N/h or N/DURATION with N > 0, or off", s)
	}
	for _, u := range units {
		if per == u.name {
			return Rate{N: count, Per: u.d}, nil
		}
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("rate %q: unknown unit %q (want s, m, h or a duration)", s, per)
	}
	return Rate{N: count, Per: d}, nil
}

// DefaultMaxKeys bounds the buckets a Limiter keeps (a few hundred bytes
// each).
const DefaultMaxKeys = 50_000

// Limiter is one token bucket per key. Safe for concurrent use.
type Limiter struct {
	rate    Rate
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket, most recently used first
	order   *list.List
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	last time.Time
}

// New makes a limiter at r keeping at most maxKeys buckets (DefaultMaxKeys
// if not positive); now is the clock (time.Now if nil).
func New(r Rate, maxKeys int, now func() time.Time) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: r, maxKeys: maxKeys, now: now, buckets: map[string]*list.Element{}, order: list.New()}
}

// maxKeyBytes bounds the keys a Limiter keeps: a key is whatever a request
// sent (a client_id of up to a form's 64 KiB, an address typed on a page),
// and DefaultMaxKeys of them kept as such would be gigabytes. A longer key
// is kept as its SHA-256, still one bucket per key.
const maxKeyBytes = 256

// storedKey is the form key is kept in.
func storedKey(key string) string {
	if len(key) <= maxKeyBytes {
		return key
	}
	h := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(h[:])
}

// Rate is the limiter's rate.
func (l *Limiter) Rate() Rate { return l.rate }

// Allow takes a token from key's bucket. When the bucket is empty it takes
// nothing and returns false with the time until the next token.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil || !l.rate.Enabled() {
		return true, 0
	}
	key = storedKey(key)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	_, known := l.buckets[key]
	l.evict(now, !known)
	var b *bucket
	if e, ok := l.buckets[key]; ok {
		b = e.Value.(*bucket)
		l.order.MoveToFront(e)
	} else {
		b = &bucket{key: key, lim: rate.NewLimiter(rate.Every(l.rate.Per/time.Duration(l.rate.N)), l.rate.N)}
		l.buckets[key] = l.order.PushFront(b)
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Blocked reports whether key's bucket is empty, without taking from it,
// and if so the time until it holds a token again. A key without a bucket
// is not blocked, and none is made for it: a limiter that counts failures
// (Allow on each one) and is asked Blocked before every attempt keeps no
// state for keys that never fail.
func (l *Limiter) Blocked(key string) (bool, time.Duration) {
	if l == nil || !l.rate.Enabled() {
		return false, 0
	}
	key = storedKey(key)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.buckets[key]
	if !ok {
		return false, 0
	}
	b := e.Value.(*bucket)
	if tokens := b.lim.TokensAt(now); tokens < 1 {
		return true, time.Duration((1 - tokens) * float64(l.rate.Per) / float64(l.rate.N))
	}
	return false, 0
}

// evict drops buckets idle long enough to be full again (they equal a new
// one), and, when room is needed for a new key, the least recently used
// beyond maxKeys. A key that has a bucket needs no room: at maxKeys 1 (one
// shared bucket) evicting for it would drop the very bucket asked for, and
// the limit would never hold.
func (l *Limiter) evict(now time.Time, room bool) {
	for e := l.order.Back(); e != nil; e = l.order.Back() {
		b := e.Value.(*bucket)
		if now.Sub(b.last) < l.rate.Per && (!room || l.order.Len() < l.maxKeys) {
			return
		}
		l.order.Remove(e)
		delete(l.buckets, b.key)
	}
}

// Len is the number of buckets kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}
