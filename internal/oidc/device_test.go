package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/loginflow"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// signInBrowser logs the test user in to c from a new browser (loginflow:
// its own cookie jar, so its own browser session) and redeems the code.
func signInBrowser(t *testing.T, lf *loginflow.Client) *loginflow.Tokens {
	t.Helper()
	ctx := context.Background()
	code, f, err := lf.Code(ctx, email, password, "openid", "email", "offline_access")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := lf.Exchange(ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	return tok
}

// userinfoStatus is the status of userinfo with access token at.
func userinfoStatus(t *testing.T, env *testenv.Env, at string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// refused checks that err is the token endpoint's invalid_grant.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	var e *loginflow.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != "invalid_grant" {
		t.Errorf("%s: %v, want 400 invalid_grant", what, err)
	}
}

// TestSessionPerDevice (issue 17): two browsers signing in to a client with
// sessionPerDevice keep independent refresh token families, each rotating
// on its own (reuse in one ends that one only), and logout with an
// id_token_hint ends the hint's device only; on a default client the
// second login still ends the first (the seed's one session per person and
// client).
func TestSessionPerDevice(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		ctx := context.Background()
		for _, perDevice := range []bool{true, false} {
			c, sec := newClient(t, env, func(s *client.Spec) { s.SessionPerDevice = perDevice })
			if c.SessionPerDevice != perDevice {
				t.Fatalf("client stored sessionPerDevice %v, want %v", c.SessionPerDevice, perDevice)
			}
			lf := &loginflow.Client{BaseURL: env.URL, ClientID: c.ID, ClientSecret: sec, RedirectURI: redirectURI, HTTP: env.Client}
			laptop := signInBrowser(t, lf)
			phone := signInBrowser(t, lf)

			if !perDevice {
				_, err := lf.Refresh(ctx, laptop.RefreshToken)
				refused(t, "default client: the first browser's refresh token after the second login", err)
				if got := userinfoStatus(t, env, laptop.AccessToken); got != http.StatusUnauthorized {
					t.Errorf("default client: the first browser's access token: userinfo %d, want 401", got)
				}
				if _, err := lf.Refresh(ctx, phone.RefreshToken); err != nil {
					t.Errorf("default client: the second browser's refresh token: %v", err)
				}
				continue
			}

			// Each device rotates its own family, twice.
			for i := range 2 {
				for name, tok := range map[string]*loginflow.Tokens{"laptop": laptop, "phone": phone} {
					next, err := lf.Refresh(ctx, tok.RefreshToken)
					if err != nil {
						t.Fatalf("per-device client, round %d: %s's refresh token: %v", i, name, err)
					}
					if got := userinfoStatus(t, env, next.AccessToken); got != http.StatusOK {
						t.Errorf("per-device client: %s's refreshed access token: userinfo %d", name, got)
					}
					*tok = *next
				}
			}
			// Logout with the laptop's ID token ends the laptop's family
			// (its sid), not the phone's.
			noFollow := &http.Client{Transport: env.Client.Transport,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := noFollow.Get(env.URL + oidc.EndSessionPath + "?" + url.Values{"id_token_hint": {laptop.IDToken},
				"post_logout_redirect_uri": {logoutURI}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != logoutURI {
				t.Fatalf("logout: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			_, err = lf.Refresh(ctx, laptop.RefreshToken)
			refused(t, "per-device client: the laptop's refresh token after its logout", err)
			if got := userinfoStatus(t, env, laptop.AccessToken); got != http.StatusUnauthorized {
				t.Errorf("per-device client: the laptop's access token after its logout: userinfo %d, want 401", got)
			}
			next, err := lf.Refresh(ctx, phone.RefreshToken)
			if err != nil {
				t.Fatalf("per-device client: the phone's refresh token after the laptop's logout: %v", err)
			}
			// Reuse of the phone's rotated-away token ends the phone's
			// family: refresh rotation still guards each device.
			_, err = lf.Refresh(ctx, phone.RefreshToken)
			refused(t, "per-device client: a reused refresh token", err)
			_, err = lf.Refresh(ctx, next.RefreshToken)
			refused(t, "per-device client: the family of a reused refresh token", err)
		}
	})
}

// TestBrowserSessionLastUsed: single sign-on records when it reused a
// browser session (at most once a minute), and the application sessions a
// browser session's logins started name it; the caller's family and its
// browser session are marked current.
func TestBrowserSessionLastUsed(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		ctx := context.Background()
		r, _, _ := webRP(t, env)
		r.signIn()
		browserOf := func(current string) (*oidc.PersonSession, []*oidc.PersonSession) {
			t.Helper()
			all, err := env.Provider.PersonSessions(ctx, email, oidc.SessionScope{}, current)
			if err != nil {
				t.Fatal(err)
			}
			var b *oidc.PersonSession
			for _, s := range all {
				if s.Kind == oidc.SessionKindBrowser {
					b = s
				}
			}
			if b == nil {
				t.Fatalf("no browser session in %v", all)
			}
			return b, all
		}
		if b, _ := browserOf(""); !b.LastUsedAt.IsZero() {
			t.Fatalf("a fresh browser session was used at %v", b.LastUsedAt)
		}
		sso := func() {
			t.Helper()
			other, sec := newClient(t, env, nil)
			r2 := newRP(t, env, other, sec)
			r2.browser = r.browser
			if _, _, result, body := r2.authorize(); result.Get("code") == "" {
				t.Fatalf("no single sign-on: %s", body)
			}
		}
		env.OIDCClock.Advance(5 * time.Minute)
		sso()
		used := env.OIDCClock.Now().Truncate(time.Millisecond)
		if b, _ := browserOf(""); !b.LastUsedAt.Equal(used) {
			t.Errorf("last used %v after single sign-on at %v", b.LastUsedAt, used)
		}
		env.OIDCClock.Advance(10 * time.Second)
		sso()
		b, all := browserOf("")
		if !b.LastUsedAt.Equal(used) {
			t.Errorf("last used %v, want %v kept (written at most once a minute)", b.LastUsedAt, used)
		}
		var family string
		for _, s := range all {
			if s.Kind == oidc.SessionKindApplication {
				family = s.ID
				if s.BrowserSessionID != b.ID {
					t.Errorf("application session %s names browser session %q, want %q", s.ID, s.BrowserSessionID, b.ID)
				}
			}
		}
		b, all = browserOf(family)
		for _, s := range all {
			if s.Current != (s.ID == family || s.ID == b.ID) {
				t.Errorf("session %s (%s) current %v", s.ID, s.Kind, s.Current)
			}
		}
	})
}

// TestConfinedLoginSessions: a login vouched for by an organization's own
// identity provider speaks for that organization only (issue 12), so on
// the account page it sees and ends only the sessions that provider
// vouched for, never the person's password login, and may not touch
// consents (remembered across every provider); the password login sees
// everything.
func TestConfinedLoginSessions(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFederation(t, open)
		down := f.down
		org := down.NewTenant("own-idp", "administrator")
		addUser(t, down, org, email, "active")
		if err := down.Password.SetPassword(t.Context(), email, password); err != nil {
			t.Fatal(err)
		}
		c, sec := newClient(t, down, nil)
		local := newRP(t, down, c, sec).signIn()
		ownID := claimDomainWithOwnProvider(t, f, org.OrgID, "acme.example")
		vouched, _ := vouchedLogin(t, f)

		var mine []map[string]any
		down.Must(http.StatusOK, "GET", "/api/v1/account/sessions", vouched, nil).JSON(t, &mine)
		if len(mine) != 2 {
			t.Fatalf("the confined login's sessions: %v, want its browser and application session", mine)
		}
		for _, s := range mine {
			p, _ := s["provider"].(map[string]any)
			if p["organizationId"] != org.OrgID || p["id"] != ownID {
				t.Errorf("the confined login sees %v", s)
			}
		}
		var all []map[string]any
		down.Must(http.StatusOK, "GET", "/api/v1/account/sessions", local.AccessToken, nil).JSON(t, &all)
		if len(all) != 4 {
			t.Fatalf("the password login's view: %v, want 4 sessions", all)
		}
		for _, s := range all {
			if p, _ := s["provider"].(map[string]any); p["id"] == "local" {
				down.Must(http.StatusNotFound, "DELETE", "/api/v1/account/sessions/"+s["id"].(string), vouched, nil)
			}
		}
		down.Must(http.StatusForbidden, "GET", "/api/v1/account/consents", vouched, nil)
		down.Must(http.StatusForbidden, "DELETE", "/api/v1/account/consents/"+c.ID, vouched, nil)
		down.Must(http.StatusOK, "GET", "/api/v1/account/sessions", local.AccessToken, nil)
		// It ends its own.
		down.Must(http.StatusOK, "DELETE", "/api/v1/account/sessions/"+mine[0]["id"].(string), vouched, nil)
	})
}
