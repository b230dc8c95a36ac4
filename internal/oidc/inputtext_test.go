package oidc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// inputRequest is one request to an endpoint the provider serves, with the
// parameters it reads; TestOIDCInputText spoils each of them in turn.
type inputRequest struct {
	name   string
	method string
	path   string
	query  url.Values
	form   url.Values
	// basic sends HTTP Basic client credentials (user, secret), which are
	// spoiled too.
	basic []string
	// page: a browser endpoint, whose errors are HTML pages; the others
	// answer in the OAuth2 error shape.
	page bool
}

// TestOIDCInputText: NUL or invalid UTF-8 in any parameter an OIDC endpoint
// reads (query, form field, Basic-auth client ID or secret) is a 400 that
// no database query sees, on both engines. PostgreSQL refuses such text
// (SQLSTATE 22021), so before the check in front of the provider an
// anonymous request got a 500 there (review finding 8) while SQLite looked
// the value up and answered otherwise: one input, two behaviours.
func TestOIDCInputText(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		_, c, sec := webRP(t, env)
		orgID := env.NewTenant("input", "reader").OrgID
		requests := inputRequests(c.ID, sec)
		for _, bad := range badTexts {
			forEachSpoiled(requests, bad.text, func(req inputRequest, label string, query, form url.Values, basic []string) {
				status, ctype, body := sendInput(t, env, req.method, req.path, query, form, basic)
				checkInputAnswer(t, label+" "+bad.name, req.page, status, ctype, body)
			})
			// The workload issuers read only the organization ID, a path
			// parameter: one that cannot be an ID names nothing (4xx).
			for _, suffix := range []string{"/.well-known/openid-configuration", "/jwks"} {
				path := "/oidc/organizations/" + url.PathEscape(orgID+bad.text) + suffix
				status, _, body := sendInput(t, env, "GET", path, nil, nil, nil)
				if status/100 != 4 {
					t.Errorf("GET %s: status %d, want 4xx: %.200s", path, status, body)
				}
			}
		}
	})
}

// TestOIDCInputTextBackstop: the provider alone, without the check that
// internal/server puts in front of it, still answers such input with a 4xx:
// a store refusal of text (store.IsInvalidInput) is the caller's mistake
// wherever a handler meets it (loginError, the client lookups), not a 500.
// It can fail on PostgreSQL only, where the store refuses such text.
func TestOIDCInputTextBackstop(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		_, c, sec := webRP(t, env)
		h := env.Provider.Handler()
		for _, bad := range badTexts {
			forEachSpoiled(inputRequests(c.ID, sec), bad.text, func(req inputRequest, label string, query, form url.Values, basic []string) {
				u := env.URL + req.path
				if len(query) > 0 {
					u += "?" + query.Encode()
				}
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				r := httptest.NewRequest(req.method, u, body)
				if form != nil {
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if basic != nil {
					r.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code >= 500 {
					t.Errorf("%s %s: status %d, want 4xx: %.200s", label, bad.name, rec.Code, rec.Body)
				}
			})
		}
	})
}

// badTexts are what PostgreSQL refuses in a text column.
var badTexts = []struct{ name, text string }{{"NUL", "a\x00b"}, {"invalid UTF-8", "a\xffb"}}

