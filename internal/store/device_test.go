package store_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestDeviceCodeAndPushedRequestAreSingleUse (issue 16): concurrent claims
// of an approved device code and of a pushed request, each in its own
// transaction as replicas would run them, have exactly one winner; a
// pending or denied device code cannot be claimed, an expired pushed
// request neither; a user code taken by a live authorization is a
// conflict.
func TestDeviceCodeAndPushedRequestAreSingleUse(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		now := t0
		tx := func(f func(q *store.Q) error) error { return st.Tx(ctx, f) }
		d := &store.DeviceCode{DeviceCodeHash: "dh", UserCodeHash: "uh", ClientID: "cli", Scopes: "openid", State: store.DevicePending,
			Interval: 5 * time.Second, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		if err := tx(func(q *store.Q) error { return q.CreateDeviceCode(ctx, d) }); err != nil {
			t.Fatal(err)
		}
		dup := *d
		dup.DeviceCodeHash = "dh2"
		if err := tx(func(q *store.Q) error { return q.CreateDeviceCode(ctx, &dup) }); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("same user code again: %v, want a conflict", err)
		}
		claim := func() error { return tx(func(q *store.Q) error { _, err := q.ClaimDeviceCode(ctx, "dh"); return err }) }
		if err := claim(); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("claim of a pending code: %v", err)
		}
		if err := tx(func(q *store.Q) error { return q.DecideDeviceCode(ctx, "ar", store.DeviceApproved, now) }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("approval before a login is bound: %v", err)
		}
		if err := tx(func(q *store.Q) error { return q.BindDeviceCode(ctx, "uh", "ar", now) }); err != nil {
			t.Fatal(err)
		}
		if err := tx(func(q *store.Q) error { return q.DecideDeviceCode(ctx, "ar", store.DeviceApproved, now) }); err != nil {
			t.Fatal(err)
		}
		if err := tx(func(q *store.Q) error { return q.DecideDeviceCode(ctx, "ar", store.DeviceDenied, now) }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a second answer: %v", err)
		}
		pr := &store.PushedRequest{RequestHash: "ph", ClientID: "web", Params: `{"scope":["openid"]}`, CreatedAt: now, ExpiresAt: now.Add(90 * time.Second)}
		if err := tx(func(q *store.Q) error { return q.CreatePushedRequest(ctx, pr) }); err != nil {
			t.Fatal(err)
		}
		var deviceWins, pushedWins atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if claim() == nil {
					deviceWins.Add(1)
				}
			}()
			go func() {
				defer wg.Done()
				if tx(func(q *store.Q) error { _, err := q.ClaimPushedRequest(ctx, "ph", now); return err }) == nil {
					pushedWins.Add(1)
				}
			}()
		}
		wg.Wait()
		if deviceWins.Load() != 1 || pushedWins.Load() != 1 {
			t.Fatalf("winners: device %d, pushed %d; want 1 each", deviceWins.Load(), pushedWins.Load())
		}
		if got, err := st.Read().GetDeviceCode(ctx, "dh"); err != nil || got.State != store.DeviceUsed {
			t.Fatalf("after the claim: %+v %v", got, err)
		}
		late := &store.PushedRequest{RequestHash: "late", ClientID: "web", Params: "{}", CreatedAt: now, ExpiresAt: now.Add(time.Second)}
		if err := tx(func(q *store.Q) error { return q.CreatePushedRequest(ctx, late) }); err != nil {
			t.Fatal(err)
		}
		if err := tx(func(q *store.Q) error { _, err := q.ClaimPushedRequest(ctx, "late", now.Add(time.Second)); return err }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired pushed request: %v", err)
		}
	})
}
