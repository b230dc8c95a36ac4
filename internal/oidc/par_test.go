package oidc_test

import (
	"crypto/rand"
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

// authParams are the parameters of a code flow request of r with PKCE.
func (r *rp) authParams(f flow) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {r.conf.ClientID}, "redirect_uri": {redirectURI},
		"scope": {"openid email offline_access"}, "state": {f.state}, "nonce": {f.nonce},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(f.verifier)}, "code_challenge_method": {"S256"}}
}

// TestPushedAuthorizationRequests (issue 16, RFC 9126): a client that
// requires PAR has plain authorization requests refused; pushed with its
// credentials, the request works through the login to tokens, once; the
// request_uri is refused a second time and for another client; a pushed
// request is checked when pushed; a wrong secret gets 401.
func TestPushedAuthorizationRequests(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, func(s *client.Spec) { s.RequirePushedAuthorizationRequests = true })
		r := newRP(t, env, c, sec)
		f := flow{state: "st-" + rand.Text(), nonce: "n-" + rand.Text(), verifier: oauth2.GenerateVerifier()}

		// A plain request goes back to the client refused.
		resp, _ := r.get(env.URL + oidc.AuthorizationPath + "?" + r.authParams(f).Encode())
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), redirectURI) ||
			loc.Query().Get("error") != "invalid_request" || !strings.Contains(loc.Query().Get("error_description"), "push") {
			t.Fatalf("plain request: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}

		// Wrong secret: 401, nothing stored.
		if status, body := postForm(t, env.Client, env.URL+oidc.PARPath, r.authParams(f), c.ID, "wrong"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("push with a wrong secret: %d %v", status, body)
		}
		// Checked when pushed: an unregistered redirect_uri, a scope the
		// client may not ask for.
		bad := r.authParams(f)
		bad.Set("redirect_uri", "https://evil.example/cb")
		if status, body := postForm(t, env.Client, env.URL+oidc.PARPath, bad, c.ID, sec); status != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Fatalf("push with a foreign redirect_uri: %d %v", status, body)
		}
		bad = r.authParams(f)
		bad.Set("scope", "openid admin")
		if status, body := postForm(t, env.Client, env.URL+oidc.PARPath, bad, c.ID, sec); status != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Fatalf("push with a foreign scope: %d %v", status, body)
		}

		status, pushed := postForm(t, env.Client, env.URL+oidc.PARPath, r.authParams(f), c.ID, sec)
		uri, _ := pushed["request_uri"].(string)
		if status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || pushed["expires_in"] != float64(90) {
			t.Fatalf("push: %d %v", status, pushed)
		}
		// Another client cannot use the request_uri (and using it spends it).
		other, _ := newClient(t, env, nil)
		status2, pushed2 := postForm(t, env.Client, env.URL+oidc.PARPath, r.authParams(f), c.ID, sec)
		if status2 != http.StatusCreated {
			t.Fatalf("second push: %d %v", status2, pushed2)
		}
		if resp, body := r.get(env.URL + oidc.AuthorizationPath + "?" + url.Values{"client_id": {other.ID}, "request_uri": {pushed2["request_uri"].(string)}}.Encode()); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("request_uri of another client: %d %s", resp.StatusCode, body)
		}

		// The browser carries client_id and request_uri only.
		authURL := env.URL + oidc.AuthorizationPath + "?" + url.Values{"client_id": {c.ID}, "request_uri": {uri}}.Encode()
		resp, body := r.get(authURL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("pushed request: %d %s", resp.StatusCode, body)
		}
		v := form(t, body)
		v.Set("email", email)
		v.Set("password", password)
		resp = r.submit(v)
		final, _ := r.get(resp.Header.Get("Location"))
		loc, _ = url.Parse(final.Header.Get("Location"))
		if loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != f.state {
			t.Fatalf("callback: %d %s", final.StatusCode, final.Header.Get("Location"))
		}
		r.exchange(f, loc.Query().Get("code"))

		// Single use.
		if resp, body := r.get(authURL); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "request_uri") {
			t.Fatalf("request_uri reused: %d %s", resp.StatusCode, body)
		}

		// Short-lived: one pushed PARLifetime ago is refused.
		_, pushed3 := postForm(t, env.Client, env.URL+oidc.PARPath, r.authParams(f), c.ID, sec)
		env.OIDCClock.Advance(oidc.PARLifetime + 1)
		if resp, body := r.get(env.URL + oidc.AuthorizationPath + "?" + url.Values{"client_id": {c.ID}, "request_uri": {pushed3["request_uri"].(string)}}.Encode()); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("expired request_uri: %d %s", resp.StatusCode, body)
		}
	})
}
