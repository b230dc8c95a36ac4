package connector_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/store"
)

const callback = "https://id.gatehouse.example/oidc/callback"

func ecSigner() signingKey  { return signingKey{alg: jose.ES256, kid: "ec-1", key: ecKey()} }
func rsaSigner() signingKey { return signingKey{alg: jose.RS256, kid: "rsa-1", key: rsaKey()} }

func provider(typ, issuer, clientID string) *store.OAuth2Provider {
	return &store.OAuth2Provider{Meta: store.Meta{ID: "prov-" + typ, Name: typ}, Type: typ, Issuer: issuer, ClientID: clientID}
}

func newConnector(t testing.TB, p *store.OAuth2Provider, secret string, opts ...connector.Option) connector.RedirectConnector {
	t.Helper()
	c, err := connector.New(context.Background(), p, secret, callback, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", p.Type, err)
	}
	return c
}

func newOIDC(t testing.TB, u *idp) connector.RedirectConnector {
	return newConnector(t, provider("oidc", u.srv.URL, u.clientID), u.clientSecret)
}

// login is one browser round trip to the upstream and back.
type login struct {
	authURL  *url.URL
	verifier string
	code     string
}

// startLogin asks c for the authorization URL, follows it as a browser
// would (the stand-in logs the user in at once) and returns the code from
// the redirect back to the callback.
func startLogin(t testing.TB, c connector.RedirectConnector, state, nonce string) login {
	t.Helper()
	raw, verifier, err := c.AuthCodeURL(state, nonce)
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	au, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("authorization URL %q: %v", raw, err)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("upstream authorization endpoint: status %d", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), callback+"?") {
		t.Fatalf("upstream redirected to %q, want the callback", resp.Header.Get("Location"))
	}
	if got := back.Query().Get("state"); got != state {
		t.Fatalf("state came back as %q, want %q", got, state)
	}
	return login{authURL: au, verifier: verifier, code: back.Query().Get("code")}
}

// checkAuthURL checks the authorization request a connector makes.
func checkAuthURL(t testing.TB, l login, endpoint, clientID, scope, state, nonce string) {
	t.Helper()
	u := *l.authURL
	u.RawQuery = ""
	if u.String() != endpoint {
		t.Errorf("authorization endpoint %s, want %s", u.String(), endpoint)
	}
	q := l.authURL.Query()
	want := map[string]string{
		"response_type": "code", "client_id": clientID, "redirect_uri": callback, "scope": scope,
		"state": state, "nonce": nonce, "code_challenge_method": "S256", "code_challenge": s256(l.verifier),
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("authorization URL %s = %q, want %q", k, got, v)
		}
	}
	if len(l.verifier) < 43 {
		t.Errorf("PKCE verifier %q is shorter than RFC 7636's 43 characters", l.verifier)
	}
}

// wantErr checks err wraps sentinel and mentions every one of parts.
func wantErr(t testing.TB, err, sentinel error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", sentinel)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not wrap %q", err, sentinel)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

var jo = connector.Identity{ConnectorID: "prov-oidc", Subject: "user-1234", Email: "jo@example.com", EmailVerified: true,
	Name: "Jo Smith", GivenName: "Jo", FamilyName: "Smith", Picture: "https://example.com/jo.png", Locale: "en-GB"}

// TestOIDCRoundTrip: a whole login against an ES256 upstream (go-oidc's
// default verifier would accept RS256 only): the authorization request, PKCE
// checked by the upstream, the ID token verified, the identity returned, and
// the code refused the second time.
func TestOIDCRoundTrip(t *testing.T) {
	t.Parallel()
	u := newIDP(t, ecSigner(), false)
	c := newOIDC(t, u)
	l := startLogin(t, c, "state-1", "nonce-1")
	checkAuthURL(t, l, u.srv.URL+"/authorize", u.clientID, "openid email profile", "state-1", "nonce-1")

	id, err := c.Exchange(t.Context(), l.code, l.verifier, "nonce-1")
	if err != nil {
		t.Fatalf("Exchange: %v (upstream: %s)", err, u.lastTokenError())
	}
	want := jo
	want.Issuer = u.srv.URL // the verified ID token's iss
	if id != want {
		t.Errorf("identity %+v, want %+v", id, want)
	}

	_, err = c.Exchange(t.Context(), l.code, l.verifier, "nonce-1")
	wantErr(t, err, connector.ErrUpstream, "invalid_grant")

	// Every login has its own verifier.
	if l2 := startLogin(t, c, "state-2", "nonce-2"); l2.verifier == l.verifier {
		t.Error("two logins got the same PKCE verifier")
	}
}

