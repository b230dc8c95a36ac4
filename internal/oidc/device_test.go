package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

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
