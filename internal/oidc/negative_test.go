package oidc_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestRemovedKey: a token signed by a key that is no longer published (two
// rotations and --drop-retired, as after a key compromise) is refused by
// /api/v1, userinfo, introspection and as an id_token_hint.
func TestRemovedKey(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, c, sec := webRP(t, env)
		tok := r.signIn()
		hint, _ := tok.Extra("id_token").(string)
		ctx := t.Context()
		for range 2 {
			if err := env.Keys.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// Still published while retired: still accepted.
		env.Must(http.StatusOK, "GET", "/api/v1/acl", tok.AccessToken, nil)
		if n, err := env.Keys.DropRetired(ctx); err != nil || n == 0 {
			t.Fatalf("drop retired: %d %v", n, err)
		}
		env.Must(http.StatusUnauthorized, "GET", "/api/v1/acl", tok.AccessToken, nil)
		if _, err := r.userinfo(tok.AccessToken); err == nil {
			t.Error("userinfo accepted a token of a removed key")
		}
		if got := introspect(t, env, c.ID, sec, tok.AccessToken); got["active"] != false {
			t.Errorf("introspection of a token of a removed key: %v", got)
		}
		if _, _, result, _ := r.authorize(param("id_token_hint", hint)); result.Get("error") != "invalid_request" {
			t.Errorf("an id_token_hint of a removed key: %v", result)
		}
	})
}

// TestForgedTokensEverywhere: the forgeries /api/v1 refuses (TestForgedTokens)
// are refused by userinfo and reported inactive by introspection too, and
// an expired token likewise.
func TestForgedTokensEverywhere(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, c, sec := webRP(t, env)
	tok := r.signIn()
	parts := strings.Split(tok.AccessToken, ".")
	forged := map[string]string{
		"alg none":           b64JSON(map[string]string{"alg": "none", "typ": "at+jwt"}) + "." + parts[1] + ".",
		"bad signature":      parts[0] + "." + parts[1] + "." + flipFirst(parts[2]),
		"ID token as bearer": func() string { s, _ := tok.Extra("id_token").(string); return s }(),
	}
	for name, token := range forged {
		t.Run(name, func(t *testing.T) {
			if _, err := r.userinfo(token); err == nil {
				t.Error("userinfo accepted it")
			}
			if got := introspect(t, env, c.ID, sec, token); got["active"] != false {
				t.Errorf("introspection: %v", got)
			}
		})
	}
	env.OIDCClock.Advance(2 * time.Hour)
	if _, err := r.userinfo(tok.AccessToken); err == nil {
		t.Error("userinfo accepted an expired token")
	}
	if got := introspect(t, env, c.ID, sec, tok.AccessToken); got["active"] != false {
		t.Errorf("introspection of an expired token: %v", got)
	}
}

// TestBadLoginState: the login page and form, and the authorization
// callback, know only the auth requests Gatehouse made: a forged or unknown
// state is a 400 page and redirects nowhere.
func TestBadLoginState(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	_, v := r.openLogin()
	v.Set("email", email)
	v.Set("password", password)
	v.Set("state", "forged-"+v.Get("state"))
	if resp := r.submit(v); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("login form with a forged state: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, u := range []string{oidc.LoginPath + "?state=forged", oidc.LoginPath, oidc.CallbackPath + "?id=forged",
		oidc.ConsentPath + "?state=forged", oidc.OnboardPath + "?state=forged"} {
		resp, err := r.browser.Get(env.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", u, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestErrorsNeverRedirectToUnverifiedURIs: an authorization error is sent
// to the redirect_uri only once that URI is known to be the client's; with
// an unknown client or an unregistered URI the error is a page of
// Gatehouse's, whatever else is wrong with the request (prompt=none, a bad
// scope, a bad PKCE method).
func TestErrorsNeverRedirectToUnverifiedURIs(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, c, _ := webRP(t, env)
	evil := "https://evil.example/cb"
	tests := map[string]url.Values{
		"unknown client":                        {"client_id": {"nope"}, "redirect_uri": {evil}},
		"unregistered URI and prompt=none":      {"client_id": {c.ID}, "redirect_uri": {evil}, "prompt": {"none"}},
		"unregistered URI and a bad scope":      {"client_id": {c.ID}, "redirect_uri": {evil}, "scope": {"openid admin"}},
		"unregistered URI and plain PKCE":       {"client_id": {c.ID}, "redirect_uri": {evil}, "code_challenge_method": {"plain"}, "code_challenge": {strings.Repeat("a", 43)}},
		"unregistered URI and an id_token_hint": {"client_id": {c.ID}, "redirect_uri": {evil}, "id_token_hint": {"garbage"}},
		"no redirect_uri":                       {"client_id": {c.ID}},
	}
	for name, q := range tests {
		t.Run(name, func(t *testing.T) {
			q.Set("response_type", "code")
			q.Set("state", "s")
			if q.Get("scope") == "" {
				q.Set("scope", "openid")
			}
			resp, _ := r.get(env.URL + oidc.AuthorizationPath + "?" + q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// b64JSON is the base64url of v's JSON, a JWT segment.
func b64JSON(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}
