package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// The local accounts of issue 13, end to end: links followed in a browser,
// logins with the passwords chosen, tokens used on /api/v1.

var linkField = regexp.MustCompile(`name="(token|csrf_token)" value="([^"]*)"`)

// linkBrowser follows password and setup links: a cookie jar, no redirects
// followed.
func linkBrowser(env *testenv.Env) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: env.Client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t testing.TB, b *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var (
		resp *http.Response
		err  error
	)
	if method == "GET" {
		resp, err = b.Get(u)
	} else {
		resp, err = b.PostForm(u, form)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// openLink shows the page of link and returns its form's hidden fields.
func openLink(t testing.TB, b *http.Client, link string) url.Values {
	t.Helper()
	resp, body := fetch(t, b, "GET", link, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", link, resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("page CSP %q", csp)
	}
	v := url.Values{}
	for _, m := range linkField.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], m[2])
	}
	if v.Get("token") == "" || v.Get("csrf_token") == "" {
		t.Fatalf("no link form in %s", body)
	}
	return v
}

// postLink posts the form of link's page (from openLink) to path.
func postLink(t testing.TB, env *testenv.Env, b *http.Client, path string, v url.Values, extra map[string]string) (*http.Response, string) {
	t.Helper()
	f := url.Values{}
	for k, vs := range v {
		f[k] = vs
	}
	for k, x := range extra {
		f.Set(k, x)
	}
	return fetch(t, b, "POST", env.URL+path, f)
}

