package oidc_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// authorize starts an authorization request in the current browser and
// returns where it ended: a redirect to the relying party (result is its
// query), or a page of Gatehouse's (body).
func (r *rp) authorize(extra ...oauth2.AuthCodeOption) (flow, *http.Response, url.Values, string) {
	r.t.Helper()
	f := flow{state: "st-" + rand.Text(), nonce: "n-" + rand.Text(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	resp, body := r.get(r.conf.AuthCodeURL(f.state, opts...))
	var result url.Values
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, redirectURI) {
		u, _ := url.Parse(loc)
		result = u.Query()
		if result.Get("state") != f.state {
			r.t.Fatalf("state %q at the relying party, want %q", result.Get("state"), f.state)
		}
	}
	r.page = body
	return f, resp, result, body
}

// param is an authorization request parameter.
func param(k, v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam(k, v) }

// claimsOf decodes a JWT's payload (already verified by the caller).
func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func idToken(t *testing.T, tok *oauth2.Token) map[string]any {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	return claimsOf(t, raw)
}

// loginHere completes the login page shown last (r.page) with the test
// user's password and returns the code.
func (r *rp) loginHere(f flow) string {
	r.t.Helper()
	v := form(r.t, r.page)
	v.Set("email", email)
	v.Set("password", password)
	resp := r.submit(v)
	if resp.StatusCode != http.StatusSeeOther {
		r.t.Fatalf("login: status %d", resp.StatusCode)
	}
	final, body := r.get(resp.Header.Get("Location"))
	loc, err := url.Parse(final.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI) || loc.Query().Get("code") == "" || loc.Query().Get("state") != f.state {
		r.t.Fatalf("no code after the login: %d %q %s", final.StatusCode, final.Header.Get("Location"), body)
	}
	return loc.Query().Get("code")
}

// toRP follows resp's redirects within Gatehouse and returns the relying
// party's URL they end at (nil if they end elsewhere).
func (r *rp) toRP(resp *http.Response) *url.URL {
	r.t.Helper()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, redirectURI) {
		final, _ := r.get(loc)
		loc = final.Header.Get("Location")
	}
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, redirectURI) {
		return nil
	}
	return u
}

// isLoginPage reports whether body is the login page.
func isLoginPage(body string) bool { return strings.Contains(body, `action="/oauth2/v2/login"`) }

// TestSingleSignOn: after one login, the browser's next authorization (here
// for another client) gets its code without the login page, and its ID
// token carries the first login's auth_time. The session cookie is
// HttpOnly, SameSite=Lax and scoped to /oauth2/v2/; the server stores only
// its hash.
func TestSingleSignOn(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, _, _ := webRP(t, env)
		first := idToken(t, r.signIn())

		u, _ := url.Parse(env.URL + "/oauth2/v2/")
		var session *http.Cookie
		for _, ck := range r.browser.Jar.Cookies(u) {
			if strings.HasPrefix(ck.Name, oidc.SessionCookiePrefix) {
				session = ck
			}
		}
		if session == nil {
			t.Fatal("no browser session cookie after the login")
		}
		var stored int
		if err := env.Store.DB().QueryRow("SELECT COUNT(*) FROM oidc_browser_sessions WHERE id_hash = $1", session.Value).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("the cookie's value is stored in clear (%d rows, %v)", stored, err)
		}

		env.OIDCClock.Advance(5 * time.Minute)
		other, otherSec := newClient(t, env, func(s *client.Spec) { s.Name = "other" })
		r2 := newRP(t, env, other, otherSec)
		r2.browser = r.browser
		f2, resp, result, body := r2.authorize()
		if result.Get("code") == "" {
			t.Fatalf("no single sign-on: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		second := idToken(t, r2.exchange(f2, result.Get("code")))
		if second["auth_time"] != first["auth_time"] || second["acr"] != oidc.ACRPassword {
			t.Fatalf("auth_time %v acr %v, want the first login's %v and %s", second["auth_time"], second["acr"], first["auth_time"], oidc.ACRPassword)
		}
		// A code issued by single sign-on works once too.
		if _, err := r2.conf.Exchange(r2.ctx, result.Get("code"), oauth2.VerifierOption(f2.verifier)); err == nil {
			t.Fatal("a single sign-on code was redeemed twice")
		}
		// The session lives BrowserSessionLifetime (12 h by default).
		env.OIDCClock.Advance(oidc.DefaultBrowserSessionLifetime)
		if _, _, result, body := r2.authorize(); result != nil || !isLoginPage(body) {
			t.Fatalf("an expired browser session was reused: %v", result)
		}
	})
}

