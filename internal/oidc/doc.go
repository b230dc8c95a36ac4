// Package oidc is Gatehouse's OpenID Connect provider: the authorization
// code flow with PKCE, refresh tokens, client_credentials, token exchange,
// userinfo,
// introspection (RFC 7662), revocation (RFC 7009), RP-initiated logout and
// discovery, at the seed's paths (see the Path constants), plus the local
// password login page.
//
// # Built on zitadel/oidc, with our rules where it matters
//
// The protocol engine is github.com/zitadel/oidc/v3's op package, used
// through op.Server: server embeds *op.LegacyServer and overrides Discovery
// (it lists exactly what Gatehouse supports), VerifyClient (a client must use
// its registered token_endpoint_auth_method), CodeExchange (a code whose
// request carried a PKCE challenge always needs the verifier: zitadel skips
// the check when a confidential client leaves it out), TokenExchange (RFC 8693
// for service account tokens and our access tokens only, see exchange.go),
// UserInfo, Introspect and
// Revocation (they verify our JWTs themselves, with the injected clock and
// the revocation list). Storage (storage.go) is ours: auth requests, codes,
// sessions and revocations live in the database (migration 00006), keys come
// from internal/keys (one JWKS route, served there), clients from
// internal/client.
//
// # Access tokens
//
// Access tokens are RFC 9068 JWTs (typ at+jwt) carrying iss, sub, aud (the
// issuer: /api/v1 is the resource), client_id, scope, iat, exp, jti,
// auth_time, gh_kind (user or client) and org_ids (the organizations in which
// the user is active). zitadel's own JWT path hard-codes typ JWT, so the
// storage mints the token itself in CreateAccessToken and hands it over
// through op.Crypto: zitadel asks Crypto.Encrypt("jti:subject") for the
// "opaque" token right after, and gets ours. Encrypt otherwise makes
// authorization codes (32 random bytes, stored hashed). Lifetimes are the
// client's, capped at the keys manager's TokenLifetime (which keeps retired
// keys published that long). Verification (tokens.verify) allows ES256,
// ES512 and RS256 only (no none, no HMAC), requires typ at+jwt, a kid in the
// published JWKS, our issuer and audience, an unexpired exp and a jti that is
// not revoked. Authenticator plugs that into the /api/v1 authn chain; only
// user tokens are accepted there.
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
// access token. Logout (end_session with an id_token_hint) and revoking the
// refresh token do the same.
//
// # Login
//
// The login page (login.go) is server-rendered, needs no JavaScript and loads
// nothing external. Its CSRF token is random per page view, set in a cookie
// scoped to /oauth2/v2/, put in the form, and stored hashed on the auth
// request: a post must carry the same token in both and match the request,
// and the authorization callback (which issues the code) requires the cookie
// too, so a finished login cannot be completed in another browser.
// The local password connector checks the password; an email whose user
// records are all pending or suspended is refused, one with no record at all
// may log in (it has no rights until an organization adds it). The page also
// offers the system OAuth2 providers (upstream.go): the choice redirects to
// the upstream through internal/connector, and /oidc/callback takes the
// recorded state once, verifies the upstream's answer and completes the auth
// request with the upstream's verified email as the subject.
package oidc
