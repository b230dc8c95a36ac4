package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// UpstreamCallbackPath is where upstream identity providers send the browser
// back (the seed's /oidc/callback); register issuer+UpstreamCallbackPath as
// the redirect URI at the upstream.
const UpstreamCallbackPath = "/oidc/callback"

// Outcomes of an upstream login that are not a success.
var (
	errBadState   = errors.New("unknown, expired or already used upstream state")
	errUpstream   = errors.New("the identity provider refused the login")
	errUnverified = errors.New("the identity provider did not vouch for an email address")
	errNoProvider = errors.New("no such identity provider")
)

// DefaultUpstreamTimeout is Config.UpstreamTimeout's default.
const DefaultUpstreamTimeout = 10 * time.Second

// tenantUpstreamTimeout bounds each request to an organization's identity
// provider, as connector.New's default client does the platform's.
const tenantUpstreamTimeout = 15 * time.Second

// errUpstreamTimeout: the upstream did not answer within UpstreamTimeout.
var errUpstreamTimeout = errors.New("the identity provider did not answer in time")

// upstreamContext bounds one step of an upstream login.
func (p *Provider) upstreamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := p.cfg.UpstreamTimeout
	if d <= 0 {
		d = DefaultUpstreamTimeout
	}
	return context.WithTimeout(ctx, d)
}

// upstreamFailure tells a timeout (uctx's deadline passed) from other
// failures of an upstream step.
func upstreamFailure(uctx context.Context, err error) error {
	if errors.Is(uctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", errUpstreamTimeout, err)
	}
	return err
}

// maxListedProviders bounds the system providers shown on the login page.
const maxListedProviders = 20

// providerChoice is a system provider as the login page offers it.
type providerChoice struct{ ID, Name string }

// systemProviders lists the platform's OAuth2 providers (organization ”).
func (p *Provider) systemProviders(ctx context.Context) ([]providerChoice, error) {
	if p.cfg.Tenancy == nil {
		return nil, nil
	}
	ps, err := p.cfg.Store.Read().ListOAuth2Providers(ctx, "", store.Page{Limit: maxListedProviders})
	if err != nil {
		return nil, fmt.Errorf("list providers: %w", err)
	}
	out := make([]providerChoice, len(ps))
	for i, pr := range ps {
		out[i] = providerChoice{ID: pr.ID, Name: pr.Name}
	}
	return out, nil
}

// route is where a login goes upstream: a provider of organization org
// (” for a system provider), and for an organization's own provider the
// email domain its answers must be in.
type route struct {
	org, provider, domain string
	// orgName is the name of the organization whose domain routed the
	// login here ("" for a provider button), shown on the login page.
	orgName string
}

// routeByEmail finds the provider of the organization that owns email's
// domain; ok is false when the domain routes nowhere (local password). Only
// a verified domain is owned (store.OrganizationByDomain): a pending claim,
// which anyone can make, routes nothing.
func (p *Provider) routeByEmail(ctx context.Context, email string) (route, bool, error) {
	at := strings.LastIndexByte(email, '@')
	if p.cfg.Tenancy == nil || at < 0 {
		return route{}, false, nil
	}
	org, err := p.cfg.Store.Read().OrganizationByDomain(ctx, strings.ToLower(strings.TrimSpace(email[at+1:])))
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
		return route{org: org.ID, provider: org.ProviderID, domain: org.Domain, orgName: org.Name}, true, nil
	default:
		return route{provider: org.ProviderID, orgName: org.Name}, true, nil
	}
}

// connectorFor builds the connector of a provider (discovery is read at each
// login, so a changed upstream is picked up at once).
func (p *Provider) connectorFor(ctx context.Context, org, id string) (connector.RedirectConnector, error) {
	if p.cfg.Tenancy == nil {
		return nil, errNoProvider
	}
	pr, err := p.cfg.Store.Read().GetOAuth2Provider(ctx, org, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoProvider
	}
	if err != nil {
		return nil, err
	}
	sec, err := p.cfg.Tenancy.ProviderSecret(pr)
	if err != nil {
		return nil, fmt.Errorf("provider %s secret: %w", id, err)
	}
	opts := p.cfg.ConnectorOptions
	if pr.OrganizationID != "" {
		// An organization's administrators chose this issuer: its
		// discovery, token, userinfo and JWKS requests, and the redirects
		// they answer with, go to public addresses only.
		opts = append(slices.Clip(opts), connector.WithHTTPClient(p.tenantHTTP))
	}
	c, err := connector.New(ctx, pr, sec, p.cfg.Issuer+UpstreamCallbackPath, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUpstream, err)
	}
	return c, nil
}

