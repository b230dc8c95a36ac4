package ratelimit

import (
	"strings"
	"testing"
	"time"
)

// TestLongKeys: a key is whatever a request sent (a client_id of up to the
// form's 64 KiB, an email typed on a page): kept as such for a rate period,
// 50,000 of them would be gigabytes. Long keys are kept as their digest,
// bounded, and still one bucket per key: two long keys that differ only at
// the end do not share one, and the same key finds its bucket again.
func TestLongKeys(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	l := New(Rate{N: 1, Per: time.Minute}, 0, func() time.Time { return now })
	long := strings.Repeat("a", 64<<10)
	for _, k := range []string{long + "1", long + "2"} {
		if ok, _ := l.Allow(k); !ok {
			t.Fatalf("first use of a long key refused")
		}
		if ok, _ := l.Allow(k); ok {
			t.Fatalf("second use of a long key allowed: its bucket was not found again")
		}
		if blocked, _ := l.Blocked(k); !blocked {
			t.Fatalf("a long key past its limit is not blocked")
		}
	}
	if n := l.Len(); n != 2 {
		t.Fatalf("%d buckets, want 2", n)
	}
	for k := range l.buckets {
		if len(k) > maxKeyBytes {
			t.Errorf("a key of %d bytes kept, want at most %d", len(k), maxKeyBytes)
		}
	}
	// Short keys are kept as they are (and do not meet a digest).
	l.Allow("203.0.113.7")
	if _, ok := l.buckets["203.0.113.7"]; !ok {
		t.Error("a short key not kept as it is")
	}
}
