package oidc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// limited is a Gatehouse with tight limits (3 token requests and 2 login
// attempts a minute per key) that trusts 127.0.0.1 as a proxy, so that
// tests choose the client address with X-Forwarded-For.
func limited(t *testing.T, open func(testing.TB) *store.Store) *testenv.Env {
	trusted, _ := clientip.ParsePrefixes("127.0.0.1")
	env := testenv.NewEnv(t, open(t), testenv.WithServer(func(c *server.Config) {
		c.Limits = server.Limits{Token: ratelimit.Rate{N: 3, Per: time.Minute}, Login: ratelimit.Rate{N: 2, Per: time.Minute}}
		c.TrustedProxies = trusted
	}))
	if err := env.Password.SetPassword(context.Background(), email, password); err != nil {
		t.Fatal(err)
	}
	return env
}

// post sends a form from address ip (X-Forwarded-For), with HTTP Basic
// when id is set.
func post(t *testing.T, env *testenv.Env, path, ip string, v url.Values, id, sec string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", env.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	if id != "" {
		req.SetBasicAuth(id, sec)
	}
	c := &http.Client{Transport: env.Client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// want429 checks a rate limit refusal: Retry-After in whole seconds, and
// the OAuth2 error shape (or an HTML page).
func want429(t *testing.T, what string, resp *http.Response, body string, html bool) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("%s: status %d, want 429; body %s", what, resp.StatusCode, body)
		return
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("%s: Retry-After %q, want 1..60 seconds", what, resp.Header.Get("Retry-After"))
	}
	if html {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Too many") {
			t.Errorf("%s: want an HTML page, got %s: %s", what, resp.Header.Get("Content-Type"), body)
		}
		if strings.Contains(body, " 1 seconds") || resp.Header.Get("Content-Security-Policy") != webui.CSP() || webui.InlineCode(body) != "" {
			t.Errorf("%s: grammar, policy %q or inline code in %s", what, resp.Header.Get("Content-Security-Policy"), body)
		}
		return
	}
	var e map[string]string
	if json.Unmarshal([]byte(body), &e) != nil || e["error"] != "too_many_requests" || e["error_description"] == "" {
		t.Errorf("%s: body %s, want {error: too_many_requests, error_description}", what, body)
	}
}

