// Package authn turns a bearer credential into a Principal. Authenticators
// are tried in order; each recognizes its own token format: service account
// tokens and API keys by prefix, JWT access tokens (internal/oidc) by shape.
package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Kind is the type of principal.
type Kind string

// Principal kinds; the values of users and service accounts match the group
// member types in the store.
const (
	KindServiceAccount Kind = store.MemberServiceAccount
	KindUser           Kind = store.MemberUser
	// KindAPIKey is an API key: its rights are exactly its role's.
	KindAPIKey Kind = "apikey"
	// KindAssumedRole is a role session from POST .../roles/{id}/assume: its
	// rights are exactly the assumed role's.
	KindAssumedRole Kind = "assumedrole"
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
	// email of a user, "serviceaccount:<name>" of a service account,
	// "apikey:<name>" of an API key, "assumedrole:<role>:<source subject>" of a
	// role session.
	Subject string
	// RoleID is the one role of an API key or a role session; "" otherwise.
	RoleID string
	// Source is who assumed the role, for a role session; nil otherwise.
	Source *Source
	// Email is a user's email address ("" for machine principals).
	Email string
	// IdP is who vouched for a user: the identity provider that
	// authenticated the login its token comes from (the token's gh_idp
	// claim). nil for machine principals and for tokens issued before
	// Gatehouse recorded it, which keep the behaviour of that time.
	IdP *IdP
	// ClientOrganization is the organization that owns the OAuth2 client a
	// user's token was issued to (the token's gh_corg claim, issue 13); ""
	// for a platform client. Such a token acts in that organization only,
	// like one an organization's provider vouched for.
	ClientOrganization string
	// ExpiresAt is when the credential presented stops working (zero:
	// never): what it derives (a role session, an API key) may not outlive
	// it.
	ExpiresAt time.Time
	// TokenID is the jti of a user's access token ("" otherwise): a role
	// session assumed with it ends when it is revoked.
	TokenID string
	// Lineage are the links the credential depends on (a role session's, a
	// derived API key's), already checked for this request; what it
	// derives inherits them.
	Lineage []store.LineageLink
}

// IdP is the identity provider that authenticated a user's login, as access
// tokens carry it (claim gh_idp).
type IdP struct {
	// Org is the organization that registered the provider; "" for a
	// platform provider or a local password.
	Org string `json:"org,omitempty"`
	// ID is the provider's ID ("local" for a password login).
	ID string `json:"id"`
	// Issuer and Subject are the upstream's issuer and its identifier for
	// the person.
	Issuer  string `json:"iss,omitempty"`
	Subject string `json:"sub,omitempty"`
}

// NoOrganization is what VouchingOrganization answers for a principal
// confined to two different organizations at once (an organization's client
// signing in someone another organization's provider vouched for): it is no
// organization's ID, so such a principal is a member of none.
const NoOrganization = "none"

// VouchingOrganization is the one organization p is confined to, or "" when
// it is not confined (a platform provider or a local password through a
// platform client, a machine principal, a token from before the claims). A
// user is confined by the organization whose own identity provider vouched
// for it (gh_idp) and by the organization that owns the OAuth2 client its
// token was issued to (gh_corg). Such a principal is trusted by that
// organization only: it is a member of no other and holds no platform role
// (internal/authz Load, internal/access).
func (p *Principal) VouchingOrganization() string {
	if p == nil || p.Kind != KindUser {
		return ""
	}
	vouched := ""
	if p.IdP != nil {
		vouched = p.IdP.Org
	}
	return Confinement(vouched, p.ClientOrganization)
}

// Confinement combines two confinements ("" for none): the one that is set,
// or NoOrganization when both are set and differ.
func Confinement(a, b string) string {
	switch {
	case a == "" || a == b:
		return b
	case b == "":
		return a
	}
	return NoOrganization
}

