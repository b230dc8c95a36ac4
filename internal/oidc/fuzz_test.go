package oidc_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// signingInput is the header.payload part of a compact JWS: what the
// signature covers.
func signingInput(token string) string {
	if i := strings.LastIndexByte(token, '.'); i >= 0 {
		return token[:i]
	}
	return token
}

// FuzzAccessToken feeds arbitrary strings to the access token check that
// /api/v1, userinfo and introspection rely on (parse, algorithm allow-list,
// typ, key lookup, signature, issuer, audience, expiry, revocation). It
// must never panic, and it may accept only tokens whose header and claims
// are exactly those of a token Gatehouse signed (a signature can be
// re-encoded, ECDSA's (r, n-s) verifies too, but nothing it covers may
// change). Seeds: real user and client tokens and the forgeries
// TestForgedTokens refuses.
//
//	go test ./internal/oidc/ -run '^$' -fuzz FuzzAccessToken -fuzztime 1m
func FuzzAccessToken(f *testing.F) {
	env := newEnv(f, testenv.SQLite)
	web, webSec := newClient(f, env, nil)
	r := newRP(f, env, web, webSec)
	fl, code := r.login()
	user := r.exchange(fl, code).AccessToken
	svc, svcSec := newClient(f, env, func(s *client.Spec) {
		s.Name = "svc"
		s.GrantTypes = []string{client.GrantClientCredentials}
		s.RedirectURIs, s.PostLogoutRedirectURIs, s.Scopes = nil, nil, []string{"read"}
	})
	_, body := postToken(f, env, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, svc.ID, svcSec)
	clientToken, _ := body["access_token"].(string)
	signed := map[string]bool{signingInput(user): true, signingInput(clientToken): true}

	parts := strings.Split(user, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	for _, seed := range []string{
		user, clientToken, "", ".", "..", "a.b.c", "ghsa_notajwt",
		b64([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".",
		b64([]byte(`{"alg":"HS256","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2],
		b64([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-2],
		parts[0] + "." + b64([]byte(`{"iss":"x","sub":"y","aud":["x"],"exp":99999999999,"jti":"j"}`)) + "." + parts[2],
		user + "." + parts[2],
	} {
		f.Add(seed)
	}
	auth := env.Provider.Authenticator()
	f.Fuzz(func(t *testing.T, token string) {
		p, err := auth.Authenticate(context.Background(), token)
		if err != nil {
			return
		}
		if !signed[signingInput(token)] {
			t.Fatalf("accepted a token Gatehouse did not sign: %q as %+v", token, p)
		}
	})
}

// FuzzAuthorizationRequest sends arbitrary query strings (and form bodies)
// to the authorization endpoint through the whole server. It must never
// answer 5xx, and it may redirect only to Gatehouse's own login page or to
// a redirect URI registered for the client: never an open redirect.
//
//	go test ./internal/oidc/ -run '^$' -fuzz FuzzAuthorizationRequest -fuzztime 1m
func FuzzAuthorizationRequest(f *testing.F) {
	env := newEnv(f, testenv.SQLite)
	web, _ := newClient(f, env, nil)
	public, _ := newClient(f, env, func(s *client.Spec) {
		s.Name, s.Type, s.TokenEndpointAuthMethod = "spa", client.Public, client.AuthNone
	})
	clients := map[string]*client.Client{web.ID: web, public.ID: public}
	valid := url.Values{"response_type": {"code"}, "client_id": {web.ID}, "redirect_uri": {redirectURI}, "scope": {"openid email"},
		"state": {"s"}, "nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	with := func(k, v string) string {
		q := url.Values{}
		for kk, vv := range valid {
			q[kk] = vv
		}
		q.Set(k, v)
		return q.Encode()
	}
	for _, seed := range []string{
		valid.Encode(), "", "client_id=" + web.ID,
		with("redirect_uri", "https://evil.example/cb"), with("redirect_uri", redirectURI+"/../evil"),
		with("redirect_uri", "http://127.0.0.1:1/callback"), with("redirect_uri", "//evil.example"),
		with("redirect_uri", "http://127.0.0.1:9999/callback#frag"), with("response_type", "token"),
		with("prompt", "none"), with("code_challenge_method", "plain"), with("scope", "openid admin"),
		with("client_id", public.ID), with("request", "eyJhbGciOiJub25lIn0.e30."), with("request_uri", "https://evil.example/r"),
		with("response_mode", "form_post"), with("max_age", "-1"), with("id_token_hint", "x.y.z"),
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, query string, post bool) {
		var req *http.Request
		if post {
			req = httptest.NewRequest("POST", env.URL+oidc.AuthorizationPath, strings.NewReader(query))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest("GET", env.URL+oidc.AuthorizationPath, nil)
			req.URL.RawQuery = query // as received, however malformed
		}
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, query, rec.Body)
		}
		loc := rec.Header().Get("Location")
		if rec.Code/100 != 3 || loc == "" {
			return
		}
		target, _, _ := strings.Cut(loc, "?")
		if target == oidc.LoginPath || target == env.URL+oidc.LoginPath {
			return
		}
		// Any other redirect goes to a URI registered by a client the
		// request names (zitadel's form decoder matches parameter names
		// without regard to case).
		q, _ := url.ParseQuery(query)
		for k, ids := range q {
			if !strings.EqualFold(k, "client_id") {
				continue
			}
			for _, id := range ids {
				if c := clients[id]; c != nil && client.ValidRedirectURI(c, target) {
					return
				}
			}
		}
		t.Fatalf("redirect to %q for %q: not a registered redirect URI of the client", loc, query)
	})
}

// TestUnknownClientAuthorization: an authorization request naming no
// registered client is the caller's mistake: 400, no redirect (it was a 500
// until FuzzAuthorizationRequest found it; the input is in
// testdata/fuzz/FuzzAuthorizationRequest).
func TestUnknownClientAuthorization(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	for _, q := range []string{"client_id=nobody", "client_id=nobody&redirect_uri=" + url.QueryEscape(redirectURI) + "&response_type=code&scope=openid"} {
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, httptest.NewRequest("GET", env.URL+oidc.AuthorizationPath+"?"+q, nil))
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" || !strings.Contains(rec.Body.String(), "invalid_client") {
			t.Errorf("%s: %d %q %s, want 400 invalid_client without a redirect", q, rec.Code, rec.Header().Get("Location"), rec.Body)
		}
	}
}

// TestRedirectURIExact: the redirect URI of an authorization request must be
// registered exactly, also for public (native) clients, whose loopback URIs
// may differ in the port only (confidential ones not at all): zitadel alone accepted any 127.0.0.0/8 host
// and a fragment (FuzzAuthorizationRequest found it; the input is in
// testdata/fuzz/FuzzAuthorizationRequest).
func TestRedirectURIExact(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	for _, typ := range []client.Type{client.Confidential, client.Public} {
		c, _ := newClient(t, env, func(s *client.Spec) {
			s.Name, s.Type = string(typ), typ
			if typ == client.Public {
				s.TokenEndpointAuthMethod = client.AuthNone
			}
		})
		for uri, ok := range map[string]bool{
			redirectURI:                       true,
			"http://127.0.0.1:5555/callback":  typ == client.Public, // another port: native apps only (zitadel keeps web clients exact)
			"http://127.0.0.2:9999/callback":  false,
			"http://127.0.0.0:0/callback":     false,
			redirectURI + "#frag":             false,
			"http://localhost:9999/callback":  false,
			"http://127.0.0.1:9999/callback/": false,
		} {
			q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {uri}, "scope": {"openid"}, "state": {"s"},
				"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
			rec := httptest.NewRecorder()
			env.Handler.ServeHTTP(rec, httptest.NewRequest("GET", env.URL+oidc.AuthorizationPath+"?"+q.Encode(), nil))
			loc := rec.Header().Get("Location")
			if ok && (rec.Code/100 != 3 || !strings.Contains(loc, oidc.LoginPath)) {
				t.Errorf("%s client, %s: %d %q, want a redirect to the login page", typ, uri, rec.Code, loc)
			}
			if !ok && (rec.Code != http.StatusBadRequest || loc != "") {
				t.Errorf("%s client, %s: %d %q, want 400 without a redirect", typ, uri, rec.Code, loc)
			}
		}
	}
}

// TestVerifiedTokenCache: a token checked once is not trusted beyond what
// the check covered: once its signing key is dropped, it expires, or it is
// revoked, it is refused, though its signature was already verified.
func TestVerifiedTokenCache(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, nil)
	r := newRP(t, env, c, sec)
	ctx := context.Background()

	// The signing key goes away.
	fl, code := r.login()
	tok := r.exchange(fl, code)
	for range 2 {
		if _, err := r.userinfo(tok.AccessToken); err != nil {
			t.Fatalf("userinfo: %v", err)
		}
	}
	for range 2 {
		if err := env.Keys.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Keys.DropRetired(ctx); err != nil {
		t.Fatal(err)
	}
	env.OIDCClock.Advance(2 * time.Minute) // past the keys' 30 s cache
	if _, err := r.userinfo(tok.AccessToken); err == nil {
		t.Error("a verified token still works after its signing key was dropped")
	}

	// The token expires.
	fl, code = r.login()
	tok = r.exchange(fl, code)
	if _, err := r.userinfo(tok.AccessToken); err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	env.OIDCClock.Advance(2 * time.Hour)
	if _, err := r.userinfo(tok.AccessToken); err == nil {
		t.Error("a verified token still works after it expired")
	}
}

// fuzzEndpoints are the provider's endpoints that read parameters, as
// FuzzOIDCEndpoints calls them.
var fuzzEndpoints = []struct{ method, path string }{
	{"GET", oidc.AuthorizationPath}, {"GET", oidc.CallbackPath}, {"GET", oidc.LoginPath}, {"POST", oidc.LoginPath},
	{"GET", oidc.ConsentPath}, {"POST", oidc.ConsentPath}, {"GET", oidc.OnboardPath}, {"POST", oidc.OnboardPath},
	{"GET", oidc.EndSessionPath}, {"POST", oidc.LogoutConfirmPath}, {"GET", oidc.LogoutContinuePath}, {"POST", oidc.TokenPath},
	{"POST", oidc.IntrospectionPath}, {"POST", oidc.RevocationPath}, {"GET", oidc.UserinfoPath},
	{"POST", oidc.UserinfoPath}, {"GET", oidc.UpstreamCallbackPath}, {"GET", oidc.SignupPath},
}

// FuzzOIDCEndpoints sends arbitrary query strings, form bodies and Basic
// client IDs to every endpoint the provider serves. None may answer 5xx,
// and a parameter that is not text (NUL, invalid UTF-8: what PostgreSQL
// refuses) must be a 400 on any engine, since it is refused before any
// handler runs (TestOIDCInputText has the cases the review found). It runs
// on PostgreSQL when GATEHOUSE_TEST_DATABASE_URL is set, SQLite otherwise.
func FuzzOIDCEndpoints(f *testing.F) {
	backends := testenv.Backends(f)
	env := newEnv(f, backends[len(backends)-1].Open)
	web, sec := newClient(f, env, nil)
	for i := range fuzzEndpoints {
		f.Add(uint8(i), "state=x&client_id="+web.ID, "state=x&csrf_token=x", "")
		f.Add(uint8(i), "id=a%00b", "grant_type=client_credentials&client_id=a%FFb", web.ID)
		f.Add(uint8(i), "", "grant_type=refresh_token&refresh_token="+oidc.RefreshTokenPrefix+"x%00", "a\x00b")
	}
	f.Fuzz(func(t *testing.T, which uint8, query, form, user string) {
		e := fuzzEndpoints[int(which)%len(fuzzEndpoints)]
		req := httptest.NewRequest(e.method, env.URL+e.path, nil)
		req.URL.RawQuery = query // as received, however malformed
		if e.method == "POST" {
			req = httptest.NewRequest(e.method, env.URL+e.path, strings.NewReader(form))
			req.URL.RawQuery = query
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if user != "" {
			req.SetBasicAuth(url.QueryEscape(user), sec)
		}
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%q form %q user %q: status %d: %s", e.method, e.path, query, form, user, rec.Code, rec.Body)
		}
		text := tenancy.TextProblem(user) == ""
		for _, raw := range []string{query, form} {
			if e.method != "POST" && raw == form {
				continue
			}
			vs, _ := url.ParseQuery(raw)
			for k, v := range vs {
				text = text && tenancy.TextProblem(k) == "" && tenancy.TextProblem(strings.Join(v, "")) == ""
			}
		}
		if !text && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s %s?%q form %q user %q: status %d, want 400 for parameters that are not text", e.method, e.path, query, form, user, rec.Code)
		}
	})
}