// TestSessionCookieAttributes: the browser session cookie's attributes.
func TestSessionCookieAttributes(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	_, v := r.openLogin()
	v.Set("email", email)
	v.Set("password", password)
	resp := r.submit(v)
	var set string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, oidc.SessionCookiePrefix) {
			set = h
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/oauth2/v2/", "Max-Age=43200"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("session cookie %q is Secure on an http issuer (the browser would drop it)", set)
	}
}

// TestPromptNone: prompt=none never shows a page; it answers with a code
// when the browser session serves the request, and with the error that says
// why not otherwise.
func TestPromptNone(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnvWith(t, open, testenv.Options{Onboarding: oidc.OnboardingLocal})
		acme := env.NewTenant("acme", "reader")
		addUser(t, env, acme, email, "active")
		c, sec := newClient(t, env, nil)
		consenting, consentingSec := newClient(t, env, func(s *client.Spec) { s.Name = "consenting"; s.RequireConsent = true })
		r := newRP(t, env, c, sec)

		// No session at all.
		none := param("prompt", "none")
		if _, _, result, _ := r.authorize(none); result.Get("error") != "login_required" {
			t.Fatalf("prompt=none without a session: %v", result)
		}
		f, code := r.login()
		hint, _ := r.exchange(f, code).Extra("id_token").(string)

		// A newcomer (no organization) logged in in a second browser.
		newcomer := "new@startup.example"
		if err := env.Password.SetPassword(t.Context(), newcomer, password); err != nil {
			t.Fatal(err)
		}
		rn := newRP(t, env, c, sec)
		_, v := rn.openLogin()
		v.Set("email", newcomer)
		v.Set("password", password)
		if resp := rn.submit(v); !strings.Contains(resp.Header.Get("Location"), oidc.OnboardPath) {
			t.Fatalf("the newcomer was not sent to onboarding: %q", resp.Header.Get("Location"))
		}

		rc := newRP(t, env, consenting, consentingSec)
		rc.browser = r.browser
		tests := []struct {
			name    string
			rp      *rp
			opts    []oauth2.AuthCodeOption
			advance time.Duration
			want    string // "code" or the error
		}{
			{"valid session", r, nil, 0, "code"},
			{"valid session and the right id_token_hint", r, []oauth2.AuthCodeOption{param("id_token_hint", hint)}, 0, "code"},
			{"valid session and its email as login_hint", r, []oauth2.AuthCodeOption{param("login_hint", email)}, 0, "code"},
			{"max_age the session satisfies", r, []oauth2.AuthCodeOption{param("max_age", "3600")}, 0, "code"},
			{"consent never given", rc, nil, 0, "consent_required"},
			{"onboarding needed", rn, nil, 0, "interaction_required"},
			{"another user's login_hint", r, []oauth2.AuthCodeOption{param("login_hint", "sam@acme.example")}, 0, "login_required"},
			{"an acr the session lacks", r, []oauth2.AuthCodeOption{param("acr_values", oidc.ACRFederated)}, 0, "login_required"},
			{"max_age exceeded", r, []oauth2.AuthCodeOption{param("max_age", "60")}, 2 * time.Minute, "login_required"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				env.OIDCClock.Advance(tt.advance)
				_, resp, result, body := tt.rp.authorize(append([]oauth2.AuthCodeOption{none}, tt.opts...)...)
				got := result.Get("error")
				if result.Get("code") != "" {
					got = "code"
				}
				if got != tt.want {
					t.Fatalf("got %q (%d %q %s), want %q", got, resp.StatusCode, resp.Header.Get("Location"), body, tt.want)
				}
			})
		}
		// A session whose user was suspended since is no session.
		env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+acme.OrgID+"/users/"+userID(t, env, acme, email), env.AdminToken,
			map[string]any{"spec": map[string]any{"subject": email, "state": "suspended", "groupIDs": []string{}}})
		if _, _, result, _ := r.authorize(none); result.Get("error") != "login_required" {
			t.Fatalf("prompt=none for a suspended user: %v", result)
		}
	})
}

