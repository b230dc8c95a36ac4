package oidc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// The tests of issue 17, an outside OpenID Connect conformance check.

// TestUserinfoBearerErrors: userinfo refuses a token it cannot honour as
// RFC 6750 §3.1 says: 401, a WWW-Authenticate: Bearer challenge naming
// invalid_token (none when no token came at all) and an invalid_token JSON
// body with a description.
func TestUserinfoBearerErrors(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, c, sec := webRP(t, env)
		svc, svcSec := newClient(t, env, func(s *client.Spec) {
			s.Name = "svc"
			s.GrantTypes = []string{client.GrantClientCredentials}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
			s.Scopes = []string{"read"}
		})
		revoked := r.signIn().AccessToken
		if status, _ := postForm(t, env.Client, env.URL+oidc.RevocationPath, url.Values{"token": {revoked}}, c.ID, sec); status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		_, cc := postToken(t, env, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, svc.ID, svcSec)
		clientToken, _ := cc["access_token"].(string)
		expiring := r.signIn().AccessToken
		tests := []struct {
			name    string
			token   string // "" sends none
			post    bool   // the token as an access_token form parameter
			noError bool   // a challenge without an error code
		}{
			{name: "garbage", token: "garbage"},
			{name: "garbage in the form", token: "garbage", post: true},
			{name: "revoked", token: revoked},
			{name: "client credentials token", token: clientToken},
			{name: "expired", token: expiring},
			{name: "missing", noError: true},
		}
		env.OIDCClock.Advance(2 * time.Hour)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var req *http.Request
				if tt.post {
					req, _ = http.NewRequest("POST", env.URL+oidc.UserinfoPath, strings.NewReader(url.Values{"access_token": {tt.token}}.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				} else {
					req, _ = http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
					if tt.token != "" {
						req.Header.Set("Authorization", "Bearer "+tt.token)
					}
				}
				resp, err := env.Client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				var body map[string]any
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Fatalf("body %q: %v", raw, err)
				}
				challenge := resp.Header.Get("WWW-Authenticate")
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("status %d, want 401", resp.StatusCode)
				}
				if body["error"] != "invalid_token" || body["error_description"] == nil || body["error_description"] == "" {
					t.Errorf("body %s", raw)
				}
				if !strings.HasPrefix(challenge, `Bearer realm="`+env.URL+`"`) {
					t.Errorf("WWW-Authenticate %q", challenge)
				}
				if tt.noError != !strings.Contains(challenge, `error="invalid_token", error_description="`) {
					t.Errorf("WWW-Authenticate %q (want an error code: %v)", challenge, !tt.noError)
				}
			})
		}
	})
}

// TestUnsupportedResponseMode: a response_mode discovery does not list is
// refused with invalid_request, sent back in the query to the registered
// redirect_uri; query itself is fine.
func TestUnsupportedResponseMode(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	var d struct {
		Modes []string `json:"response_modes_supported"`
	}
	env.Must(http.StatusOK, "GET", oidc.DiscoveryPath, "", nil).JSON(t, &d)
	if len(d.Modes) != 1 || d.Modes[0] != "query" {
		t.Fatalf("response_modes_supported %v", d.Modes)
	}
	tests := []struct {
		mode      string
		wantError string // "" is the login page
	}{
		{"query", ""},
		{"fragment", "invalid_request"},
		{"form_post", "invalid_request"},
		{"query.jwt", "invalid_request"},
		{"bogus", "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			_, resp, result, _ := r.authorize(param("response_mode", tt.mode))
			if tt.wantError == "" {
				if resp.StatusCode != http.StatusOK || result != nil {
					t.Fatalf("%d %v, want the login page", resp.StatusCode, result)
				}
				return
			}
			if result.Get("error") != tt.wantError || result.Get("error_description") == "" {
				t.Fatalf("%d Location %q, want %s in the query", resp.StatusCode, resp.Header.Get("Location"), tt.wantError)
			}
		})
	}
}

// TestTokenErrorsDescribed: every token endpoint refusal says why in
// error_description, not in its error code alone.
func TestTokenErrorsDescribed(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, nil)
		tests := []struct {
			name  string
			form  url.Values
			basic [2]string
		}{
			{"bogus refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ghrt_bogus"}}, [2]string{c.ID, sec}},
			{"refresh token without the prefix", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"bogus"}}, [2]string{c.ID, sec}},
			{"missing refresh token", url.Values{"grant_type": {"refresh_token"}}, [2]string{c.ID, sec}},
			{"bogus code", url.Values{"grant_type": {"authorization_code"}, "code": {"bogus"}, "redirect_uri": {redirectURI}}, [2]string{c.ID, sec}},
			{"missing code", url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {redirectURI}}, [2]string{c.ID, sec}},
			{"unknown client", url.Values{"grant_type": {"authorization_code"}, "code": {"bogus"}, "redirect_uri": {redirectURI}}, [2]string{"nope", "nope"}},
			{"unknown client in the body", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ghrt_bogus"}, "client_id": {"nope"}, "client_secret": {"nope"}}, [2]string{}},
			{"wrong secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ghrt_bogus"}}, [2]string{c.ID, sec + "x"}},
			{"no client authentication", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ghrt_bogus"}}, [2]string{}},
			{"unsupported grant type", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}}, [2]string{c.ID, sec}},
			{"missing grant type", url.Values{}, [2]string{c.ID, sec}},
			{"client_credentials not granted", url.Values{"grant_type": {"client_credentials"}}, [2]string{c.ID, sec}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, body := postToken(t, env, tt.form, tt.basic[0], tt.basic[1])
				if status < 400 || body["error"] == nil || body["access_token"] != nil {
					t.Fatalf("status %d body %v, want a refusal", status, body)
				}
				if d, _ := body["error_description"].(string); d == "" {
					t.Errorf("status %d body %v: no error_description", status, body)
				}
			})
		}
	})
}

