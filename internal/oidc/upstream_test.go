package oidc_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

var providerButton = regexp.MustCompile(`name="provider" value="([^"]+)"`)

// hintedEmail is the email the button a login_hint preselects posts.
var hintedEmail = regexp.MustCompile(`<input type="hidden" name="email" value="([^"]*)">`)

// federation is a Gatehouse (down) whose system provider is another
// Gatehouse (up): an independent OIDC upstream with a real login page.
type federation struct {
	up, down *testenv.Env
	rp       *rp
	provider string
	// The downstream's client at the upstream, for more providers.
	upClient, upSecret string
}

func newFederation(t *testing.T, open func(testing.TB) *store.Store) *federation {
	t.Helper()
	return newFederationWith(t, open, testenv.Options{})
}

// newFederationWith is newFederation with options for the downstream.
func newFederationWith(t *testing.T, open func(testing.TB) *store.Store, opts testenv.Options) *federation {
	t.Helper()
	// The upstream listens on loopback: organizations' providers there
	// are allowed, as serve --allow-private-tenant-endpoints does (a test
	// of the guard turns it off again with a later EditOIDC).
	opts.EditOIDC = append([]func(*oidc.Config){func(c *oidc.Config) { c.AllowPrivateTenantEndpoints = true }}, opts.EditOIDC...)
	up, down := newEnv(t, open), testenv.NewEnvWith(t, open(t), opts)
	uc, usec := newClient(t, up, func(s *client.Spec) {
		s.Name = "downstream"
		s.RedirectURIs = []string{down.URL + oidc.UpstreamCallbackPath}
		s.PostLogoutRedirectURIs = nil
	})
	pr, err := down.Tenancy.CreateProvider(context.Background(), &authn.Principal{Kind: authn.KindServiceAccount, ID: "t", Subject: "test"}, "",
		&tenancy.ProviderInput{Provider: store.OAuth2Provider{Meta: store.Meta{Name: "Upstream"}, Type: "oidc", Issuer: up.URL, ClientID: uc.ID},
			ClientSecret: &usec})
	if err != nil {
		t.Fatalf("create provider: %v", err)
	}
	dc, dsec := newClient(t, down, nil)
	r := newRP(t, down, dc, dsec)
	r.wantAMR = "fed"
	return &federation{up: up, down: down, rp: r, provider: pr.ID, upClient: uc.ID, upSecret: usec}
}

// continueLink is the link of the page that moves on to an upstream.
var continueLink = regexp.MustCompile(`<a id="continue" href="([^"]+)"`)

// continueTo reads the page a login form answers with when the login goes
// upstream (200, no redirect: see login.go continueUpstream) and returns
// where it moves on to.
func continueTo(t *testing.T, resp *http.Response) string {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := continueLink.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(string(body), `http-equiv="refresh"`) {
		t.Fatalf("no page moving on upstream: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return html.UnescapeString(m[1])
}

// follow follows redirects (and the pages that move on to an upstream by
// themselves) through both Gatehouses, stopping at the RP.
func (f *federation) follow(t *testing.T, resp *http.Response) (*http.Response, string) {
	t.Helper()
	for range 20 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if m := continueLink.FindStringSubmatch(string(body)); resp.StatusCode == http.StatusOK && m != nil {
			loc = html.UnescapeString(m[1])
		} else if resp.StatusCode/100 != 3 || loc == "" || strings.HasPrefix(loc, redirectURI) {
			return resp, string(body)
		}
		next, err := resp.Request.URL.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err = f.rp.browser.Get(next.String()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("redirect loop")
	return nil, ""
}

// TestUpstreamLogin: the whole code flow through an upstream OIDC provider,
// with go-oidc verifying the downstream's ID token.
func TestUpstreamLogin(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFederation(t, open)
		fl, v := f.rp.openLogin()
		if m := providerButton.FindStringSubmatch(f.rp.page); m == nil || m[1] != f.provider {
			t.Fatalf("the login page offers no button for the provider: %s", f.rp.page)
		}
		v.Set("provider", f.provider)
		resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
		if err != nil {
			t.Fatal(err)
		}
		// The upstream's login page.
		page, body := f.follow(t, resp)
		if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Request.URL.String(), f.up.URL+oidc.LoginPath) {
			t.Fatalf("upstream login page: %d at %s: %s", page.StatusCode, page.Request.URL, body)
		}
		uv := form(t, body)
		uv.Set("email", email)
		uv.Set("password", password)
		resp, err = f.rp.browser.PostForm(f.up.URL+oidc.LoginPath, uv)
		if err != nil {
			t.Fatal(err)
		}
		final, body := f.follow(t, resp)
		loc, _ := url.Parse(final.Header.Get("Location"))
		if loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != fl.state {
			t.Fatalf("no code for the RP: %d %q %s", final.StatusCode, final.Header.Get("Location"), body)
		}
		tok := f.rp.exchange(fl, loc.Query().Get("code"))
		if ui, err := f.rp.userinfo(tok.AccessToken); err != nil || ui.Email != email {
			t.Fatalf("userinfo %+v %v", ui, err)
		}
	})
}

