package client

import (
	"context"
	"sync"

	"github.com/gatehouse/gatehouse/internal/store"
)

// requestCache remembers the clients one request has read. A token request
// looks its client up four or five times (the authentication method, the
// secret, the grant, the scopes, the token lifetime), each time through
// another zitadel/oidc callback; within one request the client cannot
// meaningfully change, so one read serves them all. Nothing outlives the
// request: a rotated secret or a deleted client counts from the next one.
type requestCache struct {
	mu   sync.Mutex
	rows map[string]cached
}

type cached struct {
	row *store.OAuth2Client
	err error
}

type requestCacheKey struct{}

// WithRequestCache returns a context in which Get and Authenticate read each
// client from the database once. Use it for one request.
func WithRequestCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestCacheKey{}, &requestCache{rows: map[string]cached{}})
}

// row reads client id, through the request's cache when ctx has one.
// Database faults are not cached: a retry within the request may succeed.
func (r *Registry) row(ctx context.Context, id string) (*store.OAuth2Client, error) {
	c, ok := ctx.Value(requestCacheKey{}).(*requestCache)
	if !ok {
		return r.Store.Read().GetOAuth2Client(ctx, id)
	}
	c.mu.Lock()
	hit, found := c.rows[id]
	c.mu.Unlock()
	if found {
		return hit.row, hit.err
	}
	row, err := r.Store.Read().GetOAuth2Client(ctx, id)
	if err == nil || !store.IsUnavailable(err) {
		c.mu.Lock()
		c.rows[id] = cached{row, err}
		c.mu.Unlock()
	}
	return row, err
}
