package oidc_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"

// exchanger registers a confidential client allowed token exchange.
func exchanger(t *testing.T, env *testenv.Env, name string) (*client.Client, string) {
	t.Helper()
	return newClient(t, env, func(s *client.Spec) {
		s.Name = name
		s.GrantTypes = []string{client.GrantTokenExchange}
		s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
	})
}

// exchangeToken trades subject at the token endpoint as client id.
func exchangeToken(t *testing.T, env *testenv.Env, id, sec, subject string, extra url.Values) (int, map[string]any) {
	t.Helper()
	v := url.Values{"grant_type": {tokenExchangeGrant}, "subject_token": {subject},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}
	for k, vs := range extra {
		v[k] = vs
	}
	return postToken(t, env, v, id, sec)
}

// mustExchange is exchangeToken that must succeed; it returns the new token.
func mustExchange(t *testing.T, env *testenv.Env, id, sec, subject string, extra url.Values) string {
	t.Helper()
	status, body := exchangeToken(t, env, id, sec, subject, extra)
	tok, _ := body["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("exchange: %d %v", status, body)
	}
	return tok
}

// revokeToken posts token to the revocation endpoint as client id.
func revokeToken(t *testing.T, env *testenv.Env, id, sec, token string) {
	t.Helper()
	if status, body := postForm(t, env.Client, env.URL+oidc.RevocationPath, url.Values{"token": {token}}, id, sec); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
}

// wantStatus sends a request as env.Do does and reports, on t (a subtest's
// own, unlike env.Must), a status other than want.
func wantStatus(t *testing.T, env *testenv.Env, want int, method, path, token string, body any) {
	t.Helper()
	if r := env.Do(method, path, token, body); r.Status != want {
		t.Errorf("%s %s: status %d, want %d; body %.300s", method, path, r.Status, want, r.Body)
	}
}

// checkIntrospection introspects token as client id and checks the answer:
// exactly {"active": false} (as for an unknown token) unless wantActive,
// else active with the test user as sub and wantClient as client_id.
func checkIntrospection(t *testing.T, env *testenv.Env, id, sec, token string, wantActive bool, wantClient string) {
	t.Helper()
	got := introspect(t, env, id, sec, token)
	if !wantActive {
		if len(got) != 1 || got["active"] != false {
			t.Errorf("introspection: %v, want exactly {\"active\": false}", got)
		}
		return
	}
	if got["active"] != true || got["sub"] != email || got["client_id"] != wantClient || got["scope"] == nil {
		t.Errorf("introspection: %v, want active, sub %s, client_id %s", got, email, wantClient)
	}
}

// TestIntrospectionIsForTheTokensClient (finding 8): introspection tells
// what a token is only to the client it was issued to; to any other
// authenticated confidential client (a resource server included, unless the
// token is meant for it: TestIntrospectionByAudience) it is
// {"active": false}, exactly as an unknown token.
func TestIntrospectionIsForTheTokensClient(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, a, aSec := webRP(t, env)
		b, bSec := newClient(t, env, func(s *client.Spec) { s.Name = "other" })
		rs, rsSec := newClient(t, env, func(s *client.Spec) { s.Name = "resource-server" })
		tok := r.signIn()
		tests := []struct {
			name       string
			id, sec    string
			token      string
			wantActive bool
		}{
			{"the client it was issued to", a.ID, aSec, tok.AccessToken, true},
			{"another client", b.ID, bSec, tok.AccessToken, false},
			{"a resource server not in its audience", rs.ID, rsSec, tok.AccessToken, false},
			{"an unknown token", a.ID, aSec, "not-a-token", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkIntrospection(t, env, tt.id, tt.sec, tt.token, tt.wantActive, a.ID)
			})
		}
	})
}