// TestIDTokenHint: the hint must be one of our ID tokens for this client
// (an expired one is fine); a session of another subject is not used for
// it.
func TestIDTokenHint(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, nil)
	other, _ := newClient(t, env, func(s *client.Spec) { s.Name = "other" })
	r := newRP(t, env, c, sec)
	raw, _ := r.signIn().Extra("id_token").(string)

	key, err := env.Keys.SigningKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k jose.SigningKey, claims map[string]any) string {
		s, err := jose.NewSigner(k, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(claims)
		jws, err := s.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	ours := jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key.Signer(), KeyID: key.ID(), Algorithm: "ES256"}}
	past := time.Now().Add(-48 * time.Hour)
	hintFor := func(sub, aud string, exp time.Time) map[string]any {
		return map[string]any{"iss": env.URL, "sub": sub, "aud": []string{aud}, "iat": past.Unix(), "exp": exp.Unix()}
	}
	stranger := mustECKey(t)
	tests := []struct {
		name      string
		hint      string
		wantError string // "" when the login page shows with the hint's subject filled in
	}{
		{"expired hint of this client", sign(ours, hintFor("sam@acme.example", c.ID, past.Add(time.Hour))), ""},
		{"hint issued to another client", sign(ours, hintFor(email, other.ID, time.Now().Add(time.Hour))), "invalid_request"},
		{"hint signed by an unknown key", sign(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: stranger,
			KeyID: key.ID(), Algorithm: "ES256"}}, hintFor(email, c.ID, time.Now().Add(time.Hour))), "invalid_request"},
		{"not a JWT", "garbage", "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, result, body := r.authorize(param("id_token_hint", tt.hint))
			if tt.wantError != "" {
				if result.Get("error") != tt.wantError {
					t.Fatalf("got %d %v, want %s", resp.StatusCode, result, tt.wantError)
				}
				return
			}
			if !isLoginPage(body) || !strings.Contains(body, `value="sam@acme.example"`) {
				t.Fatalf("want the login page for the hint's subject (the session is jo's): %d %v %s", resp.StatusCode, result, body)
			}
		})
	}
	// The genuine hint of the logged-in user: single sign-on.
	if _, _, result, _ := r.authorize(param("id_token_hint", raw), param("prompt", "none")); result.Get("code") == "" {
		t.Fatalf("the right hint: %v", result)
	}
}

// TestForcedLogin: prompt=login and max_age=0 show the login page despite
// the session, and the new ID token carries the new auth_time; max_age the
// session is too old for does the same.
func TestForcedLogin(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	firstAuth := idToken(t, r.signIn())["auth_time"].(float64)
	tests := []struct {
		name string
		opt  oauth2.AuthCodeOption
	}{
		{"prompt=login", param("prompt", "login")},
		{"max_age=0", param("max_age", "0")},
		{"max_age shorter than the session", param("max_age", "30")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.OIDCClock.Advance(time.Minute)
			f, resp, result, body := r.authorize(tt.opt)
			if result != nil || !isLoginPage(body) {
				t.Fatalf("no login page: %d %v", resp.StatusCode, result)
			}
			if !strings.Contains(body, `value="`+email+`"`) {
				t.Error("the login page does not offer the session's email")
			}
			code := r.loginHere(f)
			auth := idToken(t, r.exchange(f, code))["auth_time"].(float64)
			if int64(auth) != env.OIDCClock.Now().Unix() || auth <= firstAuth {
				t.Fatalf("auth_time %v, want the new login's %v", auth, env.OIDCClock.Now().Unix())
			}
			firstAuth = auth
		})
	}
}