// TestOIDCWrongVerifier: the upstream checks the code_verifier against the
// challenge of the code's authorization request.
func TestOIDCWrongVerifier(t *testing.T) {
	t.Parallel()
	u := newIDP(t, ecSigner(), false)
	c := newOIDC(t, u)
	a := startLogin(t, c, "state-a", "nonce-a")
	b := startLogin(t, c, "state-b", "nonce-b")
	_, err := c.Exchange(t.Context(), a.code, b.verifier, "nonce-a")
	wantErr(t, err, connector.ErrUpstream, "invalid_grant", "PKCE verification failed")
	if got := u.lastTokenError(); got != "invalid_grant: PKCE verification failed" {
		t.Errorf("upstream refused with %q", got)
	}
}

// TestOIDCRejects: every way an upstream answer can be wrong is refused with
// a clear error.
func TestOIDCRejects(t *testing.T) {
	t.Parallel()
	rsaPublicDER, err := x509.MarshalPKIXPublicKey(rsaKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		key      signingKey
		setup    func(u *idp)
		secret   string // the connector's client secret, if not the right one
		nonce    string // passed to Exchange, if not the login's
		sentinel error
		parts    []string
	}{
		{name: "wrong nonce", nonce: "another-login", sentinel: connector.ErrInvalidIDToken, parts: []string{"nonce"}},
		{name: "no nonce in token", setup: func(u *idp) { u.tamper = func(c map[string]any) { delete(c, "nonce") } },
			sentinel: connector.ErrInvalidIDToken, parts: []string{"nonce"}},
		{name: "wrong audience", setup: func(u *idp) { u.tamper = func(c map[string]any) { c["aud"] = "another-client" } },
			sentinel: connector.ErrInvalidIDToken, parts: []string{"audience"}},
		{name: "extra audience without azp", setup: func(u *idp) {
			u.tamper = func(c map[string]any) { c["aud"] = []string{u.clientID, "another-client"} }
		}, sentinel: connector.ErrInvalidIDToken, parts: []string{"azp"}},
		{name: "azp of another client", setup: func(u *idp) { u.tamper = func(c map[string]any) { c["azp"] = "another-client" } },
			sentinel: connector.ErrInvalidIDToken, parts: []string{"azp"}},
		{name: "expired", setup: func(u *idp) {
			u.tamper = func(c map[string]any) {
				c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			}
		}, sentinel: connector.ErrInvalidIDToken, parts: []string{"expired"}},
		{name: "no exp", setup: func(u *idp) { u.tamper = func(c map[string]any) { delete(c, "exp") } },
			sentinel: connector.ErrInvalidIDToken, parts: []string{"expired"}},
		{name: "wrong issuer", setup: func(u *idp) { u.tamper = func(c map[string]any) { c["iss"] = "https://evil.example" } },
			sentinel: connector.ErrInvalidIDToken, parts: []string{"different provider"}},
		{name: "no sub", setup: func(u *idp) { u.tamper = func(c map[string]any) { delete(c, "sub") } },
			sentinel: connector.ErrInvalidIDToken, parts: []string{"sub"}},
		{name: "at_hash of another access token", setup: func(u *idp) {
			u.tamper = func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }
		}, sentinel: connector.ErrInvalidIDToken, parts: []string{"access token hash"}},
		{name: "signed by an unknown key", setup: func(u *idp) {
			other := signingKey{alg: jose.ES256, kid: "not-published", key: ecOtherKey()}
			u.mint = func(c map[string]any) string { return other.sign(u.t, c) }
		}, sentinel: connector.ErrInvalidIDToken, parts: []string{"signature"}},
		{name: "signed by another key under the published kid", setup: func(u *idp) {
			other := signingKey{alg: jose.ES256, kid: u.key.kid, key: ecOtherKey()}
			u.mint = func(c map[string]any) string { return other.sign(u.t, c) }
		}, sentinel: connector.ErrInvalidIDToken, parts: []string{"signature"}},
		{name: "alg none", setup: func(u *idp) { u.mint = unsignedJWT },
			sentinel: connector.ErrInvalidIDToken, parts: []string{"malformed jwt"}},
		{name: "HS256 keyed with the public key", key: rsaSigner(), setup: func(u *idp) {
			u.mint = func(c map[string]any) string { return hmacJWT(u.t, rsaPublicDER, u.key.kid, c) }
		}, sentinel: connector.ErrInvalidIDToken, parts: []string{"malformed jwt"}},
		{name: "HS256 keyed with the client secret", setup: func(u *idp) {
			u.mint = func(c map[string]any) string { return hmacJWT(u.t, []byte(u.clientSecret), "", c) }
		}, sentinel: connector.ErrInvalidIDToken, parts: []string{"malformed jwt"}},
		{name: "algorithm the discovery document does not list", setup: func(u *idp) {
			// The RSA key is published, but discovery says ES256 only.
			rsa := rsaSigner()
			u.jwks = []jose.JSONWebKey{u.key.public(), rsa.public()}
			u.mint = func(c map[string]any) string { return rsa.sign(u.t, c) }
		}, sentinel: connector.ErrInvalidIDToken, parts: []string{"malformed jwt"}},
		{name: "no id_token", setup: func(u *idp) { u.noIDToken = true },
			sentinel: connector.ErrInvalidIDToken, parts: []string{"no id_token"}},
		{name: "token endpoint 503", setup: func(u *idp) { u.tokenStatus = http.StatusServiceUnavailable },
			sentinel: connector.ErrUpstream, parts: []string{"token exchange", "503"}},
		{name: "token endpoint 500", setup: func(u *idp) { u.tokenStatus = http.StatusInternalServerError },
			sentinel: connector.ErrUpstream, parts: []string{"token exchange", "500"}},
		{name: "wrong client secret", secret: "not-the-secret",
			sentinel: connector.ErrUpstream, parts: []string{"invalid_client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := tc.key
			if key.key == nil {
				key = ecSigner()
			}
			u := newIDP(t, key, false)
			secret := u.clientSecret
			if tc.secret != "" {
				secret = tc.secret
			}
			c := newConnector(t, provider("oidc", u.srv.URL, u.clientID), secret)
			l := startLogin(t, c, "state", "nonce-of-this-login")
			if tc.setup != nil {
				u.set(tc.setup)
			}
			nonce := "nonce-of-this-login"
			if tc.nonce != "" {
				nonce = tc.nonce
			}
			id, err := c.Exchange(t.Context(), l.code, l.verifier, nonce)
			if err == nil {
				t.Fatalf("accepted: %+v", id)
			}
			wantErr(t, err, tc.sentinel, tc.parts...)
			if id != (connector.Identity{}) {
				t.Errorf("an identity came with the error: %+v", id)
			}
		})
	}
}

