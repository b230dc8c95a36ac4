package connector

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// GoogleIssuer is Google's OpenID Connect issuer.
const GoogleIssuer = "https://accounts.google.com"

// oidcConnector is an OpenID Connect upstream: the generic "oidc" type, and
// Google and Microsoft with their own checks.
type oidcConnector struct {
	base
	oauth    oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	// userinfo: ask the userinfo endpoint for the profile when the ID token
	// carries no email.
	userinfo bool
	// requireVerifiedEmail: refuse logins without a verified email.
	requireVerifiedEmail bool
	// check runs extra checks on a verified token (Microsoft's tenant).
	check func(idt *oidc.IDToken, c *idClaims) error
	// emailVerified decides EmailVerified from the claims.
	emailVerified func(c *idClaims) bool
}

// idClaims are the ID token and userinfo claims a connector reads.
type idClaims struct {
	Subject         string   `json:"sub"`
	Email           string   `json:"email"`
	EmailVerified   flexBool `json:"email_verified"`
	Name            string   `json:"name"`
	GivenName       string   `json:"given_name"`
	FamilyName      string   `json:"family_name"`
	Picture         string   `json:"picture"`
	Locale          string   `json:"locale"`
	AuthorizedParty string   `json:"azp"`
	// Microsoft Entra ID.
	TenantID string `json:"tid"`
	// xms_edov: the email's domain is verified by the tenant that owns it.
	EmailDomainOwnerVerified flexBool `json:"xms_edov"`
}

// flexBool reads a JSON boolean, or the strings "true"/"false" that some
// providers send; anything else is false.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	default:
		*b = false
	}
	return nil
}

// signingAlgs are the ID token algorithms Gatehouse accepts from an upstream:
// asymmetric only. HMAC would let anyone who knows the client secret (or,
// with key confusion, the public key) mint tokens, and "none" is no signature.
var signingAlgs = map[string]bool{
	oidc.RS256: true, oidc.RS384: true, oidc.RS512: true,
	oidc.ES256: true, oidc.ES384: true, oidc.ES512: true,
	oidc.PS256: true, oidc.PS384: true, oidc.PS512: true,
	oidc.EdDSA: true,
}

// discovery is the part of the discovery document go-oidc does not expose.
type discovery struct {
	Issuer           string   `json:"issuer"`
	SigningAlgs      []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	AuthorizationURL string   `json:"authorization_endpoint"`
	TokenURL         string   `json:"token_endpoint"`
	JWKSURL          string   `json:"jwks_uri"`
	UserinfoURL      string   `json:"userinfo_endpoint"`
}

// discover fetches issuer's discovery document (go-oidc checks that it names
// issuer, unless ctx carries oidc.InsecureIssuerURLContext) and checks the
// endpoints it lists.
func (b *base) discover(ctx context.Context, issuer string) (*oidc.Provider, *discovery, error) {
	if err := b.checkURL("issuer", issuer); err != nil {
		return nil, nil, err
	}
	prov, err := oidc.NewProvider(b.withClient(ctx), issuer)
	if err != nil {
		return nil, nil, b.upstreamErr("discovery", err)
	}
	var d discovery
	if err := prov.Claims(&d); err != nil {
		return nil, nil, b.upstreamErr("discovery", err)
	}
	for _, e := range []struct{ what, url string }{
		{"authorization_endpoint", d.AuthorizationURL}, {"token_endpoint", d.TokenURL}, {"jwks_uri", d.JWKSURL},
	} {
		if e.url == "" {
			return nil, nil, b.upstreamErr("discovery", fmt.Errorf("no %s", e.what))
		}
		if err := b.checkURL(e.what, e.url); err != nil {
			return nil, nil, err
		}
	}
	if d.UserinfoURL != "" {
		if err := b.checkURL("userinfo_endpoint", d.UserinfoURL); err != nil {
			return nil, nil, err
		}
	}
	return prov, &d, nil
}

// algorithms are the asymmetric ID token algorithms the discovery document
// lists. The verifier is given exactly these: go-oidc's own default is RS256
// only, which would refuse an ES256 upstream.
func (b *base) algorithms(d *discovery) ([]string, error) {
	var algs []string
	for _, a := range d.SigningAlgs {
		if signingAlgs[a] && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return nil, b.upstreamErr("discovery", fmt.Errorf("id_token_signing_alg_values_supported %q lists no asymmetric algorithm", d.SigningAlgs))
	}
	return algs, nil
}

// newOIDCConnector assembles the parts common to every OpenID Connect type.
func (b *base) newOIDCConnector(prov *oidc.Provider, d *discovery, verifierConfig *oidc.Config) (*oidcConnector, error) {
	algs, err := b.algorithms(d)
	if err != nil {
		return nil, err
	}
	verifierConfig.ClientID = b.clientID
	verifierConfig.SupportedSigningAlgs = algs
	verifierConfig.Now = b.o.now
	endpoint := prov.Endpoint()
	endpoint.AuthStyle = authStyle(d.TokenAuthMethods, b.clientSecret)
	scopes := b.o.scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	return &oidcConnector{
		base:     *b,
		provider: prov,
		verifier: prov.Verifier(verifierConfig),
		oauth: oauth2.Config{ClientID: b.clientID, ClientSecret: b.clientSecret, Endpoint: endpoint,
			RedirectURL: b.callback, Scopes: scopes},
		emailVerified: func(c *idClaims) bool { return bool(c.EmailVerified) },
	}, nil
}

