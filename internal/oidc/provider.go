package oidc

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/netguard"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// The provider's paths: the seed's, plus the RFC 7662/7009 and RP-initiated
// logout endpoints it does not name. The JWKS is served by internal/keys at
// JWKSPath; the provider only advertises it.
const (
	DiscoveryPath     = "/.well-known/openid-configuration"
	AuthorizationPath = "/oauth2/v2/authorization"
	CallbackPath      = AuthorizationPath + "/callback"
	TokenPath         = "/oauth2/v2/token"
	UserinfoPath      = "/oauth2/v2/userinfo"
	IntrospectionPath = "/oauth2/v2/introspect"
	RevocationPath    = "/oauth2/v2/revoke"
	EndSessionPath    = "/oauth2/v2/logout"
	LoggedOutPath     = "/oauth2/v2/logout/done"
	LoginPath         = "/oauth2/v2/login"
	JWKSPath          = "/oauth2/v2/jwks"
	// OnboardPath is the seed's onboarding form (GET shows it, POST creates
	// the organization); ConsentPath the consent page; LogoutConfirmPath
	// asks before a logout that came without an id_token_hint.
	OnboardPath       = "/oauth2/v2/onboard"
	ConsentPath       = "/oauth2/v2/consent"
	LogoutConfirmPath = "/oauth2/v2/logout/confirm"
	// LogoutContinuePath is where a logout at an organization's client
	// lands: it names the post-logout destination and waits for a click
	// (see logoutContinue).
	LogoutContinuePath = "/oauth2/v2/logout/continue"
	// MFAPath is the second factor's code prompt (GET shows it, POST
	// checks the code); MFAEnrolPath the forced TOTP enrolment;
	// MFARecoveryCodesPath the page after it that shows the recovery codes.
	MFAPath              = "/oauth2/v2/mfa"
	MFAEnrolPath         = "/oauth2/v2/mfa/enrol"
	MFARecoveryCodesPath = "/oauth2/v2/mfa/recoverycodes"
	// SignupPath is the seed's signup link (GET /api/v1/signup?token=...);
	// SignupDonePath is where it lands without a configured UI.
	SignupPath     = "/api/v1/signup"
	SignupDonePath = "/oauth2/v2/signup/done"
)

// RefreshTokenPrefix starts every refresh token, so that a leaked one is
// recognisable.
const RefreshTokenPrefix = "ghrt_"

// activeState is the user state that may log in (as in internal/authz).
const activeState = "active"

// Config is what the provider needs.
type Config struct {
	// Issuer is the public base URL, e.g. https://id.example.com.
	Issuer   string
	Store    *store.Store
	Clients  *client.Registry
	Keys     *keys.Manager
	Password *connector.Password
	// Accounts runs local accounts: the pages of password links and of
	// the setup link (nil refuses every link).
	Accounts *account.Service
	// MFA runs second factors (issue 14); nil: password logins need none.
	MFA *mfa.Service
	// Tenancy opens the client secrets of upstream providers; nil offers
	// the local password only.
	Tenancy *tenancy.Service
	// ConnectorOptions are passed to connector.New for upstream logins.
	ConnectorOptions []connector.Option
	// UpstreamTimeout bounds each step of an upstream login (discovery and
	// redirect, code exchange and ID token check); DefaultUpstreamTimeout
	// when zero. A slow or silent upstream gets the user an error page,
	// not a hanging browser.
	UpstreamTimeout time.Duration
	// TokenLifetime caps every signed token's lifetime; the keys manager's
	// TokenLifetime when zero (it keeps retired keys published that long).
	TokenLifetime time.Duration
	// AllowInsecure permits an http:// issuer (tests, local trials).
	AllowInsecure bool
	// Onboarding decides who may create an organization after logging in
	// for the first time (see Onboarding); "" is OnboardingOff.
	Onboarding Onboarding
	// BrowserSessionLifetime is how long a login is reused for single
	// sign-on; DefaultBrowserSessionLifetime when zero.
	BrowserSessionLifetime time.Duration
	// UIURL is where a completed signup link sends the browser; without
	// one, Gatehouse's own page says the account is active.
	UIURL string
	// ClientCAs are the CAs of tls_client_auth client certificates. Set it
	// when the server requests client certificates (serve
	// --tls-client-ca-file): it turns RFC 8705 client authentication on.
	ClientCAs *x509.CertPool
	// BackchannelLogoutClient POSTs logout tokens to the clients'
	// back-channel logout URIs (see backchannel.go); nil is a client that
	// follows no redirects.
	BackchannelLogoutClient *http.Client
	// BackchannelLogoutTimeout bounds each logout token POST;
	// DefaultBackchannelLogoutTimeout when zero.
	BackchannelLogoutTimeout time.Duration
	// AllowPrivateTenantEndpoints lets the requests to URLs an organization
	// chose (its clients' back-channel logout URIs, its identity providers)
	// reach loopback and private addresses: development and tests only
	// (serve --allow-private-tenant-endpoints). Off, they go to public
	// addresses only (package netguard).
	AllowPrivateTenantEndpoints bool
	Now                         func() time.Time
	// ForgotRate limits "Forgot password?" requests per client address and
	// per account (nil: DefaultForgotRate; the zero Rate: off).
	ForgotRate *ratelimit.Rate
	Rand       io.Reader
	Logger     *slog.Logger
}

