package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestRequestCache: within one request's context a client is read once
// (a change committed meanwhile is seen by the next request, not this one),
// unknown clients included; without the cache every call reads.
func TestRequestCache(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		r, _ := newRegistry(open(t))
		ctx := context.Background()
		c, sec, err := r.Create(ctx, web())
		if err != nil {
			t.Fatal(err)
		}
		req := client.WithRequestCache(ctx)
		if _, err := r.Authenticate(req, c.ID, sec); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(req, "nobody"); err == nil {
			t.Fatal("unknown client found")
		}
		fresh, err := r.RotateSecret(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Create(ctx, client.Spec{ID: "nobody", Name: "late", RedirectURIs: web().RedirectURIs}); err != nil {
			t.Fatal(err)
		}
		// The same request still sees what it read first.
		if _, err := r.Authenticate(req, c.ID, sec); err != nil {
			t.Errorf("the request's cached client lost its secret: %v", err)
		}
		if _, err := r.Get(req, "nobody"); err == nil {
			t.Error("the request's cached miss was forgotten")
		}
		// A new request (and no cache) sees the rotation and the new client.
		for name, c2 := range map[string]context.Context{"next request": client.WithRequestCache(ctx), "no cache": ctx} {
			if _, err := r.Authenticate(c2, c.ID, sec); !errors.Is(err, client.ErrInvalidClient) {
				t.Errorf("%s: the old secret: %v, want ErrInvalidClient", name, err)
			}
			if _, err := r.Authenticate(c2, c.ID, fresh); err != nil {
				t.Errorf("%s: the new secret: %v", name, err)
			}
			if _, err := r.Get(c2, "nobody"); err != nil {
				t.Errorf("%s: the new client: %v", name, err)
			}
		}
	})
}
