package oidc_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestTokenExchange: a service account token or a user's access token is
// exchanged (RFC 8693) for a short-lived JWT that acts exactly as the
// subject, never wider, and never across tenants.
func TestTokenExchange(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", "administrator")
		other := env.NewTenant("other", "administrator")
		ex, exSec := newClient(t, env, func(s *client.Spec) {
			s.Name = "exchanger"
			s.GrantTypes = []string{client.GrantTokenExchange}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
			s.Scopes = []string{"openid", "email"}
		})
		plain, plainSec := newClient(t, env, nil)
		exchange := func(id, sec, subject string, extra url.Values) (int, map[string]any) {
			v := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}
			for k, vs := range extra {
				v[k] = vs
			}
			return postToken(t, env, v, id, sec)
		}

		// A service account token becomes a JWT with the account's rights.
		status, body := exchange(ex.ID, exSec, acme.Token, nil)
		if status != http.StatusOK || body["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" {
			t.Fatalf("exchange service account token: %d %v", status, body)
		}
		jwt := body["access_token"].(string)
		env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+acme.OrgID+"/groups", jwt, nil)
		env.Must(http.StatusForbidden, "GET", "/api/v1/organizations/"+other.OrgID+"/groups", jwt, nil)

		// A user's access token can be narrowed, not widened.
		r := newRP(t, env, plain, plainSec)
		f, code := r.login()
		tok := r.exchange(f, code)
		if status, body := exchange(ex.ID, exSec, tok.AccessToken, url.Values{"scope": {"openid"}}); status != http.StatusOK || body["scope"] != "openid" {
			t.Fatalf("narrowing a user token: %d %v", status, body)
		}

		refusals := []struct {
			name      string
			id, sec   string
			subject   string
			extra     url.Values
			wantError string
		}{
			{"widening scopes", ex.ID, exSec, tok.AccessToken, url.Values{"scope": {"openid profile"}}, "invalid_scope"},
			{"client without the grant", plain.ID, plainSec, acme.Token, nil, "unauthorized_client"},
			{"forged subject token", ex.ID, exSec, "ghsa_forged", nil, "invalid_grant"},
			{"ID token as subject", ex.ID, exSec, tok.Extra("id_token").(string), nil, "invalid_grant"},
			{"other subject token type", ex.ID, exSec, acme.Token, url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, "invalid_request"},
			{"actor token", ex.ID, exSec, acme.Token, url.Values{"actor_token": {acme.Token}, "actor_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, "invalid_request"},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				status, body := exchange(tt.id, tt.sec, tt.subject, tt.extra)
				if status == http.StatusOK || body["error"] != tt.wantError || body["access_token"] != nil {
					t.Fatalf("%d %v, want error %s", status, body, tt.wantError)
				}
			})
		}
	})
}