// TestSelectAccount: prompt=select_account shows the session's account to
// continue with, or the form to use another one.
func TestSelectAccount(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	firstAuth := idToken(t, r.signIn())["auth_time"]

	f, _, result, body := r.authorize(param("prompt", "select_account"))
	if result != nil || !strings.Contains(body, `id="session-subject">`+email+`<`) || !strings.Contains(body, `name="continue"`) {
		t.Fatalf("no account to select: %v %s", result, body)
	}
	v := form(t, body)
	v.Set("continue", "1")
	resp := r.submit(v)
	final, _ := r.get(resp.Header.Get("Location"))
	loc, _ := url.Parse(final.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("continue as %s: %d %q", email, resp.StatusCode, final.Header.Get("Location"))
	}
	if got := idToken(t, r.exchange(f, loc.Query().Get("code")))["auth_time"]; got != firstAuth {
		t.Fatalf("continuing the session changed auth_time from %v to %v", firstAuth, got)
	}

	// "Use another account": a login as someone else replaces the session.
	other := "sam@acme.example"
	if err := env.Password.SetPassword(t.Context(), other, password); err != nil {
		t.Fatal(err)
	}
	_, _, _, body = r.authorize(param("prompt", "select_account"))
	v = form(t, body)
	v.Set("email", other)
	v.Set("password", password)
	if resp := r.submit(v); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as another account: %d", resp.StatusCode)
	}
	_, _, _, body = r.authorize(param("prompt", "select_account"))
	if !strings.Contains(body, `id="session-subject">`+other+`<`) {
		t.Fatal("the session is not the new account's")
	}
	// "Continue" once the session is gone: refused.
	v = form(t, body)
	v.Set("continue", "1")
	u, _ := url.Parse(env.URL + "/oauth2/v2/")
	var kept []*http.Cookie
	for _, ck := range r.browser.Jar.Cookies(u) {
		if !strings.HasPrefix(ck.Name, oidc.SessionCookiePrefix) {
			kept = append(kept, ck)
		}
	}
	r.browser.Jar, _ = newJar()
	r.browser.Jar.SetCookies(u, kept)
	if resp := r.submit(v); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("continue without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestLoginHint: login_hint fills in the email.
func TestLoginHint(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	r.browser.Jar, _ = newJar()
	_, _, _, body := r.authorize(param("login_hint", "hinted@acme.example"))
	if !isLoginPage(body) || !strings.Contains(body, `value="hinted@acme.example"`) {
		t.Fatalf("login_hint not pre-filled: %s", body)
	}
}

// TestUILocales: ui_locales picks the pages' language among English and
// German (the first one shipped wins; none shipped means English);
// without it the browser's Accept-Language decides.
func TestUILocales(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, c, _ := webRP(t, env)
	tests := []struct {
		uiLocales, acceptLanguage, want string
	}{
		{"de", "", "de"},
		{"fr-CA de-CH en", "", "de"},
		{"fr", "de", "en"},
		{"", "de-CH, fr;q=0.5", "de"},
		{"", "fr", "en"},
		{"", "", "en"},
	}
	title := map[string]string{"en": "<title>Sign in · Gatehouse</title>", "de": "<title>Anmelden · Gatehouse</title>"}
	for _, tt := range tests {
		t.Run(tt.uiLocales+"|"+tt.acceptLanguage, func(t *testing.T) {
			r.browser.Jar, _ = newJar()
			q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}, "scope": {"openid"},
				"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
			if tt.uiLocales != "" {
				q.Set("ui_locales", tt.uiLocales)
			}
			req, _ := http.NewRequest("GET", env.URL+oidc.AuthorizationPath+"?"+q.Encode(), nil)
			if tt.acceptLanguage != "" {
				req.Header.Set("Accept-Language", tt.acceptLanguage)
			}
			resp, err := r.browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			_, body := r.get(env.URL + resp.Header.Get("Location"))
			if !strings.Contains(body, title[tt.want]) || !strings.Contains(body, `lang="`+tt.want+`"`) {
				t.Fatalf("want the %s page, got %s", tt.want, body)
			}
		})
	}
}