// TestRateLimits: the token endpoint limits each client and each address;
// login posts each address and each account; a refusal is a 429 with
// Retry-After and counts in /metrics; X-Forwarded-For is believed only from
// a trusted proxy.
func TestRateLimits(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := limited(t, open)
		svc, svcSec := newClient(t, env, func(s *client.Spec) {
			s.Name = "svc"
			s.GrantTypes = []string{client.GrantClientCredentials}
			s.RedirectURIs, s.PostLogoutRedirectURIs, s.Scopes = nil, nil, []string{"read"}
		})
		other, otherSec := newClient(t, env, func(s *client.Spec) {
			s.Name = "other"
			s.GrantTypes = []string{client.GrantClientCredentials}
			s.RedirectURIs, s.PostLogoutRedirectURIs, s.Scopes = nil, nil, []string{"read"}
		})
		cc := url.Values{"grant_type": {"client_credentials"}}

		// Per client: only failed authentications count. Requests that
		// name svc with its secret, from ever new addresses, are never
		// refused; after 3 wrong secrets from 3 addresses, svc's requests
		// are refused, while another client goes on.
		for i := range 5 {
			if resp, body := post(t, env, oidc.TokenPath, fmt.Sprintf("198.51.100.%d", i), cc, svc.ID, svcSec); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d with the right secret: %d %s", i+1, resp.StatusCode, body)
			}
		}
		for i := range 3 {
			if resp, body := post(t, env, oidc.TokenPath, fmt.Sprintf("198.51.101.%d", i), cc, svc.ID, "wrong"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong secret %d: %d %s", i+1, resp.StatusCode, body)
			}
		}
		resp, body := post(t, env, oidc.TokenPath, "198.51.100.9", cc, svc.ID, svcSec)
		want429(t, "request after 3 failed authentications of one client", resp, body, false)
		if resp, body := post(t, env, oidc.TokenPath, "198.51.100.10", cc, other.ID, otherSec); resp.StatusCode != http.StatusOK {
			t.Errorf("another client: %d %s", resp.StatusCode, body)
		}

		// Per address: requests of several clients from one address (none
		// over its own limit), the 4th refused.
		third, thirdSec := newClient(t, env, func(s *client.Spec) {
			s.Name = "third"
			s.GrantTypes = []string{client.GrantClientCredentials}
			s.RedirectURIs, s.PostLogoutRedirectURIs, s.Scopes = nil, nil, []string{"read"}
		})
		ip := "203.0.113.7"
		post(t, env, oidc.TokenPath, ip, cc, other.ID, otherSec)
		post(t, env, oidc.TokenPath, ip, cc, third.ID, thirdSec)
		if resp, _ := post(t, env, oidc.IntrospectionPath, ip, url.Values{"token": {"x"}}, third.ID, thirdSec); resp.StatusCode != http.StatusOK {
			t.Errorf("3rd request of the address: %d", resp.StatusCode)
		}
		resp, body = post(t, env, oidc.RevocationPath, ip, url.Values{"token": {"x"}}, "someone-else", "x")
		want429(t, "4th request of one address", resp, body, false)

		// Login posts: per address, then per account from many addresses.
		web, webSec := newClient(t, env, nil)
		r := newRP(t, env, web, webSec)
		_, form := r.openLogin()
		form.Set("email", email)
		form.Set("password", "wrong password")
		for i := range 2 {
			if resp, body := post(t, env, oidc.LoginPath, "192.0.2.1", form, "", ""); resp.StatusCode == 429 || resp.StatusCode/100 == 5 {
				t.Fatalf("login %d: %d %s", i+1, resp.StatusCode, body)
			}
		}
		resp, body = post(t, env, oidc.LoginPath, "192.0.2.1", form, "", "")
		want429(t, "3rd login post of one address", resp, body, true)
		form.Set("email", "someone@acme.example")
		post(t, env, oidc.LoginPath, "192.0.2.2", form, "", "")
		post(t, env, oidc.LoginPath, "192.0.2.3", form, "", "")
		resp, body = post(t, env, oidc.LoginPath, "192.0.2.4", form, "", "")
		want429(t, "3rd password check of one account", resp, body, true)

		// The refusals are counted.
		m := env.Do("GET", "/metrics", "", nil)
		for _, want := range []string{`gatehouse_rate_limited_total{key="client",limit="token"} 1`,
			`gatehouse_rate_limited_total{key="ip",limit="token"} 1`, `gatehouse_rate_limited_total{key="ip",limit="login"} 1`,
			`gatehouse_rate_limited_total{key="account",limit="login"} 1`} {
			if !strings.Contains(string(m.Body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// TestForwardedForNotTrusted: without a trusted proxy, a client cannot
// escape the per-address limit by sending X-Forwarded-For.
func TestForwardedForNotTrusted(t *testing.T) {
	env := testenv.NewEnv(t, testenv.SQLite(t), testenv.WithServer(func(c *server.Config) {
		c.Limits = server.Limits{Token: ratelimit.Rate{N: 2, Per: time.Minute}}
		c.TrustedProxies = nil // testenv trusts loopback; this test trusts no one
	}))
	for i := range 3 {
		resp, body := post(t, env, oidc.TokenPath, fmt.Sprintf("198.51.100.%d", i), url.Values{"grant_type": {"client_credentials"}}, fmt.Sprint("c", i), "x")
		if i < 2 && resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d refused", i+1)
		}
		if i == 2 {
			want429(t, "3rd request with a forged X-Forwarded-For", resp, body, false)
		}
	}
}

// TestFormBodyLimit: an oversized form to the token endpoint or the login
// page is refused with 413 before it is parsed.
func TestFormBodyLimit(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	big := url.Values{"grant_type": {"client_credentials"}, "pad": {strings.Repeat("x", server.MaxFormBytes)}}
	resp, body := post(t, env, oidc.TokenPath, "192.0.2.1", big, "c", "s")
	var e map[string]string
	if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal([]byte(body), &e) != nil || e["error"] != "invalid_request" {
		t.Errorf("oversized token request: %d %s, want 413 invalid_request", resp.StatusCode, body)
	}
	resp, body = post(t, env, oidc.LoginPath, "192.0.2.1", big, "", "")
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("oversized login post: %d %s: %s, want a 413 page", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// TestSecurityHeaders walks every HTML page a browser can meet (the login
// page, its error pages, the rate limit page, logout, the upstream
// callback's refusal) and every token-bearing answer (token, userinfo,
// introspection, revocation, successes and errors): pages forbid framing,
// sniffing, referrers and everything the CSP does not list; token answers
// are never cached; the login cookie is HttpOnly and SameSite.
func TestSecurityHeaders(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := newEnv(t, open)
		web, webSec := newClient(t, env, nil)
		r := newRP(t, env, web, webSec)

		type page struct {
			name string
			resp *http.Response
		}
		var pages []page
		get := func(name, u string) {
			resp, err := r.browser.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			pages = append(pages, page{name, resp})
		}
		// The login page, reached through the authorization endpoint.
		f := flow{state: "s", nonce: "n"}
		authURL := r.conf.AuthCodeURL(f.state)
		resp, err := r.browser.Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		get("login page", env.URL+resp.Header.Get("Location"))
		if c := cookieOf(pages[0].resp, oidc.CSRFCookiePrefix); c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/oauth2/v2/" {
			t.Errorf("login cookie %+v: want HttpOnly, SameSite=Lax, Path /oauth2/v2/, not Secure on an http issuer", c)
		}
		get("expired sign-in link", env.URL+oidc.LoginPath+"?state=unknown")
		get("upstream callback refusal", env.URL+oidc.UpstreamCallbackPath+"?state=forged&code=x")
		get("signed out", env.URL+oidc.LoggedOutPath)
		get("signed out, on to the client", env.URL+oidc.LogoutContinuePath+"?"+url.Values{"client_id": {r.conf.ClientID},
			"post_logout_redirect_uri": {logoutURI}, "state": {"s"}}.Encode())
		_, form := r.openLogin()
		form.Set("email", email)
		form.Set("password", "wrong password")
		postForm := func(name string, v url.Values) {
			resp, err := r.browser.PostForm(env.URL+oidc.LoginPath, v)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			pages = append(pages, page{name, resp})
		}
		postForm("wrong password", form)
		postForm("stale form", url.Values{"state": form["state"], "csrf_token": {"forged"}, "email": {email}, "password": {password}})
		// The rate limit's page, from a Gatehouse with tight limits.
		tight := limited(t, open)
		tightWeb, tightSec := newClient(t, tight, nil)
		_, tightForm := newRP(t, tight, tightWeb, tightSec).openLogin()
		for range 3 {
			resp, _ := post(t, tight, oidc.LoginPath, "192.0.2.50", tightForm, "", "")
			if resp.StatusCode == http.StatusTooManyRequests {
				pages = append(pages, page{"rate limited login", resp})
			}
		}
		if len(pages) != 8 {
			t.Fatalf("%d pages collected, want 8 (is the rate limit page missing?)", len(pages))
		}

		wantStatus := map[string]int{"login page": 200, "expired sign-in link": 400, "upstream callback refusal": 400, "signed out": 200, "signed out, on to the client": 200,
			"wrong password": 401, "rate limited login": 429, "stale form": 403}
		for _, p := range pages {
			h := p.resp.Header
			if p.resp.StatusCode != wantStatus[p.name] {
				t.Errorf("%s: status %d, want %d", p.name, p.resp.StatusCode, wantStatus[p.name])
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Errorf("%s: Content-Type %q, want an HTML page", p.name, h.Get("Content-Type"))
			}
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("%s: CSP %q, want default-src 'none' and frame-ancestors 'none'", p.name, csp)
			}
			for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
				"X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
				if h.Get(k) != v {
					t.Errorf("%s: %s %q, want %q", p.name, k, h.Get(k), v)
				}
			}
		}

		// Token-bearing answers, successes and refusals.
		fl, code := r.login()
		tok := r.exchange(fl, code)
		answers := map[string]*http.Response{}
		answers["token (success)"], _ = post(t, env, oidc.TokenPath, "192.0.2.60", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, web.ID, webSec)
		answers["token (refusal)"], _ = post(t, env, oidc.TokenPath, "192.0.2.61", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ghrt_x"}}, web.ID, webSec)
		answers["introspection"], _ = post(t, env, oidc.IntrospectionPath, "192.0.2.62", url.Values{"token": {tok.AccessToken}}, web.ID, webSec)
		answers["revocation"], _ = post(t, env, oidc.RevocationPath, "192.0.2.63", url.Values{"token": {"ghrt_x"}}, web.ID, webSec)
		req, _ := http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if answers["userinfo"], err = env.Client.Do(req); err != nil {
			t.Fatal(err)
		}
		answers["userinfo"].Body.Close()
		for name, resp := range answers {
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
				t.Errorf("%s (%d): Cache-Control %q, Pragma %q; want no-store, no-cache", name, resp.StatusCode,
					resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"))
			}
		}
	})
}

