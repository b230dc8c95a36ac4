package oidc

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// kindServiceAccount marks access tokens exchanged for a service account
// token: sub is the service account ID, gh_org its organization.
const kindServiceAccount = "service_account"

// TokenExchange implements RFC 8693 for one purpose: trading a Gatehouse
// credential (a service account token, or one of our access tokens) for a
// short-lived access token with the same or fewer scopes, optionally meant
// for resource servers named by audience (registered confidential clients,
// which may then introspect it). The client must be confidential and
// allowed the grant; actor tokens, resources and other token types are
// refused rather than ignored.
//
// The new token descends from the subject token (see checkLineage): it
// keeps the subject's session (refresh token family), adds the subject's
// jti to its parents, or fingerprints the service account token, so that
// whatever ends the subject token ends it too, and it never outlives it.
func (s *server) TokenExchange(ctx context.Context, r *op.ClientRequest[oidc.TokenExchangeRequest]) (*op.Response, error) {
	c, err := s.p.cfg.Clients.Get(ctx, r.Client.GetID())
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithParent(err)
	}
	resp, err := s.p.exchange(ctx, c, r.Data)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// exchange is TokenExchange's logic.
func (p *Provider) exchange(ctx context.Context, c *client.Client, req *oidc.TokenExchangeRequest) (*oidc.TokenExchangeResponse, error) {
	if c.Type != client.Confidential || !client.AllowsGrant(c, client.GrantTokenExchange) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use token exchange")
	}
	switch {
	case req.SubjectTokenType != oidc.AccessTokenType:
		return nil, oidc.ErrInvalidRequest().WithDescription("subject_token_type must be %s", oidc.AccessTokenType)
	case req.RequestedTokenType != "" && req.RequestedTokenType != oidc.AccessTokenType:
		return nil, oidc.ErrInvalidRequest().WithDescription("only access tokens are issued")
	case req.ActorToken != "" || len(req.Resource) > 0:
		return nil, oidc.ErrInvalidRequest().WithDescription("actor_token and resource are not supported")
	}
	subj, err := p.exchangeSubject(ctx, req.SubjectToken)
	if err != nil {
		return nil, err
	}
	confined, err := exchangeConfinement(c, subj)
	if err != nil {
		return nil, err
	}
	audience, err := p.exchangeAudience(ctx, req.Audience, audienceOrganization(subj, confined))
	if err != nil {
		return nil, err
	}
	scopes := []string(req.Scopes)
	if len(scopes) == 0 {
		scopes = subj.scopes
	}
	for _, sc := range scopes {
		if !slices.Contains(subj.scopes, sc) || !client.AllowsScope(c, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is wider than the subject token's or not allowed to the client", sc)
		}
	}
	now := p.cfg.Now().UTC()
	exp := now.Add(p.accessLifetime(c))
	if !subj.expires.IsZero() && subj.expires.Before(exp) {
		exp = subj.expires
	}
	jti, err := p.tokens.randomString(16)
	if err != nil {
		return nil, err
	}
	claims := &AccessClaims{Issuer: p.cfg.Issuer, Subject: subj.sub, Audience: audience, ClientID: c.ID,
		Scope: strings.Join(scopes, " "), IssuedAt: now.Unix(), ExpiresAt: exp.Unix(), JTI: jti, Kind: subj.kind,
		Organizations: subj.orgs, Organization: subj.org, Name: subj.name, ACR: subj.acr, Confirmation: subj.cnf, IdP: subj.idp,
		Family: subj.family, Parents: subj.parents, ServiceAccountToken: subj.sat, ClientOrganization: confined}
	if claims.Confirmation == nil {
		if claims.Confirmation, err = binding(ctx, c); err != nil {
			return nil, err
		}
	}
	tok, err := p.tokens.mint(ctx, claims)
	if err != nil {
		return nil, err
	}
	return &oidc.TokenExchangeResponse{AccessToken: tok, IssuedTokenType: oidc.AccessTokenType, TokenType: oidc.BearerToken,
		ExpiresIn: uint64(max(exp.Sub(now), 0) / time.Second), Scopes: scopes}, nil
}

// exchangeSubject is who a subject token stands for.
type exchangeSubject struct {
	kind, sub, org, name, acr string
	orgs, scopes              []string
	expires                   time.Time // zero: no bound from the subject token
	// cnf is the subject token's certificate binding, which the new token
	// keeps.
	cnf *Confirmation
	// idp is who vouched for the subject token's user, which the new token
	// keeps: an exchange never escapes the organization it is confined to.
	idp *authn.IdP
	// clientOrg is the organization whose client the subject token was
	// issued to, which the new token keeps (exchangeConfinement).
	clientOrg string
	// family, parents and sat are the new token's lineage: the subject
	// token's session, the jtis of the subject token and its ancestors,
	// the fingerprint of the service account token it comes from.
	family, sat string
	parents     []string
}