// TestIntrospectionByAudience (finding 8): a token meant for a resource
// server (token exchange with audience, a registered confidential client)
// is active to that resource server and to the client that obtained it,
// and to nobody else; an audience that is no confidential client is
// invalid_target.
func TestIntrospectionByAudience(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, a, aSec := webRP(t, env)
		b, bSec := newClient(t, env, func(s *client.Spec) { s.Name = "other" })
		rs, rsSec := newClient(t, env, func(s *client.Spec) { s.Name = "resource-server" })
		public, _ := newClient(t, env, func(s *client.Spec) {
			s.Name = "public"
			s.Type, s.TokenEndpointAuthMethod = client.Public, client.AuthNone
		})
		ex, exSec := exchanger(t, env, "exchanger")
		tok := r.signIn()
		forRS := mustExchange(t, env, ex.ID, exSec, tok.AccessToken, url.Values{"scope": {"openid"}, "audience": {rs.ID}})
		if aud, _ := claimsOf(t, forRS)["aud"].([]any); len(aud) != 2 || aud[0] != env.URL || aud[1] != rs.ID {
			t.Fatalf("aud of the exchanged token: %v", aud)
		}
		tests := []struct {
			name       string
			id, sec    string
			wantActive bool
		}{
			{"the resource server in its audience", rs.ID, rsSec, true},
			{"the client that obtained it", ex.ID, exSec, true},
			{"another client", b.ID, bSec, false},
			{"the subject token's client", a.ID, aSec, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkIntrospection(t, env, tt.id, tt.sec, forRS, tt.wantActive, ex.ID)
			})
		}
		for name, aud := range map[string]string{"unknown client": "no-such-client", "public client": public.ID} {
			t.Run("audience "+name, func(t *testing.T) {
				status, body := exchangeToken(t, env, ex.ID, exSec, tok.AccessToken, url.Values{"audience": {aud}})
				if status != http.StatusBadRequest || body["error"] != "invalid_target" || body["access_token"] != nil {
					t.Errorf("%d %v, want invalid_target", status, body)
				}
			})
		}
	})
}

// TestExchangedTokensDieWithTheirSubject (finding 8): a token obtained by
// token exchange, and one exchanged from that, stop working at /api/v1,
// userinfo and introspection as soon as the subject token is ended, by
// every way it can end; and it never outlives the subject token.
func TestExchangedTokensDieWithTheirSubject(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", "reader")
		addUser(t, env, acme, email, "active")
		ex, exSec := exchanger(t, env, "exchanger")

		// alive and dead check a user token everywhere it is accepted.
		check := func(t *testing.T, r *rpT, token string, wantAlive bool) {
			t.Helper()
			want := http.StatusUnauthorized
			if wantAlive {
				want = http.StatusOK
			}
			wantStatus(t, env, want, "GET", "/api/v1/acl", token, nil)
			if _, err := r.rp.userinfo(token); (err == nil) != wantAlive {
				t.Errorf("userinfo: err %v, want alive %v", err, wantAlive)
			}
			if got := introspect(t, env, ex.ID, exSec, token); got["active"] != wantAlive {
				t.Errorf("introspection: %v, want active %v", got, wantAlive)
			}
		}
		tests := []struct {
			name string
			end  func(t *testing.T, r *rpT, tok *oauth2.Token)
		}{
			{"subject access token revoked (RFC 7009)", func(t *testing.T, r *rpT, tok *oauth2.Token) {
				revokeToken(t, env, r.c.ID, r.sec, tok.AccessToken)
			}},
			{"refresh token revoked", func(t *testing.T, r *rpT, tok *oauth2.Token) {
				revokeToken(t, env, r.c.ID, r.sec, tok.RefreshToken)
			}},
			{"logout", func(t *testing.T, r *rpT, tok *oauth2.Token) {
				raw, _ := tok.Extra("id_token").(string)
				lr, _ := r.rp.get(env.URL + oidc.EndSessionPath + "?" + url.Values{"id_token_hint": {raw}, "client_id": {r.c.ID},
					"post_logout_redirect_uri": {logoutURI}}.Encode())
				if lr.StatusCode != http.StatusFound {
					t.Fatalf("logout: %d", lr.StatusCode)
				}
			}},
			{"refresh token reused", func(t *testing.T, r *rpT, tok *oauth2.Token) {
				if _, err := r.rp.refresh(tok.RefreshToken); err != nil {
					t.Fatal(err)
				}
				if _, err := r.rp.refresh(tok.RefreshToken); err == nil {
					t.Fatal("reuse accepted")
				}
			}},
			{"user suspended", func(t *testing.T, _ *rpT, _ *oauth2.Token) {
				wantStatus(t, env, http.StatusOK, "PUT", "/api/v1/organizations/"+acme.OrgID+"/users/"+userID(t, env, acme, email), env.AdminToken,
					map[string]any{"spec": map[string]any{"subject": email, "state": "suspended", "groupIDs": []string{acme.GroupID}}})
				env.Provider.WaitLogoutNotifications()
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newRPT(t, env)
				tok := r.rp.signIn()
				first := mustExchange(t, env, ex.ID, exSec, tok.AccessToken, url.Values{"scope": {"openid"}})
				second := mustExchange(t, env, ex.ID, exSec, first, nil)
				sc, fc, tc := claimsOf(t, second), claimsOf(t, first), claimsOf(t, tok.AccessToken)
				if sc["exp"].(float64) > fc["exp"].(float64) || fc["exp"].(float64) > tc["exp"].(float64) || sc["scope"] != "openid" {
					t.Fatalf("exchanged tokens outlive or exceed their subject: exp %v > %v > %v, scope %v", sc["exp"], fc["exp"], tc["exp"], sc["scope"])
				}
				for _, tk := range []string{first, second} {
					check(t, r, tk, true)
				}
				tt.end(t, r, tok)
				for i, tk := range []string{first, second} {
					t.Run([]string{"exchanged", "exchanged twice"}[i], func(t *testing.T) { check(t, r, tk, false) })
				}
				// Active again for the next case.
				wantStatus(t, env, http.StatusOK, "PUT", "/api/v1/organizations/"+acme.OrgID+"/users/"+userID(t, env, acme, email), env.AdminToken,
					map[string]any{"spec": map[string]any{"subject": email, "state": "active", "groupIDs": []string{acme.GroupID}}})
			})
		}

		// Revoking a middle link ends what was exchanged from it, not what
		// it was exchanged from.
		t.Run("middle of a chain revoked", func(t *testing.T) {
			r := newRPT(t, env)
			tok := r.rp.signIn()
			first := mustExchange(t, env, ex.ID, exSec, tok.AccessToken, nil)
			second := mustExchange(t, env, ex.ID, exSec, first, nil)
			revokeToken(t, env, ex.ID, exSec, first)
			check(t, r, second, false)
			wantStatus(t, env, http.StatusOK, "GET", "/api/v1/acl", tok.AccessToken, nil)
		})
	})
}

