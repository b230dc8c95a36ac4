package server_test

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// storedSecret decrypts the client secret stored for a provider.
func storedSecret(t testing.TB, a *apiEnv, org, pid string) string {
	t.Helper()
	p, err := a.Store.Read().GetOAuth2Provider(context.Background(), org, pid)
	if err != nil {
		t.Fatalf("read provider %s: %v", pid, err)
	}
	s, err := a.Tenancy.ProviderSecret(p)
	if err != nil {
		t.Fatalf("open the secret of %s: %v", pid, err)
	}
	return s
}

// noSecret fails if a provider read carries a client secret.
func noSecret(t testing.TB, r *resp, secrets ...string) {
	t.Helper()
	if bytes.Contains(r.Body, []byte("clientSecret")) {
		t.Errorf("%s: returns clientSecret", r)
	}
	for _, s := range secrets {
		if bytes.Contains(r.Body, []byte(s)) {
			t.Errorf("%s: returns the secret %q", r, s)
		}
	}
}

// TestOrganizationProviders: create (201), get, list, update (200, no
// body), delete (200); the client secret is write-only and kept when an
// update leaves it out.
func TestOrganizationProviders(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		reader := a.addMember(t, acme.org, "readers", "reader")
		tok := acme.token
		creator := "serviceaccount:acme-administrator"
		base := orgPath(acme.org, "oauth2providers")
		const secret1, secret2 = "first-secret-value", "second-secret-value"

		body := providerWrite("okta", "client-1", ptrTo(secret1))
		body["spec"].(map[string]any)["scopes"] = []string{"openid"} // unknown: ignored
		body["metadata"].(map[string]any)["id"] = "forged"
		r := a.must(t, http.StatusCreated, "POST", base, tok, body)
		noSecret(t, r, secret1)
		created := r.obj(t)
		okta := id(created)
		wantMeta(t, "created provider", created, meta{name: "okta", org: &acme.org, created: t0, createdBy: creator})
		if w := map[string]any{"type": "oidc", "issuer": "https://login.example.com", "clientID": "client-1"}; !reflect.DeepEqual(get(created, "spec"), w) {
			t.Errorf("spec = %v, want %v", get(created, "spec"), w)
		}
		if s := storedSecret(t, a, acme.org, okta); s != secret1 {
			t.Errorf("stored secret %q, want %q", s, secret1)
		}
		for _, token := range []string{tok, reader.token, a.AdminToken} {
			r = a.must(t, http.StatusOK, "GET", orgPath(acme.org, "oauth2providers", okta), token, nil)
			noSecret(t, r, secret1)
			if got := r.obj(t); !reflect.DeepEqual(got, created) {
				t.Errorf("get = %v, want the create response %v", got, created)
			}
			r = a.must(t, http.StatusOK, "GET", base, token, nil)
			noSecret(t, r, secret1)
			if got := r.arr(t); len(got) != 1 || !reflect.DeepEqual(got[0], created) {
				t.Errorf("list = %v, want [%v]", got, created)
			}
		}

		// An update without clientSecret keeps the stored secret.
		a.Clock.Advance(time.Hour)
		upd := providerWrite("okta-prod", "client-2", nil)
		upd["spec"].(map[string]any)["type"] = "google"
		wantEmpty(t, a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "oauth2providers", okta), tok, upd))
		r = a.must(t, http.StatusOK, "GET", orgPath(acme.org, "oauth2providers", okta), tok, nil)
		noSecret(t, r, secret1)
		got := r.obj(t)
		wantMeta(t, "updated provider", got, meta{name: "okta-prod", org: &acme.org, created: t0, createdBy: creator,
			modified: t0.Add(time.Hour), modifiedBy: creator})
		if w := map[string]any{"type": "google", "issuer": "https://login.example.com", "clientID": "client-2"}; !reflect.DeepEqual(get(got, "spec"), w) {
			t.Errorf("spec after update = %v, want %v", get(got, "spec"), w)
		}
		if s := storedSecret(t, a, acme.org, okta); s != secret1 {
			t.Errorf("stored secret after an update without clientSecret = %q, want %q kept", s, secret1)
		}
		// An update with clientSecret replaces it.
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "oauth2providers", okta), tok, providerWrite("okta-prod", "client-2", ptrTo(secret2)))
		if s := storedSecret(t, a, acme.org, okta); s != secret2 {
			t.Errorf("stored secret after an update with clientSecret = %q, want %q", s, secret2)
		}
		noSecret(t, a.must(t, http.StatusOK, "GET", base, tok, nil), secret1, secret2)
		// A provider without type is allowed and reads back without one.
		untyped := map[string]any{"metadata": md("plain"), "spec": map[string]any{"issuer": "https://idp.example.com", "clientID": "c"}}
		plain := a.must(t, http.StatusCreated, "POST", base, tok, untyped).obj(t)
		if has(plain, "spec", "type") || storedSecret(t, a, acme.org, id(plain)) != "" {
			t.Errorf("untyped provider reads back %v", plain)
		}

		// The same name elsewhere (another organization, the system) is fine.
		a.must(t, http.StatusCreated, "POST", orgPath(other.org, "oauth2providers"), other.token, providerWrite("okta-prod", "c", nil))
		a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite("okta-prod", "c", nil))

		badType := providerWrite("saml", "c", nil)
		badType["spec"].(map[string]any)["type"] = "saml"
		refused := []refusal{
			{"duplicate name", "POST", base, providerWrite("okta-prod", "c", nil), http.StatusConflict, "conflict"},
			{"rename onto another provider", "PUT", orgPath(acme.org, "oauth2providers", id(plain)), providerWrite("okta-prod", "c", nil), http.StatusConflict, "conflict"},
			{"unknown type", "POST", base, badType, http.StatusBadRequest, "invalid_request"},
			{"no issuer", "POST", base, map[string]any{"metadata": md("x"), "spec": map[string]any{"clientID": "c"}}, http.StatusBadRequest, "invalid_request"},
			{"no clientID", "PUT", orgPath(acme.org, "oauth2providers", okta), map[string]any{"metadata": md("x"), "spec": map[string]any{"issuer": "https://x"}}, http.StatusBadRequest, "invalid_request"},
			{"another organization's provider", "PUT", orgPath(acme.org, "oauth2providers", id(plain)+"x"), providerWrite("x", "c", nil), http.StatusNotFound, "not_found"},
		}
		a.refuseAll(t, tok, "refused provider writes", refused, acme.org, other.org)
		if s := storedSecret(t, a, acme.org, okta); s != secret2 {
			t.Errorf("stored secret after refused writes = %q, want %q", s, secret2)
		}

		wantEmpty(t, a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "oauth2providers", okta), tok, nil))
		wantError(t, a.call(t, "GET", orgPath(acme.org, "oauth2providers", okta), tok, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "oauth2providers", okta), tok, nil), http.StatusNotFound, "not_found")
		if got := ids(a.must(t, http.StatusOK, "GET", base, tok, nil).arr(t)); !reflect.DeepEqual(got, []string{id(plain)}) {
			t.Errorf("providers after delete = %v, want [%s]", got, id(plain))
		}
	})
}

