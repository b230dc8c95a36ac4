package oidc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestOrganizationLocalAccountDomain: an organization may own local accounts
// only for addresses of its verified email domain, the rule its own identity
// provider follows (issue 12). Before, an organization administrator could
// invite ceo@victim.example, choose its password and sign in at a platform
// client with an ID token saying sub/email ceo@victim.example,
// email_verified true; and take the one local account of any address
// before its owner. Checked at the invitation and reset (400), when the link
// is spent, at every sign-in and refresh; email_verified follows it.
func TestOrganizationLocalAccountDomain(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		ctx := context.Background()
		acme := env.NewTenant("acme", "administrator")
		const ceo, jo = "ceo@victim.example", "ann@acme.example"
		addUser(t, env, acme, ceo, "pending")
		addUser(t, env, acme, jo, "pending")
		orgPath := "/api/v1/organizations/" + acme.OrgID
		ceoPath, joPath := orgPath+"/users/"+userID(t, env, acme, ceo), orgPath+"/users/"+userID(t, env, acme, jo)
		refused := func(what, path, op string) {
			t.Helper()
			got := env.Do("POST", path+op, acme.Token, nil)
			var e struct {
				ErrorDescription string `json:"error_description"`
			}
			_ = json.Unmarshal(got.Body, &e)
			if got.Status != http.StatusBadRequest || !strings.Contains(e.ErrorDescription, "verified email domain") {
				t.Errorf("%s%s %s: %d %s, want 400 naming the rule", what, op, path, got.Status, got.Body)
			}
		}
		unchanged := func(subject string) {
			t.Helper()
			if _, err := env.Store.Read().GetLocalPassword(ctx, subject); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s has a local account: %v", subject, err)
			}
			if u, err := env.Store.Read().GetUserBySubject(ctx, acme.OrgID, subject); err != nil || u.State != "pending" {
				t.Errorf("user %s: %v %v, want pending", subject, u, err)
			}
		}

		// No domain; the victim's domain merely claimed; its own domain
		// verified but the address foreign: 400, nothing changes.
		refused("no domain", ceoPath, "/invitation")
		org := env.Must(http.StatusOK, "GET", orgPath, acme.Token, nil).Map(t)
		env.Must(http.StatusOK, "PUT", orgPath, acme.Token, map[string]any{"metadata": org["metadata"],
			"spec": map[string]any{"organizationType": "domain", "domain": "victim.example"}})
		refused("claimed domain", ceoPath, "/invitation")
		env.OwnDomain(acme.OrgID, "acme.example")
		refused("foreign domain", ceoPath, "/invitation")
		unchanged(ceo)
		// So the platform's own invitation of the address is not squatted.
		env.Must(http.StatusCreated, "POST", "/api/v1/localaccounts/invitation", env.AdminToken, map[string]any{"email": ceo})

		// A link whose domain stopped being verified before it was spent:
		// 400 page, and nothing changes.
		link := linkURL(t, env.Must(http.StatusCreated, "POST", joPath+"/invitation", acme.Token, nil))
		b := linkBrowser(env)
		v := openLink(t, b, link)
		env.OwnDomain(acme.OrgID, "acme2.example")
		if resp, body := postLink(t, env, b, account.PasswordPath, v, map[string]string{"password": "jo's long password", "password2": "jo's long password"}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("link of a domain no longer verified: %d %s, want 400", resp.StatusCode, body)
		}
		unchanged(jo)

		// In the verified domain: the login at a platform client says
		// email_verified.
		env.OwnDomain(acme.OrgID, "acme.example")
		choosePassword(t, env, linkURL(t, env.Must(http.StatusCreated, "POST", joPath+"/invitation", acme.Token, nil)), "jo's long password")
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		tok, code := r.signInAs(jo, "jo's long password")
		if code != http.StatusSeeOther {
			t.Fatalf("login in the verified domain: %d", code)
		}
		idt, _ := tok.Extra("id_token").(string)
		if cl := claimsOf(t, idt); cl["email"] != jo || cl["email_verified"] != true {
			t.Errorf("ID token in the verified domain: %v", cl)
		}
		if ui := userinfo(t, env, tok.AccessToken); ui["email_verified"] != true {
			t.Errorf("userinfo in the verified domain: %v", ui)
		}

		// The domain loses its verification behind the API's back (a write
		// that raced, an old replica): the tokens still valid say
		// email_verified no more, refresh and sign-in are refused.
		o, err := env.Store.Read().GetOrganization(ctx, acme.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		o.DomainVerifiedAt = time.Time{}
		if err := env.Store.Tx(ctx, func(q *store.Q) error { return q.UpdateOrganization(ctx, o) }); err != nil {
			t.Fatal(err)
		}
		if ui := userinfo(t, env, tok.AccessToken); ui["email"] != jo || ui["email_verified"] == true {
			t.Errorf("userinfo once the domain is not verified: %v", ui)
		}
		if _, err := r.refresh(tok.RefreshToken); err == nil {
			t.Error("refresh once the domain is not verified succeeded")
		}
		if _, code := r.signInAs(jo, "jo's long password"); code != http.StatusForbidden {
			t.Errorf("sign-in once the domain is not verified: %d, want 403", code)
		}
		refused("unverified domain", joPath, "/passwordreset")

		// Verified again, then moved through the API: the sessions end
		// with it, and the account cannot sign in.
		env.OwnDomain(acme.OrgID, "acme.example")
		tok, code = r.signInAs(jo, "jo's long password")
		if code != http.StatusSeeOther {
			t.Fatalf("login once verified again: %d", code)
		}
		org = env.Must(http.StatusOK, "GET", orgPath, acme.Token, nil).Map(t)
		env.Must(http.StatusOK, "PUT", orgPath, acme.Token, map[string]any{"metadata": org["metadata"],
			"spec": map[string]any{"organizationType": "domain", "domain": "elsewhere.example"}})
		if _, err := r.refresh(tok.RefreshToken); err == nil {
			t.Error("refresh after the domain moved succeeded")
		}
		if _, code := r.signInAs(jo, "jo's long password"); code != http.StatusForbidden {
			t.Errorf("sign-in after the domain moved: %d, want 403", code)
		}
	})
}

// userinfo asks the userinfo endpoint with accessToken.
func userinfo(t *testing.T, env *testenv.Env, accessToken string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
		t.Fatalf("userinfo: %d", resp.StatusCode)
	}
	return m
}