// authStyle picks how the client authenticates at the token endpoint, from
// what the upstream advertises, instead of x/oauth2's trial and error (which
// would send the code twice after a failure). client_secret_basic is the
// default the specification gives; a public client sends its ID in the body.
func authStyle(methods []string, secret string) oauth2.AuthStyle {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	default:
		return oauth2.AuthStyleInHeader
	}
}

func newOIDC(ctx context.Context, b base, issuer string) (RedirectConnector, error) {
	if issuer == "" {
		return nil, fmt.Errorf("%s: no issuer", b.name())
	}
	prov, d, err := b.discover(ctx, strings.TrimSuffix(issuer, "/"))
	if err != nil {
		return nil, err
	}
	c, err := b.newOIDCConnector(prov, d, &oidc.Config{})
	if err != nil {
		return nil, err
	}
	c.userinfo = true
	return c, nil
}

func newGoogle(ctx context.Context, b base, issuer string) (RedirectConnector, error) {
	want := GoogleIssuer
	if b.o.googleIssuer != "" {
		want = b.o.googleIssuer
	}
	if issuer != "" && strings.TrimSuffix(issuer, "/") != want {
		return nil, fmt.Errorf("%s: issuer %q: Google's issuer is %s (leave it empty)", b.name(), issuer, want)
	}
	prov, d, err := b.discover(ctx, want)
	if err != nil {
		return nil, err
	}
	c, err := b.newOIDCConnector(prov, d, &oidc.Config{})
	if err != nil {
		return nil, err
	}
	c.userinfo = true
	c.requireVerifiedEmail = true
	return c, nil
}

// AuthCodeURL implements RedirectConnector.
func (c *oidcConnector) AuthCodeURL(state, nonce string) (string, string, error) {
	if err := c.checkAuthCodeArgs(state, nonce, true); err != nil {
		return "", "", err
	}
	verifier := oauth2.GenerateVerifier()
	return c.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), verifier, nil
}

// Exchange implements RedirectConnector.
func (c *oidcConnector) Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	if err := c.checkExchangeArgs(code, verifier, nonce, true); err != nil {
		return Identity{}, err
	}
	ctx = c.withClient(ctx)
	tok, err := c.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, c.upstreamErr("token exchange", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, c.tokenErr(errors.New("the token response has no id_token"))
	}
	idt, err := c.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, c.tokenErr(err)
	}
	// go-oidc leaves the nonce to the caller: it binds the token to this
	// login, so a token replayed from another login fails here.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, c.tokenErr(errors.New("nonce does not match the login's"))
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, c.tokenErr(err)
		}
	}
	var claims idClaims
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, c.tokenErr(err)
	}
	if claims.Subject == "" {
		return Identity{}, c.tokenErr(errors.New("no sub claim"))
	}
	// OpenID Connect Core 3.1.3.7: with several audiences azp must be us;
	// when present it must be us anyway.
	if (len(idt.Audience) > 1 || claims.AuthorizedParty != "") && claims.AuthorizedParty != c.clientID {
		return Identity{}, c.tokenErr(fmt.Errorf("azp %q is not this client", claims.AuthorizedParty))
	}
	if c.check != nil {
		if err := c.check(idt, &claims); err != nil {
			return Identity{}, c.tokenErr(err)
		}
	}
	if c.userinfo && claims.Email == "" && c.provider.UserInfoEndpoint() != "" {
		if err := c.fillFromUserinfo(ctx, tok, &claims); err != nil {
			return Identity{}, err
		}
	}
	id := Identity{
		ConnectorID: c.id, Subject: claims.Subject, Issuer: idt.Issuer,
		Email: claims.Email, EmailVerified: claims.Email != "" && c.emailVerified(&claims),
		Name: claims.Name, GivenName: claims.GivenName, FamilyName: claims.FamilyName, Picture: claims.Picture,
		Locale: claims.Locale,
	}
	if c.requireVerifiedEmail && !id.EmailVerified {
		return Identity{}, fmt.Errorf("%s: %w: the upstream does not vouch for email %q", c.name(), ErrEmailNotVerified, id.Email)
	}
	return id, nil
}

// fillFromUserinfo completes claims from the userinfo endpoint, which must
// be about the same subject (OpenID Connect Core 5.3.2).
func (c *oidcConnector) fillFromUserinfo(ctx context.Context, tok *oauth2.Token, claims *idClaims) error {
	ui, err := c.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return c.upstreamErr("userinfo", err)
	}
	var more idClaims
	if err := ui.Claims(&more); err != nil {
		return c.upstreamErr("userinfo", err)
	}
	if more.Subject != claims.Subject {
		return c.upstreamErr("userinfo", fmt.Errorf("userinfo is about subject %q, the ID token about %q", more.Subject, claims.Subject))
	}
	claims.Email, claims.EmailVerified = more.Email, more.EmailVerified
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&claims.Name, more.Name}, {&claims.GivenName, more.GivenName},
		{&claims.FamilyName, more.FamilyName}, {&claims.Picture, more.Picture},
		{&claims.Locale, more.Locale},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return nil
}