// Onboarding says who gets the onboarding form: a user who has just logged
// in for the first time (no user record in any organization, and an email
// domain no organization owns) and who may create an organization of their
// own there, becoming its first member.
type Onboarding string

// The onboarding modes.
const (
	// OnboardingOff: nobody; such users log in with no rights until an
	// administrator adds them to an organization.
	OnboardingOff Onboarding = "off"
	// OnboardingLocal: users of the local password connector, whom an
	// operator created (gatehouse admin users), so they are trusted.
	OnboardingLocal Onboarding = "local"
	// OnboardingAll: anyone who can log in, through an upstream identity
	// provider too (open self-service signup).
	OnboardingAll Onboarding = "all"
)

// ParseOnboarding checks an onboarding mode.
func ParseOnboarding(s string) (Onboarding, error) {
	switch o := Onboarding(s); o {
	case OnboardingOff, OnboardingLocal, OnboardingAll:
		return o, nil
	}
	return "", fmt.Errorf("onboarding %q: want off, local or all", s)
}

// Provider is Gatehouse's OpenID Connect provider.
type Provider struct {
	cfg     Config
	log     *slog.Logger
	tokens  *tokens
	handler http.Handler
	// op is zitadel's provider (its encoder, ID token hint verifier).
	op op.OpenIDProvider
	// cookieName is the login CSRF cookie's, sessionCookie the browser
	// session's, upstreamCookie the upstream browser binding's.
	cookieName     string
	sessionCookie  string
	upstreamCookie string
	// secureCookies: the issuer is https, so the cookies are Secure, Path=/
	// and named with HostCookiePrefix (see cookie).
	secureCookies bool
	// bcl delivers back-channel logout tokens.
	bcl *backchannel
	// tenantHTTP makes the requests of organizations' identity providers
	// (netguard: public addresses only, unless
	// Config.AllowPrivateTenantEndpoints).
	tenantHTTP *http.Client
	// failedAudits bounds the failed sign-ins recorded in the audit log
	// (failedSignInAuditRate, per client address under a ceiling).
	failedAudits *ratelimit.Ceiling
	// activity records users' lastActive on sign-in and token use.
	activity *tenancy.Activity
	// deviceGuesses counts the wrong user codes, per client address and
	// in total (deviceGuessRate, deviceGuessCeiling).
	deviceGuesses *deviceGuessLimits
	// forgotLimits bound "Forgot password?" requests (nil: unlimited).
	forgotLimits *forgotLimits
}

// touch records that a user was active (sign-in, token use), at most once
// a minute per user (tenancy.Activity); a failure is logged, never
// answered: lastActive is a hint, the request is not about it.
func (p *Provider) touch(ctx context.Context, subject string) {
	if err := p.activity.Touch(ctx, subject); err != nil {
		p.log.Warn("could not record a user's activity", "error", err)
	}
}