// TestRequestObjectsRefused: discovery says request objects are not
// supported, and an authorization request carrying one, by value or by
// reference (other than a pushed request's request_uri, par.go), is refused with the errors of OpenID Connect Core §6.1/§6.2
// rather than acted on without it.
func TestRequestObjectsRefused(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	var d map[string]any
	env.Must(http.StatusOK, "GET", oidc.DiscoveryPath, "", nil).JSON(t, &d)
	for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
		if v, ok := d[k]; !ok || v != false {
			t.Errorf("%s = %v (present %v), want false", k, v, ok)
		}
	}
	tests := []struct {
		name, key, value, wantError string
	}{
		{"request", "request", b64JSON(map[string]string{"alg": "none"}) + "." + b64JSON(map[string]string{"scope": "openid"}) + ".", "request_not_supported"},
		{"request_uri", "request_uri", "https://rp.example/request.jwt", "request_uri_not_supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, result, _ := r.authorize(param(tt.key, tt.value))
			if result.Get("error") != tt.wantError || result.Get("error_description") == "" {
				t.Fatalf("%d Location %q, want %s", resp.StatusCode, resp.Header.Get("Location"), tt.wantError)
			}
		})
	}
	// A request_uri of the PAR endpoint's form that names no pushed
	// request (issue 16): a page, never a redirect, since none of the
	// request's parameters can be trusted.
	_, resp, _, _ := r.authorize(param("request_uri", "urn:ietf:params:oauth:request_uri:abc"))
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("unknown pushed request: %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestUserinfoServiceAccount: the seed's userinfo serves any access token
// it issued. A service account's own token and a token exchanged for it
// answer with the account's claims (its ID as sub, its name, its
// organization, no email); once the token is rotated both are
// invalid_token. Before issue 17 both were 401.
func TestUserinfoServiceAccount(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		ex, exSec := exchanger(t, env, "exchanger")
		ten := env.NewTenant("robots", "reader")
		exchanged := mustExchange(t, env, ex.ID, exSec, ten.Token, nil)
		get := func(t *testing.T, token string) (int, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := env.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("decode: %v", err)
			}
			return resp.StatusCode, body
		}
		want := map[string]any{"sub": ten.ServiceAccountID, "name": "robots-reader",
			"preferred_username": "serviceaccount:robots-reader", "gh_kind": "service_account", "gh_org": ten.OrgID}
		for name, token := range map[string]string{"service account token": ten.Token, "exchanged token": exchanged} {
			t.Run(name, func(t *testing.T) {
				status, body := get(t, token)
				if status != http.StatusOK {
					t.Fatalf("status %d, body %v", status, body)
				}
				for k, v := range want {
					if body[k] != v {
						t.Errorf("%s = %v, want %v (body %v)", k, body[k], v, body)
					}
				}
				if _, ok := body["email"]; ok {
					t.Errorf("a service account has no email: %v", body)
				}
			})
		}
		env.Must(http.StatusOK, "POST", "/api/v1/organizations/"+ten.OrgID+"/serviceaccounts/"+ten.ServiceAccountID+"/rotate", env.AdminToken, nil)
		for name, token := range map[string]string{"rotated service account token": ten.Token, "exchanged from a rotated token": exchanged, "forged": "ghsa_forged"} {
			t.Run(name, func(t *testing.T) {
				if status, body := get(t, token); status != http.StatusUnauthorized || body["error"] != "invalid_token" {
					t.Errorf("status %d, body %v; want 401 invalid_token", status, body)
				}
			})
		}
	})
}

