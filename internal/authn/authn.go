// Package authn turns a bearer credential into a Principal. Authenticators
// are tried in order; each recognizes its own token format (service account
// tokens by prefix today; JWT access tokens plug in as another Authenticator
// without touching the middleware or the handlers).
package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Kind is the type of principal.
type Kind string

// Principal kinds; the values match the group member types in the store.
const (
	KindServiceAccount Kind = store.MemberServiceAccount
	KindUser           Kind = store.MemberUser
)

// Principal is an authenticated caller.
type Principal struct {
	Kind Kind
	// ID is the service account ID, or for users the subject (a user has one
	// record per organization, resolved per request).
	ID string
	// OrganizationID is the service account's organization; '' for platform
	// service accounts and for users.
	OrganizationID string
	// Subject names the caller in audit fields (createdBy/modifiedBy): the
	// email of a user, "serviceaccount:<name>" of a service account.
	Subject string
}

// Authenticator verifies one kind of bearer token.
type Authenticator interface {
	// Authenticate returns ErrUnrecognized for tokens of another format,
	// ErrInvalid (wrapped) for tokens it owns but rejects.
	Authenticate(ctx context.Context, token string) (*Principal, error)
}

// Errors returned by authenticators.
var (
	ErrUnrecognized = errors.New("token format not recognized")
	ErrInvalid      = errors.New("invalid or expired token")
)

// Chain tries each Authenticator in turn.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(ctx context.Context, token string) (*Principal, error) {
	for _, a := range c {
		p, err := a.Authenticate(ctx, token)
		if errors.Is(err, ErrUnrecognized) {
			continue
		}
		return p, err
	}
	return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrUnrecognized)
}

// ServiceAccountTokenPrefix marks Gatehouse service account tokens, so that
// they are recognizable in logs scanners and secret scanners.
const ServiceAccountTokenPrefix = "ghsa_"

// ServiceAccounts authenticates service account tokens against the store.
type ServiceAccounts struct {
	Store *store.Store
	Now   func() time.Time
}

// Authenticate implements Authenticator.
func (s ServiceAccounts) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, ServiceAccountTokenPrefix) {
		return nil, ErrUnrecognized
	}
	sa, err := s.Store.Read().GetServiceAccountByTokenHash(ctx, secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown service account token", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate service account: %w", err)
	}
	if !s.Now().Before(sa.ExpiresAt) {
		return nil, fmt.Errorf("%w: service account token expired at %s", ErrInvalid, sa.ExpiresAt.Format(time.RFC3339))
	}
	return &Principal{Kind: KindServiceAccount, ID: sa.ID, OrganizationID: sa.OrganizationID, Subject: "serviceaccount:" + sa.Name}, nil
}

type ctxKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the request's principal (nil before authentication).
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