// TestSystemProviders: platform administrators manage system providers
// (organizationId ""), every authenticated caller lists them, nobody reads
// their secret.
func TestSystemProviders(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		user := a.addMember(t, acme.org, "users", "user")
		const secret1 = "system-secret-value"
		r := a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite("google", "g-1", ptrTo(secret1)))
		noSecret(t, r, secret1)
		created := r.obj(t)
		google := id(created)
		wantMeta(t, "system provider", created, meta{name: "google", org: ptrTo(""), created: t0, createdBy: adminSubject})
		if s := storedSecret(t, a, "", google); s != secret1 {
			t.Errorf("stored secret %q, want %q", s, secret1)
		}
		for _, tok := range []string{a.AdminToken, acme.token, user.token} {
			r := a.must(t, http.StatusOK, "GET", "/api/v1/oauth2providers", tok, nil)
			noSecret(t, r, secret1)
			if got := r.arr(t); len(got) != 1 || !reflect.DeepEqual(got[0], created) {
				t.Errorf("list = %v, want [%v]", got, created)
			}
		}
		// System providers are not organization providers.
		if got := a.admin(t, http.StatusOK, "GET", orgPath(acme.org, "oauth2providers"), nil).arr(t); len(got) != 0 {
			t.Errorf("organization providers = %v, want []", ids(got))
		}
		wantError(t, a.call(t, "GET", orgPath(acme.org, "oauth2providers", google), a.AdminToken, nil), http.StatusNotFound, "not_found")

		a.Clock.Advance(time.Hour)
		upd := providerWrite("google-workspace", "g-2", nil)
		upd["spec"].(map[string]any)["type"] = "google"
		wantEmpty(t, a.admin(t, http.StatusOK, "PUT", "/api/v1/oauth2providers/"+google, upd))
		r = a.admin(t, http.StatusOK, "GET", "/api/v1/oauth2providers", nil)
		noSecret(t, r, secret1)
		got := r.arr(t)[0]
		wantMeta(t, "updated system provider", got, meta{name: "google-workspace", org: ptrTo(""), created: t0, createdBy: adminSubject,
			modified: t0.Add(time.Hour), modifiedBy: adminSubject})
		if str(got, "spec", "clientID") != "g-2" || str(got, "spec", "type") != "google" {
			t.Errorf("spec after update = %v", get(got, "spec"))
		}
		if s := storedSecret(t, a, "", google); s != secret1 {
			t.Errorf("stored secret after an update without clientSecret = %q, want %q kept", s, secret1)
		}

		orgProvider := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "oauth2providers"), acme.token, providerWrite("okta", "o", nil)).obj(t))
		gh := id(a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite("github", "h", nil)).obj(t))
		before := a.snapshot(t, acme.org)
		wantError(t, a.call(t, "POST", "/api/v1/oauth2providers", a.AdminToken, providerWrite("github", "h", nil)), http.StatusConflict, "conflict")
		wantError(t, a.call(t, "PUT", "/api/v1/oauth2providers/"+gh, a.AdminToken, providerWrite("google-workspace", "h", nil)), http.StatusConflict, "conflict")
		wantError(t, a.call(t, "PUT", "/api/v1/oauth2providers/"+orgProvider, a.AdminToken, providerWrite("x", "h", nil)), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", "/api/v1/oauth2providers/"+orgProvider, a.AdminToken, nil), http.StatusNotFound, "not_found")
		for _, tok := range []string{acme.token, user.token} {
			wantError(t, a.call(t, "POST", "/api/v1/oauth2providers", tok, providerWrite("mine", "m", nil)), http.StatusForbidden, "forbidden")
			wantError(t, a.call(t, "PUT", "/api/v1/oauth2providers/"+google, tok, providerWrite("mine", "m", nil)), http.StatusForbidden, "forbidden")
			wantError(t, a.call(t, "DELETE", "/api/v1/oauth2providers/"+google, tok, nil), http.StatusForbidden, "forbidden")
		}
		a.unchanged(t, before, "refused system provider writes", acme.org)

		wantEmpty(t, a.admin(t, http.StatusOK, "DELETE", "/api/v1/oauth2providers/"+google, nil))
		wantError(t, a.call(t, "DELETE", "/api/v1/oauth2providers/"+google, a.AdminToken, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "PUT", "/api/v1/oauth2providers/"+google, a.AdminToken, upd), http.StatusNotFound, "not_found")
		if got := ids(a.admin(t, http.StatusOK, "GET", "/api/v1/oauth2providers", nil).arr(t)); !reflect.DeepEqual(got, []string{gh}) {
			t.Errorf("system providers after delete = %v, want [%s]", got, gh)
		}
	})
}