// New builds the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Store == nil || cfg.Clients == nil || cfg.Keys == nil || cfg.Password == nil {
		return nil, errors.New("oidc: Store, Clients, Keys and Password are required")
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = cfg.Keys.TokenLifetime
	}
	if cfg.TokenLifetime <= 0 {
		return nil, errors.New("oidc: no token lifetime")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Onboarding == "" {
		cfg.Onboarding = OnboardingOff
	}
	if _, err := ParseOnboarding(string(cfg.Onboarding)); err != nil {
		return nil, err
	}
	if cfg.BrowserSessionLifetime <= 0 {
		cfg.BrowserSessionLifetime = DefaultBrowserSessionLifetime
	}
	cfg.Rand = defaultRand(cfg.Rand)
	issuerHash := secret.Hash(cfg.Issuer)[:12]
	secure := strings.HasPrefix(cfg.Issuer, "https://")
	prefix := ""
	if secure {
		prefix = HostCookiePrefix
	}
	p := &Provider{cfg: cfg, log: cfg.Logger, failedAudits: ratelimit.NewCeiling(failedSignInAuditRate, failedSignInAuditCeiling, failedSignInAuditKeys, cfg.Now), forgotLimits: newForgotLimits(cfg.ForgotRate, cfg.Now), cookieName: prefix + CSRFCookiePrefix + issuerHash, sessionCookie: prefix + SessionCookiePrefix + issuerHash,
		upstreamCookie: prefix + UpstreamCookiePrefix + issuerHash, secureCookies: secure,
		bcl:           newBackchannel(cfg.BackchannelLogoutClient, cfg.BackchannelLogoutTimeout, cfg.AllowPrivateTenantEndpoints),
		tenantHTTP:    &http.Client{Timeout: tenantUpstreamTimeout, Transport: netguard.Transport(tenantUpstreamTimeout, cfg.AllowPrivateTenantEndpoints)},
		deviceGuesses: newDeviceGuessLimits(cfg.Now)}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.tokens = &tokens{issuer: cfg.Issuer, keys: cfg.Keys, store: cfg.Store, now: cfg.Now, rand: cfg.Rand, verified: newVerifiedCache()}
	p.activity = &tenancy.Activity{Store: cfg.Store, Now: cfg.Now}

	algs := make([]string, len(keys.Algorithms))
	for i, a := range keys.Algorithms {
		algs[i] = string(a)
	}
	opts := []op.Option{op.WithCrypto(p.tokens),
		// ID token hints: only the algorithms the provider signs with (zitadel
		// defaults to RS256, ES256 and PS256), each only with its own keys.
		op.WithIDTokenHintKeySet(publishedKeySet{p}), op.WithAccessTokenKeySet(publishedKeySet{p}),
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(algs...))}
	if cfg.AllowInsecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(&op.Config{
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		DefaultLogoutRedirectURI: LoggedOutPath,
		SupportedUILocales:       UILocales,
	}, &storage{p: p}, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc provider: %w", err)
	}
	p.op = provider
	endpoints := op.Endpoints{
		Authorization: op.NewEndpoint(AuthorizationPath),
		Token:         op.NewEndpoint(TokenPath),
		Introspection: op.NewEndpoint(IntrospectionPath),
		Userinfo:      op.NewEndpoint(UserinfoPath),
		Revocation:    op.NewEndpoint(RevocationPath),
		EndSession:    op.NewEndpoint(EndSessionPath),
		JwksURI:       op.NewEndpoint(JWKSPath),
		// zitadel routes it and authenticates the client as at the token
		// endpoint; server.DeviceAuthorization answers (device.go).
		DeviceAuthorization: op.NewEndpoint(DeviceAuthorizationPath),
	}
	srv := &server{LegacyServer: op.NewLegacyServer(provider, endpoints), p: p}
	opHandler := op.RegisterLegacyServer(srv, op.AuthorizeCallbackHandler(provider))

	mux := http.NewServeMux()
	mux.Handle("/", opHandler)
	mux.Handle(AuthorizationPath, p.authorizeErrors(p.expandPushed(opHandler)))
	mux.HandleFunc("POST "+PARPath, srv.pushAuthorization)
	mux.Handle(CallbackPath, p.authorizeCallback(opHandler))
	mux.Handle(UserinfoPath, p.bearerErrors(opHandler))
	mux.Handle("POST "+IntrospectionPath, srv.introspectByCertificate(opHandler))
	mux.HandleFunc("GET "+LoginPath, p.loginPage)
	mux.HandleFunc("POST "+LoginPath, p.loginSubmit)
	mux.HandleFunc("GET "+DevicePath, p.devicePage)
	mux.HandleFunc("POST "+DevicePath, p.deviceSubmit)
	mux.HandleFunc("GET "+DeviceConfirmPath, p.deviceConfirmPage)
	mux.HandleFunc("POST "+DeviceConfirmPath, p.deviceConfirmSubmit)
	mux.HandleFunc("GET "+ConsentPath, p.consentPage)
	mux.HandleFunc("POST "+ConsentPath, p.consentSubmit)
	mux.HandleFunc("GET "+OnboardPath, p.onboardPage)
	mux.HandleFunc("POST "+OnboardPath, p.onboardSubmit)
	mux.HandleFunc("GET "+MFAPath, p.mfaPage)
	mux.HandleFunc("POST "+MFAPath, p.mfaSubmit)
	mux.HandleFunc("GET "+MFAEnrolPath, p.enrolPage)
	mux.HandleFunc("POST "+MFAEnrolPath, p.enrolSubmit)
	mux.HandleFunc("GET "+MFARecoveryCodesPath, p.recoveryCodesPage)
	mux.HandleFunc("POST "+MFARecoveryCodesPath, p.recoveryCodesSubmit)
	mux.HandleFunc("GET "+LogoutConfirmPath, p.logoutConfirm)
	mux.HandleFunc("GET "+LoggedOutPath, p.loggedOut)
	mux.HandleFunc("GET "+LogoutContinuePath, p.logoutContinue)
	mux.HandleFunc("GET "+UpstreamCallbackPath, p.upstreamCallback)
	mux.HandleFunc("GET "+SignupPath, p.signup)
	mux.HandleFunc("GET "+SignupDonePath, p.signupDone)
	mux.HandleFunc("GET "+account.PasswordPath, p.passwordPage)
	mux.HandleFunc("POST "+account.PasswordPath, p.passwordSubmit)
	mux.HandleFunc("GET "+account.SetupPath, p.setupPage)
	mux.HandleFunc("POST "+account.SetupPath, p.setupSubmit)
	mux.HandleFunc("GET "+ForgotPath, p.forgotPage)
	mux.HandleFunc("POST "+ForgotPath, p.forgotSubmit)
	// A token request reads its client through several zitadel callbacks:
	// once from the database is enough.
	p.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(client.WithRequestCache(r.Context())))
	})
	return p, nil
}