// TestUpstreamCallbackRefusals: /oidc/callback accepts only a state it
// issued, once.
func TestUpstreamCallbackRefusals(t *testing.T) {
	f := newFederation(t, testenv.SQLite)
	_, v := f.rp.openLogin()
	v.Set("provider", f.provider)
	resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
	if err != nil {
		t.Fatal(err)
	}
	up, err := url.Parse(continueTo(t, resp))
	if err != nil || up.Query().Get("state") == "" {
		t.Fatalf("no way upstream: %v", err)
	}
	state := up.Query().Get("state")
	cb := f.down.URL + oidc.UpstreamCallbackPath + "?"
	tests := []struct {
		name  string
		query url.Values
		want  int
	}{
		{"unknown state", url.Values{"state": {"forged"}, "code": {"x"}}, http.StatusBadRequest},
		{"no state", url.Values{"code": {"x"}}, http.StatusBadRequest},
		{"upstream error (uses the state up)", url.Values{"state": {state}, "error": {"access_denied"}}, http.StatusBadGateway},
		{"state replayed", url.Values{"state": {state}, "code": {"x"}}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		resp, err := f.rp.browser.Get(cb + tt.query.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d (Location %q), want %d", tt.name, resp.StatusCode, resp.Header.Get("Location"), tt.want)
		}
	}
	// An unknown provider, and a provider choice without a valid CSRF token.
	_, v = f.rp.openLogin()
	for name, edit := range map[string]func(url.Values){
		"unknown provider": func(v url.Values) { v.Set("provider", "nope") },
		"no csrf":          func(v url.Values) { v.Set("provider", f.provider); v.Del("csrf_token") },
	} {
		w := url.Values{}
		for k, vs := range v {
			w[k] = append([]string(nil), vs...)
		}
		edit(w)
		resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, w)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 3 {
			t.Errorf("%s: redirected to %q", name, resp.Header.Get("Location"))
		}
	}
}

// upstreamLogin completes the upstream's login page after the downstream
// redirected there, and returns the final response.
func (f *federation) upstreamLogin(t *testing.T, resp *http.Response) (*http.Response, string) {
	t.Helper()
	page, body := f.follow(t, resp)
	if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Request.URL.String(), f.up.URL+oidc.LoginPath) {
		t.Fatalf("upstream login page: %d at %s: %s", page.StatusCode, page.Request.URL, body)
	}
	uv := form(t, body)
	uv.Set("email", email)
	uv.Set("password", password)
	resp, err := f.rp.browser.PostForm(f.up.URL+oidc.LoginPath, uv)
	if err != nil {
		t.Fatal(err)
	}
	return f.follow(t, resp)
}