func cookieOf(resp *http.Response, prefix string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	return nil
}

// TestCookieSecureOnHTTPS: with an https issuer the login and session
// cookies are __Host- cookies (Secure, Path=/, no Domain), which no other
// site of the domain can set, and only those names are read.
func TestCookieSecureOnHTTPS(t *testing.T) {
	st := testenv.SQLite(t)
	ctx := context.Background()
	key := make([]byte, secret.KeySize)
	sealer, _ := secret.NewSealer(key)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	km := &keys.Manager{Store: st, Sealer: sealer, TokenLifetime: time.Hour, Logger: logger, NewPrivateKey: testenv.SigningKeyMaterial}
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	clients := &client.Registry{Store: st, Now: time.Now, NewID: testenv.IDs()}
	pw, err := connector.NewPassword(st, connector.PasswordConfig{Params: testenv.FastArgon2})
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://id.example.com"
	p, err := oidc.New(oidc.Config{Issuer: issuer, Store: st, Clients: clients, Keys: km, Password: pw, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := clients.Create(ctx, client.Spec{Name: "web", RedirectURIs: []string{"https://app.example.com/cb"},
		GrantTypes: []string{client.GrantAuthorizationCode}, Scopes: []string{"openid"}})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example.com/cb"},
		"scope": {"openid"}, "state": {"s"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest("GET", issuer+oidc.AuthorizationPath+"?"+q.Encode(), nil))
	loc := rec.Header().Get("Location")
	if rec.Code/100 != 3 || !strings.Contains(loc, oidc.LoginPath) {
		t.Fatalf("authorization: %d %q %s", rec.Code, loc, rec.Body)
	}
	u, _ := url.Parse(loc)
	rec = httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest("GET", issuer+oidc.LoginPath+"?"+u.RawQuery, nil))
	hostOnly := func(what string, c *http.Cookie, prefix string) {
		t.Helper()
		if c == nil || !strings.HasPrefix(c.Name, oidc.HostCookiePrefix+prefix) || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
			c.Path != "/" || c.Domain != "" {
			t.Errorf("%s on an https issuer: %+v, want a __Host- name, Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain", what, c)
		}
	}
	csrf := cookieOf(&http.Response{Header: rec.Header()}, oidc.HostCookiePrefix+oidc.CSRFCookiePrefix)
	hostOnly("login cookie", csrf, oidc.CSRFCookiePrefix)
	if csrf == nil {
		t.FailNow()
	}
	// A password login sets the browser session cookie, named and scoped
	// the same way.
	const user, password = "ann@example.com", "correct-horse-battery"
	if err := pw.SetPassword(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(rec.Body.String())
	if token == nil {
		t.Fatalf("no CSRF token on the login page: %s", rec.Body)
	}
	form := url.Values{"state": {u.Query().Get("state")}, "csrf_token": {token[1]}, "email": {user}, "password": {password}}
	req := httptest.NewRequest("POST", issuer+oidc.LoginPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: csrf.Name, Value: csrf.Value})
	rec = httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("password login: %d %s", rec.Code, rec.Body)
	}
	hostOnly("session cookie", cookieOf(&http.Response{Header: rec.Header()}, oidc.HostCookiePrefix+oidc.SessionCookiePrefix), oidc.SessionCookiePrefix)
	// The plain names are not read: a cookie without the prefix, which any
	// site of the domain could toss, is no CSRF cookie of this issuer.
	req = httptest.NewRequest("POST", issuer+oidc.LoginPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: strings.TrimPrefix(csrf.Name, oidc.HostCookiePrefix), Value: csrf.Value})
	rec = httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden && rec.Code != http.StatusBadRequest {
		t.Errorf("a login posted with an unprefixed CSRF cookie: %d, want it refused", rec.Code)
	}
}

