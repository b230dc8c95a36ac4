package oidc_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// newOrgClient registers a client of organization orgID (newClient's
// defaults, edited by edit).
func newOrgClient(t testing.TB, env *testenv.Env, orgID string, edit func(*client.Spec)) (*client.Client, string) {
	t.Helper()
	spec := client.Spec{
		Name: "portal", RedirectURIs: []string{redirectURI}, PostLogoutRedirectURIs: []string{logoutURI},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		Scopes:     []string{"openid", "profile", "email", "offline_access"},
	}
	if edit != nil {
		edit(&spec)
	}
	c, sec, err := env.Clients.CreateIn(context.Background(), orgID, spec)
	if err != nil {
		t.Fatalf("create organization client: %v", err)
	}
	return c, sec
}

// loginAs runs the browser part of a login of r as subject and returns
// where the provider finally sends the browser (the redirect URI, with a
// code or an error).
func loginAs(t testing.TB, r *rp, subject string) *url.URL {
	t.Helper()
	_, v := r.openLogin()
	v.Set("email", subject)
	v.Set("password", password)
	resp := r.submit(v)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login of %s: status %d", subject, resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), redirectURI) {
		final, body := r.get(loc.String())
		if r.consents {
			final, body = r.allowConsent(final, body)
		}
		if loc, err = url.Parse(final.Header.Get("Location")); err != nil || !strings.HasPrefix(loc.String(), redirectURI) {
			t.Fatalf("login of %s ends at %d %q: %s", subject, final.StatusCode, final.Header.Get("Location"), body)
		}
	}
	return loc
}

