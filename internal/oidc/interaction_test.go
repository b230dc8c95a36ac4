package oidc_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// post posts v to path in r's browser (redirects not followed).
func (r *rp) post(path string, v url.Values) (*http.Response, string) {
	r.t.Helper()
	resp, err := r.browser.PostForm(r.env.URL+path, v)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// passwordLogin fills the login page shown last and returns the response.
func (r *rp) passwordLogin(who string) *http.Response {
	r.t.Helper()
	v := form(r.t, r.page)
	v.Set("email", who)
	v.Set("password", password)
	return r.submit(v)
}

// TestConsent: a client that requires consent shows the consent page after
// the login; Deny sends access_denied (with the state) to the client; Allow
// is remembered for those scopes, so the next login goes straight through,
// and asking for more scopes asks again. prompt=consent asks whatever was
// remembered, also of a client that does not require consent.
func TestConsent(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, func(s *client.Spec) { s.Name = "Billing Portal"; s.RequireConsent = true })
		r := newRP(t, env, c, sec)
		r.conf.Scopes = []string{"openid", "email"}

		checkPage := func(page *http.Response, body string) string {
			t.Helper()
			if page.StatusCode != http.StatusOK || page.Request.URL.Path != oidc.ConsentPath || !strings.Contains(body, `id="client-name">Billing Portal<`) ||
				!strings.Contains(body, "See your email address") {
				t.Fatalf("consent page: %d %s", page.StatusCode, body)
			}
			if m := formAction.FindStringSubmatch(page.Header.Get("Content-Security-Policy")); m == nil || m[1] != "'self' http://127.0.0.1:9999" {
				t.Errorf("consent page CSP %q", page.Header.Get("Content-Security-Policy"))
			}
			return body
		}
		consentPage := func(resp *http.Response) string {
			t.Helper()
			if !strings.Contains(resp.Header.Get("Location"), oidc.ConsentPath) {
				t.Fatalf("not sent to the consent page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			return checkPage(r.get(resp.Header.Get("Location")))
		}

		// Deny.
		f, _ := r.openLogin()
		body := consentPage(r.passwordLogin(email))
		v := form(t, body)
		v.Set("decision", "deny")
		resp, _ := r.post(oidc.ConsentPath, v)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != f.state || loc.Query().Get("code") != "" {
			t.Fatalf("deny: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// The same form again: the request is gone.
		if resp, _ := r.post(oidc.ConsentPath, v); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a denied request answered again: %d", resp.StatusCode)
		}

		// Allow (the session from the login above is reused: consent is still asked).
		f, page, result, body := r.authorize()
		if result != nil {
			t.Fatalf("consent skipped: %v", result)
		}
		body = checkPage(page, body)
		v = form(t, body)
		v.Set("decision", "allow")
		resp, _ = r.post(oidc.ConsentPath, v)
		code := r.toRP(resp).Query().Get("code")
		if code == "" {
			t.Fatalf("no code after allow: %q", resp.Header.Get("Location"))
		}
		r.exchange(f, code)

		// Remembered: straight through, even with prompt=none.
		if _, _, result, _ := r.authorize(param("prompt", "none")); result.Get("code") == "" {
			t.Fatalf("consent not remembered: %v", result)
		}
		// A scope not consented yet: asked again.
		if _, _, result, _ := r.authorize(oauth2.SetAuthURLParam("scope", "openid email offline_access"), param("prompt", "none")); result.Get("error") != "consent_required" {
			t.Fatalf("a wider request skipped consent: %v", result)
		}
		// prompt=consent asks even a client that does not require consent.
		plain, plainSec := newClient(t, env, func(s *client.Spec) { s.Name = "Plain" })
		rp2 := newRP(t, env, plain, plainSec)
		rp2.browser = r.browser
		_, page, result, _ = rp2.authorize(param("prompt", "consent"))
		if result != nil || page.Request.URL.Path != oidc.ConsentPath {
			t.Fatalf("prompt=consent: %v %d at %s", result, page.StatusCode, page.Request.URL)
		}
	})
}

// TestInteractionCSRF: the consent and onboarding pages belong to the
// browser that logged in: another browser (no cookie), a wrong token, or a
// form for another step is refused, and nothing is consented or created.
func TestInteractionCSRF(t *testing.T) {
	env := newEnvWith(t, testenv.SQLite, testenv.Options{Onboarding: oidc.OnboardingLocal})
	acme := env.NewTenant("acme", "reader")
	addUser(t, env, acme, email, "active")
	c, sec := newClient(t, env, func(s *client.Spec) { s.RequireConsent = true })
	r := newRP(t, env, c, sec)
	r.openLogin()
	resp := r.passwordLogin(email)
	pageURL := resp.Header.Get("Location")
	_, body := r.get(pageURL)
	v := form(t, body)
	v.Set("decision", "allow")

	stranger := &http.Client{CheckRedirect: r.browser.CheckRedirect}
	if resp, err := stranger.Get(pageURL); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the consent page in another browser: %v %v", resp.StatusCode, err)
	}
	if resp, err := stranger.PostForm(env.URL+oidc.ConsentPath, v); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the consent form from another browser: %v %v", resp.StatusCode, err)
	}
	wrong := url.Values{"state": {v.Get("state")}, "csrf_token": {flipFirst(v.Get("csrf_token"))}, "decision": {"allow"}}
	if resp, _ := r.post(oidc.ConsentPath, wrong); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a wrong token: %d", resp.StatusCode)
	}
	onboard := url.Values{"state": {v.Get("state")}, "csrf_token": {v.Get("csrf_token")}, "organization_name": {"x"}, "group_name": {"y"}}
	if resp, _ := r.post(oidc.OnboardPath, onboard); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the onboarding form for a request waiting for consent: %d", resp.StatusCode)
	}
	if got, _ := env.Store.Read().ConsentedScopes(t.Context(), email, c.ID); len(got) != 0 {
		t.Fatalf("consent recorded by a refused form: %v", got)
	}
	if resp, _ := r.post(oidc.ConsentPath, v); r.toRP(resp) == nil {
		t.Fatalf("the genuine form: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
