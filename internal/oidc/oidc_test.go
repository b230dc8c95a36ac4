package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

const (
	redirectURI = "http://127.0.0.1:9999/callback"
	logoutURI   = "http://127.0.0.1:9999/bye"
	email       = "jo@acme.example"
	password    = "correct horse battery staple"
)

// rp is an independent relying party (go-oidc + x/oauth2) and a browser
// (an http.Client with a cookie jar that does not follow redirects off
// Gatehouse) logging in through the real login page.
type rp struct {
	t        testing.TB
	env      *testenv.Env
	ctx      context.Context
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	conf     oauth2.Config
	browser  *http.Client
	// wantAMR is the amr the ID tokens must carry (pwd unless set).
	wantAMR string
	// page is the last login page shown.
	page string
	// consents: login allows the consent page when it is shown (the
	// client of an organization, which always asks); otherwise a consent
	// page fails the login.
	consents bool
}

func newEnv(t testing.TB, open func(testing.TB) *store.Store) *testenv.Env {
	t.Helper()
	return newEnvWith(t, open, testenv.Options{})
}

// newEnvWith is newEnv with options; the test user has a local password.
func newEnvWith(t testing.TB, open func(testing.TB) *store.Store, opts testenv.Options) *testenv.Env {
	t.Helper()
	env := testenv.NewEnvWith(t, open(t), opts)
	if err := env.Password.SetPassword(context.Background(), email, password); err != nil {
		t.Fatal(err)
	}
	return env
}

// addUser adds a user with subject to the tenant's organization and group.
func addUser(t testing.TB, env *testenv.Env, ten *testenv.Tenant, subject, state string) {
	t.Helper()
	env.Must(http.StatusCreated, "POST", "/api/v1/organizations/"+ten.OrgID+"/users", env.AdminToken, map[string]any{
		"spec": map[string]any{"subject": subject, "state": state, "groupIDs": []string{ten.GroupID}}})
}

// userID is the ID of the user with subject in the tenant's organization.
func userID(t testing.TB, env *testenv.Env, ten *testenv.Tenant, subject string) string {
	t.Helper()
	var users []map[string]any
	env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+ten.OrgID+"/users", env.AdminToken, nil).JSON(t, &users)
	for _, u := range users {
		if u["spec"].(map[string]any)["subject"] == subject {
			return u["metadata"].(map[string]any)["id"].(string)
		}
	}
	t.Fatalf("no user %s", subject)
	return ""
}

func newJar() (http.CookieJar, error) { return cookiejar.New(nil) }

func mustECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newClient registers a client; spec defaults to a confidential web client
// with the test redirect URIs and offline_access.
func newClient(t testing.TB, env *testenv.Env, edit func(*client.Spec)) (*client.Client, string) {
	t.Helper()
	spec := client.Spec{
		Name: "web", RedirectURIs: []string{redirectURI}, PostLogoutRedirectURIs: []string{logoutURI},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		Scopes:     []string{"openid", "profile", "email", "offline_access"},
	}
	if edit != nil {
		edit(&spec)
	}
	c, sec, err := env.Clients.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	return c, sec
}

