package tenancy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// ActivityInterval is how often a user's lastActive is written at most:
// the seed says it "is not guaranteed to be completely accurate depending
// on performance constraints", and a write per request would put one on
// every bearer token use.
const ActivityInterval = time.Minute

// activityKeys bounds the memory of Activity: beyond it the entries older
// than the interval are dropped, and if that is not enough, all of them (a
// forgotten entry costs one UPDATE that matches nothing).
const activityKeys = 50_000

// activityTimeout bounds the one UPDATE of a touch: the request it rides
// on must not wait for a slow database longer than that for a timestamp.
const activityTimeout = 2 * time.Second

// Activity records users' lastActive (userStatus.lastActive) on sign-in and
// token use, at most once per ActivityInterval per person: a replica
// remembers when it last wrote each subject and skips the database within
// the interval, and the UPDATE itself only writes rows older than the
// interval (store.TouchUserActivity), so that several replicas sharing a
// PostgreSQL database write each person's rows at most about once an
// interval between them. Safe for concurrent use.
type Activity struct {
	Store *store.Store
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

// Touch records that subject was active now. Most calls return at once;
// one per interval per subject runs an UPDATE, in a context of its own
// (none of ctx's values: it is no part of the request's work, not its
// transaction, audit entry or outage watch), and its failure is the
// caller's to log, never to answer.
func (a *Activity) Touch(_ context.Context, subject string) error {
	if subject == "" {
		return nil
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	if !a.due(subject, now) {
		return nil
	}
	tctx, cancel := context.WithTimeout(context.Background(), activityTimeout)
	defer cancel()
	err := a.Store.Tx(tctx, func(q *store.Q) error {
		_, err := q.TouchUserActivity(tctx, subject, now, ActivityInterval)
		return err
	})
	if err != nil {
		a.forget(subject)
		return fmt.Errorf("record activity: %w", err)
	}
	return nil
}

// due reports whether subject's activity should be written at now, and
// if so notes it as written.
func (a *Activity) due(subject string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.last[subject]; ok && now.Sub(t) < ActivityInterval && !now.Before(t) {
		return false
	}
	if a.last == nil {
		a.last = map[string]time.Time{}
	}
	if len(a.last) >= activityKeys {
		for s, t := range a.last {
			if now.Sub(t) >= ActivityInterval {
				delete(a.last, s)
			}
		}
		if len(a.last) >= activityKeys {
			clear(a.last)
		}
	}
	a.last[subject] = now
	return true
}

// forget drops subject's entry so that the next touch tries again.
func (a *Activity) forget(subject string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.last, subject)
}