// Handler serves every provider path (see the constants) except JWKSPath.
func (p *Provider) Handler() http.Handler { return p.handler }

// Authenticator verifies this provider's access tokens for /api/v1.
func (p *Provider) Authenticator() authn.Authenticator { return Authenticator{t: p.tokens, p: p} }

// mayLogIn refuses subjects who exist only as pending or suspended users: an
// identity with no user record at all may log in (it has no rights yet), and
// one active record is enough.
func (p *Provider) mayLogIn(ctx context.Context, subject string) error {
	states, err := p.cfg.Store.Read().UserStatesOfSubject(ctx, subject)
	if err != nil {
		return err
	}
	for _, s := range states {
		if s.State == activeState {
			return nil
		}
	}
	if len(states) > 0 {
		return errInactive
	}
	return nil
}

var errInactive = errors.New("the account is not active in any organization")

// mayLogInLocal is mayLogIn for a local password login: an account an
// organization owns may log in only while its user there is active (it
// reaches that organization only, so activity elsewhere does not count), and
// only while its address is in that organization's verified email domain:
// an organization vouches for no other address (issue 12), and a domain
// that stopped being verified, or moved, vouches no more.
func (p *Provider) mayLogInLocal(ctx context.Context, ident connector.Identity) error {
	if ident.Organization == "" {
		return p.mayLogIn(ctx, ident.Subject)
	}
	if err := p.checkDomain(ctx, ident.Organization, ident.Subject); err != nil {
		return err
	}
	u, err := p.cfg.Store.Read().GetUserBySubject(ctx, ident.Organization, ident.Subject)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.State != activeState {
		return errInactive
	}
	return err
}

// server is the op.Server: zitadel's LegacyServer with the endpoints that
// need Gatehouse's rules overridden.
type server struct {
	*op.LegacyServer
	p *Provider
	// discovery is the encoded discovery document of the algorithms it
	// names: the document changes only with the published keys' algorithms.
	discovery atomic.Pointer[encodedDiscovery]
}

// discovery is the provider metadata: zitadel's fields plus those it does
// not know (prompt values, RFC 8705).
type discovery struct {
	*oidc.DiscoveryConfiguration
	PromptValuesSupported []string `json:"prompt_values_supported"`
	// Request objects are refused (checkRequestObject); zitadel omits a
	// false request_parameter_supported, this says it.
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
	// RFC 8705 §3.3.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens"`
	// RFC 9126 §5: the PAR endpoint; requiring pushed requests is a
	// per-client setting, so the server-wide flag is false.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests"`
}

type encodedDiscovery struct {
	algs string
	body json.RawMessage
}