func newRP(t testing.TB, env *testenv.Env, c *client.Client, sec string) *rp {
	t.Helper()
	ctx := gooidc.ClientContext(context.Background(), env.Client)
	provider, err := gooidc.NewProvider(ctx, env.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	style := oauth2.AuthStyleInHeader
	if c.TokenEndpointAuthMethod == client.AuthClientSecretPost || c.TokenEndpointAuthMethod == client.AuthNone || client.UsesCertificate(c) {
		style = oauth2.AuthStyleInParams
	}
	ep := provider.Endpoint()
	ep.AuthStyle = style
	jar, _ := cookiejar.New(nil)
	return &rp{
		t: t, env: env, ctx: ctx, provider: provider,
		verifier: provider.Verifier(&gooidc.Config{ClientID: c.ID}),
		conf: oauth2.Config{ClientID: c.ID, ClientSecret: sec, Endpoint: ep, RedirectURL: redirectURI,
			Scopes: []string{gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess}},
		browser: &http.Client{Jar: jar, Transport: env.Client.Transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// get fetches u with the browser, following redirects within Gatehouse;
// it returns the last response (body read) and its body.
func (r *rp) get(u string) (*http.Response, string) {
	r.t.Helper()
	for range 10 {
		resp, err := r.browser.Get(u)
		if err != nil {
			r.t.Fatalf("GET %s: %v", u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || loc == "" {
			return resp, string(body)
		}
		next, err := resp.Request.URL.Parse(loc)
		if err != nil {
			r.t.Fatal(err)
		}
		if !strings.HasPrefix(next.String(), r.env.URL) {
			return resp, string(body)
		}
		u = next.String()
	}
	r.t.Fatal("redirect loop")
	return nil, ""
}

var hidden = regexp.MustCompile(`name="(state|csrf_token)" value="([^"]*)"`)

// form extracts the login form's hidden fields.
func form(t testing.TB, body string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hidden.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], m[2])
	}
	if v.Get("state") == "" || v.Get("csrf_token") == "" {
		t.Fatalf("no login form in %s", body)
	}
	return v
}

// flow is one authorization request's parameters.
type flow struct {
	state, nonce, verifier string
}

// openLogin starts an authorization request in a new browser (no browser
// session, so the login page shows) and returns the login form. The SSO
// tests keep a browser across logins with openLoginHere.
func (r *rp) openLogin(extra ...oauth2.AuthCodeOption) (flow, url.Values) {
	r.t.Helper()
	r.browser.Jar, _ = cookiejar.New(nil)
	return r.openLoginHere(extra...)
}

// openLoginHere is openLogin in the current browser.
func (r *rp) openLoginHere(extra ...oauth2.AuthCodeOption) (flow, url.Values) {
	r.t.Helper()
	f := flow{state: "st-" + rand.Text(), nonce: "n-" + rand.Text(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	resp, body := r.get(r.conf.AuthCodeURL(f.state, opts...))
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("authorization: status %d, body %s", resp.StatusCode, body)
	}
	r.page = body
	return f, form(r.t, body)
}

// submit posts the login form and returns the response (not followed).
func (r *rp) submit(v url.Values) *http.Response {
	r.t.Helper()
	resp, err := r.browser.PostForm(r.env.URL+oidc.LoginPath, v)
	if err != nil {
		r.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// login runs the browser part of the code flow and returns the code.
func (r *rp) login(extra ...oauth2.AuthCodeOption) (flow, string) {
	r.t.Helper()
	f, v := r.openLogin(extra...)
	v.Set("email", email)
	v.Set("password", password)
	resp := r.submit(v)
	if resp.StatusCode != http.StatusSeeOther {
		r.t.Fatalf("login: status %d", resp.StatusCode)
	}
	final, body := r.get(resp.Header.Get("Location"))
	if r.consents {
		final, body = r.allowConsent(final, body)
	}
	loc, err := url.Parse(final.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI) {
		r.t.Fatalf("callback: status %d, Location %q, body %s", final.StatusCode, final.Header.Get("Location"), body)
	}
	if got := loc.Query().Get("state"); got != f.state {
		r.t.Fatalf("state %q, want %q", got, f.state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		r.t.Fatalf("no code in %s", loc)
	}
	return f, code
}

// allowConsent answers Allow when page (with body) is the consent page, and
// returns the callback's answer (the redirect to the relying party); any
// other page is returned as it is.
func (r *rp) allowConsent(page *http.Response, body string) (*http.Response, string) {
	r.t.Helper()
	if page.StatusCode != http.StatusOK || page.Request.URL.Path != oidc.ConsentPath {
		return page, body
	}
	v := form(r.t, body)
	v.Set("decision", "allow")
	resp, body := r.post(oidc.ConsentPath, v)
	if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusSeeOther && !strings.HasPrefix(loc, redirectURI) {
		return r.get(loc) // the callback, which issues the code
	}
	return resp, body
}

// webRP is a relying party of a new confidential web client (newClient's
// defaults), with the client and its secret.
func webRP(t testing.TB, env *testenv.Env) (*rp, *client.Client, string) {
	t.Helper()
	c, sec := newClient(t, env, nil)
	return newRP(t, env, c, sec), c, sec
}

// signIn logs the test user in (a new browser) and redeems the code.
func (r *rp) signIn() *oauth2.Token {
	r.t.Helper()
	f, code := r.login()
	return r.exchange(f, code)
}

// exchange redeems code and verifies the ID token as a relying party must.
func (r *rp) exchange(f flow, code string) *oauth2.Token {
	r.t.Helper()
	tok, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		r.t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		r.t.Fatalf("nonce %q, want %q", idt.Nonce, f.nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		r.t.Fatalf("at_hash: %v", err)
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		AMR           []string `json:"amr"`
		AuthTime      int64    `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		r.t.Fatal(err)
	}
	wantAMR := r.wantAMR
	if wantAMR == "" {
		wantAMR = "pwd"
	}
	if idt.Subject != email || claims.Email != email || !claims.EmailVerified || len(claims.AMR) != 1 || claims.AMR[0] != wantAMR || claims.AuthTime == 0 {
		r.t.Fatalf("ID token sub %q claims %+v", idt.Subject, claims)
	}
	return tok
}

// userinfo calls the userinfo endpoint with an access token.
func (r *rp) userinfo(access string) (*gooidc.UserInfo, error) {
	return r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, TokenType: "Bearer"}))
}

func (r *rp) refresh(rt string) (*oauth2.Token, error) {
	return r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
}

// postToken posts to the token endpoint and returns status and body.
func postToken(t testing.TB, env *testenv.Env, v url.Values, basicID, basicSecret string) (int, map[string]any) {
	t.Helper()
	return postForm(t, env.Client, env.URL+oidc.TokenPath, v, basicID, basicSecret)
}

// postForm posts v to u with hc (and HTTP Basic credentials when basicID is
// set) and returns the status and the JSON answer.
func postForm(t testing.TB, hc *http.Client, u string, v url.Values, basicID, basicSecret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestDiscovery(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	var d map[string]any
	env.Must(http.StatusOK, "GET", "/.well-known/openid-configuration", "", nil).JSON(t, &d)
	want := map[string]any{
		"issuer":                                env.URL,
		"authorization_endpoint":                env.URL + "/oauth2/v2/authorization",
		"token_endpoint":                        env.URL + "/oauth2/v2/token",
		"userinfo_endpoint":                     env.URL + "/oauth2/v2/userinfo",
		"jwks_uri":                              env.URL + "/oauth2/v2/jwks",
		"introspection_endpoint":                env.URL + "/oauth2/v2/introspect",
		"revocation_endpoint":                   env.URL + "/oauth2/v2/revoke",
		"end_session_endpoint":                  env.URL + "/oauth2/v2/logout",
		"response_types_supported":              []any{"code"},
		"grant_types_supported":                 []any{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:device_code"},
		"code_challenge_methods_supported":      []any{"S256"},
		"id_token_signing_alg_values_supported": []any{"ES256", "ES512", "RS256"},
		"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post", "none"},
		"request_parameter_supported":           false,
		"request_uri_parameter_supported":       false,
		"response_modes_supported":              []any{"query"},
		"device_authorization_endpoint":         env.URL + "/oauth2/v2/device_authorization",
		"pushed_authorization_request_endpoint": env.URL + "/oauth2/v2/par",
		"require_pushed_authorization_requests": false,
		"prompt_values_supported":               []any{"none", "login", "consent", "select_account"},
		"acr_values_supported":                  []any{oidc.ACRPassword, oidc.ACRFederated, oidc.ACRMFA},
		"ui_locales_supported":                  []any{"en", "de"},
		"display_values_supported":              []any{"page", "popup", "touch", "wap"},
		"claims_parameter_supported":            true,
		"claims_supported": []any{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "c_hash",
			"azp", "email", "email_verified", "preferred_username", "sid"},
		// OpenID Connect Back-Channel Logout 1.0, with sid.
		"backchannel_logout_supported":         true,
		"backchannel_logout_session_supported": true,
		// Without --tls-client-ca-file no RFC 8705 (see TestMTLSDiscovery).
		"tls_client_certificate_bound_access_tokens": false,
		"mtls_endpoint_aliases":                      nil,
	}
	for k, v := range want {
		if fmt.Sprint(d[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, d[k], v)
		}
	}
	// One JWKS route: the keys manager's, with the key the OP signs with.
	var set jose.JSONWebKeySet
	env.Must(http.StatusOK, "GET", "/oauth2/v2/jwks", "", nil).JSON(t, &set)
	active, err := env.Keys.SigningKey(context.Background())
	if err != nil || len(set.Key(active.ID())) != 1 {
		t.Fatalf("active key %v not in JWKS (%v)", active, err)
	}
}

func TestCodeFlow(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		f, code := r.login()
		tok := r.exchange(f, code)

		ui, err := r.userinfo(tok.AccessToken)
		if err != nil || ui.Subject != email || ui.Email != email || !ui.EmailVerified {
			t.Fatalf("userinfo %+v, %v", ui, err)
		}
		// Userinfo by POST with the token in the form, as the seed allows.
		resp, err := env.Client.PostForm(env.URL+oidc.UserinfoPath, url.Values{"access_token": {tok.AccessToken}})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("userinfo POST: %v %v", resp.StatusCode, err)
		}
		resp.Body.Close()

		// The access token is an RFC 9068 JWT.
		checkAccessToken(t, env, tok.AccessToken, c.ID)

		// Refresh rotates: the new refresh token differs and works, the old one is dead.
		tok2, err := r.refresh(tok.RefreshToken)
		if err != nil || tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh: %v (%+v)", err, tok2)
		}
		if _, err := r.userinfo(tok2.AccessToken); err != nil {
			t.Fatalf("userinfo with refreshed token: %v", err)
		}
		tok3, err := r.refresh(tok2.RefreshToken)
		if err != nil {
			t.Fatalf("second refresh: %v", err)
		}

		// Introspection for the confidential client.
		intro := introspect(t, env, c.ID, sec, tok3.AccessToken)
		if intro["active"] != true || intro["sub"] != email || intro["client_id"] != c.ID {
			t.Fatalf("introspection %v", intro)
		}

		// Logout ends the session: refresh token and access token die.
		raw, _ := tok.Extra("id_token").(string)
		lr, _ := r.get(env.URL + oidc.EndSessionPath + "?" + url.Values{"id_token_hint": {raw}, "client_id": {c.ID},
			"post_logout_redirect_uri": {logoutURI}, "state": {"bye"}}.Encode())
		if lr.StatusCode != http.StatusFound || !strings.HasPrefix(lr.Header.Get("Location"), logoutURI) {
			t.Fatalf("logout: %d %q", lr.StatusCode, lr.Header.Get("Location"))
		}
		if _, err := r.refresh(tok3.RefreshToken); err == nil {
			t.Fatal("refresh after logout worked")
		}
		if _, err := r.userinfo(tok3.AccessToken); err == nil {
			t.Fatal("userinfo after logout worked")
		}
		if got := introspect(t, env, c.ID, sec, tok3.AccessToken); got["active"] != false {
			t.Fatalf("introspection after logout %v", got)
		}
	})
}

func introspect(t testing.TB, env *testenv.Env, id, sec, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", env.URL+oidc.IntrospectionPath, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, sec)
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: status %d", resp.StatusCode)
	}
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func checkAccessToken(t *testing.T, env *testenv.Env, raw, clientID string) {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("access token is not a JWS: %v", err)
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		t.Fatalf("typ %v", typ)
	}
	var c map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti"} {
		if c[k] == nil {
			t.Errorf("access token lacks %s: %v", k, c)
		}
	}
	if c["client_id"] != clientID || c["sub"] != email || c["iss"] != env.URL {
		t.Errorf("access token claims %v", c)
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat > time.Hour.Seconds() {
		t.Errorf("lifetime %v exceeds the keys manager's TokenLifetime", exp-iat)
	}
}

// wantTokenError: err is the token endpoint's refusal, exactly status and
// the OAuth 2.0 error code, with a description (a refusal for another
// reason, or a transport failure, fails the test).
func wantTokenError(t testing.TB, what string, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		t.Errorf("%s: accepted, want %d %s", what, status, code)
	case !errors.As(err, &re) || re.Response == nil:
		t.Errorf("%s: %v, want the token endpoint's %d %s", what, err, status, code)
	case re.Response.StatusCode != status || re.ErrorCode != code || re.ErrorDescription == "":
		t.Errorf("%s: %d %q (%q), want %d %s with a description", what, re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, status, code)
	}
}

// wantUserinfoRefused: userinfo answers token 401 invalid_token.
func wantUserinfoRefused(t testing.TB, env *testenv.Env, what, token string) {
	t.Helper()
	req, _ := http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_token" {
		t.Errorf("%s: userinfo %d %v, want 401 invalid_token", what, resp.StatusCode, body)
	}
}

func TestCodeReplayRevokes(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		f, code := r.login()
		tok := r.exchange(f, code)
		_, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier))
		wantTokenError(t, "replayed code", err, http.StatusBadRequest, "invalid_grant")
		wantUserinfoRefused(t, env, "access token from a replayed code", tok.AccessToken)
		_, err = r.refresh(tok.RefreshToken)
		wantTokenError(t, "refresh token from a replayed code", err, http.StatusBadRequest, "invalid_grant")
	})
}

func TestTokenEndpointRefusals(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, nil)
		other, otherSec := newClient(t, env, func(s *client.Spec) { s.Name = "other" })
		post, postSec := newClient(t, env, func(s *client.Spec) {
			s.Name = "post"
			s.TokenEndpointAuthMethod = client.AuthClientSecretPost
		})
		r := newRP(t, env, c, sec)
		tests := []struct {
			name       string
			form       func(code string, f flow) url.Values
			basic      [2]string
			wantStatus int
			wantError  string
		}{
			{"code redeemed by another client", func(code string, f flow) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {f.verifier}}
			}, [2]string{other.ID, otherSec}, http.StatusBadRequest, "invalid_grant"},
			{"redirect_uri mismatch", func(code string, f flow) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI + "x"}, "code_verifier": {f.verifier}}
			}, [2]string{c.ID, sec}, http.StatusBadRequest, "invalid_grant"},
			{"wrong PKCE verifier", func(code string, f flow) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {oauth2.GenerateVerifier()}}
			}, [2]string{c.ID, sec}, http.StatusBadRequest, "invalid_grant"},
			{"PKCE verifier left out by a confidential client", func(code string, f flow) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
			}, [2]string{c.ID, sec}, http.StatusBadRequest, "invalid_grant"},
			{"wrong client secret", func(code string, f flow) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {f.verifier}}
			}, [2]string{c.ID, sec + "x"}, http.StatusUnauthorized, "invalid_client"},
			{"secret in the body of a client_secret_basic client", func(code string, f flow) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {f.verifier},
					"client_id": {c.ID}, "client_secret": {sec}}
			}, [2]string{}, http.StatusUnauthorized, "invalid_client"},
			{"basic auth for a client_secret_post client", func(code string, f flow) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {f.verifier}}
			}, [2]string{post.ID, postSec}, http.StatusUnauthorized, "invalid_client"},
			{"client_credentials not granted", func(string, flow) url.Values {
				return url.Values{"grant_type": {"client_credentials"}}
			}, [2]string{c.ID, sec}, http.StatusBadRequest, "unauthorized_client"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f, code := r.login()
				status, body := postToken(t, env, tt.form(code, f), tt.basic[0], tt.basic[1])
				if status != tt.wantStatus || body["error"] != tt.wantError || body["access_token"] != nil {
					t.Fatalf("status %d body %v, want %d %s", status, body, tt.wantStatus, tt.wantError)
				}
			})
		}
	})
}

func TestPublicClientNeedsPKCE(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, _ := newClient(t, env, func(s *client.Spec) { s.Name = "spa"; s.Type = client.Public })
	r := newRP(t, env, c, "")
	tests := []struct {
		name  string
		query url.Values
	}{
		{"no code_challenge", url.Values{}},
		{"plain code_challenge", url.Values{"code_challenge": {"abcdefghijabcdefghijabcdefghijabcdefghij123"}, "code_challenge_method": {"plain"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}, "scope": {"openid"}, "state": {"s"}}
			for k, v := range tt.query {
				q[k] = v
			}
			resp, _ := r.get(env.URL + oidc.AuthorizationPath + "?" + q.Encode())
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
				t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	// With S256 it works, and the verifier is then required.
	f, code := r.login()
	status, body := postToken(t, env, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "client_id": {c.ID}}, "", "")
	if status != http.StatusBadRequest || body["error"] != "invalid_request" && body["error"] != "invalid_grant" {
		t.Fatalf("exchange without verifier: %d %v", status, body)
	}
	_ = f
	f, code = r.login()
	r.exchange(f, code)
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		f, code := r.login()
		tok := r.exchange(f, code)
		rotated, err := r.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.refresh(tok.RefreshToken)
		wantTokenError(t, "an old refresh token", err, http.StatusBadRequest, "invalid_grant")
		_, err = r.refresh(rotated.RefreshToken)
		wantTokenError(t, "the family after the reuse", err, http.StatusBadRequest, "invalid_grant")
		wantUserinfoRefused(t, env, "the family's access token after the reuse", rotated.AccessToken)
	})
}

// TestRefreshTokenOfAnotherClient: a refresh token is redeemed only by the
// client it was issued to; another client, authenticated, gets 400
// invalid_grant and no token.
func TestRefreshTokenOfAnotherClient(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, _, _ := webRP(t, env)
		other, otherSec := newClient(t, env, func(s *client.Spec) { s.Name = "other" })
		tok := r.signIn()
		status, body := postToken(t, env, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, other.ID, otherSec)
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["access_token"] != nil || body["error_description"] == nil {
			t.Fatalf("refresh by another client: %d %v, want 400 invalid_grant", status, body)
		}
	})
}

func TestNewLoginReplacesSession(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, nil)
	r := newRP(t, env, c, sec)
	f, code := r.login()
	first := r.exchange(f, code)
	f, code = r.login()
	second := r.exchange(f, code)
	if _, err := r.refresh(first.RefreshToken); err == nil {
		t.Error("the previous session's refresh token still works")
	}
	if _, err := r.refresh(second.RefreshToken); err != nil {
		t.Errorf("the new session's refresh token: %v", err)
	}
}

func TestRevocation(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, nil)
	other, otherSec := newClient(t, env, func(s *client.Spec) { s.Name = "other" })
	r := newRP(t, env, c, sec)
	f, code := r.login()
	tok := r.exchange(f, code)
	revoke := func(id, s, token string) int {
		req, _ := http.NewRequest("POST", env.URL+oidc.RevocationPath, strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, s)
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := revoke(other.ID, otherSec, tok.AccessToken); got == http.StatusOK {
		t.Error("another client revoked the token")
	}
	if _, err := r.userinfo(tok.AccessToken); err != nil {
		t.Fatalf("token died of another client's revocation: %v", err)
	}
	if got := revoke(c.ID, sec, tok.AccessToken); got != http.StatusOK {
		t.Fatalf("revoke access token: %d", got)
	}
	if _, err := r.userinfo(tok.AccessToken); err == nil {
		t.Error("revoked access token still works")
	}
	if got := revoke(c.ID, sec, tok.RefreshToken); got != http.StatusOK {
		t.Fatalf("revoke refresh token: %d", got)
	}
	if _, err := r.refresh(tok.RefreshToken); err == nil {
		t.Error("revoked refresh token still works")
	}
	if got := revoke(c.ID, sec, "ghrt_unknown"); got != http.StatusOK {
		t.Errorf("unknown token: %d, want 200", got)
	}
}

func TestClientCredentials(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, func(s *client.Spec) {
		s.Name = "svc"
		s.GrantTypes = []string{client.GrantClientCredentials}
		s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		s.Scopes = []string{"read"}
	})
	status, body := postToken(t, env, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, c.ID, sec)
	if status != http.StatusOK || body["access_token"] == nil || body["refresh_token"] != nil {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	// A client token is no user: /api/v1 refuses it.
	env.Must(http.StatusUnauthorized, "GET", "/api/v1/organizations", body["access_token"].(string), nil)
	if status, _ := postToken(t, env, url.Values{"grant_type": {"client_credentials"}}, c.ID, "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", status)
	}
}

func TestLoginCSRF(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, nil)
	r := newRP(t, env, c, sec)
	tests := []struct {
		name   string
		edit   func(v url.Values)
		cookie bool
	}{
		{"missing token", func(v url.Values) { v.Del("csrf_token") }, true},
		{"wrong token", func(v url.Values) { v.Set("csrf_token", flipFirst(v.Get("csrf_token"))) }, true},
		{"no cookie", func(url.Values) {}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, v := r.openLogin()
			v.Set("email", email)
			v.Set("password", password)
			tt.edit(v)
			browser := r.browser
			if !tt.cookie {
				browser = &http.Client{CheckRedirect: r.browser.CheckRedirect}
			}
			resp, err := browser.PostForm(env.URL+oidc.LoginPath, v)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
		})
	}
	// A finished login cannot be completed in another browser: the
	// authorization callback needs this browser's cookie.
	_, v0 := r.openLogin()
	v0.Set("email", email)
	v0.Set("password", password)
	done := r.submit(v0)
	if done.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", done.StatusCode)
	}
	other := &http.Client{CheckRedirect: r.browser.CheckRedirect}
	resp, err := other.Get(done.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
		t.Fatalf("callback in another browser: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A form for one auth request does not log in another.
	_, v1 := r.openLogin()
	_, v2 := r.openLogin()
	v1.Set("state", v2.Get("state"))
	v1.Set("email", email)
	v1.Set("password", password)
	if resp := r.submit(v1); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-request form: %d", resp.StatusCode)
	}
	// Wrong password: 401 and the form again, no redirect.
	_, v := r.openLogin()
	v.Set("email", email)
	v.Set("password", "wrong password!!")
	if resp := r.submit(v); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != "" {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
}

func TestOpenRedirect(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, nil)
	r := newRP(t, env, c, sec)
	for _, uri := range []string{"https://evil.example/cb", redirectURI + "/../evil", "http://127.0.0.1:9999/callback?x=1", "//evil.example"} {
		t.Run(uri, func(t *testing.T) {
			q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {uri}, "scope": {"openid"}, "state": {"s"}}
			resp, _ := r.get(env.URL + oidc.AuthorizationPath + "?" + q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	// Logout to an unregistered URI does not redirect there.
	f, code := r.login()
	tok := r.exchange(f, code)
	raw, _ := tok.Extra("id_token").(string)
	resp, _ := r.get(env.URL + oidc.EndSessionPath + "?" + url.Values{"id_token_hint": {raw}, "client_id": {c.ID},
		"post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
	if strings.Contains(resp.Header.Get("Location"), "evil") {
		t.Fatalf("logout redirected to %q", resp.Header.Get("Location"))
	}
}

func TestSuspendedUserCannotLogIn(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	ten := env.NewTenant("acme", "reader")
	env.Must(http.StatusCreated, "POST", "/api/v1/organizations/"+ten.OrgID+"/users", env.AdminToken, map[string]any{
		"spec": map[string]any{"subject": email, "state": "suspended", "groupIDs": []string{ten.GroupID}}})
	c, sec := newClient(t, env, nil)
	r := newRP(t, env, c, sec)
	_, v := r.openLogin()
	v.Set("email", email)
	v.Set("password", password)
	if resp := r.submit(v); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("suspended user: status %d, want 403", resp.StatusCode)
	}
}

// TestAPIWithAccessToken: a user created through /api/v1 logs in and uses
// the access token on /api/v1, with the rights of their group's role.
func TestAPIWithAccessToken(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", "administrator")
		other := env.NewTenant("other", "administrator")
		env.Must(http.StatusCreated, "POST", "/api/v1/organizations/"+acme.OrgID+"/users", env.AdminToken, map[string]any{
			"spec": map[string]any{"subject": email, "state": "active", "groupIDs": []string{acme.GroupID}}})
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		f, code := r.login()
		tok := r.exchange(f, code)

		var claims map[string]any
		jws, _ := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
		_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
		if fmt.Sprint(claims["org_ids"]) != fmt.Sprint([]any{acme.OrgID}) {
			t.Errorf("org_ids %v, want [%s]", claims["org_ids"], acme.OrgID)
		}

		env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+acme.OrgID+"/groups", tok.AccessToken, nil)
		env.Must(http.StatusForbidden, "GET", "/api/v1/organizations/"+other.OrgID+"/groups", tok.AccessToken, nil)

		// Expired (by the injected clock): 401.
		env.OIDCClock.Advance(2 * time.Hour)
		env.Must(http.StatusUnauthorized, "GET", "/api/v1/organizations/"+acme.OrgID+"/groups", tok.AccessToken, nil)
	})
}

// TestForgedTokens: tokens /api/v1 must refuse.
func TestForgedTokens(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	acme := env.NewTenant("acme", "administrator")
	env.Must(http.StatusCreated, "POST", "/api/v1/organizations/"+acme.OrgID+"/users", env.AdminToken, map[string]any{
		"spec": map[string]any{"subject": email, "state": "active", "groupIDs": []string{acme.GroupID}}})
	ctx := context.Background()
	active, err := env.Keys.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := env.OIDCClock.Now()
	claims := map[string]any{"iss": env.URL, "sub": email, "aud": []string{env.URL}, "client_id": "x", "scope": "openid",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "forged-" + rand.Text(), "gh_kind": "user"}
	payload, _ := json.Marshal(claims)
	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signWith := func(key jose.SigningKey, typ string) string {
		s, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(active.Signer().Public())
	path := "/api/v1/organizations/" + acme.OrgID + "/groups"

	valid := signWith(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: active.Signer(), KeyID: active.ID(), Algorithm: "ES256"}}, "at+jwt")
	env.Must(http.StatusOK, "GET", path, valid, nil) // the control: the same claims, properly signed, pass

	tests := map[string]string{
		"alg none": b64(map[string]string{"alg": "none", "typ": "at+jwt", "kid": active.ID()}) + "." + base64.RawURLEncoding.EncodeToString(payload) + ".",
		"HS256 keyed with the public key": signWith(jose.SigningKey{Algorithm: jose.HS256,
			Key: jose.JSONWebKey{Key: pubDER, KeyID: active.ID(), Algorithm: "HS256"}}, "at+jwt"),
		"unknown (removed) key": signWith(jose.SigningKey{Algorithm: jose.ES256,
			Key: jose.JSONWebKey{Key: stranger, KeyID: "removed-key", Algorithm: "ES256"}}, "at+jwt"),
		"published kid, other key": signWith(jose.SigningKey{Algorithm: jose.ES256,
			Key: jose.JSONWebKey{Key: stranger, KeyID: active.ID(), Algorithm: "ES256"}}, "at+jwt"),
		"typ JWT (an ID token shape)": signWith(jose.SigningKey{Algorithm: jose.ES256,
			Key: jose.JSONWebKey{Key: active.Signer(), KeyID: active.ID(), Algorithm: "ES256"}}, "JWT"),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			env.Must(http.StatusUnauthorized, "GET", path, tok, nil)
		})
	}
}

// TestMain silences zitadel/oidc, which logs through slog's default logger.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

// TestConcurrentRedemption: racing redemptions of one code, and racing
// rotations of one refresh token, never both win (the conditional UPDATEs).
func TestConcurrentRedemption(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		race := func(n int, try func() error) int {
			var wg sync.WaitGroup
			var wins atomic.Int32
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if try() == nil {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			return int(wins.Load())
		}
		f, code := r.login()
		var tok *oauth2.Token
		var mu sync.Mutex
		if wins := race(6, func() error {
			t, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier))
			if err == nil {
				mu.Lock()
				tok = t
				mu.Unlock()
			}
			return err
		}); wins > 1 || tok == nil && wins == 1 {
			t.Fatalf("%d redemptions of one code won", wins)
		}
		f, code = r.login()
		tok = r.exchange(f, code)
		if wins := race(6, func() error { _, err := r.refresh(tok.RefreshToken); return err }); wins > 1 {
			t.Fatalf("%d rotations of one refresh token won", wins)
		}
	})
}

// TestExpiry: a code dies after 60 s and an auth request after 10 minutes
// (by the provider's clock).
func TestExpiry(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, nil)
	r := newRP(t, env, c, sec)
	f, code := r.login()
	env.OIDCClock.Advance(oidc.CodeLifetime + time.Second)
	_, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier))
	wantTokenError(t, "an expired code", err, http.StatusBadRequest, "invalid_grant")
	if re := (*oauth2.RetrieveError)(nil); errors.As(err, &re) && !strings.Contains(re.ErrorDescription, "expired") {
		t.Errorf("an expired code: description %q does not say it expired", re.ErrorDescription)
	}
	// A refresh token dies with its lifetime (here the minimum, a minute).
	short, shortSec := newClient(t, env, func(s *client.Spec) {
		s.Name = "short"
		s.RefreshTokenLifetime = client.MinTokenLifetime
	})
	rs := newRP(t, env, short, shortSec)
	f, code = rs.login()
	tok := rs.exchange(f, code)
	env.OIDCClock.Advance(client.MinTokenLifetime + time.Second)
	_, err = rs.refresh(tok.RefreshToken)
	wantTokenError(t, "an expired refresh token", err, http.StatusBadRequest, "invalid_grant")
	_, v := r.openLogin()
	env.OIDCClock.Advance(oidc.AuthRequestLifetime + time.Second)
	v.Set("email", email)
	v.Set("password", password)
	if resp := r.submit(v); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("login on an expired request: %d, want 400", resp.StatusCode)
	}
}

func TestAuthorizationByPOST(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, nil)
	r := newRP(t, env, c, sec)
	v := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	resp, err := r.browser.PostForm(env.URL+oidc.AuthorizationPath, v)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, oidc.LoginPath+"?state=") {
		t.Fatalf("POST authorization: %d %q", resp.StatusCode, loc)
	}
}

// flipFirst changes the first character of s (to another base64url one).
func flipFirst(s string) string {
	if s[0] == 'x' {
		return "y" + s[1:]
	}
	return "x" + s[1:]
}