// TestDomainRouting: an email whose domain belongs to an organization goes
// to that organization's provider; an organization's own provider may only
// sign in addresses of its domain.
func TestDomainRouting(t *testing.T) {
	f := newFederation(t, testenv.SQLite)
	ctx := context.Background()
	actor := &authn.Principal{Kind: authn.KindServiceAccount, ID: "t", Subject: "test"}
	// acme.example logs in through the system provider.
	acme := &store.Organization{Meta: store.Meta{Name: "acme"}, Type: "domain", Domain: "acme.example",
		ProviderScope: tenancy.ProviderScopeGlobal, ProviderID: f.provider}
	if err := f.down.Tenancy.CreateOrganization(ctx, actor, acme); err != nil {
		t.Fatal(err)
	}
	// other.example has its own provider (the same upstream, which answers jo@acme.example).
	other := &store.Organization{Meta: store.Meta{Name: "other"}, Type: "domain", Domain: "other.example"}
	if err := f.down.Tenancy.CreateOrganization(ctx, actor, other); err != nil {
		t.Fatal(err)
	}
	sec := f.upSecret
	own, err := f.down.Tenancy.CreateProvider(ctx, actor, other.ID, &tenancy.ProviderInput{Provider: store.OAuth2Provider{
		Meta: store.Meta{Name: "other-idp"}, Type: "oidc", Issuer: f.up.URL, ClientID: f.upClient}, ClientSecret: &sec})
	if err != nil {
		t.Fatal(err)
	}
	other.ProviderScope, other.ProviderID = tenancy.ProviderScopeOrganization, own.ID
	if err := f.down.Tenancy.UpdateOrganization(ctx, actor, other.ID, other); err != nil {
		t.Fatal(err)
	}
	// Only verified domains route (issue 12).
	f.down.VerifyDomain(acme.ID)
	f.down.VerifyDomain(other.ID)

	tests := []struct {
		name      string
		email     string
		wantCode  bool
		wantFinal int
	}{
		{"domain of an organization on the system provider", email, true, http.StatusSeeOther},
		{"organization's own provider answering for another domain", "sam@other.example", false, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl, v := f.rp.openLogin()
			v.Set("email", tt.email)
			resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
			if err != nil {
				t.Fatal(err)
			}
			to := continueTo(t, resp)
			if !strings.HasPrefix(to, f.up.URL) {
				t.Fatalf("not routed upstream but to %q", to)
			}
			if resp, err = f.rp.browser.Get(to); err != nil {
				t.Fatal(err)
			}
			final, body := f.upstreamLogin(t, resp)
			loc, _ := url.Parse(final.Header.Get("Location"))
			gotCode := loc != nil && loc.Query().Get("code") != ""
			if gotCode != tt.wantCode || !tt.wantCode && final.StatusCode != tt.wantFinal {
				t.Fatalf("final %d %q (code %v, want %v) %s", final.StatusCode, final.Header.Get("Location"), gotCode, tt.wantCode, body)
			}
			if gotCode {
				f.rp.exchange(fl, loc.Query().Get("code"))
			}
		})
	}
	// An email of no organization still uses the local password.
	_, v := f.rp.openLogin()
	v.Set("email", "nobody@nowhere.example")
	v.Set("password", "whatever whatever")
	if resp := f.rp.submit(v); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unrouted email: %d, want 401 from the password form", resp.StatusCode)
	}
}

// TestUpstreamOnboarding: with onboarding "all", a first login through an
// upstream provider gets the onboarding form too; with "local" it does not.
func TestUpstreamOnboarding(t *testing.T) {
	for _, mode := range []oidc.Onboarding{oidc.OnboardingLocal, oidc.OnboardingAll} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFederationWith(t, testenv.SQLite, testenv.Options{Onboarding: mode})
			_, v := f.rp.openLogin()
			v.Set("provider", f.provider)
			resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
			if err != nil {
				t.Fatal(err)
			}
			if resp, err = f.rp.browser.Get(continueTo(t, resp)); err != nil {
				t.Fatal(err)
			}
			page, body := f.upstreamLogin(t, resp)
			onboarding := page.StatusCode == http.StatusOK && page.Request.URL.Path == oidc.OnboardPath
			if onboarding != (mode == oidc.OnboardingAll) {
				t.Fatalf("onboarding page %v with mode %s: %d at %s %s", onboarding, mode, page.StatusCode, page.Request.URL, body)
			}
		})
	}
}

