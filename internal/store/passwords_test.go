package store_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestLocalPasswordAttempts: the lockout counter of local passwords, step by
// step, on both engines.
func TestLocalPasswordAttempts(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		const max, lockFor = 3, 10 * time.Minute
		now := t0
		begin := func() (*store.LocalPassword, error) {
			var p *store.LocalPassword
			err := st.Tx(ctx, func(q *store.Q) error {
				var err error
				p, err = q.BeginLocalPasswordAttempt(ctx, "Jo@Example.COM", now, max, lockFor)
				return err
			})
			return p, err
		}

		if _, err := begin(); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("attempt on an unknown email: %v, want ErrNotFound", err)
		}
		tx(t, st, func(q *store.Q) error { return q.SetLocalPassword(ctx, " JO@example.com ", "hash-1", t0) })
		got, err := st.Read().GetLocalPassword(ctx, "jo@EXAMPLE.com")
		must(t, err)
		if want := (store.LocalPassword{Email: "jo@example.com", Hash: "hash-1", UpdatedAt: t0}); *got != want {
			t.Fatalf("stored %+v, want %+v", *got, want)
		}

		for i := 1; i <= max; i++ {
			p, err := begin()
			must(t, err)
			if p.FailedAttempts != i || p.Hash != "hash-1" {
				t.Fatalf("attempt %d: %+v", i, p)
			}
			if locked := !p.LockedUntil.IsZero(); locked != (i == max) {
				t.Fatalf("attempt %d: locked until %v", i, p.LockedUntil)
			}
			if i == max && !p.LockedUntil.Equal(now.Add(lockFor)) {
				t.Fatalf("locked until %v, want %v", p.LockedUntil, now.Add(lockFor))
			}
		}
		// Locked: no attempt is counted, and the answer is that of an unknown email.
		now = now.Add(lockFor - time.Millisecond)
		if _, err := begin(); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("attempt while locked: %v, want ErrNotFound", err)
		}
		got, err = st.Read().GetLocalPassword(ctx, "jo@example.com")
		must(t, err)
		if got.FailedAttempts != max {
			t.Fatalf("attempts while locked were counted: %d", got.FailedAttempts)
		}
		// Expired: the lock lifts and counting restarts.
		now = now.Add(time.Millisecond)
		p, err := begin()
		must(t, err)
		if p.FailedAttempts != 1 || !p.LockedUntil.IsZero() {
			t.Fatalf("first attempt after the lock: %+v", p)
		}
		tx(t, st, func(q *store.Q) error { return q.ClearLocalPasswordFailures(ctx, "JO@example.com") })
		got, _ = st.Read().GetLocalPassword(ctx, "jo@example.com")
		if got.FailedAttempts != 0 || !got.LockedUntil.IsZero() {
			t.Fatalf("after clear: %+v", got)
		}

		// Setting the password unlocks.
		for range max {
			_, err := begin()
			must(t, err)
		}
		tx(t, st, func(q *store.Q) error { return q.SetLocalPassword(ctx, "jo@example.com", "hash-2", now) })
		got, _ = st.Read().GetLocalPassword(ctx, "jo@example.com")
		if got.Hash != "hash-2" || got.FailedAttempts != 0 || !got.LockedUntil.IsZero() || !got.UpdatedAt.Equal(now) {
			t.Fatalf("after set: %+v", got)
		}

		// Rehash only replaces the hash it was computed from.
		var swapped bool
		tx(t, st, func(q *store.Q) (err error) {
			swapped, err = q.ReplaceLocalPasswordHash(ctx, "jo@example.com", "hash-1", "hash-3")
			return err
		})
		if swapped {
			t.Fatal("replaced a hash that had changed")
		}
		tx(t, st, func(q *store.Q) (err error) {
			swapped, err = q.ReplaceLocalPasswordHash(ctx, "jo@example.com", "hash-2", "hash-3")
			return err
		})
		if got, _ = st.Read().GetLocalPassword(ctx, "jo@example.com"); !swapped || got.Hash != "hash-3" || !got.UpdatedAt.Equal(now) {
			t.Fatalf("rehash: swapped=%v %+v", swapped, got)
		}

		tx(t, st, func(q *store.Q) error { return q.DeleteLocalPassword(ctx, "Jo@example.com") })
		if _, err := st.Read().GetLocalPassword(ctx, "jo@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := st.Tx(ctx, func(q *store.Q) error { return q.DeleteLocalPassword(ctx, "jo@example.com") }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

// TestLocalPasswordAttemptsConcurrent: many attempts at once get distinct
// counts, and exactly max of them get one (the rest find the account locked),
// so concurrency cannot buy an attacker more than max guesses.
func TestLocalPasswordAttemptsConcurrent(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		const max, attempts = 5, 40
		tx(t, st, func(q *store.Q) error { return q.SetLocalPassword(ctx, "race@example.com", "h", t0) })
		var (
			mu     sync.Mutex
			counts []int
			wg     sync.WaitGroup
		)
		errs := make([]error, attempts)
		for i := range attempts {
			wg.Go(func() {
				errs[i] = st.Tx(ctx, func(q *store.Q) error {
					p, err := q.BeginLocalPasswordAttempt(ctx, "race@example.com", t0, max, time.Hour)
					if err == nil {
						mu.Lock()
						counts = append(counts, p.FailedAttempts)
						mu.Unlock()
					}
					return err
				})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("attempt failed: %v", err)
			}
		}
		slices.Sort(counts)
		if !slices.Equal(counts, []int{1, 2, 3, 4, 5}) {
			t.Fatalf("counts handed out: %v, want 1..%d once each", counts, max)
		}
		got, err := st.Read().GetLocalPassword(ctx, "race@example.com")
		must(t, err)
		if got.FailedAttempts != max || !got.LockedUntil.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after the race: %+v", got)
		}
	})
}