// TestOIDCExpiredByClock: expiry is checked against the injected clock.
func TestOIDCExpiredByClock(t *testing.T) {
	t.Parallel()
	u := newIDP(t, ecSigner(), false)
	c := newConnector(t, provider("oidc", u.srv.URL, u.clientID), u.clientSecret,
		connector.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))
	l := startLogin(t, c, "s", "n")
	_, err := c.Exchange(t.Context(), l.code, l.verifier, "n")
	wantErr(t, err, connector.ErrInvalidIDToken, "expired")
	var expired *oidc.TokenExpiredError
	if !errors.As(err, &expired) {
		t.Errorf("error %q does not carry go-oidc's TokenExpiredError", err)
	}
}

// TestOIDCUserinfo: an ID token without email is completed from userinfo,
// which must be about the same subject.
func TestOIDCUserinfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		sub      string
		verified any
		want     bool // EmailVerified
		fail     bool
	}{
		{name: "verified", verified: true, want: true},
		{name: "verified as a string", verified: "true", want: true},
		{name: "unverified", verified: false, want: false},
		{name: "another subject", sub: "user-9999", verified: true, fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newIDP(t, rsaSigner(), false)
			u.user = map[string]any{"sub": "user-1234"}
			u.userinfo = map[string]any{"email": "jo@example.com", "email_verified": tc.verified, "name": "Jo Smith"}
			u.userinfoSub = tc.sub
			c := newOIDC(t, u)
			l := startLogin(t, c, "s", "n")
			id, err := c.Exchange(t.Context(), l.code, l.verifier, "n")
			if tc.fail {
				wantErr(t, err, connector.ErrUpstream, "userinfo", "user-9999")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := connector.Identity{ConnectorID: "prov-oidc", Subject: "user-1234", Issuer: u.srv.URL, Email: "jo@example.com", EmailVerified: tc.want, Name: "Jo Smith"}
			if id != want {
				t.Errorf("identity %+v, want %+v", id, want)
			}
		})
	}
}