// TestClientLimitNotExhaustedByStrangers: a public client's ID is no
// secret; posting it from many addresses (none over its own limit) at the
// token, PAR and device authorization endpoints must not exhaust the
// client's limit and answer its real users 429.
func TestClientLimitNotExhaustedByStrangers(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := limited(t, open)
		pub, _ := newClient(t, env, func(s *client.Spec) {
			s.Name = "spa"
			s.Type, s.TokenEndpointAuthMethod = client.Public, client.AuthNone
			s.GrantTypes = []string{client.GrantAuthorizationCode, client.GrantDeviceCode}
		})
		code := url.Values{"grant_type": {"authorization_code"}, "code": {"forged"}, "redirect_uri": {redirectURI},
			"code_verifier": {strings.Repeat("v", 43)}, "client_id": {pub.ID}}
		for i, path := range []string{oidc.TokenPath, oidc.PARPath, oidc.DeviceAuthorizationPath, oidc.TokenPath, oidc.PARPath, oidc.TokenPath} {
			if resp, body := post(t, env, path, fmt.Sprintf("198.51.100.%d", i), code, "", ""); resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5 {
				t.Fatalf("stranger's request %d at %s: %d %s", i+1, path, resp.StatusCode, body)
			}
		}
		resp, body := post(t, env, oidc.TokenPath, "192.0.2.50", code, "", "")
		if resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("the client's user got 429 after strangers used its ID: %s", body)
		}
	})
}
