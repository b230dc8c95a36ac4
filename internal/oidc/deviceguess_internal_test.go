package oidc

import (
	"fmt"
	"testing"
	"time"
)

// TestDeviceGuessCeiling: wrong user codes are bounded per client address
// and, under that, in total. Without the total an attacker holding many
// addresses (an IPv6 /48 is 65,536 keys of /64; and past the limiter's
// maxKeys the least recently used key is forgotten, its bucket full again)
// could try user codes at whatever rate the server answers; with it, once
// the ceiling is spent every address waits, a fresh one included, until
// tokens come back.
func TestDeviceGuessCeiling(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	l := newDeviceGuessLimits(func() time.Time { return now })

	// One address: deviceGuessRate.N wrong codes, then blocked.
	for range deviceGuessRate.N {
		if blocked, _ := l.blocked("198.51.100.1"); blocked {
			t.Fatal("blocked before its own limit")
		}
		l.wrong("198.51.100.1")
	}
	if blocked, _ := l.blocked("198.51.100.1"); !blocked {
		t.Fatal("an address past its limit is not blocked")
	}

	// Many addresses, one wrong code each: the ceiling stops them all.
	spent := deviceGuessRate.N
	for i := 0; spent < deviceGuessCeiling.N; i++ {
		key := fmt.Sprintf("2001:db8:%x::/64", i)
		if blocked, _ := l.blocked(key); blocked {
			t.Fatalf("address %d blocked after %d wrong codes in all, below the ceiling %d", i, spent, deviceGuessCeiling.N)
		}
		l.wrong(key)
		spent++
	}
	blocked, wait := l.blocked("2001:db8:ffff::/64")
	if !blocked || wait <= 0 {
		t.Fatalf("a fresh address after %d wrong codes in all: blocked %v (wait %v), want blocked", spent, blocked, wait)
	}

	// Tokens come back with time.
	now = now.Add(wait)
	if blocked, _ := l.blocked("2001:db8:ffff::/64"); blocked {
		t.Fatal("still blocked after the wait")
	}
}
