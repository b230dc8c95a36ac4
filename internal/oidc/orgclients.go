package oidc

import (
	"context"
	"errors"
	"fmt"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// Organizations' own OAuth2 clients (issue 13).
//
// A client an organization registered signs in that organization's members
// only, and what it obtains acts in that organization only:
//
//   - a login through it must be of an active user of the organization, and
//     not vouched for by another organization's provider (admits: checked
//     when the login completes, when a browser session is reused, when its
//     code is redeemed and at every refresh);
//   - every token it gets carries the organization (gh_corg), which confines
//     the token like gh_idp does (authn.Principal.VouchingOrganization): no
//     other organization, no platform role, even for a person who is a
//     platform administrator elsewhere;
//   - token exchange through it accepts only subjects of the organization,
//     and the exchanged token keeps the confinement; client_credentials
//     tokens carry no user and reach no API operation at all.
//
// Its login page offers the organization's identity provider, not the
// platform's list.

// errNotMember refuses a login or a token of an organization's client for
// someone who is not (or no longer) an active member of it.
var errNotMember = errors.New("this application signs in members of the organization that registered it only")

// admits reports (errNotMember) whether c may sign in subject, whose login
// was vouched for by an organization's provider idpOrg ("" for a platform
// provider or a local password). Platform clients admit anyone.
func (p *Provider) admits(ctx context.Context, c *client.Client, subject, idpOrg string) error {
	if c.OrganizationID == "" {
		return nil
	}
	if idpOrg != "" && idpOrg != c.OrganizationID {
		return errNotMember
	}
	u, err := p.cfg.Store.Read().GetUserBySubject(ctx, c.OrganizationID, subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotMember
	case err != nil:
		return fmt.Errorf("membership of %s: %w", subject, err)
	case u.State != activeState:
		return errNotMember
	}
	return nil
}

// admitsLogin is admits for the login a of an auth request of clientID, as
// the OAuth2 error the client gets (access_denied).
func (p *Provider) admitsLogin(ctx context.Context, clientID string, a store.Authentication) error {
	c, err := p.cfg.Clients.Get(ctx, clientID)
	if err != nil {
		return err
	}
	if err := p.admits(ctx, c, a.Subject, a.IdP.Org); errors.Is(err, errNotMember) {
		return oidc.ErrAccessDenied().WithDescription("%s", errNotMember.Error())
	} else if err != nil {
		return err
	}
	return nil
}

// organizationRoute is where a login of an organization's client goes
// upstream: the organization's own provider (with its domain), or the
// system provider it uses; ok is false when it has none (local password).
func (p *Provider) organizationRoute(ctx context.Context, orgID string) (route, bool, error) {
	if p.cfg.Tenancy == nil {
		return route{}, false, nil
	}
	org, err := p.cfg.Store.Read().GetOrganization(ctx, orgID)
	if errors.Is(err, store.ErrNotFound) {
		return route{}, false, nil
	}
	if err != nil {
		return route{}, false, err
	}
	switch {
	case org.ProviderID == "":
		return route{}, false, nil
	case org.ProviderScope == tenancy.ProviderScopeOrganization:
		return route{org: org.ID, provider: org.ProviderID, domain: org.Domain}, true, nil
	}
	return route{provider: org.ProviderID}, true, nil
}

// loginProviders are the provider buttons of the login page of a request
// of clientID: the platform's providers, or for an organization's client
// the organization's provider only.
func (p *Provider) loginProviders(ctx context.Context, clientID string) ([]providerChoice, error) {
	c, err := p.cfg.Clients.Get(ctx, clientID)
	if err != nil {
		return nil, err
	}
	if c.OrganizationID == "" {
		return p.systemProviders(ctx)
	}
	rt, ok, err := p.organizationRoute(ctx, c.OrganizationID)
	if err != nil || !ok {
		return nil, err
	}
	pr, err := p.cfg.Store.Read().GetOAuth2Provider(ctx, rt.org, rt.provider)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", rt.provider, err)
	}
	return []providerChoice{{ID: pr.ID, Name: pr.Name}}, nil
}

// chooseRouteFor is chooseRoute for a login of request req: an
// organization's client goes to its organization's provider (the only
// button it offers), or to the local password.
func (p *Provider) chooseRouteFor(ctx context.Context, req *store.OIDCAuthRequest, provider, email string) (route, bool, error) {
	c, err := p.cfg.Clients.Get(ctx, req.ClientID)
	if err != nil {
		return route{}, false, err
	}
	if c.OrganizationID == "" {
		return p.chooseRoute(ctx, provider, email)
	}
	rt, ok, err := p.organizationRoute(ctx, c.OrganizationID)
	if err != nil {
		return route{}, false, err
	}
	if provider != "" {
		if !ok || provider != rt.provider {
			return route{}, false, errNoProvider
		}
		return rt, true, nil
	}
	// An email of the organization's verified domain goes to its
	// provider; any other address signs in with a local password (and
	// must still be a member).
	byEmail, upstream, err := p.routeByEmail(ctx, email)
	if err != nil || !upstream || !ok || byEmail != rt {
		return route{}, false, err
	}
	return rt, true, nil
}

// exchangeConfinement is the organization an exchanged token is confined
// to by its client c (""), refusing a subject that cannot act there: an
// organization's client exchanges only its organization's service accounts
// and users confined to nothing else.
func exchangeConfinement(c *client.Client, subj *exchangeSubject) (string, error) {
	refuse := oidc.ErrInvalidGrant().WithDescription("subject_token does not belong to the organization that registered the client")
	conf := subj.clientOrg
	if c.OrganizationID == "" {
		return conf, nil
	}
	if subj.kind == kindServiceAccount {
		if subj.org != c.OrganizationID {
			return "", refuse
		}
		return c.OrganizationID, nil
	}
	vouched := ""
	if subj.idp != nil {
		vouched = subj.idp.Org
	}
	if authn.Confinement(authn.Confinement(vouched, conf), c.OrganizationID) != c.OrganizationID {
		return "", refuse
	}
	return c.OrganizationID, nil
}