// inputRequests are requests to every endpoint the provider serves that
// reads parameters, with the parameters each reads.
func inputRequests(clientID, secret string) []inputRequest {
	v := func(kv ...string) url.Values {
		out := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	authorize := v("client_id", clientID, "response_type", "code", "redirect_uri", redirectURI, "scope", "openid",
		"state", "st", "nonce", "n", "login_hint", "x@example.com", "ui_locales", "en", "acr_values", "x",
		"max_age", "60", "prompt", "login", "id_token_hint", "x", "claims", "{}", "code_challenge",
		strings.Repeat("a", 43), "code_challenge_method", "S256")
	exchange := "urn:ietf:params:oauth:grant-type:token-exchange"
	accessType := "urn:ietf:params:oauth:token-type:access_token"
	return []inputRequest{
		{name: "authorization", method: "GET", path: oidc.AuthorizationPath, query: authorize, page: true},
		{name: "authorization callback", method: "GET", path: oidc.CallbackPath, query: v("id", "x"), page: true},
		{name: "login page", method: "GET", path: oidc.LoginPath, query: v("state", "x"), page: true},
		{name: "login post", method: "POST", path: oidc.LoginPath, page: true,
			form: v("state", "x", "csrf_token", "x", "provider", "x", "email", "x@example.com", "password", "x")},
		{name: "consent page", method: "GET", path: oidc.ConsentPath, query: v("state", "x"), page: true},
		{name: "consent post", method: "POST", path: oidc.ConsentPath, form: v("state", "x", "csrf_token", "x"), page: true},
		{name: "onboard page", method: "GET", path: oidc.OnboardPath, query: v("state", "x"), page: true},
		{name: "onboard post", method: "POST", path: oidc.OnboardPath, form: v("state", "x", "csrf_token", "x"), page: true},
		{name: "logout", method: "GET", path: oidc.EndSessionPath, page: true,
			query: v("client_id", clientID, "id_token_hint", "x", "post_logout_redirect_uri", logoutURI, "state", "x")},
		{name: "logout confirm", method: "POST", path: oidc.LogoutConfirmPath, form: v("state", "x", "csrf_token", "x"), page: true},
		{name: "upstream callback", method: "GET", path: oidc.UpstreamCallbackPath, query: v("state", "x", "code", "x"), page: true},
		{name: "signup", method: "GET", path: oidc.SignupPath, query: v("token", "x"), page: true},
		{name: "token client_credentials", method: "POST", path: oidc.TokenPath,
			form: v("grant_type", "client_credentials", "scope", "openid"), basic: []string{clientID, secret}},
		{name: "token client_id in form", method: "POST", path: oidc.TokenPath,
			form: v("grant_type", "client_credentials", "client_id", clientID, "client_secret", secret)},
		{name: "token refresh", method: "POST", path: oidc.TokenPath,
			form: v("grant_type", "refresh_token", "refresh_token", oidc.RefreshTokenPrefix+"x"), basic: []string{clientID, secret}},
		{name: "token code", method: "POST", path: oidc.TokenPath, basic: []string{clientID, secret},
			form: v("grant_type", "authorization_code", "code", "x", "redirect_uri", redirectURI, "code_verifier", strings.Repeat("a", 50))},
		{name: "token exchange", method: "POST", path: oidc.TokenPath, basic: []string{clientID, secret},
			form: v("grant_type", exchange, "subject_token", "ghsa_x", "subject_token_type", accessType, "audience", "x")},
		{name: "introspect", method: "POST", path: oidc.IntrospectionPath, form: v("token", oidc.RefreshTokenPrefix+"x"), basic: []string{clientID, secret}},
		{name: "revoke", method: "POST", path: oidc.RevocationPath, form: v("token", "ghsa_x"), basic: []string{clientID, secret}},
		{name: "userinfo query", method: "GET", path: oidc.UserinfoPath, query: v("access_token", "x")},
		{name: "userinfo form", method: "POST", path: oidc.UserinfoPath, form: v("access_token", "x")},
	}
}

// forEachSpoiled calls f once per parameter of each request (query, form,
// Basic user and secret), with that parameter's value followed by bad. The
// value keeps its prefix (ghsr_, ghsa_, x@) so that it reaches the lookup
// it would on its own.
func forEachSpoiled(requests []inputRequest, bad string, f func(req inputRequest, label string, query, form url.Values, basic []string)) {
	for _, req := range requests {
		for name := range req.query {
			query := clone(req.query)
			query.Set(name, query.Get(name)+bad)
			f(req, req.name+" query "+name, query, req.form, req.basic)
		}
		for name := range req.form {
			form := clone(req.form)
			form.Set(name, form.Get(name)+bad)
			f(req, req.name+" form "+name, req.query, form, req.basic)
		}
		for i, name := range []string{"user", "secret"}[:len(req.basic)] {
			basic := append([]string(nil), req.basic...)
			basic[i] += bad
			f(req, req.name+" Basic "+name, req.query, req.form, basic)
		}
	}
}

func clone(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// sendInput sends one request without following redirects.
func sendInput(t *testing.T, env *testenv.Env, method, path string, query, form url.Values, basic []string) (int, string, string) {
	t.Helper()
	u := env.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if basic != nil {
		// RFC 6749 §2.3.1: the credentials are form-urlencoded first.
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	cl := *env.Client
	cl.Jar = nil
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// checkInputAnswer wants 400 in the endpoint's error style: an HTML page
// for browser endpoints, {"error":"invalid_request"} for the others.
func checkInputAnswer(t *testing.T, label string, page bool, status int, ctype, body string) {
	t.Helper()
	if status != http.StatusBadRequest {
		t.Errorf("%s: status %d, want 400: %.200s", label, status, body)
		return
	}
	if page {
		if !strings.HasPrefix(ctype, "text/html") {
			t.Errorf("%s: Content-Type %q, want an HTML page", label, ctype)
		}
		return
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != "invalid_request" {
		t.Errorf("%s: body %.200s, want error invalid_request", label, body)
	}
}