// TestACR: acr_values and the claims parameter. The ID token says which
// class the login was; a voluntary request is answered anyway, an essential
// one the login cannot meet gets unmet_authentication_requirements.
func TestACR(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	essential := func(values ...string) string {
		b, _ := json.Marshal(map[string]any{"id_token": map[string]any{"acr": map[string]any{"essential": true, "values": values}}})
		return string(b)
	}
	tests := []struct {
		name      string
		opts      []oauth2.AuthCodeOption
		wantACR   string
		wantError string
		atOnce    bool // the error comes before any login page
	}{
		{"voluntary, met", []oauth2.AuthCodeOption{param("acr_values", oidc.ACRPassword)}, oidc.ACRPassword, "", false},
		{"voluntary, not met: answered anyway", []oauth2.AuthCodeOption{param("acr_values", oidc.ACRFederated)}, oidc.ACRPassword, "", false},
		{"essential, met", []oauth2.AuthCodeOption{param("claims", essential(oidc.ACRFederated, oidc.ACRPassword))}, oidc.ACRPassword, "", false},
		{"essential, not met by the login", []oauth2.AuthCodeOption{param("claims", essential(oidc.ACRFederated))}, "", "unmet_authentication_requirements", false},
		{"essential, unknown to Gatehouse", []oauth2.AuthCodeOption{param("claims", essential("urn:example:mfa"))}, "", "unmet_authentication_requirements", true},
		{"claims not JSON", []oauth2.AuthCodeOption{param("claims", "{")}, "", "invalid_request", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.browser.Jar, _ = newJar()
			f, _, result, body := r.authorize(tt.opts...)
			if tt.atOnce {
				if result.Get("error") != tt.wantError {
					t.Fatalf("got %v, want %s at once", result, tt.wantError)
				}
				return
			}
			if !isLoginPage(body) {
				t.Fatalf("no login page: %v", result)
			}
			v := form(t, body)
			v.Set("email", email)
			v.Set("password", password)
			loc := r.toRP(r.submit(v))
			if loc == nil {
				t.Fatal("not back at the relying party")
			}
			if tt.wantError != "" {
				if loc.Query().Get("error") != tt.wantError || loc.Query().Get("code") != "" || loc.Query().Get("state") != f.state {
					t.Fatalf("got %v, want %s", loc.Query(), tt.wantError)
				}
				return
			}
			tok := r.exchange(f, loc.Query().Get("code"))
			if got := idToken(t, tok)["acr"]; got != tt.wantACR {
				t.Fatalf("ID token acr %v, want %s", got, tt.wantACR)
			}
			if got := claimsOf(t, tok.AccessToken)["acr"]; got != tt.wantACR {
				t.Fatalf("access token acr %v, want %s", got, tt.wantACR)
			}
			// A refreshed ID token keeps the login's acr.
			fresh, err := r.refresh(tok.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if got := idToken(t, fresh)["acr"]; got != tt.wantACR {
				t.Fatalf("refreshed ID token acr %v, want %s", got, tt.wantACR)
			}
		})
	}
}

// TestDisplay: the display values of OpenID Connect Core are accepted (the
// pages are responsive whatever is asked); an unknown one is ignored.
func TestDisplay(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	for _, d := range []string{"page", "popup", "touch", "wap", "hologram"} {
		if _, _, result, body := r.authorize(param("display", d)); result != nil || !isLoginPage(body) {
			t.Errorf("display=%s: %v", d, result)
		}
	}
}

var formAction = regexp.MustCompile(`form-action ([^;]*);`)