// exchangeSubject verifies a subject token: a service account token (by the
// service account authenticator, so rotation and expiry apply at once) or a
// user's access token of ours (signature, expiry, revocation, and the
// certificate of a bound token).
func (p *Provider) exchangeSubject(ctx context.Context, token string) (*exchangeSubject, error) {
	invalid := oidc.ErrInvalidGrant().WithDescription("subject_token is invalid or expired")
	if strings.HasPrefix(token, authn.ServiceAccountTokenPrefix) {
		pr, err := authn.ServiceAccounts{Store: p.cfg.Store, Now: p.cfg.Now}.Authenticate(ctx, token)
		if errors.Is(err, authn.ErrInvalid) {
			return nil, invalid
		}
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		// The exchanged token must not outlive the service account token,
		// and names it so that a rotation or deletion ends it.
		hash := secret.Hash(token)
		sa, err := p.cfg.Store.Read().GetServiceAccountByTokenHash(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalid
		}
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		return &exchangeSubject{kind: kindServiceAccount, sub: pr.ID, org: pr.OrganizationID,
			name: strings.TrimPrefix(pr.Subject, "serviceaccount:"), scopes: serviceAccountScopes,
			expires: sa.ExpiresAt, sat: serviceAccountTokenFingerprint(hash)}, nil
	}
	c, err := p.tokens.verify(ctx, token)
	if errors.Is(err, authn.ErrInvalid) {
		return nil, invalid
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	// Client tokens carry no user; a role session must not outlive or
	// escape its role by becoming another token.
	if c.Kind != kindUser && c.Kind != kindServiceAccount {
		return nil, invalid
	}
	// A certificate-bound token is exchanged only by its certificate's holder.
	if err := checkBinding(ctx, c); err != nil {
		return nil, invalid
	}
	// The chain is bounded: every use of a token checks all its ancestors.
	if len(c.Parents) >= maxExchangeDepth {
		return nil, oidc.ErrInvalidGrant().WithDescription("subject_token was exchanged too many times already")
	}
	return &exchangeSubject{kind: c.Kind, sub: c.Subject, org: c.Organization, name: c.Name, acr: c.ACR, orgs: c.Organizations,
		scopes: c.Scopes(), expires: time.Unix(c.ExpiresAt, 0), cnf: c.Confirmation, idp: c.IdP, clientOrg: c.ClientOrganization,
		family: c.Family, parents: append(slices.Clone(c.Parents), c.JTI), sat: c.ServiceAccountToken}, nil
}

// maxAudiences bounds the audience parameters of one exchange.
const maxAudiences = 8

// exchangeAudience is the aud claim of an exchanged token: the issuer
// (the token stays usable at /api/v1 and userinfo) and each requested
// audience, which must be the client_id of a registered confidential client:
// a resource server that authenticates to introspect the token (RFC 8693
// §2.1, RFC 7662). Anything else is invalid_target. A token that belongs to
// organization org ("" for none) may name platform clients and org's own
// clients only: another organization's resource server would take a token
// in its audience for one of its own, though its subject is whatever org's
// administrators made it (an address of that organization's people, for an
// organization's own local account).
func (p *Provider) exchangeAudience(ctx context.Context, requested []string, org string) ([]string, error) {
	aud := []string{p.cfg.Issuer}
	if len(requested) > maxAudiences {
		return nil, oidc.ErrInvalidTarget().WithDescription("at most %d audiences", maxAudiences)
	}
	for _, a := range requested {
		if a == "" || slices.Contains(aud, a) {
			continue
		}
		rs, err := p.cfg.Clients.Get(ctx, a)
		if e, ok := apierror.As(err); ok && e.Status == http.StatusNotFound {
			return nil, oidc.ErrInvalidTarget().WithDescription("audience %q is not a registered client", a)
		}
		if store.IsInvalidInput(err) {
			return nil, oidc.ErrInvalidTarget().WithDescription("audience %q is not valid text", a)
		}
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		if rs.Type != client.Confidential {
			return nil, oidc.ErrInvalidTarget().WithDescription("audience %q is not a confidential client", a)
		}
		if org != "" && rs.OrganizationID != "" && rs.OrganizationID != org {
			return nil, oidc.ErrInvalidTarget().WithDescription("audience %q is not a registered client", a)
		}
		aud = append(aud, a)
	}
	return aud, nil
}

// audienceOrganization is the organization an exchanged token belongs to,
// for its audience (exchangeAudience): the one it is confined to (by its
// client or who vouched for its user), or a service account's; "" for a
// login trusted platform-wide. Confined to two organizations at once
// (authn.NoOrganization), it may name platform clients only.
func audienceOrganization(subj *exchangeSubject, confined string) string {
	org := confined
	if subj.idp != nil {
		org = authn.Confinement(subj.idp.Org, org)
	}
	if subj.kind == kindServiceAccount {
		org = authn.Confinement(subj.org, org)
	}
	return org
}

// serviceAccountScopes are what a service account token may be narrowed
// from: it carries no scopes of its own, so an exchange may ask for none
// (the token then acts with the service account's roles, as the service
// account token itself does).
var serviceAccountScopes = []string{}