// TestExchangedServiceAccountTokens (finding 8): a token exchanged from a
// service account token stops working when that token is rotated or the
// account deleted, and never outlives the service account token.
func TestExchangedServiceAccountTokens(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		ex, exSec := exchanger(t, env, "exchanger")
		tests := []struct {
			name string
			end  func(t *testing.T, ten *testenv.Tenant)
		}{
			{"token rotated", func(t *testing.T, ten *testenv.Tenant) {
				wantStatus(t, env, http.StatusOK, "POST", "/api/v1/organizations/"+ten.OrgID+"/serviceaccounts/"+ten.ServiceAccountID+"/rotate", env.AdminToken, nil)
			}},
			{"account deleted", func(t *testing.T, ten *testenv.Tenant) {
				wantStatus(t, env, http.StatusOK, "DELETE", "/api/v1/organizations/"+ten.OrgID+"/serviceaccounts/"+ten.ServiceAccountID, env.AdminToken, nil)
			}},
		}
		tenants := make([]*testenv.Tenant, len(tests))
		for i := range tests {
			tenants[i] = env.NewTenant("sa-"+string(rune('a'+i)), "reader")
		}
		short := env.NewTenant("sa-short", "reader")
		parent := env.NewTenant("sa-parent", authz.RoleAdministrator)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ten := tenants[i]
				groups := "/api/v1/organizations/" + ten.OrgID + "/groups"
				first := mustExchange(t, env, ex.ID, exSec, ten.Token, nil)
				second := mustExchange(t, env, ex.ID, exSec, first, nil)
				for _, tk := range []string{first, second} {
					wantStatus(t, env, http.StatusOK, "GET", groups, tk, nil)
				}
				tt.end(t, ten)
				for _, tk := range []string{first, second} {
					wantStatus(t, env, http.StatusUnauthorized, "GET", groups, tk, nil)
					if got := introspect(t, env, ex.ID, exSec, tk); got["active"] != false {
						t.Errorf("introspection: %v", got)
					}
				}
			})
		}
		// The attacker review of main (finding 7): an API key minted by an
		// exchanged token named only the service account in its lineage,
		// so revoking the exchanged token left the key working. Now it
		// inherits the token's lineage (its jti and its ancestors'): the
		// key dies with it, while the account's own token, and a key it
		// minted directly, live on.
		t.Run("offspring of a revoked exchanged token", func(t *testing.T) {
			ten := parent
			keys := "/api/v1/organizations/" + ten.OrgID + "/apikeys"
			groups := "/api/v1/organizations/" + ten.OrgID + "/groups"
			reader, _ := authz.RoleByName(authz.RoleReader)
			mint := func(token, name string) string {
				k := env.Must(http.StatusCreated, "POST", keys, token, map[string]any{
					"metadata": map[string]any{"name": name}, "spec": map[string]any{"roleID": reader.ID}}).Map(t)
				return k["status"].(map[string]any)["accessToken"].(string)
			}
			first := mustExchange(t, env, ex.ID, exSec, ten.Token, nil)
			second := mustExchange(t, env, ex.ID, exSec, first, nil)
			fromFirst, fromSecond, direct := mint(first, "from-first"), mint(second, "from-second"), mint(ten.Token, "direct")
			for _, k := range []string{fromFirst, fromSecond, direct} {
				wantStatus(t, env, http.StatusOK, "GET", groups, k, nil)
			}
			revokeToken(t, env, ex.ID, exSec, first)
			for _, k := range []string{first, second, fromFirst, fromSecond} {
				wantStatus(t, env, http.StatusUnauthorized, "GET", groups, k, nil)
			}
			for _, k := range []string{ten.Token, direct} {
				wantStatus(t, env, http.StatusOK, "GET", groups, k, nil)
			}
		})
		t.Run("expiry clamped", func(t *testing.T) {
			ten := short
			soon := env.OIDCClock.Now().Add(5 * time.Minute).Truncate(time.Second)
			err := env.Store.Tx(t.Context(), func(q *store.Q) error {
				sa, err := q.GetServiceAccount(t.Context(), ten.OrgID, ten.ServiceAccountID)
				if err != nil {
					return err
				}
				sa.ExpiresAt = soon
				return q.UpdateServiceAccount(t.Context(), sa)
			})
			if err != nil {
				t.Fatal(err)
			}
			tok := mustExchange(t, env, ex.ID, exSec, ten.Token, nil)
			if exp := int64(claimsOf(t, tok)["exp"].(float64)); exp > soon.Unix() {
				t.Errorf("exp %v after the service account token's %v", time.Unix(exp, 0), soon)
			}
		})
	})
}