// TestLoginPageCSP: the login page's form-action lists itself and the
// relying party's origin (where the redirects after its POST end), nothing
// else; a login that goes upstream answers with a page that moves on by
// itself, so no form's redirect ever leaves for an origin the page did not
// name.
func TestLoginPageCSP(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c, sec := newClient(t, env, func(s *client.Spec) { s.RedirectURIs = append(s.RedirectURIs, "https://app.example:8443/cb") })
	r := newRP(t, env, c, sec)
	tests := []struct{ redirect, want string }{
		{redirectURI, "'self' http://127.0.0.1:9999"},
		{"https://app.example:8443/cb", "'self' https://app.example:8443"},
	}
	for _, tt := range tests {
		r.browser.Jar, _ = newJar()
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {tt.redirect}, "scope": {"openid"},
			"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		resp, _ := r.get(env.URL + oidc.AuthorizationPath + "?" + q.Encode())
		csp := resp.Header.Get("Content-Security-Policy")
		if m := formAction.FindStringSubmatch(csp); m == nil || m[1] != tt.want {
			t.Errorf("redirect_uri %s: CSP %q, want form-action %s", tt.redirect, csp, tt.want)
		}
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q is not strict", csp)
		}
	}
}

// TestLogout: RP-initiated logout with an id_token_hint ends the browser
// session (prompt=none then needs a login); without one, Gatehouse asks
// first, and only its own confirmation (with the token derived from the
// browser session's cookie) ends it.
func TestLogout(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, c, _ := webRP(t, env)
		raw, _ := r.signIn().Extra("id_token").(string)
		lr, _ := r.get(env.URL + oidc.EndSessionPath + "?" + url.Values{"id_token_hint": {raw},
			"post_logout_redirect_uri": {logoutURI}, "state": {"bye"}}.Encode())
		if !strings.HasPrefix(lr.Header.Get("Location"), logoutURI+"?state=bye") {
			t.Fatalf("logout: %d %q", lr.StatusCode, lr.Header.Get("Location"))
		}
		if _, _, result, _ := r.authorize(param("prompt", "none")); result.Get("error") != "login_required" {
			t.Fatalf("prompt=none after logout: %v", result)
		}

		// Without a hint: a confirmation page; a forged confirmation changes nothing.
		r.signIn()
		q := url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {logoutURI}}
		resp, body := r.get(env.URL + oidc.EndSessionPath + "?" + q.Encode())
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="logout_csrf"`) {
			t.Fatalf("no confirmation page: %d %s", resp.StatusCode, body)
		}
		if m := formAction.FindStringSubmatch(resp.Header.Get("Content-Security-Policy")); m == nil || m[1] != "'self' http://127.0.0.1:9999" {
			t.Errorf("confirmation page CSP %q", resp.Header.Get("Content-Security-Policy"))
		}
		token := regexp.MustCompile(`name="logout_csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
		post := func(v url.Values) *http.Response {
			resp, err := r.browser.PostForm(env.URL+oidc.EndSessionPath, v)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		forged := url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {logoutURI}, "logout_csrf": {flipFirst(token)}}
		if resp := post(forged); strings.HasPrefix(resp.Header.Get("Location"), logoutURI) {
			t.Fatalf("a forged confirmation logged out: %q", resp.Header.Get("Location"))
		}
		if _, _, result, _ := r.authorize(param("prompt", "none")); result.Get("code") == "" {
			t.Fatalf("the session ended without confirmation: %v", result)
		}
		q.Set("logout_csrf", token)
		if resp := post(q); !strings.HasPrefix(resp.Header.Get("Location"), logoutURI) {
			t.Fatalf("confirmed logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if _, _, result, _ := r.authorize(param("prompt", "none")); result.Get("error") != "login_required" {
			t.Fatalf("prompt=none after the confirmed logout: %v", result)
		}
		// The token belongs to the browser session it was shown to: the
		// next session's confirmation needs its own.
		r.signIn()
		if resp := post(q); strings.HasPrefix(resp.Header.Get("Location"), logoutURI) {
			t.Fatalf("an earlier session's confirmation token logged out the next session: %q", resp.Header.Get("Location"))
		}
		if _, _, result, _ := r.authorize(param("prompt", "none")); result.Get("code") == "" {
			t.Fatalf("the next session ended on an earlier session's token: %v", result)
		}
	})
}