// UpstreamCookiePrefix starts the name of the cookie that binds an upstream
// login to the browser that began it (the name ends with a hash of the
// issuer; see Provider.cookie for the __Host- prefix and path). It holds a
// binding of 32 random bytes, kept per browser and sealed (AES-256-GCM, the
// tenancy key, bound to the issuer): an upstream login's row is found by
// the hash of its state together with the binding (upstreamStateHash), so
// the callback completes only in that browser. Without it, a person who
// stopped his own upstream login before the callback could send the link to
// someone else, whose browser would then be signed in as him (login CSRF).
// The seal means that only values this Gatehouse issued are ever used: a
// value set by anyone else is replaced by a new one. HttpOnly, SameSite=Lax
// (the upstream's redirect back is a top-level GET).
const UpstreamCookiePrefix = "gatehouse_upstream_"

// upstreamBinding is the browser's upstream binding, made (and its cookie
// set on w) when the browser has no valid one; the cookie is renewed for
// AuthRequestLifetime. Reusing the binding lets one browser run upstream
// logins in two tabs at once.
func (p *Provider) upstreamBinding(w http.ResponseWriter, r *http.Request) (string, error) {
	if p.cfg.Tenancy == nil || p.cfg.Tenancy.Sealer == nil {
		return "", errNoProvider // no upstream login without tenancy
	}
	v := p.upstreamCookieValue(r)
	if v == "" {
		var err error
		if v, err = p.tokens.randomString(32); err != nil {
			return "", err
		}
	}
	// Without __Host- (an http issuer), the cookie is scoped to the
	// callback, at the issuer's path + UpstreamCallbackPath (the redirect
	// URI registered upstream).
	path := UpstreamCallbackPath
	if u, err := url.Parse(p.cfg.Issuer); err == nil {
		path = strings.TrimSuffix(u.Path, "/") + UpstreamCallbackPath
	}
	http.SetCookie(w, p.cookie(p.upstreamCookie, p.cfg.Tenancy.Sealer.Seal(v, p.upstreamAAD()), path,
		int(AuthRequestLifetime.Seconds()), http.SameSiteLaxMode))
	return v, nil
}

// upstreamAAD binds sealed upstream cookies to this issuer.
func (p *Provider) upstreamAAD() string { return "oidc-upstream-binding:" + p.cfg.Issuer }

// upstreamCookieValue is the binding of the browser's upstream cookie: ""
// if there is none, or if it is not a binding this issuer sealed (a value
// set by someone else, by another site of the same registrable domain for
// instance, is never used).
func (p *Provider) upstreamCookieValue(r *http.Request) string {
	c, err := r.Cookie(p.upstreamCookie)
	if err != nil || p.cfg.Tenancy == nil || p.cfg.Tenancy.Sealer == nil {
		return ""
	}
	v, err := p.cfg.Tenancy.Sealer.Open(c.Value, p.upstreamAAD())
	if err != nil || len(v) != 43 {
		return ""
	}
	return v
}

// upstreamStateHash is the key of an upstream login: the state the upstream
// sends back and the browser's upstream cookie, hashed together, so that the
// state alone (which travels in URLs) finds nothing.
func upstreamStateHash(state, browser string) string {
	return secret.Hash("upstream:" + browser + ":" + state)
}

// startUpstream sends auth request req (open, its CSRF already checked, or
// routed by its login_hint) to the provider of rt, for the browser whose
// upstream cookie is browser (upstreamBinding): it returns the upstream
// authorization URL, after recording the state (hashed with browser), PKCE
// verifier and nonce of this login.
func (p *Provider) startUpstream(ctx context.Context, req *store.OIDCAuthRequest, rt route, browser string) (string, error) {
	uctx, cancel := p.upstreamContext(ctx)
	defer cancel()
	conn, err := p.connectorFor(uctx, rt.org, rt.provider)
	if err != nil {
		return "", upstreamFailure(uctx, err)
	}
	state, err := p.tokens.randomString(32)
	if err != nil {
		return "", err
	}
	nonce, err := p.tokens.randomString(16)
	if err != nil {
		return "", err
	}
	to, verifier, err := conn.AuthCodeURL(state, nonce)
	if err != nil {
		return "", err
	}
	err = p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		return q.CreateUpstreamLogin(ctx, &store.OIDCUpstreamLogin{StateHash: upstreamStateHash(state, browser), AuthRequestID: req.ID,
			ProviderOrg: rt.org, ProviderID: rt.provider, Verifier: verifier, Nonce: nonce, ExpiresAt: req.ExpiresAt})
	})
	if err != nil {
		return "", err
	}
	return to, nil
}