// TestOrganizationClientConfinement (issue 13): a client an organization
// registered signs in the organization's active members only; its tokens
// act in that organization only, even for a platform administrator (no
// platform operation, no other organization), through refresh and token
// exchange too; a member removed from the organization cannot refresh.
func TestOrganizationClientConfinement(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		ctx := context.Background()
		acme := env.NewTenant("acme", authz.RoleAdministrator)
		other := env.NewTenant("other", authz.RoleAdministrator)
		// jo: administrator of acme and of other, and platform administrator.
		addUser(t, env, acme, email, "active")
		addUser(t, env, other, email, "active")
		platformAdmin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		if err := env.Store.Tx(ctx, func(q *store.Q) error {
			return q.BindPlatformRole(ctx, store.MemberUser, email, platformAdmin.ID)
		}); err != nil {
			t.Fatal(err)
		}
		// A stranger to acme: member of other only.
		const stranger = "sam@other.example"
		addUser(t, env, other, stranger, "active")
		if err := env.Password.SetPassword(ctx, stranger, password); err != nil {
			t.Fatal(err)
		}

		oc, osec := newOrgClient(t, env, acme.OrgID, nil)
		org := newRP(t, env, oc, osec)
		org.consents = true
		pc, psec := newClient(t, env, nil)
		plat := newRP(t, env, pc, psec)

		// Through the platform client jo has platform powers; through
		// acme's client only acme's.
		platTok := plat.signIn()
		env.Must(http.StatusOK, "GET", "/api/v1/oauth2clients", platTok.AccessToken, nil)
		orgTok := org.signIn()
		c := claimsOf(t, orgTok.AccessToken)
		if c["gh_corg"] != acme.OrgID || fmt.Sprint(c["org_ids"]) != fmt.Sprint([]any{acme.OrgID}) {
			t.Errorf("claims gh_corg %v org_ids %v, want %s", c["gh_corg"], c["org_ids"], acme.OrgID)
		}
		confined := func(name, tok string) {
			t.Helper()
			env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+acme.OrgID+"/groups", tok, nil)
			for _, call := range []struct{ method, path string }{
				{"GET", "/api/v1/organizations/" + other.OrgID + "/groups"},
				{"GET", "/api/v1/oauth2clients"},
				{"GET", "/api/v1/auditevents"},
				{"POST", "/api/v1/organizations"},
			} {
				var body any
				if call.method == "POST" {
					body = map[string]any{"metadata": map[string]any{"name": "evil"}, "spec": map[string]any{"organizationType": "adhoc"}}
				}
				if r := env.Do(call.method, call.path, tok, body); r.Status != http.StatusForbidden {
					t.Errorf("%s: %s %s: %d %s, want 403", name, call.method, call.path, r.Status, r.Body)
				}
			}
			var orgs []map[string]any
			env.Must(http.StatusOK, "GET", "/api/v1/organizations", tok, nil).JSON(t, &orgs)
			if len(orgs) != 1 || orgs[0]["metadata"].(map[string]any)["id"] != acme.OrgID {
				t.Errorf("%s: listOrganizations %v, want acme only", name, orgs)
			}
		}
		confined("access token", orgTok.AccessToken)
		refreshed, err := org.refresh(orgTok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		confined("refreshed token", refreshed.AccessToken)

		// Token exchange: acme's client keeps the confinement of what it
		// exchanges, even the platform client's token; a service account
		// of another organization is refused.
		ex, exSec := newOrgClient(t, env, acme.OrgID, func(s *client.Spec) {
			s.GrantTypes = []string{client.GrantTokenExchange}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		})
		exchange := func(subject string) (int, map[string]any) {
			return postToken(t, env, url.Values{"grant_type": {client.GrantTokenExchange}, "subject_token": {subject},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, ex.ID, exSec)
		}
		status, body := exchange(platTok.AccessToken)
		if status != http.StatusOK {
			t.Fatalf("exchange: %d %v", status, body)
		}
		confined("exchanged platform token", body["access_token"].(string))
		if status, body := exchange(other.Token); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("exchanging another organization's service account token: %d %v, want invalid_grant", status, body)
		}
		if status, body := exchange(acme.Token); status != http.StatusOK {
			t.Errorf("exchanging acme's service account token: %d %v", status, body)
		}
		// A platform client's exchange of acme's client's token stays
		// confined too.
		pex, pexSec := newClient(t, env, func(s *client.Spec) {
			s.GrantTypes = []string{client.GrantTokenExchange}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		})
		status, body = postToken(t, env, url.Values{"grant_type": {client.GrantTokenExchange}, "subject_token": {orgTok.AccessToken},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, pex.ID, pexSec)
		if status != http.StatusOK {
			t.Fatalf("platform exchange of an organization client's token: %d %v", status, body)
		}
		confined("token exchanged by a platform client", body["access_token"].(string))

		// A stranger to acme cannot sign in through acme's client: the
		// client gets access_denied, no code.
		loc := loginAs(t, org, stranger)
		if loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
			t.Errorf("stranger through acme's client: %s, want error=access_denied", loc)
		}
		// ... but through a platform client, as before.
		if loc := loginAs(t, plat, stranger); loc.Query().Get("code") == "" {
			t.Errorf("stranger through a platform client: %s, want a code", loc)
		}

		// Suspended in acme: no more refresh through acme's client, and
		// no new login.
		env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+acme.OrgID+"/users/"+userID(t, env, acme, email), env.AdminToken,
			map[string]any{"spec": map[string]any{"subject": email, "state": "suspended", "groupIDs": []string{acme.GroupID}}})
		if _, err := org.refresh(refreshed.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("refresh after suspension in acme: %v, want invalid_grant", err)
		}
		if loc := loginAs(t, org, email); loc.Query().Get("error") != "access_denied" {
			t.Errorf("login after suspension in acme: %s, want error=access_denied", loc)
		}
	})
}