// TestLoginHintNeedsAClick: a login_hint whose domain belongs to an
// organization with an identity provider (its own, or a system provider it
// chose) never goes upstream by itself (on the code before the fix it was a
// 302 to the provider: a crafted link made a victim's browser start, and
// finish, a login at an attacker's own provider). The login page shows
// the hinted email and a button "Continue with <provider> (<organization>)";
// posting it with the page's CSRF token goes upstream, posting it from
// another browser (no CSRF cookie) or with another token is refused and
// starts nothing. An essential acr of the password class offers neither the
// button nor the provider buttons.
func TestLoginHintNeedsAClick(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFederation(t, open)
		ctx := t.Context()
		actor := &authn.Principal{Kind: authn.KindServiceAccount, ID: "t", Subject: "test"}
		acme := &store.Organization{Meta: store.Meta{Name: "acme"}, Type: "domain", Domain: "acme.example",
			ProviderScope: tenancy.ProviderScopeGlobal, ProviderID: f.provider}
		if err := f.down.Tenancy.CreateOrganization(ctx, actor, acme); err != nil {
			t.Fatal(err)
		}
		other := &store.Organization{Meta: store.Meta{Name: "other"}, Type: "domain", Domain: "other.example"}
		if err := f.down.Tenancy.CreateOrganization(ctx, actor, other); err != nil {
			t.Fatal(err)
		}
		sec := f.upSecret
		own, err := f.down.Tenancy.CreateProvider(ctx, actor, other.ID, &tenancy.ProviderInput{Provider: store.OAuth2Provider{
			Meta: store.Meta{Name: "other-idp"}, Type: "oidc", Issuer: f.up.URL, ClientID: f.upClient}, ClientSecret: &sec})
		if err != nil {
			t.Fatal(err)
		}
		other.ProviderScope, other.ProviderID = tenancy.ProviderScopeOrganization, own.ID
		if err := f.down.Tenancy.UpdateOrganization(ctx, actor, other.ID, other); err != nil {
			t.Fatal(err)
		}
		f.down.VerifyDomain(acme.ID)
		f.down.VerifyDomain(other.ID)
		r := f.rp
		upstreamAt := f.up.URL + oidc.AuthorizationPath
		for _, c := range []struct {
			name, hint, button string
		}{
			{"an organization's own provider", "sam@other.example", "Continue with other-idp (other)"},
			{"a system provider an organization chose", email, "Continue with Upstream (acme)"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r.browser.Jar, _ = newJar()
				_, resp, _, body := r.authorize(param("login_hint", c.hint))
				if resp.StatusCode != http.StatusOK || !isLoginPage(body) {
					t.Fatalf("login_hint %s: %d %q, want the login page", c.hint, resp.StatusCode, resp.Header.Get("Location"))
				}
				for _, ck := range resp.Cookies() {
					if strings.Contains(ck.Name, oidc.UpstreamCookiePrefix) {
						t.Errorf("the login page began an upstream login (cookie %s)", ck.Name)
					}
				}
				if !strings.Contains(body, `id="hinted-provider" name="hinted" value="1">`+c.button+`</button>`) {
					t.Fatalf("no button %q on the login page: %s", c.button, body)
				}
				v := form(t, body)
				if m := hintedEmail.FindStringSubmatch(body); m == nil || html.UnescapeString(m[1]) != c.hint {
					t.Fatalf("the button does not post the email %q: %s", c.hint, body)
				}
				v.Set("email", c.hint)
				v.Set("hinted", "1")
				// From another browser (a cross-site post carries no
				// CSRF cookie of this one), or with a forged token.
				stranger := &http.Client{CheckRedirect: r.browser.CheckRedirect}
				stranger.Jar, _ = newJar()
				forged := url.Values{}
				for k, vs := range v {
					forged[k] = vs
				}
				forged.Set("csrf_token", "forged")
				for name, post := range map[string]func() (*http.Response, error){
					"another browser": func() (*http.Response, error) { return stranger.PostForm(f.down.URL+oidc.LoginPath, v) },
					"a forged token":  func() (*http.Response, error) { return r.browser.PostForm(f.down.URL+oidc.LoginPath, forged) },
				} {
					resp, err := post()
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusForbidden || strings.Contains(string(b), upstreamAt) {
						t.Errorf("the hinted button posted from %s: %d, want 403 and no way upstream: %s", name, resp.StatusCode, b)
					}
				}
				// The click: the page's form, with its CSRF token.
				resp, err := r.browser.PostForm(f.down.URL+oidc.LoginPath, v)
				if err != nil {
					t.Fatal(err)
				}
				if to := continueTo(t, resp); !strings.HasPrefix(to, upstreamAt) {
					t.Fatalf("the hinted button went to %q, want the provider", to)
				}
			})
		}
		claims := `{"id_token":{"acr":{"essential":true,"value":"` + oidc.ACRPassword + `"}}}`
		_, _, _, body := r.authorize(param("login_hint", email), param("claims", claims))
		if !isLoginPage(body) || providerButton.MatchString(body) || strings.Contains(body, "hinted-provider") {
			t.Fatalf("an essential password acr still offers a provider: %s", body)
		}
	})
}