// finishUpstream verifies an upstream login: the state is taken (once, and
// only by the browser that began the login: its upstream cookie is browser), the
// code exchanged and the ID token verified by the connector, and the
// verified email becomes the subject. It returns the auth request and who
// logged in, with the provider that vouched for them (Authentication.IdP).
func (p *Provider) finishUpstream(ctx context.Context, q url.Values, browser string) (*store.OIDCAuthRequest, store.Authentication, error) {
	none := store.Authentication{}
	now := p.cfg.Now()
	if q.Get("state") == "" || browser == "" {
		return nil, none, errBadState
	}
	var l *store.OIDCUpstreamLogin
	err := p.cfg.Store.Tx(ctx, func(tx *store.Q) error {
		var err error
		l, err = tx.TakeUpstreamLogin(ctx, upstreamStateHash(q.Get("state"), browser), now)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, none, errBadState
	}
	if err != nil {
		return nil, none, err
	}
	req, err := p.cfg.Store.Read().GetAuthRequest(ctx, l.AuthRequestID, now)
	if errors.Is(err, store.ErrNotFound) || err == nil && (req.Done || req.Subject != "") {
		return nil, none, errNoRequest
	}
	if err != nil {
		return nil, none, err
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		return req, none, errUpstream
	}
	uctx, cancel := p.upstreamContext(ctx)
	defer cancel()
	conn, err := p.connectorFor(uctx, l.ProviderOrg, l.ProviderID)
	if err != nil {
		return req, none, upstreamFailure(uctx, err)
	}
	ident, err := conn.Exchange(uctx, q.Get("code"), l.Verifier, l.Nonce)
	switch {
	case errors.Is(err, connector.ErrEmailNotVerified):
		return req, none, errUnverified
	case err != nil && errors.Is(uctx.Err(), context.DeadlineExceeded):
		p.log.Warn("upstream login timed out", "provider", l.ProviderID, "error", err)
		return req, none, upstreamFailure(uctx, err)
	case err != nil:
		p.log.Warn("upstream login failed", "provider", l.ProviderID, "error", err)
		return req, none, errUpstream
	case !ident.EmailVerified || ident.Email == "":
		return req, none, errUnverified
	}
	// An upstream's email becomes a subject like any other: a bare address
	// of at most 254 bytes, no control characters (a NUL would reach the
	// database). One that is not is no verified email Gatehouse can use.
	subject, err := tenancy.NormalizeSubject(strings.TrimSpace(ident.Email))
	if err != nil {
		p.log.Warn("upstream login: the provider's email is not a usable address", "provider", l.ProviderID, "error", err)
		return req, none, errUnverified
	}
	if err := p.checkDomain(ctx, l.ProviderOrg, subject); err != nil {
		return req, none, err
	}
	if err := p.mayLogIn(ctx, subject); err != nil {
		return req, none, err
	}
	// The profile claims userinfo answers for the profile scope, as this
	// upstream gave them now (issue 17).
	if err := p.cfg.Store.Tx(ctx, func(q *store.Q) error { return q.PutUserProfile(ctx, upstreamProfile(ident, subject, now)) }); err != nil {
		return req, none, err
	}
	// Who vouched: an organization's own provider (ProviderOrg set) is
	// trusted for that organization only, and every token of this login
	// says so (gh_idp).
	return req, store.Authentication{Subject: subject, AMR: "fed", ACR: ACRFederated, AuthTime: now,
		IdP: store.IdP{Org: l.ProviderOrg, ID: l.ProviderID, Issuer: ident.Issuer, Subject: ident.Subject}}, nil
}

// maxProfileClaim bounds each profile claim kept from an upstream (a
// picture URL is the longest in practice).
const maxProfileClaim = 2048

// upstreamProfile is what an upstream said of subject, each claim kept
// only if it is text (no NUL, valid UTF-8: the rule of everything stored)
// of at most maxProfileClaim bytes; a claim that is not is dropped, not
// the login.
func upstreamProfile(ident connector.Identity, subject string, now time.Time) store.UserProfile {
	keep := func(v string) string {
		v = strings.TrimSpace(v)
		if len(v) > maxProfileClaim || tenancy.TextProblem(v) != "" {
			return ""
		}
		return v
	}
	return store.UserProfile{Subject: subject, Name: keep(ident.Name), GivenName: keep(ident.GivenName),
		FamilyName: keep(ident.FamilyName), Picture: keep(ident.Picture), Locale: keep(ident.Locale), UpdatedAt: now}
}

// checkDomain: an organization's own identity provider speaks for its own
// verified email domain only, so that one tenant's IdP cannot log people in
// as users of another (a domain merely claimed proves nothing: issue 12).
// System providers (Google, ...) are trusted for any address.
func (p *Provider) checkDomain(ctx context.Context, orgID, subject string) error {
	if orgID == "" {
		return nil
	}
	org, err := p.cfg.Store.Read().GetOrganization(ctx, orgID)
	if err != nil {
		return fmt.Errorf("provider organization: %w", err)
	}
	if !domainVouches(org, subject) {
		return errForeignDomain
	}
	return nil
}

// domainVouches: subject is an address of org's verified email domain, the
// only addresses org's own provider speaks for.
func domainVouches(org *store.Organization, subject string) bool {
	return org.VouchesFor(subject)
}

var errForeignDomain = errors.New("the identity provider answered for an email outside its organization's domain")

// Why a login once made is not trusted any more (stillVouched).
var (
	errNoVoucher   = errors.New("the login does not say which identity provider vouched for it")
	errVoucherGone = errors.New("the identity provider that vouched for the login is no longer its organization's")
)

// stillVouched re-checks, when a login is used again (refresh, single
// sign-on), who vouched for it: a login that does not say (written by a
// release before migration 00018, or by an old replica during a rolling
// upgrade) is refused, as its tokens would be unconfined; one an
// organization's own provider vouched for needs that provider still to be
// the organization's and subject still in its verified domain (one read).
// Deleting or changing the provider also ends its sessions (tenancy); this
// catches what such a write raced with. Logins by a password or a platform
// provider are not re-read.
func (p *Provider) stillVouched(ctx context.Context, idp store.IdP, subject string) error {
	switch {
	case idp.ID == "":
		return errNoVoucher
	case !idp.Confined():
		return nil
	case idp.ID == connector.LocalConnectorID:
		// An organization's local account: it must still be that
		// organization's (deleting it, or the organization, ends its
		// sessions too; this catches what raced with that).
		acc, err := p.cfg.Store.Read().GetLocalPassword(ctx, subject)
		if errors.Is(err, store.ErrNotFound) || err == nil && acc.OrganizationID != idp.Org {
			return errVoucherGone
		}
		if err != nil {
			return err
		}
		// And its address still in the organization's verified domain,
		// as for its provider.
		org, err := p.cfg.Store.Read().GetOrganization(ctx, idp.Org)
		if errors.Is(err, store.ErrNotFound) {
			return errVoucherGone
		}
		if err != nil {
			return err
		}
		if !domainVouches(org, subject) {
			return errForeignDomain
		}
		return nil
	}
	org, err := p.cfg.Store.Read().VouchingOrganization(ctx, idp.Org, idp.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errVoucherGone
	}
	if err != nil {
		return err
	}
	if !domainVouches(org, subject) {
		return errForeignDomain
	}
	return nil
}

// notVouched reports whether err is stillVouched's refusal (rather than a
// failure to check).
func notVouched(err error) bool {
	return errors.Is(err, errNoVoucher) || errors.Is(err, errVoucherGone) || errors.Is(err, errForeignDomain)
}

// upstreamFailureReason is the reason a failed upstream sign-in's event records.
func upstreamFailureReason(err error) string {
	switch {
	case errors.Is(err, errUnverified):
		return "email_unverified"
	case errors.Is(err, errForeignDomain):
		return "foreign_domain"
	case errors.Is(err, errInactive):
		return "inactive"
	}
	return "upstream_error"
}

// upstreamCallback is GET /oidc/callback: a verified upstream login
// completes its auth request (and starts a browser session) like a password
// login does, in the browser that began it only (UpstreamCookiePrefix).
func (p *Provider) upstreamCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, a, err := p.finishUpstream(ctx, r.URL.Query(), p.upstreamCookieValue(r))
	m := requestLocale(r, req)
	if err != nil {
		if req != nil && (errors.Is(err, errUnverified) || errors.Is(err, errForeignDomain) || errors.Is(err, errInactive) || errors.Is(err, errUpstream)) {
			p.auditSignInFailed(ctx, r, req, a.Subject, "", FactorUpstream, upstreamFailureReason(err))
		}
		p.loginError(w, m, err)
		return
	}
	next, err := p.authenticated(ctx, w, r, req, a, true)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
