package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// AccessTokenType is the JWS "typ" of access tokens (RFC 9068 §2.1).
const AccessTokenType = "at+jwt"

// Principal kinds carried in access tokens' gh_kind claim.
const (
	kindUser   = "user"
	kindClient = "client"
)

// AccessClaims are the claims of a Gatehouse access token (RFC 9068).
type AccessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	JTI       string   `json:"jti"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	// ACR is the authentication context class of the login (user tokens).
	ACR string `json:"acr,omitempty"`
	// Confirmation binds the token to the TLS client certificate of the
	// client it was issued to (RFC 8705 §3): it is accepted only over a
	// connection presenting that certificate.
	Confirmation *Confirmation `json:"cnf,omitempty"`
	// Kind is "user" (sub is the email) or "client" (client_credentials; sub
	// is the client ID).
	Kind string `json:"gh_kind"`
	// Organizations are the IDs of the organizations in which the user is
	// an active member, when the token was issued.
	Organizations []string `json:"org_ids,omitempty"`
	// Organization and Name are a service account's (gh_kind
	// service_account, from a token exchange), or a role session's
	// organization and role name (gh_kind assumed_role).
	Organization string `json:"gh_org,omitempty"`
	Name         string `json:"gh_name,omitempty"`
	// Role and Source are a role session's role ID and the principal that
	// assumed it (gh_kind assumed_role; sub is the role ID).
	Role   string        `json:"gh_role,omitempty"`
	Source *authn.Source `json:"gh_src,omitempty"`
	// IdP is who vouched for the user (gh_kind user): the identity provider
	// of the login the token comes from. With IdP.Org set the token acts in
	// that organization only (internal/access). Tokens issued before
	// Gatehouse recorded it have none and keep the behaviour of that time.
	IdP *authn.IdP `json:"gh_idp,omitempty"`
	// ClientOrganization is the organization that owns the client the
	// token was issued to (an organization's client, issue 13): the token
	// acts in that organization only (see orgclients.go). Kept by token
	// exchange.
	ClientOrganization string `json:"gh_corg,omitempty"`
	// Family is the session (refresh token family) a user's token was
	// issued in, kept by the tokens exchanged from it: the token dies with
	// the session (see checkLineage).
	Family string `json:"gh_fam,omitempty"`
	// Parents are the jtis of the tokens this one was exchanged from (RFC
	// 8693), root first: revoking any of them revokes this one.
	Parents []string `json:"gh_par,omitempty"`
	// ServiceAccountToken fingerprints the service account token a
	// service_account token was exchanged from: rotating or deleting it
	// ends this one.
	ServiceAccountToken string `json:"gh_sat,omitempty"`
	// Lineage is a role session's lineage (gh_kind assumed_role): what it
	// derives from, checked against the database on every use.
	Lineage []store.LineageLink `json:"gh_lin,omitempty"`
}

// Confirmation is the cnf claim of a certificate-bound token (RFC 8705 §3.1).
type Confirmation struct {
	// X5tS256 is the base64url SHA-256 thumbprint of the certificate.
	X5tS256 string `json:"x5t#S256"`
}

// Scopes splits the scope claim.
func (c *AccessClaims) Scopes() []string { return strings.Fields(c.Scope) }

// Errors of access token verification; all wrap authn.ErrInvalid.
var (
	errMalformed = fmt.Errorf("%w: malformed access token", authn.ErrInvalid)
	errRevoked   = fmt.Errorf("%w: access token revoked", authn.ErrInvalid)
)

// allowedAlgorithms are the only algorithms a token may claim: anything else
// (none, HS256 and other MACs) is refused before any key is looked at.
var allowedAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES512, jose.RS256}

// tokens mints and verifies access tokens with the keys manager's keys.
type tokens struct {
	issuer string
	keys   *keys.Manager
	store  *store.Store
	now    func() time.Time
	rand   io.Reader

	// verified remembers tokens whose signature checked out.
	verified *verifiedCache

	// minted hands tokens signed in Storage.CreateAccessToken to
	// Crypto.Encrypt, which zitadel calls right after it (see the package
	// documentation), keyed by "jti:subject".
	minted sync.Map
}

func (t *tokens) randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(t.rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// mint signs claims as an at+jwt with the active key.
func (t *tokens) mint(ctx context.Context, c *AccessClaims) (string, error) {
	key, err := t.keys.SigningKey(ctx)
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	return sign(key.JOSE(), c)
}

func sign(key jose.SigningKey, c any) (string, error) {
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType(AccessTokenType))
	if err != nil {
		return "", fmt.Errorf("access token signer: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("access token claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return jws.CompactSerialize()
}

// verifySignature checks that raw is an at+jwt signed by a published key
// with an allowed algorithm and issued by us, and returns its claims. It
// does not look at the time or at revocation.
func (t *tokens) verifySignature(ctx context.Context, raw string) (*AccessClaims, error) {
	key := tokenKey(raw)
	if v, ok := t.verified.get(key, t.now()); ok {
		set, err := t.keys.PublicJWKS(ctx)
		if err != nil {
			return nil, fmt.Errorf("verify access token: %w", err)
		}
		if found := set.Key(v.kid); len(found) == 1 && found[0].Algorithm == v.alg {
			c := v.claims
			return &c, nil
		}
		return nil, fmt.Errorf("%w: unknown signing key", authn.ErrInvalid)
	}
	c, kid, alg, err := t.checkSignature(ctx, raw)
	if err != nil {
		return nil, err
	}
	t.verified.put(key, &verifiedToken{claims: *c, kid: kid, alg: alg, expires: time.Unix(c.ExpiresAt, 0)})
	return c, nil
}

// checkSignature is verifySignature without the cache; it also returns the
// signing key's kid and algorithm.
func (t *tokens) checkSignature(ctx context.Context, raw string) (*AccessClaims, string, string, error) {
	jws, err := jose.ParseSigned(raw, allowedAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "", "", errMalformed
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, AccessTokenType) && !strings.EqualFold(typ, "application/"+AccessTokenType) {
		return nil, "", "", fmt.Errorf("%w: typ %q is not %s", authn.ErrInvalid, typ, AccessTokenType)
	}
	set, err := t.keys.PublicJWKS(ctx)
	if err != nil {
		return nil, "", "", fmt.Errorf("verify access token: %w", err)
	}
	found := set.Key(h.KeyID)
	if len(found) != 1 || found[0].Algorithm != h.Algorithm {
		return nil, "", "", fmt.Errorf("%w: unknown signing key", authn.ErrInvalid)
	}
	payload, err := jws.Verify(found[0].Key)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: bad signature", authn.ErrInvalid)
	}
	var c AccessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, "", "", errMalformed
	}
	if c.Issuer != t.issuer || !slices.Contains(c.Audience, t.issuer) || c.JTI == "" || c.Subject == "" {
		return nil, "", "", fmt.Errorf("%w: wrong issuer or audience", authn.ErrInvalid)
	}
	return &c, h.KeyID, h.Algorithm, nil
}

// verify is verifySignature plus expiry (by the injected clock) and
// revocation of the token and of what it descends from (checkLineage; for a
// role session, checkSession): the full check of a token presented as a
// credential.
func (t *tokens) verify(ctx context.Context, raw string) (*AccessClaims, error) {
	c, err := t.verifySignature(ctx, raw)
	if err != nil {
		return nil, err
	}
	now := t.now()
	if !now.Before(time.Unix(c.ExpiresAt, 0)) {
		return nil, fmt.Errorf("%w: access token expired", authn.ErrInvalid)
	}
	if time.Unix(c.IssuedAt, 0).After(now.Add(time.Minute)) {
		return nil, fmt.Errorf("%w: access token issued in the future", authn.ErrInvalid)
	}
	if c.Kind == kindAssumedRole {
		if err := t.checkSession(ctx, c); err != nil {
			return nil, err
		}
		return c, nil
	}
	if err := t.checkLineage(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkSession is the revocation check of a role session: its own jti and
// its lineage (the credential it was assumed with, the role at its trust
// version) in one query, so that wherever a session is verified (the API,
// introspection) it ends with its source, at the cost of the one query
// every token pays for revocation. A session without lineage (signed
// before lineage existed) fails closed: nothing would tie it to its source.
func (t *tokens) checkSession(ctx context.Context, c *AccessClaims) error {
	if len(c.Lineage) == 0 {
		return errMalformed
	}
	self := store.LineageLink{Kind: store.LinkToken, ID: c.JTI}
	broken, ok, err := t.store.Read().BrokenLink(ctx, append([]store.LineageLink{self}, c.Lineage...))
	switch {
	case err != nil:
		return fmt.Errorf("verify role session: %w", err)
	case ok:
		return nil
	case broken == self:
		return errRevoked
	}
	return fmt.Errorf("role session %s: %w (%s)", c.JTI, authn.ErrSourceEnded, broken)
}

// Encrypt implements op.Crypto. zitadel/oidc calls it for two things: to
// turn "tokenID:subject" into an opaque access token, where we hand back the
// at+jwt that Storage already minted under that key, and to make an
// authorization code from an auth request ID, where we return 32 random
// bytes (the code is looked up by its hash, never decrypted).
func (t *tokens) Encrypt(s string) (string, error) {
	if tok, ok := t.minted.LoadAndDelete(s); ok {
		return tok.(string), nil
	}
	return t.randomString(32)
}

// Decrypt implements op.Crypto. Nothing of ours is decryptable: the
// endpoints that would need it (userinfo, introspection, revocation) are
// overridden to verify our JWTs instead.
func (t *tokens) Decrypt(string) (string, error) {
	return "", errors.New("gatehouse tokens are not encrypted")
}

// Authenticator verifies Gatehouse access tokens presented to /api/v1. It
// implements authn.Authenticator: tokens that are not JWTs are left to the
// rest of the chain.
type Authenticator struct {
	t *tokens
	p *Provider // records users' activity (nil: not recorded)
}

// Authenticate implements authn.Authenticator.
func (a Authenticator) Authenticate(ctx context.Context, token string) (*authn.Principal, error) {
	if strings.Count(token, ".") != 2 {
		return nil, authn.ErrUnrecognized
	}
	c, err := a.t.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := checkBinding(ctx, c); err != nil {
		return nil, err
	}
	switch c.Kind {
	case kindUser:
		if a.p != nil {
			a.p.touch(ctx, c.Subject)
		}
		return &authn.Principal{Kind: authn.KindUser, ID: c.Subject, Subject: c.Subject, IdP: c.IdP, ClientOrganization: c.ClientOrganization,
			ExpiresAt: time.Unix(c.ExpiresAt, 0), TokenID: c.JTI, Lineage: credentialLineage(c)}, nil
	case kindServiceAccount:
		// The lineage of the exchanged token (its jti, its ancestors'):
		// what it derives (internal/iam derivedFrom) dies when it is
		// revoked, not only when the account's token is rotated.
		return &authn.Principal{Kind: authn.KindServiceAccount, ID: c.Subject, OrganizationID: c.Organization,
			Subject: "serviceaccount:" + c.Name, ExpiresAt: time.Unix(c.ExpiresAt, 0), Lineage: credentialLineage(c)}, nil
	case kindAssumedRole:
		// verify checked the session's lineage.
		if c.Role == "" || c.Organization == "" || c.Source == nil {
			return nil, errMalformed
		}
		src := *c.Source
		return &authn.Principal{Kind: authn.KindAssumedRole, ID: c.JTI, OrganizationID: c.Organization, RoleID: c.Role,
			Subject: authn.AssumedRoleSubject(c.Name, src.Subject), Source: &src,
			ExpiresAt: time.Unix(c.ExpiresAt, 0), Lineage: c.Lineage}, nil
	}
	return nil, fmt.Errorf("%w: client credentials tokens carry no user", authn.ErrInvalid)
}

// defaultRand is crypto/rand unless a reader was injected.
func defaultRand(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