// Source is the principal that assumed a role: what audit events and
// policies see of a role session's origin.
type Source struct {
	Kind    Kind   `json:"kind"`
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

// BoundToRole reports whether p's rights are exactly one role's (an API key
// or a role session), rather than what its groups grant.
func (p *Principal) BoundToRole() bool { return p.Kind == KindAPIKey || p.Kind == KindAssumedRole }

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
	return &Principal{Kind: KindServiceAccount, ID: sa.ID, OrganizationID: sa.OrganizationID, Subject: "serviceaccount:" + sa.Name,
		ExpiresAt: sa.ExpiresAt}, nil
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

// APIKeyTokenPrefix marks API keys. A key is "ghak_<key ID>_<secret>": the
// key ID is public (it names the key in lists and audit events) and the
// secret is 32 random bytes, base64url.
const APIKeyTokenPrefix = "ghak_"

// APIKeyToken assembles the bearer token of an API key.
func APIKeyToken(keyID, secret string) string { return APIKeyTokenPrefix + keyID + "_" + secret }

// ParseAPIKeyToken splits an API key token into its key ID and secret; ok is
// false when token is not shaped like one. Key IDs are UUIDs and never hold
// an underscore, so the first one after the prefix ends the ID.
func ParseAPIKeyToken(token string) (keyID, secret string, ok bool) {
	rest, found := strings.CutPrefix(token, APIKeyTokenPrefix)
	if !found {
		return "", "", false
	}
	keyID, secret, ok = strings.Cut(rest, "_")
	return keyID, secret, ok && uuidShaped(keyID) && secret != ""
}

// uuidShaped reports whether s is a UUID in its canonical text form. A key
// ID of any other shape names no key, and is not looked up: PostgreSQL
// fails a lookup by a value that is not UTF-8 (header values may hold such
// bytes), which would answer an unknown token with an error, not a 401.
func uuidShaped(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			return false
		}
	}
	return true
}

// APIKeys authenticates API keys against the store: the key must exist (a
// revoked key is deleted), its secret must hash to the stored hash, it must
// not have expired, and every link of its lineage (the credentials a key
// minted by a machine credential derives from) must still hold.
type APIKeys struct {
	Store *store.Store
	Now   func() time.Time
}

// Authenticate implements Authenticator.
func (a APIKeys) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, APIKeyTokenPrefix) {
		return nil, ErrUnrecognized
	}
	keyID, sec, ok := ParseAPIKeyToken(token)
	if !ok {
		return nil, fmt.Errorf("%w: malformed API key", ErrInvalid)
	}
	k, err := a.Store.Read().APIKeyByID(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown or revoked API key", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate API key: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(secret.Hash(sec)), []byte(k.SecretHash)) != 1 {
		return nil, fmt.Errorf("%w: wrong API key secret", ErrInvalid)
	}
	if !k.ExpiresAt.IsZero() && !a.Now().Before(k.ExpiresAt) {
		return nil, fmt.Errorf("%w: API key expired at %s", ErrInvalid, k.ExpiresAt.Format(time.RFC3339))
	}
	if err := CheckLineage(ctx, a.Store, k.Lineage); err != nil {
		return nil, fmt.Errorf("API key %s: %w", k.ID, err)
	}
	return &Principal{Kind: KindAPIKey, ID: k.ID, OrganizationID: k.OrganizationID, RoleID: k.RoleID,
		Subject: "apikey:" + k.Name, ExpiresAt: k.ExpiresAt, Lineage: k.Lineage}, nil
}

// Session is a role session to sign (POST .../roles/{id}/assume): a
// short-lived bearer token whose rights are exactly the role's. The OIDC
// provider signs it as an access token, and its Authenticator turns it back
// into a Principal of kind KindAssumedRole.
type Session struct {
	// ID identifies the session (the token's jti).
	ID             string
	OrganizationID string
	RoleID         string
	RoleName       string
	// Source is who assumed the role.
	Source Source
	// TTL is how long the session lasts from when it is signed.
	TTL time.Duration
	// Lineage are the links the session depends on (its source's, the
	// source itself, the role at its trust version): checked on every use.
	Lineage []store.LineageLink
}

// AssumedRoleSubject is the Subject of a role session's principal, as audit
// fields show it: "assumedrole:<role name>:<source subject>".
func AssumedRoleSubject(roleName, sourceSubject string) string {
	return "assumedrole:" + roleName + ":" + sourceSubject
}