// Discovery lists exactly what is supported. The document is encoded once
// per set of published algorithms (encoding it was a tenth of a discovery
// request's CPU): nothing else in it changes while the process runs.
func (s *server) Discovery(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	algs, err := (&storage{p: s.p}).SignatureAlgorithms(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	key := strings.Join(names, " ")
	if d := s.discovery.Load(); d != nil && d.algs == key {
		return op.NewResponse(d.body), nil
	}
	body, err := json.Marshal(s.discoveryDocument(names))
	if err != nil {
		return nil, fmt.Errorf("encode discovery: %w", err)
	}
	s.discovery.Store(&encodedDiscovery{algs: key, body: body})
	return op.NewResponse(json.RawMessage(body)), nil
}

// discoveryDocument is the discovery document for the published algorithms
// names.
func (s *server) discoveryDocument(names []string) *discovery {
	iss := s.p.cfg.Issuer
	tokenAuth := []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	introspectionAuth := []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	if s.p.mtlsEnabled() {
		tokenAuth = append(tokenAuth, client.AuthTLSClientAuth, client.AuthSelfSignedTLSClientAuth)
		introspectionAuth = append(introspectionAuth, client.AuthTLSClientAuth, client.AuthSelfSignedTLSClientAuth)
	}
	return &discovery{
		DiscoveryConfiguration: &oidc.DiscoveryConfiguration{
			Issuer:                                    iss,
			AuthorizationEndpoint:                     iss + AuthorizationPath,
			TokenEndpoint:                             iss + TokenPath,
			IntrospectionEndpoint:                     iss + IntrospectionPath,
			UserinfoEndpoint:                          iss + UserinfoPath,
			RevocationEndpoint:                        iss + RevocationPath,
			EndSessionEndpoint:                        iss + EndSessionPath,
			JwksURI:                                   iss + JWKSPath,
			ScopesSupported:                           []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
			ResponseTypesSupported:                    []string{string(oidc.ResponseTypeCode)},
			ResponseModesSupported:                    responseModes,
			GrantTypesSupported:                       []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeTokenExchange, oidc.GrantTypeDeviceCode},
			DeviceAuthorizationEndpoint:               iss + DeviceAuthorizationPath,
			ACRValuesSupported:                        s.p.supportedACRs(),
			SubjectTypesSupported:                     []string{"public"},
			IDTokenSigningAlgValuesSupported:          names,
			TokenEndpointAuthMethodsSupported:         tokenAuth,
			RevocationEndpointAuthMethodsSupported:    tokenAuth,
			IntrospectionEndpointAuthMethodsSupported: introspectionAuth,
			DisplayValuesSupported:                    displayValues,
			ClaimTypesSupported:                       []string{"normal"},
			ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "c_hash",
				"azp", "email", "email_verified", "preferred_username", "sid"},
			ClaimsParameterSupported:      true,
			CodeChallengeMethodsSupported: []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
			UILocalesSupported:            UILocales,
			// OpenID Connect Back-Channel Logout 1.0: see backchannel.go.
			BackChannelLogoutSupported:        true,
			BackChannelLogoutSessionSupported: true,
		},
		PromptValuesSupported:                 []string{oidc.PromptNone, oidc.PromptLogin, oidc.PromptConsent, oidc.PromptSelectAccount},
		TLSClientCertificateBoundAccessTokens: s.p.mtlsEnabled(),
		PushedAuthorizationRequestEndpoint:    iss + PARPath,
	}
}

// VerifyAuthRequest adds Gatehouse's redirect URI rule to zitadel's client
// lookup, before anything can redirect: the redirect_uri must be one the
// client registered, exactly, the port of a 127.0.0.1 or [::1] URI aside
// (RFC 8252 §7.3; client.ValidRedirectURI). zitadel's own check is looser
// for native (public) clients: it accepts any 127.0.0.0/8 host and a
// fragment (found by FuzzAuthorizationRequest).
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	cr, err := s.LegacyServer.VerifyAuthRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	if c, ok := cr.Client.(*opClient); ok && r.Data.RedirectURI != "" && !client.ValidRedirectURI(c.c, r.Data.RedirectURI) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is not registered for this client")
	}
	return cr, nil
}