// TestUpstreamCallbackBoundToBrowser replays the login CSRF of the attacker
// review's finding 1: someone completes an upstream login as himself, stops
// before his browser follows the redirect to /oidc/callback, and has a
// victim (signed in with her password) open that link. The callback must
// refuse it in the victim's browser (no session cookie, her single sign-on
// stays hers) and still complete in the browser that began the login. On
// the code before the fix the victim's prompt=none sign-on came back as the
// attacker.
func TestUpstreamCallbackBoundToBrowser(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFederation(t, open)
		down := f.down
		const victim, victimPW = "victim@victim.example", "victim-password-123"
		if err := down.Password.SetPassword(t.Context(), victim, victimPW); err != nil {
			t.Fatal(err)
		}
		vr := fedRP(t, f)
		vr.wantAMR = "pwd"
		_, vv := vr.openLogin()
		vv.Set("email", victim)
		vv.Set("password", victimPW)
		if resp := vr.submit(vv); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("victim login: %d", resp.StatusCode)
		}

		cb := stoppedUpstreamLogin(t, f)
		resp, err := vr.browser.Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("the attacker's callback in the victim's browser: %d, want 400", resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			if strings.HasPrefix(c.Name, oidc.SessionCookiePrefix) && c.Value != "" {
				t.Errorf("the attacker's callback set a session cookie in the victim's browser")
			}
		}
		fl, _, result, _ := vr.authorize(param("prompt", "none"))
		code := result.Get("code")
		if code == "" {
			t.Fatalf("the victim's single sign-on: %v", result)
		}
		tok, err := vr.conf.Exchange(t.Context(), code, oauth2.VerifierOption(fl.verifier))
		if err != nil {
			t.Fatal(err)
		}
		if sub := claimsOf(t, tok.AccessToken)["sub"]; sub != victim {
			t.Errorf("after opening the attacker's callback link the victim's sign-on is as %v, want %s", sub, victim)
		}

		// The refusal did not use the state up: the browser that began the
		// login still completes it.
		resp, err = f.rp.browser.Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the callback in the browser that began the login: %d, want 303", resp.StatusCode)
		}
	})
}

// TestUpstreamCookieOnlyServerIssued: the upstream binding cookie is used
// only when this Gatehouse issued (sealed) it. Someone who set a value of
// his choosing in his own browser and in a victim's (cookie tossing from
// another site of the domain) and then had the victim open the callback of
// his own stopped upstream login signed the victim in as himself on the code
// before the fix (it reused any 43-character value); now his value is
// replaced by a sealed one, his callback is refused in the victim's
// browser, and still completes in his own.
func TestUpstreamCookieOnlyServerIssued(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFederation(t, open)
		name := oidc.UpstreamCookiePrefix + secret.Hash(f.down.URL)[:12]
		chosen := &http.Cookie{Name: name, Value: strings.Repeat("A", 43), Path: "/"}
		cb := stoppedUpstreamLoginWith(t, f, []*http.Cookie{chosen})
		cbURL, _ := url.Parse(cb)
		issued := false
		for _, c := range f.rp.browser.Jar.Cookies(cbURL) {
			issued = issued || c.Name == name && c.Value != chosen.Value
		}
		if !issued {
			t.Errorf("the chosen upstream cookie was not replaced by one Gatehouse issued")
		}
		victim := &http.Client{CheckRedirect: f.rp.browser.CheckRedirect}
		victim.Jar, _ = newJar()
		root, _ := url.Parse(f.down.URL + "/")
		victim.Jar.SetCookies(root, []*http.Cookie{chosen})
		resp, err := victim.Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("the callback in a browser holding the chosen cookie: %d, want 400", resp.StatusCode)
		}
		if resp, err = f.rp.browser.Get(cb); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the callback in the browser that began the login: %d, want 303", resp.StatusCode)
		}
	})
}

// stoppedUpstreamLogin runs f.rp's browser through an upstream login (the
// system provider's button, the upstream's password page) and stops before
// the downstream callback, whose URL it returns.
func stoppedUpstreamLogin(t *testing.T, f *federation) string {
	t.Helper()
	return stoppedUpstreamLoginWith(t, f, nil)
}

// stoppedUpstreamLoginWith is stoppedUpstreamLogin with cookies set in the
// new browser before its login.
func stoppedUpstreamLoginWith(t *testing.T, f *federation, cookies []*http.Cookie) string {
	t.Helper()
	_, v := f.rp.openLogin()
	if cookies != nil {
		u, _ := url.Parse(f.down.URL + "/")
		f.rp.browser.Jar.SetCookies(u, cookies)
	}
	v.Set("provider", f.provider)
	resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
	if err != nil {
		t.Fatal(err)
	}
	page, body := f.follow(t, resp)
	uv := form(t, body)
	uv.Set("email", email)
	uv.Set("password", password)
	if resp, err = f.rp.browser.PostForm(page.Request.URL.String(), uv); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if loc == "" {
			t.Fatalf("no redirect: %d", resp.StatusCode)
		}
		next, err := resp.Request.URL.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(next.String(), f.down.URL+oidc.UpstreamCallbackPath) {
			return next.String()
		}
		if resp, err = f.rp.browser.Get(next.String()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("never reached the downstream callback")
	return ""
}
