package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want ratelimit.Rate
		err  bool
	}{
		{"100/s", ratelimit.Rate{N: 100, Per: time.Second}, false},
		{"60/m", ratelimit.Rate{N: 60, Per: time.Minute}, false},
		{"1000/h", ratelimit.Rate{N: 1000, Per: time.Hour}, false},
		{"5/10s", ratelimit.Rate{N: 5, Per: 10 * time.Second}, false},
		{" 3/s ", ratelimit.Rate{N: 3, Per: time.Second}, false},
		{"off", ratelimit.Rate{}, false},
		{"0", ratelimit.Rate{}, false},
		{"", ratelimit.Rate{}, true},
		{"100", ratelimit.Rate{}, true},
		{"-1/s", ratelimit.Rate{}, true},
		{"0/s", ratelimit.Rate{}, true},
		{"10/fortnight", ratelimit.Rate{}, true},
		{"10/-1s", ratelimit.Rate{}, true},
		{"x/s", ratelimit.Rate{}, true},
	} {
		got, err := ratelimit.ParseRate(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
		if err == nil {
			if back, _ := ratelimit.ParseRate(got.String()); back != got {
				t.Errorf("%v.String() = %q does not parse back", got, got.String())
			}
		}
	}
}

// TestBucket: a key gets its burst at once, then one token per Per/N; keys
// are independent; the refusal says when the next token comes.
func TestBucket(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := ratelimit.New(ratelimit.Rate{N: 3, Per: 3 * time.Second}, 0, clock.Now)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow("a")
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("4th request: ok=%v retry=%v, want refused with a retry within 1s", ok, retry)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key is limited by a's bucket")
	}
	clock.Advance(retry)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after waiting the Retry-After")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a second request after one refill passed")
	}
	// A refused request takes no token: waiting one interval is enough.
	for range 5 {
		l.Allow("a")
	}
	clock.Advance(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused requests used up tokens")
	}
}

// TestDisabled: the zero Rate and a nil Limiter allow everything.
func TestDisabled(t *testing.T) {
	t.Parallel()
	var nilLimiter *ratelimit.Limiter
	off := ratelimit.New(ratelimit.Rate{}, 0, nil)
	for range 1000 {
		if ok, _ := off.Allow("k"); !ok {
			t.Fatal("an off limiter refused")
		}
		if ok, _ := nilLimiter.Allow("k"); !ok {
			t.Fatal("a nil limiter refused")
		}
	}
}

// TestMemoryBounded: idle buckets are dropped once full again, and no more
// than maxKeys are kept however many keys arrive.
func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := ratelimit.New(ratelimit.Rate{N: 2, Per: time.Minute}, 100, clock.Now)
	for i := range 1000 {
		l.Allow(fmt.Sprint("ip-", i))
		if l.Len() > 100 {
			t.Fatalf("%d buckets kept, want at most 100", l.Len())
		}
	}
	clock.Advance(time.Minute)
	l.Allow("fresh")
	if l.Len() != 1 {
		t.Errorf("%d buckets after every other one refilled, want 1", l.Len())
	}
}

// TestConcurrent: many goroutines on few keys never get more than the
// burst (run with -race to check the locking too).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := ratelimit.New(ratelimit.Rate{N: 50, Per: time.Hour}, 0, clock.Now)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed = map[string]int{}
	)
	for g := range 16 {
		wg.Go(func() {
			for i := range 100 {
				key := fmt.Sprint("k", (g+i)%4)
				if ok, _ := l.Allow(key); ok {
					mu.Lock()
					allowed[key]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// Every key, not only those that got something: a limiter that always
	// denies leaves the map empty, and ranging over it checked nothing.
	for k := range 4 {
		key := fmt.Sprint("k", k)
		if n := allowed[key]; n != 50 {
			t.Errorf("key %s: %d allowed, want exactly the burst of 50", key, n)
		}
	}
}

// TestBlocked: Blocked looks without taking: a key is blocked only once
// its failures (Allow) emptied its bucket, says when it may try again, and
// is free again when a token came back; asking about a key that never
// failed keeps no bucket for it.
func TestBlocked(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := ratelimit.New(ratelimit.Rate{N: 2, Per: 2 * time.Second}, 0, clock.Now)
	for range 5 {
		if blocked, _ := l.Blocked("a"); blocked {
			t.Fatal("a key that never failed is blocked")
		}
	}
	if l.Len() != 0 {
		t.Fatalf("Blocked made %d buckets, want none", l.Len())
	}
	l.Allow("a")
	if blocked, _ := l.Blocked("a"); blocked {
		t.Fatal("blocked after 1 failure of a burst of 2")
	}
	l.Allow("a")
	blocked, retry := l.Blocked("a")
	if !blocked || retry <= 0 || retry > time.Second {
		t.Fatalf("after the burst: blocked=%v retry=%v, want blocked with a retry within 1s", blocked, retry)
	}
	if blocked, _ := l.Blocked("b"); blocked {
		t.Error("another key is blocked")
	}
	clock.Advance(retry)
	if blocked, _ := l.Blocked("a"); blocked {
		t.Error("still blocked once a token came back")
	}
	if blocked, _ := (*ratelimit.Limiter)(nil).Blocked("a"); blocked {
		t.Error("a nil limiter blocks")
	}
}