// TestNewRefuses: configuration and discovery problems fail at New.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	u := newIDP(t, ecSigner(), false)
	hmacOnly := newIDP(t, ecSigner(), false)
	hmacOnly.algs = []string{"HS256", "none"}
	lying := newIDP(t, ecSigner(), false)
	lying.discoveryIssuer = "https://someone-else.example"
	for _, tc := range []struct {
		name     string
		p        *store.OAuth2Provider
		callback string
		opts     []connector.Option
		sentinel error
		parts    []string
	}{
		{name: "unknown type", p: provider("saml", u.srv.URL, "c"), parts: []string{`unknown provider type "saml"`}},
		{name: "no client ID", p: provider("oidc", u.srv.URL, ""), parts: []string{"no client ID"}},
		{name: "no issuer", p: provider("oidc", "", "c"), parts: []string{"no issuer"}},
		{name: "relative callback", p: provider("oidc", u.srv.URL, "c"), callback: "/oidc/callback", parts: []string{"callback URL"}},
		{name: "plain HTTP issuer", p: provider("oidc", "http://idp.example.com", "c"), parts: []string{"must use https"}},
		{name: "issuer that is not a URL", p: provider("oidc", "idp.example.com", "c"), parts: []string{"not an absolute"}},
		{name: "discovery names another issuer", p: provider("oidc", lying.srv.URL, "c"), sentinel: connector.ErrUpstream,
			parts: []string{"discovery", "someone-else.example"}},
		{name: "no asymmetric algorithm", p: provider("oidc", hmacOnly.srv.URL, "c"), sentinel: connector.ErrUpstream,
			parts: []string{"no asymmetric algorithm"}},
		{name: "no upstream", p: provider("oidc", "http://127.0.0.1:1", "c"), sentinel: connector.ErrUpstream, parts: []string{"discovery"}},
		{name: "google with a foreign issuer", p: provider("google", "https://accounts.evil.example", "c"), parts: []string{"Google's issuer"}},
		{name: "microsoft with a bad tenant", p: provider("microsoft", "contoso/../x", "c"), parts: []string{"not a tenant"}},
		{name: "github on plain HTTP", p: provider("github", "http://github.internal.example", "c"), parts: []string{"must use https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cb := callback
			if tc.callback != "" {
				cb = tc.callback
			}
			c, err := connector.New(t.Context(), tc.p, "secret", cb, tc.opts...)
			if err == nil {
				t.Fatalf("New accepted it: %T", c)
			}
			wantErr(t, err, tc.sentinel, tc.parts...)
		})
	}
}

// TestAuthCodeURLArguments: state and nonce are required (GitHub needs no
// nonce); Exchange needs code, verifier and nonce.
func TestAuthCodeURLArguments(t *testing.T) {
	t.Parallel()
	u := newIDP(t, ecSigner(), false)
	c := newOIDC(t, u)
	if _, _, err := c.AuthCodeURL("", "n"); err == nil {
		t.Error("AuthCodeURL accepted an empty state")
	}
	if _, _, err := c.AuthCodeURL("s", ""); err == nil {
		t.Error("AuthCodeURL accepted an empty nonce")
	}
	for _, args := range [][3]string{{"", "v", "n"}, {"c", "", "n"}, {"c", "v", ""}} {
		if _, err := c.Exchange(t.Context(), args[0], args[1], args[2]); err == nil {
			t.Errorf("Exchange%q accepted", args)
		}
	}
}

// TestGoogle: issuer https://accounts.google.com (here the stand-in's),
// RS256, and a verified email is required.
func TestGoogle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		verified any
		email    any
		ok       bool
	}{
		{name: "verified", verified: true, email: "jo@example.com", ok: true},
		{name: "unverified", verified: false, email: "jo@example.com"},
		{name: "no email_verified claim", email: "jo@example.com"},
		{name: "no email", verified: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newIDP(t, rsaSigner(), false)
			u.user = map[string]any{"sub": "1234567890", "name": "Jo Smith"}
			if tc.email != nil {
				u.user["email"] = tc.email
			}
			if tc.verified != nil {
				u.user["email_verified"] = tc.verified
			}
			c := newConnector(t, provider("google", "", u.clientID), u.clientSecret, connector.WithGoogleIssuer(u.srv.URL))
			l := startLogin(t, c, "s", "n")
			checkAuthURL(t, l, u.srv.URL+"/authorize", u.clientID, "openid email profile", "s", "n")
			id, err := c.Exchange(t.Context(), l.code, l.verifier, "n")
			if !tc.ok {
				wantErr(t, err, connector.ErrEmailNotVerified)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := connector.Identity{ConnectorID: "prov-google", Subject: "1234567890", Issuer: u.srv.URL, Email: "jo@example.com", EmailVerified: true, Name: "Jo Smith"}
			if id != want {
				t.Errorf("identity %+v, want %+v", id, want)
			}
		})
	}
}