// choosePassword follows a password link and sets pw (twice).
func choosePassword(t testing.TB, env *testenv.Env, link, pw string) {
	t.Helper()
	b := linkBrowser(env)
	v := openLink(t, b, link)
	resp, body := postLink(t, env, b, account.PasswordPath, v, map[string]string{"password": pw, "password2": pw})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="console"`) {
		t.Fatalf("choose password: %d %s", resp.StatusCode, body)
	}
}

// signInAs logs subject in with pw in a new browser and redeems the code:
// the tokens, or the login form's status when it refused.
func (r *rp) signInAs(subject, pw string) (*oauth2.Token, int) {
	r.t.Helper()
	f, v := r.openLogin()
	v.Set("email", subject)
	v.Set("password", pw)
	resp := r.submit(v)
	if resp.StatusCode != http.StatusSeeOther {
		return nil, resp.StatusCode
	}
	final, body := r.get(resp.Header.Get("Location"))
	loc, err := url.Parse(final.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI) {
		r.t.Fatalf("callback: status %d, Location %q, body %s", final.StatusCode, final.Header.Get("Location"), body)
	}
	tok, err := r.conf.Exchange(r.ctx, loc.Query().Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil || idt.Nonce != f.nonce || idt.Subject != subject {
		r.t.Fatalf("ID token of %s: %v (sub %q)", subject, err, idt.Subject)
	}
	return tok, http.StatusSeeOther
}

func linkURL(t testing.TB, r *testenv.Response) string {
	t.Helper()
	u, _ := r.Map(t)["url"].(string)
	if u == "" {
		t.Fatalf("no link in %s", r.Body)
	}
	return u
}

// TestOrganizationLocalAccountConfined: an organization's administrator
// invites a local account for an address that is a platform administrator
// and a member of another organization; the person it signs in (whoever
// holds the password: the administrator could) acts in that organization
// only, and the address cannot be claimed by another owner.
func TestOrganizationLocalAccountConfined(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		ctx := context.Background()
		acme := env.NewTenant("acme", "administrator")
		other := env.NewTenant("other", "administrator")
		const boss = "boss@corp.example"
		admin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		if err := env.Store.Tx(ctx, func(q *store.Q) error { return q.BindPlatformRole(ctx, store.MemberUser, boss, admin.ID) }); err != nil {
			t.Fatal(err)
		}
		addUser(t, env, other, boss, "active")
		addUser(t, env, acme, boss, "pending")
		bossID := userID(t, env, acme, boss)
		base := "/api/v1/organizations/" + acme.OrgID + "/users/" + bossID

		// Not acme's administrator: 403; another organization's user: 404.
		reader := env.AddMember(acme.OrgID, "readers", "reader")
		env.Must(http.StatusForbidden, "POST", base+"/invitation", reader.Token, nil)
		env.Must(http.StatusNotFound, "POST", "/api/v1/organizations/"+acme.OrgID+"/users/"+userID(t, env, other, boss)+"/invitation", acme.Token, nil)
		env.Must(http.StatusNotFound, "GET", base+"/password", acme.Token, nil)

		// acme may own a local account only in its verified domain
		// (TestOrganizationLocalAccountDomain): here it proved corp.example,
		// where a platform administrator's address happens to be.
		env.Must(http.StatusBadRequest, "POST", base+"/invitation", acme.Token, nil)
		env.OwnDomain(acme.OrgID, "corp.example")
		link := linkURL(t, env.Must(http.StatusCreated, "POST", base+"/invitation", acme.Token, nil))
		if !strings.HasPrefix(link, env.URL+account.PasswordPath+"?token=ghpw_") {
			t.Fatalf("link %s", link)
		}
		// The form refuses a weak or mistyped password and a post without
		// its CSRF cookie; the link stays usable.
		b := linkBrowser(env)
		for _, c := range []struct {
			pw, pw2 string
			want    int
		}{{"short", "short", http.StatusBadRequest}, {"a long password 1", "a long password 2", http.StatusBadRequest}} {
			v := openLink(t, b, link)
			if resp, body := postLink(t, env, b, account.PasswordPath, v, map[string]string{"password": c.pw, "password2": c.pw2}); resp.StatusCode != c.want {
				t.Errorf("password %q/%q: %d, want %d: %s", c.pw, c.pw2, resp.StatusCode, c.want, body)
			}
		}
		v := openLink(t, b, link)
		if resp, _ := postLink(t, env, linkBrowser(env), account.PasswordPath, v, map[string]string{"password": "a long password 1", "password2": "a long password 1"}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("post without the CSRF cookie: %d, want 403", resp.StatusCode)
		}
		if _, code := newRP(t, env, mustClient(t, env), "").signInAs(boss, "a long password 1"); code == http.StatusSeeOther {
			t.Fatal("a refused form set the password")
		}
		choosePassword(t, env, link, "the boss's password")
		// Used: the link is refused, and changes nothing.
		resp, _ := fetch(t, linkBrowser(env), "GET", link, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("reused link: %d, want 400", resp.StatusCode)
		}
		if resp, _ := postLink(t, env, b, account.PasswordPath, v, map[string]string{"password": "another password!", "password2": "another password!"}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("reused link posted: %d, want 400", resp.StatusCode)
		}
		var u map[string]any
		env.Must(http.StatusOK, "GET", base, acme.Token, nil).JSON(t, &u)
		if u["spec"].(map[string]any)["state"] != "active" {
			t.Errorf("invited user %v, want active", u["spec"])
		}
		acc := env.Must(http.StatusOK, "GET", base+"/password", acme.Token, nil).Map(t)
		if acc["organizationID"] != acme.OrgID || acc["email"] != boss {
			t.Errorf("local account %v", acc)
		}

		// The login: confined to acme.
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		tok, code := r.signInAs(boss, "the boss's password")
		if code != http.StatusSeeOther {
			t.Fatalf("login: %d", code)
		}
		claims := claimsOf(t, tok.AccessToken)
		if fmt.Sprint(claims["org_ids"]) != fmt.Sprint([]any{acme.OrgID}) {
			t.Errorf("org_ids %v, want [%s]", claims["org_ids"], acme.OrgID)
		}
		if idp, _ := claims["gh_idp"].(map[string]any); idp["org"] != acme.OrgID || idp["id"] != "local" {
			t.Errorf("gh_idp %v", claims["gh_idp"])
		}
		env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+acme.OrgID+"/groups", tok.AccessToken, nil)
		env.Must(http.StatusForbidden, "GET", "/api/v1/organizations/"+other.OrgID+"/groups", tok.AccessToken, nil)
		env.Must(http.StatusForbidden, "GET", "/api/v1/auditevents", tok.AccessToken, nil)
		env.Must(http.StatusForbidden, "GET", "/api/v1/localaccounts", tok.AccessToken, nil)
		env.Must(http.StatusForbidden, "POST", "/api/v1/organizations", tok.AccessToken, map[string]any{
			"metadata": map[string]any{"name": "mine"}, "spec": map[string]any{"organizationType": "adhoc"}})
		me := env.Must(http.StatusOK, "GET", "/api/v1/account", tok.AccessToken, nil).Map(t)
		orgs, _ := me["organizations"].([]any)
		if len(orgs) != 1 || orgs[0].(map[string]any)["organizationID"] != acme.OrgID || me["localAccount"] != true ||
			me["identityProvider"].(map[string]any)["organizationID"] != acme.OrgID {
			t.Errorf("account %v", me)
		}
		if roles := orgs[0].(map[string]any)["roles"]; fmt.Sprint(roles) != "[administrator]" {
			t.Errorf("roles %v", roles)
		}

		// The address is acme's: no other owner claims it.
		otherBoss := "/api/v1/organizations/" + other.OrgID + "/users/" + userID(t, env, other, boss)
		env.Must(http.StatusConflict, "POST", otherBoss+"/invitation", other.Token, nil)
		env.Must(http.StatusNotFound, "POST", otherBoss+"/passwordreset", other.Token, nil)
		env.Must(http.StatusNotFound, "DELETE", otherBoss+"/password", other.Token, nil)
		env.Must(http.StatusConflict, "POST", "/api/v1/localaccounts/invitation", env.AdminToken, map[string]any{"email": boss})
		env.Must(http.StatusNotFound, "DELETE", "/api/v1/localaccounts/"+boss, env.AdminToken, nil)
		if err := env.Password.SetPassword(ctx, boss, "the platform's password"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("admin users set-password over acme's account: %v, want a conflict", err)
		}

		// Suspended in acme: its logins end, and it cannot sign in, though
		// it stays active in other.
		u["spec"].(map[string]any)["state"] = "suspended"
		env.Must(http.StatusOK, "PUT", base, acme.Token, u)
		if _, err := r.refresh(tok.RefreshToken); err == nil {
			t.Error("refresh after suspension succeeded")
		}
		if _, code := r.signInAs(boss, "the boss's password"); code != http.StatusForbidden {
			t.Errorf("suspended login: %d, want 403", code)
		}
		env.Must(http.StatusBadRequest, "POST", base+"/passwordreset", acme.Token, nil)

		// Deleting the account ends it; deleting the user drops it.
		u["spec"].(map[string]any)["state"] = "active"
		env.Must(http.StatusOK, "PUT", base, acme.Token, u)
		env.Must(http.StatusOK, "DELETE", base+"/password", acme.Token, nil)
		if _, code := r.signInAs(boss, "the boss's password"); code == http.StatusSeeOther {
			t.Error("login after the account was deleted")
		}
		choosePassword(t, env, linkURL(t, env.Must(http.StatusCreated, "POST", base+"/invitation", acme.Token, nil)), "the boss's password")
		env.Must(http.StatusOK, "DELETE", base, acme.Token, nil)
		if _, err := env.Store.Read().GetLocalPassword(ctx, boss); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("local account after its user was deleted: %v", err)
		}
	})
}

func mustClient(t testing.TB, env *testenv.Env) *client.Client {
	t.Helper()
	c, _ := newClient(t, env, nil)
	return c
}

// TestPasswordLinks: a reset ends the old password's sessions; a newer
// link revokes the older; an expired link changes nothing.
func TestPasswordLinks(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", "administrator")
		const jo = "jo@corp.example"
		env.OwnDomain(acme.OrgID, "corp.example")
		addUser(t, env, acme, jo, "active")
		base := "/api/v1/organizations/" + acme.OrgID + "/users/" + userID(t, env, acme, jo)
		env.Must(http.StatusNotFound, "POST", base+"/passwordreset", acme.Token, nil)
		first := linkURL(t, env.Must(http.StatusCreated, "POST", base+"/invitation", acme.Token, nil))
		second := linkURL(t, env.Must(http.StatusCreated, "POST", base+"/invitation", acme.Token, nil))
		if resp, _ := fetch(t, linkBrowser(env), "GET", first, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("older link: %d, want 400", resp.StatusCode)
		}
		choosePassword(t, env, second, "jo's first password")
		env.Must(http.StatusConflict, "POST", base+"/invitation", acme.Token, nil)
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		tok, code := r.signInAs(jo, "jo's first password")
		if code != http.StatusSeeOther {
			t.Fatalf("login: %d", code)
		}

		// An expired reset link: 400, and the password stays.
		expired := linkURL(t, env.Must(http.StatusCreated, "POST", base+"/passwordreset", acme.Token, nil))
		b := linkBrowser(env)
		v := openLink(t, b, expired)
		env.OIDCClock.Advance(account.ResetLifetime + time.Minute)
		if resp, _ := postLink(t, env, b, account.PasswordPath, v, map[string]string{"password": "jo's new password", "password2": "jo's new password"}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("expired link: %d, want 400", resp.StatusCode)
		}
		if _, code := r.signInAs(jo, "jo's new password"); code == http.StatusSeeOther {
			t.Error("an expired link changed the password")
		}
		tok, code = r.signInAs(jo, "jo's first password")
		if code != http.StatusSeeOther {
			t.Fatalf("login: %d", code)
		}

		// A reset ends the sessions the old password began.
		choosePassword(t, env, linkURL(t, env.Must(http.StatusCreated, "POST", base+"/passwordreset", acme.Token, nil)), "jo's new password")
		if _, err := r.refresh(tok.RefreshToken); err == nil {
			t.Error("refresh after a reset succeeded")
		}
		env.Must(http.StatusUnauthorized, "GET", "/api/v1/account", tok.AccessToken, nil)
		if _, code := r.signInAs(jo, "jo's first password"); code == http.StatusSeeOther {
			t.Error("the old password still works")
		}
		if _, code := r.signInAs(jo, "jo's new password"); code != http.StatusSeeOther {
			t.Errorf("the new password: %d", code)
		}
	})
}

// TestSetupLink: the first human platform administrator, once.
func TestSetupLink(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		ctx := context.Background()
		stale, err := env.Accounts.CreateSetupLink(ctx)
		if err != nil {
			t.Fatal(err)
		}
		link, err := env.Accounts.CreateSetupLink(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link.URL, env.URL+account.SetupPath+"?token=ghsetup_") || link.ExpiresAt.Sub(env.OIDCClock.Now()) > account.SetupLifetime ||
			link.ExpiresAt.Sub(env.OIDCClock.Now()) < account.SetupLifetime-time.Second {
			t.Fatalf("link %+v", link)
		}
		if resp, _ := fetch(t, linkBrowser(env), "GET", stale.URL, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("older setup link: %d, want 400", resp.StatusCode)
		}
		// A password link's token is not a setup token, nor the reverse.
		if resp, _ := fetch(t, linkBrowser(env), "GET", strings.Replace(link.URL, account.SetupPath, account.PasswordPath, 1), nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("setup token on the password page: %d, want 400", resp.StatusCode)
		}
		b := linkBrowser(env)
		const root = "root@corp.example"
		for _, c := range []struct{ email, pw, pw2 string }{
			{root, "short", "short"}, {root, "a long password 1", "a long password 2"}, {"not an address", "a long password 1", "a long password 1"},
		} {
			v := openLink(t, b, link.URL)
			if resp, body := postLink(t, env, b, account.SetupPath, v, map[string]string{"email": c.email, "password": c.pw, "password2": c.pw2}); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("setup %v: %d, want 400: %s", c, resp.StatusCode, body)
			}
		}
		v := openLink(t, b, link.URL)
		if resp, _ := postLink(t, env, linkBrowser(env), account.SetupPath, v, map[string]string{"email": root, "password": "the root password", "password2": "the root password"}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("setup without the CSRF cookie: %d, want 403", resp.StatusCode)
		}
		resp, body := postLink(t, env, b, account.SetupPath, v, map[string]string{"email": root, "password": "the root password", "password2": "the root password"})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != oidc.ConsolePath {
			t.Fatalf("setup: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if resp, _ := postLink(t, env, b, account.SetupPath, v, map[string]string{"email": "other@corp.example", "password": "the root password", "password2": "the root password"}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("reused setup link: %d, want 400", resp.StatusCode)
		}
		if _, err := env.Accounts.CreateSetupLink(ctx); !errors.Is(err, account.ErrAdminExists) {
			t.Errorf("setup link once an administrator exists: %v", err)
		}
		// The setup's browser is signed in: an authorization request there
		// (the console's, after the redirect) gets its code by single
		// sign-on, with no login page.
		c, sec := newClient(t, env, nil)
		setupRP := newRP(t, env, c, sec)
		setupRP.browser = b
		if _, resp, result, body := setupRP.authorize(param("prompt", "none")); result.Get("code") == "" {
			t.Errorf("authorization in the setup's browser: %d %s %v, want a code by single sign-on: %s",
				resp.StatusCode, resp.Header.Get("Location"), result, body)
		}
		// The administrator signs in and holds the platform role.
		tok, code := newRP(t, env, c, sec).signInAs(root, "the root password")
		if code != http.StatusSeeOther {
			t.Fatalf("login: %d", code)
		}
		env.Must(http.StatusOK, "GET", "/api/v1/auditevents", tok.AccessToken, nil)
		var n int
		if err := env.Store.DB().QueryRow("SELECT COUNT(*) FROM audit_events WHERE operation_id = 'completeSetup' AND actor_subject = $1", root).Scan(&n); err != nil || n != 1 {
			t.Errorf("completeSetup events: %d, %v", n, err)
		}
	})
}

// TestSetupLinkExpires: a day, then 400 and nothing created.
func TestSetupLinkExpires(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	link, err := env.Accounts.CreateSetupLink(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := linkBrowser(env)
	v := openLink(t, b, link.URL)
	env.OIDCClock.Advance(account.SetupLifetime + time.Second)
	if resp, _ := postLink(t, env, b, account.SetupPath, v, map[string]string{"email": "root@corp.example", "password": "the root password", "password2": "the root password"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("expired setup link: %d, want 400", resp.StatusCode)
	}
	if needed, err := env.Accounts.SetupNeeded(context.Background()); err != nil || !needed {
		t.Errorf("after an expired link: needed %v, %v", needed, err)
	}
}

// TestAccountSelfService: the account page's operations with a person's
// token; changing the password ends the other sessions, keeps the
// caller's, counts wrong current passwords, and is audited.
func TestAccountSelfService(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", "reader")
		addUser(t, env, acme, email, "active")
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		mine, _ := r.signInAs(email, password)
		// Another session: at another client (one session per subject and
		// client).
		c2, sec2 := newClient(t, env, nil)
		r2 := newRP(t, env, c2, sec2)
		theirs, _ := r2.signInAs(email, password)
		me := env.Must(http.StatusOK, "GET", "/api/v1/account", mine.AccessToken, nil).Map(t)
		if me["subject"] != email || me["localAccount"] != true || me["identityProvider"].(map[string]any)["providerID"] != "local" {
			t.Errorf("account %v", me)
		}
		env.Must(http.StatusForbidden, "GET", "/api/v1/account", acme.Token, nil)
		env.Must(http.StatusForbidden, "PUT", "/api/v1/account/password", acme.Token, map[string]any{"currentPassword": password, "newPassword": "a new long password"})
		put := func(current, next string) *testenv.Response {
			return env.Do("PUT", "/api/v1/account/password", mine.AccessToken, map[string]any{"currentPassword": current, "newPassword": next})
		}
		if got := put(password, "short"); got.Status != http.StatusBadRequest {
			t.Errorf("weak password: %d %s", got.Status, got.Body)
		}
		if got := put("wrong password!", "a new long password"); got.Status != http.StatusBadRequest || !strings.Contains(string(got.Body), "current password") {
			t.Errorf("wrong current password: %d %s", got.Status, got.Body)
		}
		var failures int
		if err := env.Store.DB().QueryRow("SELECT failed_attempts FROM local_passwords WHERE email = $1", email).Scan(&failures); err != nil || failures != 1 {
			t.Errorf("failures after a wrong current password: %d, %v", failures, err)
		}
		env.Must(http.StatusOK, "PUT", "/api/v1/account/password", mine.AccessToken, map[string]any{"currentPassword": password, "newPassword": "a new long password"})
		if _, err := r2.refresh(theirs.RefreshToken); err == nil {
			t.Error("another session survived the change")
		}
		if _, err := r.refresh(mine.RefreshToken); err != nil {
			t.Errorf("the caller's session ended: %v", err)
		}
		if _, code := r.signInAs(email, password); code == http.StatusSeeOther {
			t.Error("the old password still works")
		}
		if _, code := r.signInAs(email, "a new long password"); code != http.StatusSeeOther {
			t.Errorf("the new password: %d", code)
		}
		var n int
		if err := env.Store.DB().QueryRow("SELECT COUNT(*) FROM audit_events WHERE operation_id = 'changeAccountPassword' AND actor_subject = $1 AND resource_type = 'account'", email).Scan(&n); err != nil || n != 1 {
			t.Errorf("changeAccountPassword events: %d, %v", n, err)
		}
	})
}

// TestPlatformLocalAccount: the platform administrator's accounts are
// trusted platform-wide (the person's organizations, unconfined); an
// organization's administrator cannot touch them.
func TestPlatformLocalAccount(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", "administrator")
		other := env.NewTenant("other", "reader")
		const ops = "ops@corp.example"
		env.OwnDomain(acme.OrgID, "corp.example") // so that only the platform's account makes acme's invitation a 409
		addUser(t, env, acme, ops, "active")
		addUser(t, env, other, ops, "active")
		body := map[string]any{"email": ops}
		env.Must(http.StatusForbidden, "POST", "/api/v1/localaccounts/invitation", acme.Token, body)
		env.Must(http.StatusBadRequest, "POST", "/api/v1/localaccounts/invitation", env.AdminToken, map[string]any{"email": "not an address"})
		env.Must(http.StatusNotFound, "POST", "/api/v1/localaccounts/passwordreset", env.AdminToken, body)
		choosePassword(t, env, linkURL(t, env.Must(http.StatusCreated, "POST", "/api/v1/localaccounts/invitation", env.AdminToken, body)), "the ops password")
		var list []map[string]any
		env.Must(http.StatusOK, "GET", "/api/v1/localaccounts", env.AdminToken, nil).JSON(t, &list)
		found := false
		for _, a := range list {
			if a["email"] == ops {
				found = true
				if _, owned := a["organizationID"]; owned {
					t.Errorf("platform account with an owner: %v", a)
				}
			}
		}
		if !found {
			t.Errorf("listLocalAccounts %v lacks %s", list, ops)
		}
		// The invitation of an organization's user at that address: taken.
		env.Must(http.StatusConflict, "POST", "/api/v1/organizations/"+acme.OrgID+"/users/"+userID(t, env, acme, ops)+"/invitation", acme.Token, nil)
		env.Must(http.StatusForbidden, "DELETE", "/api/v1/localaccounts/"+ops, acme.Token, nil)

		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		tok, code := r.signInAs(ops, "the ops password")
		if code != http.StatusSeeOther {
			t.Fatalf("login: %d", code)
		}
		env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+acme.OrgID+"/groups", tok.AccessToken, nil)
		env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+other.OrgID+"/projects", tok.AccessToken, nil)
		me := env.Must(http.StatusOK, "GET", "/api/v1/account", tok.AccessToken, nil).Map(t)
		if orgs, _ := me["organizations"].([]any); len(orgs) != 2 || me["localAccount"] != true {
			t.Errorf("account %v", me)
		}

		// Deleted: its sessions end and it signs in no more.
		env.Must(http.StatusOK, "DELETE", "/api/v1/localaccounts/"+ops, env.AdminToken, nil)
		env.Must(http.StatusNotFound, "DELETE", "/api/v1/localaccounts/"+ops, env.AdminToken, nil)
		if _, err := r.refresh(tok.RefreshToken); err == nil {
			t.Error("refresh after the account was deleted")
		}
		if _, code := r.signInAs(ops, "the ops password"); code == http.StatusSeeOther {
			t.Error("login after the account was deleted")
		}
	})
}