// CodeExchange redeems an authorization code, checking (in this order) that
// the code was issued to this client, for this redirect_uri, and, whenever
// its request carried a PKCE challenge, that the verifier matches. zitadel's
// own version skips PKCE for a confidential client that sends no verifier,
// which would let a stolen code of a PKCE-protected request be redeemed by
// simply leaving the verifier out.
//
// A refusal of the code keeps the description AuthRequestByCode gave it
// ("authorization code expired: ...", "already used"): zitadel's helper
// replaces every one with "invalid code".
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	authReq, err := s.Provider().Storage().AuthRequestByCode(ctx, r.Data.Code)
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return nil, oe
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code").WithParent(err)
	}
	if err := checkCodeRedemption(authReq, r.Client.GetID(), r.Data.RedirectURI, r.Data.CodeVerifier); err != nil {
		return nil, err
	}
	resp, err := op.CreateTokenResponse(withIDTokenAlgorithm(ctx, r.Client), authReq, r.Client, s.Provider(), true, r.Data.Code, "")
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// RefreshToken is zitadel's, except that its refusals keep the description
// TokenRequestByRefreshToken gave them: zitadel wraps every one in a bare
// invalid_grant (RFC 6749 §5.2 has error_description for saying why).
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	request, err := s.Provider().Storage().TokenRequestByRefreshToken(ctx, r.Data.RefreshToken)
	var oe *oidc.Error
	if err != nil && !errors.As(err, &oe) {
		// What zitadel answers, the outage handling included.
		return nil, oidc.ErrInvalidGrant().WithParent(err)
	}
	if err != nil {
		return nil, err
	}
	if r.Client.GetID() != request.GetClientID() {
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was issued to another client")
	}
	if err := op.ValidateRefreshTokenScopes(r.Data.Scopes, request); err != nil {
		if errors.As(err, &oe) && oe.Description == "" {
			return nil, oe.WithDescription("the scope asks for more than the refresh token was granted")
		}
		return nil, err
	}
	resp, err := op.CreateTokenResponse(withIDTokenAlgorithm(ctx, r.Client), request, r.Client, s.Provider(), true, "", r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// checkCodeRedemption binds a code to its client, redirect_uri and PKCE
// challenge.
func checkCodeRedemption(authReq op.AuthRequest, clientID, redirectURI, verifier string) error {
	if clientID != authReq.GetClientID() {
		return oidc.ErrInvalidGrant().WithDescription("the code was issued to another client")
	}
	if redirectURI != authReq.GetRedirectURI() {
		return oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
	}
	challenge := authReq.GetCodeChallenge()
	if challenge == nil {
		if verifier != "" {
			return oidc.ErrInvalidGrant().WithDescription("code_verifier without a code_challenge")
		}
		return nil
	}
	if verifier == "" {
		return oidc.ErrInvalidGrant().WithDescription("code_verifier required")
	}
	if err := op.AuthorizeCodeChallenge(verifier, challenge); err != nil {
		return oidc.ErrInvalidGrant().WithDescription("invalid code_verifier")
	}
	return nil
}

// usedAuthMethod tells how the request carried client credentials.
func usedAuthMethod(header http.Header, form map[string][]string) string {
	if _, _, ok := (&http.Request{Header: header}).BasicAuth(); ok {
		return client.AuthClientSecretBasic
	}
	if v, ok := form["client_secret"]; ok && len(v) > 0 {
		return client.AuthClientSecretPost
	}
	return client.AuthNone
}

// VerifyClient insists that a client authenticates with its registered
// token_endpoint_auth_method: its TLS certificate (RFC 8705) and nothing
// else, or its secret carried as registered (zitadel checks the secret).
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	if r.Data.ClientAssertionType != "" || r.Data.ClientAssertion != "" {
		return nil, oidc.ErrInvalidClient().WithDescription("client assertions are not supported")
	}
	c, err := s.p.cfg.Clients.Get(ctx, r.Data.ClientID)
	if err == nil && client.UsesCertificate(c) {
		if usedAuthMethod(r.Header, r.Form) != client.AuthNone {
			return nil, clientAuthError()
		}
		if err := s.p.authenticateCertificate(ctx, c); err != nil {
			s.p.log.Info("client certificate refused", "client_id", c.ID, "error", err)
			return nil, clientAuthError()
		}
		if oidc.GrantType(r.Form.Get("grant_type")) == oidc.GrantTypeClientCredentials && !client.AllowsGrant(c, client.GrantClientCredentials) {
			return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use client_credentials")
		}
		return &opClient{c: c, p: s.p}, nil
	}
	if err == nil {
		if used := usedAuthMethod(r.Header, r.Form); used != c.TokenEndpointAuthMethod {
			return nil, clientAuthError()
		}
	}
	cl, err := s.LegacyServer.VerifyClient(ctx, r)
	var oe *oidc.Error
	var se op.StatusError
	if err != nil && !errors.As(err, &se) && errors.As(err, &oe) && oe.ErrorType == oidc.InvalidClient {
		// RFC 6749 §5.2: invalid_client is a 401. zitadel drops the
		// description of an unknown client_id: the same words as a wrong
		// secret, which tell nobody whether the client exists.
		if oe.Description == "" {
			oe = oe.WithDescription("client authentication failed")
		}
		return nil, op.NewStatusError(oe, http.StatusUnauthorized)
	}
	return cl, err
}