// TestOrganizationClientSingleSignOn: a browser session of someone who is
// not a member does not sign them in through an organization's client
// (prompt=none gets access_denied rather than a code).
func TestOrganizationClientSingleSignOn(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	acme := env.NewTenant("acme", authz.RoleAdministrator)
	other := env.NewTenant("other", authz.RoleAdministrator)
	addUser(t, env, other, email, "active")
	pc, psec := newClient(t, env, nil)
	plat := newRP(t, env, pc, psec)
	plat.signIn() // the browser now has a session of jo
	oc, osec := newOrgClient(t, env, acme.OrgID, nil)
	org := newRP(t, env, oc, osec)
	org.browser = plat.browser
	_, _, result, body := org.authorize(param("prompt", "none"))
	if result.Get("error") != "access_denied" || result.Get("code") != "" {
		t.Fatalf("single sign-on of a non-member: %v %s", result, body)
	}
	// Once a member, the same session signs in, after consent (which an
	// organization's client always asks: TestOrganizationClientConsent).
	addUser(t, env, acme, email, "active")
	if _, _, result, _ := org.authorize(param("prompt", "none")); result.Get("error") != "consent_required" {
		t.Fatalf("single sign-on of a member before consent: %v", result)
	}
	_, page, _, body := org.authorize()
	if resp, _ := org.allowConsent(page, body); org.toRP(resp).Query().Get("code") == "" {
		t.Fatalf("no code after consent: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, _, result, _ := org.authorize(param("prompt", "none")); result.Get("code") == "" {
		t.Fatalf("single sign-on of a member: %v", result)
	}
}

// TestOrganizationClientConsent (review of issue 13): an organization's
// client asks for consent even when registered with requireConsent false
// (the API reads it back as true): prompt=none at it with no remembered
// consent gets consent_required, not a code, so a page of the
// organization's cannot identify a member's signed-in browser without a
// click. Once allowed, the consent is remembered like any other.
func TestOrganizationClientConsent(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", authz.RoleAdministrator)
		addUser(t, env, acme, email, "active")
		pc, psec := newClient(t, env, nil)
		plat := newRP(t, env, pc, psec)
		plat.signIn() // the browser has a session of jo, a member of acme

		// Registered over the API with requireConsent false.
		var created struct {
			Metadata struct{ ID string } `json:"metadata"`
			Spec     struct {
				RequireConsent bool `json:"requireConsent"`
			} `json:"spec"`
			Secret string `json:"secret"`
		}
		env.Must(http.StatusCreated, "POST", "/api/v1/organizations/"+acme.OrgID+"/oauth2clients", acme.Token, map[string]any{
			"metadata": map[string]any{"name": "portal"},
			"spec": map[string]any{"redirectURIs": []string{redirectURI}, "requireConsent": false,
				"scopes": []string{"openid", "profile", "email", "offline_access"}},
		}).JSON(t, &created)
		if !created.Spec.RequireConsent {
			t.Error("an organization's client reads back requireConsent false")
		}
		oc, err := env.Clients.Get(t.Context(), created.Metadata.ID)
		if err != nil {
			t.Fatal(err)
		}
		org := newRP(t, env, oc, created.Secret)
		org.browser = plat.browser

		if _, _, result, body := org.authorize(param("prompt", "none")); result.Get("error") != "consent_required" || result.Get("code") != "" {
			t.Fatalf("prompt=none without consent: %v %s", result, body)
		}
		_, page, result, body := org.authorize()
		if result != nil || page.Request.URL.Path != oidc.ConsentPath {
			t.Fatalf("no consent page: %v %d at %s", result, page.StatusCode, page.Request.URL)
		}
		if resp, _ := org.allowConsent(page, body); org.toRP(resp).Query().Get("code") == "" {
			t.Fatalf("no code after consent: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if _, _, result, _ := org.authorize(param("prompt", "none")); result.Get("code") == "" {
			t.Fatalf("consent not remembered: %v", result)
		}
	})
}

// TestExchangeAudienceStaysInTheOrganization (review): a token confined to
// an organization (its client's, or the service account's) cannot be
// exchanged for a token whose audience is another organization's client: that
// organization's resource server would take it, by its aud, for one of its
// own (the subject may carry the address of one of its people, as an
// organization's own local account can). Its own organization's and
// platform clients remain valid audiences.
func TestExchangeAudienceStaysInTheOrganization(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", authz.RoleAdministrator)
		other := env.NewTenant("other", authz.RoleAdministrator)
		exchangeOnly := func(s *client.Spec) {
			s.GrantTypes = []string{client.GrantTokenExchange}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		}
		ex, exSec := newOrgClient(t, env, acme.OrgID, exchangeOnly)
		acmeRS, _ := newOrgClient(t, env, acme.OrgID, exchangeOnly)
		otherRS, _ := newOrgClient(t, env, other.OrgID, exchangeOnly)
		platRS, _ := newClient(t, env, exchangeOnly)
		pex, pexSec := newClient(t, env, exchangeOnly)

		for _, tc := range []struct {
			name, by, secret, audience string
			want                       int
		}{
			{"acme's client, acme's resource server", ex.ID, exSec, acmeRS.ID, http.StatusOK},
			{"acme's client, a platform resource server", ex.ID, exSec, platRS.ID, http.StatusOK},
			{"acme's client, other's resource server", ex.ID, exSec, otherRS.ID, http.StatusBadRequest},
			{"platform client, acme's service account, other's resource server", pex.ID, pexSec, otherRS.ID, http.StatusBadRequest},
			{"platform client, acme's service account, acme's resource server", pex.ID, pexSec, acmeRS.ID, http.StatusOK},
		} {
			status, body := postToken(t, env, url.Values{"grant_type": {client.GrantTokenExchange}, "subject_token": {acme.Token},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {tc.audience}}, tc.by, tc.secret)
			if status != tc.want || (tc.want != http.StatusOK && body["error"] != "invalid_target") {
				t.Errorf("%s: %d %v, want %d", tc.name, status, body, tc.want)
			}
		}
	})
}