// TestProviderInUse: a provider that an organization logs in through cannot
// be deleted until the organization is repointed (tenancy.DeleteProvider).
func TestProviderInUse(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		sys := id(a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite("google", "g", nil)).obj(t))
		federated := map[string]any{"metadata": md("federated"), "spec": map[string]any{"organizationType": "adhoc", "providerScope": "global", "providerID": sys}}
		org := id(a.admin(t, http.StatusAccepted, "POST", "/api/v1/organizations", federated).obj(t))
		own := id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "oauth2providers"), providerWrite("okta", "o", nil)).obj(t))
		other := a.newOrg(t, "other")
		a.admin(t, http.StatusOK, "PUT", orgPath(other), map[string]any{"metadata": md("other"), "spec": map[string]any{"organizationType": "adhoc", "providerScope": "global", "providerID": sys}})

		before := a.snapshot(t, org, other)
		wantError(t, a.call(t, "DELETE", "/api/v1/oauth2providers/"+sys, a.AdminToken, nil), http.StatusBadRequest, "invalid_request")
		a.unchanged(t, before, "deleting a system provider in use", org, other)

		// Repointed to its own provider, the organization frees the system
		// provider only once the other one is repointed too.
		a.admin(t, http.StatusOK, "PUT", orgPath(org), map[string]any{"metadata": md("federated"), "spec": map[string]any{"organizationType": "adhoc", "providerScope": "organization", "providerID": own}})
		wantError(t, a.call(t, "DELETE", "/api/v1/oauth2providers/"+sys, a.AdminToken, nil), http.StatusBadRequest, "invalid_request")
		a.admin(t, http.StatusOK, "PUT", orgPath(other), orgWrite("other"))
		a.admin(t, http.StatusOK, "DELETE", "/api/v1/oauth2providers/"+sys, nil)

		before = a.snapshot(t, org)
		wantError(t, a.call(t, "DELETE", orgPath(org, "oauth2providers", own), a.AdminToken, nil), http.StatusBadRequest, "invalid_request")
		a.unchanged(t, before, "deleting an organization provider in use", org)
		a.admin(t, http.StatusOK, "PUT", orgPath(org), orgWrite("federated"))
		a.admin(t, http.StatusOK, "DELETE", orgPath(org, "oauth2providers", own), nil)
	})
}