// UserInfo answers for a valid, unrevoked user access token, presented with
// its certificate if it is bound to one.
//
// The seed's userinfo serves every access token it issued, a service
// account's included: a service account token (ghsa_, checked by the same
// authenticator as /api/v1, so rotation and expiry apply at once) and an
// access token exchanged for one answer with the account's claims
// (serviceAccountUserinfo). Client credentials tokens and role sessions
// carry no principal with claims and stay invalid_token.
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	invalid := op.NewStatusError(errInvalidToken(), http.StatusUnauthorized)
	if strings.HasPrefix(r.Data.AccessToken, authn.ServiceAccountTokenPrefix) {
		pr, err := authn.ServiceAccounts{Store: s.p.cfg.Store, Now: s.p.cfg.Now}.Authenticate(ctx, r.Data.AccessToken)
		if errors.Is(err, authn.ErrInvalid) {
			return nil, invalid
		}
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		return op.NewResponse(serviceAccountUserinfo(pr.ID, strings.TrimPrefix(pr.Subject, "serviceaccount:"), pr.OrganizationID)), nil
	}
	c, err := s.p.tokens.verify(ctx, r.Data.AccessToken)
	if err == nil {
		err = checkBinding(ctx, c)
	}
	if err != nil {
		return nil, invalid
	}
	switch c.Kind {
	case kindServiceAccount:
		return op.NewResponse(serviceAccountUserinfo(c.Subject, c.Name, c.Organization)), nil
	case kindUser:
	default:
		return nil, invalid
	}
	s.p.touch(ctx, c.Subject)
	var org string
	if c.IdP != nil {
		org = c.IdP.Org
	}
	verified, err := s.p.emailVouched(ctx, org, c.Subject)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	info := new(oidc.UserInfo)
	setUserinfo(info, c.Subject, c.Scopes(), verified)
	if slices.Contains(c.Scopes(), oidc.ScopeProfile) {
		if err := s.p.profileClaims(ctx, info, c.Subject); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	return op.NewResponse(info), nil
}

// profileClaims adds to info the profile claims the upstream identity
// provider gave at the subject's last login through one (OIDC Core §5.4,
// the profile scope): name, given and family name, picture, locale, and
// updated_at. A subject that only ever logged in with a password has none
// beyond preferred_username.
func (p *Provider) profileClaims(ctx context.Context, info *oidc.UserInfo, subject string) error {
	prof, err := p.cfg.Store.Read().GetUserProfile(ctx, subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	info.Name, info.GivenName, info.FamilyName, info.Picture = prof.Name, prof.GivenName, prof.FamilyName, prof.Picture
	if prof.Locale != "" {
		info.Locale = oidc.NewLocale(language.Make(prof.Locale))
	}
	info.UpdatedAt = oidc.FromTime(prof.UpdatedAt)
	return nil
}

// serviceAccountUserinfo is what userinfo says of a service account: its
// ID as sub (the sub of the tokens exchanged for it), its name, the
// "serviceaccount:<name>" subject the audit log and the API's principal
// use, and its organization. A service account has no scopes: these are
// all its claims, never a user's (no email).
func serviceAccountUserinfo(id, name, org string) *oidc.UserInfo {
	info := &oidc.UserInfo{Subject: id}
	info.Name = name
	info.PreferredUsername = "serviceaccount:" + name
	info.AppendClaims("gh_kind", kindServiceAccount)
	info.AppendClaims("gh_org", org)
	return info
}

// Introspect (RFC 7662) answers confidential clients only, authenticated by
// secret or by certificate, and tells a token's contents only to a client
// entitled to them (mayIntrospect): to any other the token is inactive,
// exactly as an unknown one. A certificate-bound token's cnf is in the
// answer, for the resource server to compare with the certificate of whoever
// presented the token to it (RFC 8705 §3.2).
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	var id, sec string
	if r.Data.ClientCredentials != nil {
		id, sec = r.Data.ClientID, r.Data.ClientSecret
	}
	c, err := s.p.authenticateClient(ctx, id, sec)
	if err != nil || c.Type != client.Confidential {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized)
	}
	resp := new(oidc.IntrospectionResponse)
	if r.Data.IntrospectionRequest == nil {
		return op.NewResponse(resp), nil
	}
	claims, err := s.p.tokens.verify(ctx, r.Data.Token)
	if err != nil || !mayIntrospect(s.p.cfg.Issuer, c.ID, claims) {
		return op.NewResponse(resp), nil
	}
	resp.Active = true
	resp.Scope = claims.Scopes()
	resp.ClientID = claims.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(time.Unix(claims.ExpiresAt, 0))
	resp.IssuedAt = oidc.FromTime(time.Unix(claims.IssuedAt, 0))
	if claims.AuthTime != 0 {
		resp.AuthTime = oidc.FromTime(time.Unix(claims.AuthTime, 0))
	}
	resp.Subject = claims.Subject
	resp.Audience = claims.Audience
	resp.Issuer = claims.Issuer
	resp.JWTID = claims.JTI
	if claims.Confirmation != nil {
		resp.Claims = map[string]any{"cnf": claims.Confirmation}
	}
	return op.NewResponse(resp), nil
}