// TestOrganizationClientBackchannelNotInternal (review): an organization
// administrator chooses its client's back-channel logout URI, so Gatehouse
// must not POST there to an address of its own network (loopback, private,
// link-local): that would let a tenant reach services behind the server.
// A platform client's URI (the platform administrator's) is delivered to
// as before.
func TestOrganizationClientBackchannelNotInternal(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", authz.RoleAdministrator)
		platformRP, orgRP := newBackchannelRP(t, false, 0), newBackchannelRP(t, false, 0)
		pc, psec := newClient(t, env, func(s *client.Spec) { s.BackchannelLogoutURI = platformRP.uri() })
		platformRP.rp = newRP(t, env, pc, psec)
		oc, _ := newOrgClient(t, env, acme.OrgID, func(s *client.Spec) { s.BackchannelLogoutURI = orgRP.uri() })
		env.Provider.NotifySessionsEnded(context.Background(), []*store.OIDCSession{
			{ClientID: pc.ID, Subject: email, SID: "sid-platform"}, {ClientID: oc.ID, Subject: email, SID: "sid-org"}})
		env.Provider.WaitLogoutNotifications()
		if tokens, problems, _ := platformRP.got(); len(tokens) != 1 || len(problems) != 0 {
			t.Errorf("platform client: tokens %v problems %v, want one token", tokens, problems)
		}
		if tokens, problems, _ := orgRP.got(); len(tokens) != 0 || len(problems) != 0 {
			t.Errorf("organization client on loopback was posted to: tokens %v problems %v", tokens, problems)
		}
	})
}

// TestOrganizationClientLogoutShowsDestination (review of issue 13): a
// logout at an organization's client does not redirect from Gatehouse's
// origin to the post_logout_redirect_uri the organization registered: the
// logout is done, and a page of Gatehouse's names the destination's host
// and links to it (state appended), for the person to follow or not. A
// link to that page with a URI not registered for the client shows no
// destination. A platform client's logout still redirects
// (TestBackchannelLogout).
func TestOrganizationClientLogoutShowsDestination(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", authz.RoleAdministrator)
		addUser(t, env, acme, email, "active")
		oc, osec := newOrgClient(t, env, acme.OrgID, nil)
		org := newRP(t, env, oc, osec)
		org.consents = true
		tok := org.signIn()
		raw, _ := tok.Extra("id_token").(string)

		// The browser follows Gatehouse's redirects and stops at the
		// relying party's.
		page, body := org.get(env.URL + oidc.EndSessionPath + "?" + url.Values{"id_token_hint": {raw},
			"post_logout_redirect_uri": {logoutURI}, "state": {"bye"}}.Encode())
		if page.Request.URL.Path != oidc.LogoutContinuePath {
			t.Fatalf("logout at an organization's client: %d at %s (Location %q), want Gatehouse's page", page.StatusCode, page.Request.URL, page.Header.Get("Location"))
		}
		if page.StatusCode != http.StatusOK || page.Header.Get("Location") != "" ||
			!strings.Contains(body, `id="destination">127.0.0.1:9999<`) || !strings.Contains(body, `href="`+logoutURI+`?state=bye"`) ||
			!strings.Contains(body, `id="client-name">portal<`) {
			t.Fatalf("the page after the logout: %d %q %s", page.StatusCode, page.Header.Get("Location"), body)
		}
		// The logout itself is done: the client's session has ended.
		if _, err := org.refresh(tok.RefreshToken); err == nil {
			t.Error("the refresh token survived the logout")
		}
		// A forged link to the page names no destination.
		for _, uri := range []string{"https://evil.example/", ""} {
			_, body := org.get(env.URL + oidc.LogoutContinuePath + "?" + url.Values{"client_id": {oc.ID}, "post_logout_redirect_uri": {uri}}.Encode())
			if strings.Contains(body, `id="continue"`) || strings.Contains(body, "evil.example") {
				t.Errorf("post_logout_redirect_uri %q not registered: %s", uri, body)
			}
		}
	})
}
