// Package oidc is Gatehouse's OpenID Connect provider: the authorization
// code flow with PKCE, refresh tokens, client_credentials, token exchange,
// userinfo, introspection (RFC 7662), revocation (RFC 7009), RP-initiated
// logout and discovery, at the seed's paths (see the Path constants); the
// login page (local password, system providers, routing by email domain),
// browser single sign-on sessions, the consent and onboarding pages, the
// signup link, RFC 8705 mutual-TLS client authentication with
// certificate-bound tokens, the device authorization grant (RFC 8628,
// device.go) and pushed authorization requests (RFC 9126, par.go).
//
// # Built on zitadel/oidc, with our rules where it matters
//
// The protocol engine is github.com/zitadel/oidc/v3's op package, used
// through op.Server: server embeds *op.LegacyServer and overrides Discovery
// (it lists exactly what Gatehouse supports), Authorize (browser sessions
// and the authorization parameters, authorize.go), VerifyClient (a client
// must use its registered token_endpoint_auth_method, a TLS certificate
// included), CodeExchange (a code whose request carried a PKCE challenge
// always needs the verifier: zitadel skips the check when a confidential
// client leaves it out), RefreshToken (its refusals keep the description
// zitadel's drops), TokenExchange (RFC 8693 for service account tokens
// and our access tokens only, see exchange.go), UserInfo, Introspect and
// Revocation (they verify our JWTs themselves, with the injected clock, the
// revocation list and the certificate binding; userinfo's refusals are
// RFC 6750 Bearer challenges, bearer.go), and EndSession (it ends the
// browser session too, and tells the clients of the ended sessions through
// OpenID Connect Back-Channel Logout, see backchannel.go). Storage (storage.go) is ours: auth requests, codes,
// sessions, revocations, browser sessions and consent live in the database
// (migrations 00006-00008), keys come from internal/keys (one JWKS route,
// served there), clients from internal/client.
//
// # Access tokens
//
// Access tokens are RFC 9068 JWTs (typ at+jwt) carrying iss, sub, aud (the
// issuer: /api/v1 is the resource), client_id, scope, iat, exp, jti,
// auth_time, acr, gh_kind (user or client), org_ids (the organizations in
// which the user is active) and, for a client that authenticates with a TLS
// certificate, cnf.x5t#S256. zitadel's own JWT path hard-codes typ JWT, so
// the storage mints the token itself in CreateAccessToken and hands it over
// through op.Crypto: zitadel asks Crypto.Encrypt("jti:subject") for the
// "opaque" token right after, and gets ours. Encrypt otherwise makes
// authorization codes (32 random bytes, stored hashed). Lifetimes are the
// client's, capped at the keys manager's TokenLifetime (which keeps retired
// keys published that long). Verification (tokens.verify) allows ES256,
// ES512 and RS256 only (no none, no HMAC), requires typ at+jwt, a kid in the
// published JWKS, our issuer and audience, an unexpired exp and a live
// lineage (lineage.go): the jti and those of the tokens it was exchanged from
// (gh_par) not revoked, the session it was issued in (gh_fam, the refresh
// token family) still existing, the service account token it was exchanged
// from (gh_sat) still current, all in one database read per use, so a
// derived token dies with its source at once on every replica.
// Authenticator plugs that into the /api/v1 authn chain; only user tokens
// (and exchanged service account tokens, role sessions) are accepted there.
//
// Introspection tells a token's contents only to the client it was issued
// to or to a confidential client in its audience (a resource server it was
// exchanged for); to any other client it is inactive, as an unknown token.
//
// # Codes, sessions and refresh tokens
//
// An authorization code lives 60 s, is bound to the client, redirect_uri and
// PKCE challenge of its request, and is stored as a SHA-256 hash. Redeeming
// it is one conditional UPDATE (code_used = TRUE WHERE code_used = FALSE), so
// it works once even across replicas; a second presentation revokes the
// access token and the session the first one produced.
//
// A login creates the one session of (subject, client), replacing (and
// revoking) the previous one in a single upsert. The session is the refresh
// token family: it holds the hash of the current refresh token. Rotation
// (every use) is a conditional UPDATE on that hash; presenting a rotated
// token again, or losing a rotation race, revokes the session and its latest
// access token, and every other access token issued in it, since they name
// the session (gh_fam) and die with it. Logout (end_session with an
// id_token_hint) and revoking the refresh token do the same.
//
// # Browser sessions and the authorization parameters
//
// A successful login (password or upstream) also starts a browser session
// (session.go): a cookie of 32 random bytes whose SHA-256 the server keeps
// with the subject, auth_time, amr and acr, for BrowserSessionLifetime. The
// authorization endpoint reuses it when the request allows (reusable):
// prompt=login and max_age force a new login (max_age=0 always), an
// id_token_hint (one of our ID tokens, for this client, expired or not) or
// an email login_hint must name the session's subject, acr_values must
// include the session's acr, and the user must still be allowed to log in.
// Then the code goes back without a page and the ID token carries the
// original auth_time; prompt=none answers login_required otherwise, and
// consent_required or interaction_required when a page would be needed.
// prompt=select_account shows the login page with "Continue as" the
// session's account. ui_locales (then Accept-Language) picks English or
// German for the pages. acr values: urn:gatehouse:acr:password,
// urn:gatehouse:acr:federated and urn:gatehouse:acr:mfa (a password and a
// second factor, mfa.go: asking for it steps a password session up); an
// essential acr (claims parameter) the login does not meet gets
// unmet_authentication_requirements.
//
// # Login, consent and onboarding pages
//
// The pages (pages.go) are server-rendered, need no JavaScript and load
// nothing external. Their Content-Security-Policy allows forms to post to
// this origin and to the origin of the request's redirect_uri only: Chromium
// applies form-action to the redirects after a form's POST, and those end at
// the relying party. A login that goes to an upstream provider answers with
// a page that moves on by itself (meta refresh and a link), because the
// upstream's origin is known only after the post and must not need to be in
// the policy. The login CSRF token is random per page view, set in a cookie
// scoped to /oauth2/v2/, put in the form, and stored hashed on the auth
// request: a post must carry the same token in both and match the request;
// the consent and onboarding pages and the authorization callback (which
// issues the code) require the cookie too, so a login cannot be completed
// in another browser.
//
// The local password connector checks the password; an email whose user
// records are all pending or suspended is refused, one with no record at all
// may log in (it has no rights until an organization adds it). The login
// page also offers the system OAuth2 providers (upstream.go): the choice
// redirects to the upstream through internal/connector, and /oidc/callback
// takes the recorded state once, verifies the upstream's answer and
// completes the auth request with the upstream's verified email as the
// subject. Every login records who vouched for it (store.IdP: the
// provider's organization, ID, issuer and upstream subject), kept by the
// browser session and the refresh family and carried by every access token
// as gh_idp: a user vouched for by an organization's own provider acts in
// that organization only (internal/authz, internal/access).
//
// After authenticating, a user may have to onboard or consent
// (interaction.go) before the code is issued. Onboarding (Config.Onboarding:
// off, local or all) is offered to someone with no user record anywhere and
// an email domain no organization has verified: the seed's form creates an adhoc
// organization, a group with the chosen assignable roles and the user in it,
// in one transaction (tenancy.Onboard). Consent is asked for prompt=consent
// and, for clients that require it, until the user has allowed every
// requested scope; the answer is remembered per (subject, client) until the
// client is deleted. Deny sends access_denied to the client.
//
// # Negative tests
//
// Each attack the provider must resist has a test that fails if the defence
// goes:
//
//	attack                                             test (internal/oidc unless named)
//	code replay (and revocation of what it gave)       TestCodeReplayRevokes, TestConcurrentRedemption
//	code redeemed by another client                    TestTokenEndpointRefusals/code_redeemed_by_another_client
//	redirect_uri mismatch at the token endpoint        TestTokenEndpointRefusals/redirect_uri_mismatch
//	unregistered redirect_uri at authorization         TestOpenRedirect
//	missing or plain PKCE for a public client          TestPublicClientNeedsPKCE
//	PKCE verifier left out or wrong                    TestTokenEndpointRefusals/PKCE_*, TestTokenEndpointRefusals/wrong_PKCE_verifier
//	bad state (login form, callback, pages, upstream)  TestBadLoginState, TestUpstreamCallbackRefusals
//	reused refresh token (the family is revoked)       TestRefreshReuseRevokesFamily, TestConcurrentRedemption
//	earlier access tokens of a reused family           TestRefreshReuseRevokesEarlierAccessTokens
//	introspection by another client                    TestIntrospectionIsForTheTokensClient, TestIntrospectionByAudience
//	exchanged token outliving its subject token        TestExchangedTokensDieWithTheirSubject, TestExchangedServiceAccountTokens
//	unbounded or widening exchange chains              TestExchangeChainBounded, TestTokenExchange
//	expired code, refresh token, auth request          TestExpiry
//	expired access token                               TestAPIWithAccessToken, TestForgedTokensEverywhere
//	alg none, HS256 keyed with the public key          TestForgedTokens, TestForgedTokensEverywhere
//	token signed by a removed key                      TestRemovedKey, TestForgedTokens/unknown_(removed)_key
//	open redirect: post_logout_redirect_uri            TestOpenRedirect, TestLogout
//	errors never sent to an unverified redirect_uri    TestErrorsNeverRedirectToUnverifiedURIs
//	login CSRF: missing or wrong token                 TestLoginCSRF
//	login completed in another browser                 TestLoginCSRF, TestInteractionCSRF
//	logout CSRF (no id_token_hint)                     TestLogout
//	id_token_hint of another client, forged, foreign   TestIDTokenHint
//	suspended or pending users                         TestSuspendedUserCannotLogIn, TestPromptNone, TestSignupLink
//	one tenant's IdP answering for another's domain    TestDomainRouting, TestDomainTakeoverReplay
//	routing by a domain claimed but not proven         TestDomainTakeoverReplay, tenancy.TestDomainClaims
//	certificate-bound token without its certificate    TestCertificateBoundTokens
//	wrong, expired, foreign or absent client cert      TestMTLSClientAuthentication, client.TestAuthenticateCertificate
//	client secret alongside a certificate              TestMTLSClientAuthentication
//	duplicate onboarding, half-created organization    tenancy.TestOnboard, tenancy.TestOnboardConcurrently, TestOnboarding
//	signup link used twice, expired, replaced          TestSignupLink
//	an org's IdP vouching for another org's admin      TestVouchedByOrganizationProvider, systemtest.TestForeignProviderTakeover
//	a confined login ending the person's other logins  TestConfinedLoginSessions, server.TestUserSessionsAcrossOrganizations
//	a revoked session's refresh or access token        server.TestAccountSessions, TestSessionPerDevice
//	one device's login ending another's (per device)   TestSessionPerDevice
//
// # Sessions per device and over the API
//
// A client with sessionPerDevice keeps one session (refresh family) per
// browser session: oidc_sessions is unique on (subject, client, device),
// device being the sid of the login's browser session for such a client
// and "" otherwise (deviceOf). personsessions.go lists and ends a person's
// browser and application sessions and consents for the /api/v1 sessions
// operations, within a SessionScope.
package oidc