// TestRefreshReuseRevokesEarlierAccessTokens (finding 8): reuse of a
// refresh token ends every access token issued in its family, not only the
// latest: the ones issued before (still unexpired) stop working at once.
func TestRefreshReuseRevokesEarlierAccessTokens(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, c, sec := webRP(t, env)
		tok := r.signIn()
		second, err := r.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		third, err := r.refresh(second.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []string{tok.AccessToken, second.AccessToken, third.AccessToken} {
			env.Must(http.StatusOK, "GET", "/api/v1/acl", at, nil)
		}
		if _, err := r.refresh(tok.RefreshToken); err == nil {
			t.Fatal("a reused refresh token was accepted")
		}
		for i, at := range []string{tok.AccessToken, second.AccessToken, third.AccessToken} {
			t.Run([]string{"first", "second", "latest"}[i], func(t *testing.T) {
				wantStatus(t, env, http.StatusUnauthorized, "GET", "/api/v1/acl", at, nil)
				if _, err := r.userinfo(at); err == nil {
					t.Error("userinfo accepted it")
				}
				if got := introspect(t, env, c.ID, sec, at); got["active"] != false {
					t.Errorf("introspection: %v", got)
				}
			})
		}
	})
}

// rpT is a relying party of its own web client, with the client's
// credentials.
type rpT struct {
	rp  *rp
	c   *client.Client
	sec string
}

func newRPT(t *testing.T, env *testenv.Env) *rpT {
	t.Helper()
	r, c, sec := webRP(t, env)
	return &rpT{rp: r, c: c, sec: sec}
}

// TestExchangeChainBounded: a token can be exchanged down a chain of at
// most 8 tokens (each use checks all its ancestors), and the scopes only
// narrow along it.
func TestExchangeChainBounded(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, _, _ := webRP(t, env)
		ex, exSec := exchanger(t, env, "exchanger")
		tok := r.signIn().AccessToken
		for i := range 8 {
			extra := url.Values{}
			if i == 0 {
				extra.Set("scope", "openid email")
			}
			tok = mustExchange(t, env, ex.ID, exSec, tok, extra)
			if i == 3 {
				if status, body := exchangeToken(t, env, ex.ID, exSec, tok, url.Values{"scope": {"openid offline_access"}}); status != http.StatusBadRequest || body["error"] != "invalid_scope" {
					t.Errorf("widening the scope down the chain: %d %v", status, body)
				}
			}
		}
		wantStatus(t, env, http.StatusOK, "GET", "/api/v1/acl", tok, nil)
		if status, body := exchangeToken(t, env, ex.ID, exSec, tok, nil); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("a 9th exchange: %d %v, want invalid_grant", status, body)
		}
	})
}