// Revocation (RFC 7009): a refresh token ends its session, an access token
// is revoked until it expires. Tokens of another client are refused; unknown
// tokens are accepted silently, as the RFC says.
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	st := &storage{p: s.p}
	err := s.p.revoke(ctx, st, r.Client.GetID(), r.Data.Token)
	if errors.Is(err, errOtherClient) {
		return nil, op.RevocationError(oidc.ErrUnauthorizedClient().WithDescription("the token was issued to another client"))
	}
	if err != nil {
		return nil, op.RevocationError(oidc.ErrServerError().WithParent(err))
	}
	return op.NewResponse(nil), nil
}

var errOtherClient = errors.New("token issued to another client")

// mayIntrospect says whether the client clientID may learn that the token
// of claims is active, and what it says: the client it was issued to, or a
// resource server it is meant for (a client named in its audience, see
// exchangeAudience; the issuer itself is no client). RFC 7662 §4 leaves
// this to the server; answering every client would let any confidential
// client learn who holds a token it got hold of, and that it works.
func mayIntrospect(issuer, clientID string, claims *AccessClaims) bool {
	if clientID == "" {
		return false
	}
	return claims.ClientID == clientID || (clientID != issuer && slices.Contains(claims.Audience, clientID))
}

// revoke is Revocation's logic.
func (p *Provider) revoke(ctx context.Context, st *storage, clientID, token string) error {
	if strings.HasPrefix(token, RefreshTokenPrefix) {
		sess, err := p.cfg.Store.Read().SessionByRefreshHash(ctx, secret.Hash(token))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sess.ClientID != clientID {
			return errOtherClient
		}
		return st.revokeSession(ctx, sess.ID)
	}
	c, err := p.tokens.verifySignature(ctx, token)
	if err != nil {
		return nil
	}
	if c.ClientID != clientID {
		return errOtherClient
	}
	now := p.cfg.Now()
	return p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		return q.RevokeJTI(ctx, c.JTI, time.Unix(c.ExpiresAt, 0), now)
	})
}

// HostCookiePrefix starts the name of every cookie of a provider whose
// issuer is https. A browser accepts a cookie so named only from that very
// host, Secure, with Path=/ and no Domain: another site of the same
// registrable domain, or a plain-http page of the host, cannot set or
// overwrite it (cookie tossing), which would otherwise let it fix a
// victim's login CSRF token, upstream binding or browser session. An http
// issuer (http://127.0.0.1 in development and the tests) cannot have such
// cookies, which need Secure: its cookies keep the plain names and their
// narrower paths.
const HostCookiePrefix = "__Host-"

// cookie is a Set-Cookie of the provider: HttpOnly, with sameSite, living
// maxAge seconds (-1 deletes it). With an https issuer it is Secure and at
// Path=/, as its __Host- name requires; otherwise at path.
func (p *Provider) cookie(name, value, path string, maxAge int, sameSite http.SameSite) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: sameSite, MaxAge: maxAge}
	if p.secureCookies {
		c.Secure, c.Path = true, "/"
	}
	return c
}
