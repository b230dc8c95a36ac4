package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestCeiling: a key flooding past its own rate takes nothing from the
// shared ceiling (the other keys keep theirs), the ceiling bounds the total
// over many keys, both refill with the clock, and the per-key buckets stay
// within maxKeys under a flood of distinct keys.
func TestCeiling(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := ratelimit.NewCeiling(ratelimit.Rate{N: 3, Per: time.Minute}, ratelimit.Rate{N: 10, Per: time.Minute}, 100, clock.Now)

	// One address floods: 3 allowed, the next 1000 refused.
	allowed := 0
	for range 1003 {
		if c.Allow("flood") {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("one key: %d allowed, want its own 3", allowed)
	}
	// The refused 1000 took nothing from the ceiling: 7 are left for the
	// others, and then the ceiling holds whoever asks.
	for i := range 7 {
		if !c.Allow(fmt.Sprintf("other-%d", i)) {
			t.Fatalf("other key %d refused: the flood used up the ceiling", i)
		}
	}
	if c.Allow("late") {
		t.Fatal("an 11th event within the minute was allowed over the ceiling of 10")
	}
	if c.Allow("flood") {
		t.Fatal("the flooding key got a token back without time passing")
	}

	// A minute later both have refilled.
	clock.Advance(time.Minute)
	if !c.Allow("late") || !c.Allow("flood") {
		t.Fatal("refused after the buckets refilled")
	}

	// A flood of distinct keys keeps at most maxKeys buckets, and the
	// ceiling still bounds what is allowed.
	clock.Advance(time.Minute)
	allowed = 0
	for i := range 5000 {
		if c.Allow(fmt.Sprintf("addr-%d", i)) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("5000 keys: %d allowed, want the ceiling's 10", allowed)
	}
	if n := c.Keys(); n > 100 {
		t.Errorf("%d buckets kept, want at most 100", n)
	}
}