// TestUserinfoProfileClaims (issue 17): userinfo answers the profile claims
// an upstream provider gave at the subject's last login (name, given and
// family name, picture, locale, updated_at) when the token's scopes include
// profile, and none of them without it.
func TestUserinfoProfileClaims(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		at := time.Unix(1_700_000_000, 0).UTC()
		if err := env.Store.Tx(t.Context(), func(q *store.Q) error {
			return q.PutUserProfile(t.Context(), store.UserProfile{Subject: email, Name: "Jo Smith", GivenName: "Jo",
				FamilyName: "Smith", Picture: "https://example.com/jo.png", Locale: "en-GB", UpdatedAt: at})
		}); err != nil {
			t.Fatal(err)
		}
		claims := func(t *testing.T, scopes ...string) map[string]any {
			t.Helper()
			r, _, _ := webRP(t, env)
			r.conf.Scopes = scopes
			tok := r.signIn()
			ui, err := r.userinfo(tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			if err := ui.Claims(&out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		want := map[string]any{"name": "Jo Smith", "given_name": "Jo", "family_name": "Smith",
			"picture": "https://example.com/jo.png", "locale": "en-GB", "updated_at": float64(at.Unix()), "preferred_username": email}
		got := claims(t, "openid", "email", "profile")
		for k, v := range want {
			if got[k] != v {
				t.Errorf("with profile: %s = %v, want %v (claims %v)", k, got[k], v, got)
			}
		}
		got = claims(t, "openid", "email")
		for k := range want {
			if _, ok := got[k]; ok {
				t.Errorf("without profile: claim %s present (claims %v)", k, got)
			}
		}
	})
}

// TestUpstreamLoginStoresProfile: an upstream login records what the
// upstream said (here another Gatehouse, which names nobody: an empty
// profile at the login's time), replacing an earlier login's, so that a
// name dropped upstream is dropped here too.
func TestUpstreamLoginStoresProfile(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFederation(t, open)
		if err := f.down.Store.Tx(t.Context(), func(q *store.Q) error {
			return q.PutUserProfile(t.Context(), store.UserProfile{Subject: email, Name: "Old Name", UpdatedAt: time.Unix(1, 0)})
		}); err != nil {
			t.Fatal(err)
		}
		fl, v := f.rp.openLogin()
		v.Set("provider", f.provider)
		resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
		if err != nil {
			t.Fatal(err)
		}
		_, body := f.follow(t, resp)
		uv := form(t, body)
		uv.Set("email", email)
		uv.Set("password", password)
		if resp, err = f.rp.browser.PostForm(f.up.URL+oidc.LoginPath, uv); err != nil {
			t.Fatal(err)
		}
		final, _ := f.follow(t, resp)
		if loc, _ := url.Parse(final.Header.Get("Location")); loc == nil || loc.Query().Get("state") != fl.state {
			t.Fatalf("no answer for the RP: %d %q", final.StatusCode, final.Header.Get("Location"))
		}
		p, err := f.down.Store.Read().GetUserProfile(t.Context(), email)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "" || !p.UpdatedAt.Equal(f.down.OIDCClock.Now().Truncate(time.Millisecond)) {
			t.Errorf("profile after the login %+v, want no name, updated at %v", p, f.down.OIDCClock.Now())
		}
	})
}

// TestLastActive (issue 17, identity-api seed): userStatus.lastActive is
// written on sign-in and on token use (the API, userinfo, refresh), at most
// once a minute per user, on each organization the user is a member of.
func TestLastActive(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme, other := env.NewTenant("acme", "reader"), env.NewTenant("other", "reader")
		addUser(t, env, acme, email, "active")
		addUser(t, env, other, email, "active")
		lastActive := func(ten *testenv.Tenant) string {
			t.Helper()
			u := env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+ten.OrgID+"/users/"+userID(t, env, ten, email), env.AdminToken, nil).Map(t)
			s, _ := u["status"].(map[string]any)["lastActive"].(string)
			return s
		}
		if got := lastActive(acme); got != "" {
			t.Fatalf("lastActive before any sign-in: %q", got)
		}
		stamp := func() string { return env.OIDCClock.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano) }
		want := func(what, at string) {
			t.Helper()
			for _, ten := range []*testenv.Tenant{acme, other} {
				if got := lastActive(ten); got != at {
					t.Errorf("%s: lastActive %q, want %q", what, got, at)
				}
			}
		}
		r, _, _ := webRP(t, env)
		tok := r.signIn()
		signedIn := stamp()
		want("sign-in", signedIn)

		env.OIDCClock.Advance(30 * time.Second)
		if _, err := r.userinfo(tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		env.Must(http.StatusOK, "GET", "/api/v1/acl", tok.AccessToken, nil)
		want("token use within the minute", signedIn)

		env.OIDCClock.Advance(31 * time.Second)
		env.Must(http.StatusOK, "GET", "/api/v1/acl", tok.AccessToken, nil)
		apiUse := stamp()
		want("API use a minute later", apiUse)

		env.OIDCClock.Advance(61 * time.Second)
		if _, err := r.userinfo(tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		want("userinfo a minute later", stamp())

		env.OIDCClock.Advance(61 * time.Second)
		if _, err := r.refresh(tok.RefreshToken); err != nil {
			t.Fatal(err)
		}
		want("refresh a minute later", stamp())
	})
}
