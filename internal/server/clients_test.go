package server_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
)

// OAuth2 clients over /api/v1 (issue 13).

// clientSecretOf is status.clientSecret of a create or rotate answer.
func clientSecretOf(t testing.TB, r *resp) string {
	t.Helper()
	return str(r.obj(t), "status", "clientSecret")
}

// TestOAuth2ClientsAPI: platform clients for platform administrators and an
// organization's own clients for its administrators: create (the secret
// once), read and list (never the secret), update, rotate (the old secret
// stops working), delete; validation errors are 400s that change nothing.
func TestOAuth2ClientsAPI(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		ctx := context.Background()
		reg := &client.Registry{Store: a.Store}
		acme := a.tenant(t, "acme", "administrator")
		base := orgPath(acme.org, "oauth2clients")

		// Platform: a chosen ID, the secret once.
		body := clientWrite("grafana")
		body["metadata"].(map[string]any)["id"] = "grafana"
		created := a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2clients", body)
		sec := clientSecretOf(t, created)
		if id(created.obj(t)) != "grafana" || len(sec) < 40 || str(created.obj(t), "metadata", "organizationId") != "" {
			t.Fatalf("platform create: %s", created)
		}
		if _, err := reg.Authenticate(ctx, "grafana", sec); err != nil {
			t.Fatalf("the returned secret does not authenticate: %v", err)
		}
		// Organization: a generated ID, its organization, the secret once.
		org := a.must(t, http.StatusCreated, "POST", base, acme.token, clientWrite("portal"))
		orgClient, orgSec := id(org.obj(t)), clientSecretOf(t, org)
		if orgClient == "" || orgSec == "" || str(org.obj(t), "metadata", "organizationId") != acme.org {
			t.Fatalf("organization create: %s", org)
		}
		spec := get(org.obj(t), "spec")
		if str(spec, "type") != "confidential" || str(spec, "tokenEndpointAuthMethod") != "client_secret_basic" ||
			get(spec, "accessTokenLifetime").(float64) != 3600 {
			t.Errorf("defaults not applied: %v", spec)
		}

		// Reads never carry the secret; the platform list leaves out the
		// organization's client, the organization's has only its own.
		for _, r := range []*resp{
			a.admin(t, http.StatusOK, "GET", "/api/v1/oauth2clients/grafana", nil),
			a.admin(t, http.StatusOK, "GET", "/api/v1/oauth2clients", nil),
			a.must(t, http.StatusOK, "GET", base+"/"+orgClient, acme.token, nil),
			a.must(t, http.StatusOK, "GET", base, acme.token, nil),
		} {
			for _, s := range []string{sec, orgSec, "clientSecret", "status"} {
				if containsText(r.Body, s) {
					t.Errorf("%s: a read holds %q", r, s)
				}
			}
		}
		if got := ids(a.admin(t, http.StatusOK, "GET", "/api/v1/oauth2clients", nil).arr(t)); len(got) != 1 || got[0] != "grafana" {
			t.Errorf("platform list %v, want [grafana]", got)
		}
		if got := ids(a.must(t, http.StatusOK, "GET", base, acme.token, nil).arr(t)); len(got) != 1 || got[0] != orgClient {
			t.Errorf("organization list %v, want [%s]", got, orgClient)
		}
		// Each owner's client is unknown on the other's paths.
		a.admin(t, http.StatusNotFound, "GET", "/api/v1/oauth2clients/"+orgClient, nil)
		a.must(t, http.StatusNotFound, "GET", base+"/grafana", acme.token, nil)
		a.must(t, http.StatusNotFound, "POST", base+"/grafana/rotatesecret", acme.token, nil)

		// Update replaces the settings and keeps the secret.
		upd := clientWrite("portal-2")
		upd["spec"].(map[string]any)["redirectURIs"] = []string{"https://portal.example.com/cb", "http://127.0.0.1/cb"}
		upd["spec"].(map[string]any)["accessTokenLifetime"] = 600
		r := a.must(t, http.StatusOK, "PUT", base+"/"+orgClient, acme.token, upd)
		if str(r.obj(t), "metadata", "name") != "portal-2" || get(r.obj(t), "spec", "accessTokenLifetime").(float64) != 600 ||
			str(r.obj(t), "metadata", "modifiedTime") == "" {
			t.Errorf("update: %s", r)
		}
		if _, err := reg.Authenticate(ctx, orgClient, orgSec); err != nil {
			t.Errorf("update changed the secret: %v", err)
		}
		// The ID token algorithm and sessions per device (issue 17): set,
		// read back, stored; an algorithm that is not offered is a 400.
		upd["spec"].(map[string]any)["idTokenSignedResponseAlg"] = "RS256"
		upd["spec"].(map[string]any)["sessionPerDevice"] = true
		r = a.must(t, http.StatusOK, "PUT", base+"/"+orgClient, acme.token, upd)
		if str(r.obj(t), "spec", "idTokenSignedResponseAlg") != "RS256" || get(r.obj(t), "spec", "sessionPerDevice") != true {
			t.Errorf("update with an ID token algorithm and per-device sessions: %s", r)
		}
		if c, err := reg.Get(ctx, orgClient); err != nil || c.IDTokenSignedResponseAlg != "RS256" || !c.SessionPerDevice {
			t.Errorf("stored client %+v, %v", c, err)
		}
		upd["spec"].(map[string]any)["idTokenSignedResponseAlg"] = "HS256"
		a.must(t, http.StatusBadRequest, "PUT", base+"/"+orgClient, acme.token, upd)
		// Issue 16: requirePushedAuthorizationRequests and the device grant
		// on the organization's route; PAR without the code grant is a 400
		// that changes nothing.
		delete(upd["spec"].(map[string]any), "idTokenSignedResponseAlg")
		upd["spec"].(map[string]any)["requirePushedAuthorizationRequests"] = true
		upd["spec"].(map[string]any)["grantTypes"] = []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"}
		r = a.must(t, http.StatusOK, "PUT", base+"/"+orgClient, acme.token, upd)
		if get(r.obj(t), "spec", "requirePushedAuthorizationRequests") != true || !strings.Contains(r.String(), "device_code") {
			t.Errorf("update with PAR required and the device grant: %s", r)
		}
		noCode := map[string]any{"metadata": upd["metadata"], "spec": map[string]any{"grantTypes": []string{"urn:ietf:params:oauth:grant-type:device_code"},
			"requirePushedAuthorizationRequests": true}}
		a.must(t, http.StatusBadRequest, "PUT", base+"/"+orgClient, acme.token, noCode)
		if c, err := reg.Get(ctx, orgClient); err != nil || !c.RequirePushedAuthorizationRequests || len(c.GrantTypes) != 3 {
			t.Errorf("stored client %+v, %v", c, err)
		}
		delete(upd["spec"].(map[string]any), "requirePushedAuthorizationRequests")
		upd["spec"].(map[string]any)["grantTypes"] = []string{"authorization_code", "refresh_token"}
		delete(upd["spec"].(map[string]any), "idTokenSignedResponseAlg")
		delete(upd["spec"].(map[string]any), "sessionPerDevice")
		r = a.must(t, http.StatusOK, "PUT", base+"/"+orgClient, acme.token, upd)
		if get(r.obj(t), "spec", "idTokenSignedResponseAlg") != nil || get(r.obj(t), "spec", "sessionPerDevice") != false {
			t.Errorf("update without them: back to the defaults: %s", r)
		}

		// Rotation: a new secret, once; the old one fails at once.
		r = a.must(t, http.StatusOK, "POST", base+"/"+orgClient+"/rotatesecret", acme.token, nil)
		newSec := clientSecretOf(t, r)
		if newSec == "" || newSec == orgSec {
			t.Fatalf("rotate: %s", r)
		}
		if _, err := reg.Authenticate(ctx, orgClient, orgSec); !errors.Is(err, client.ErrInvalidClient) {
			t.Errorf("the old secret still works: %v", err)
		}
		if _, err := reg.Authenticate(ctx, orgClient, newSec); err != nil {
			t.Errorf("the new secret does not work: %v", err)
		}
		r = a.admin(t, http.StatusOK, "POST", "/api/v1/oauth2clients/grafana/rotatesecret", nil)
		if _, err := reg.Authenticate(ctx, "grafana", clientSecretOf(t, r)); err != nil {
			t.Errorf("platform rotate: %v", err)
		}

		// Validation: 400 with a description, nothing changed.
		public := clientWrite("spa")
		public["spec"].(map[string]any)["type"] = "public"
		pub := id(a.must(t, http.StatusCreated, "POST", base, acme.token, public).obj(t))
		if s := clientSecretOf(t, a.must(t, http.StatusOK, "GET", base+"/"+pub, acme.token, nil)); s != "" {
			t.Errorf("a public client has a secret %q", s)
		}
		before := a.must(t, http.StatusOK, "GET", base, acme.token, nil).Body
		withSpec := func(name string, edit map[string]any) map[string]any {
			b := clientWrite(name)
			for k, v := range edit {
				b["spec"].(map[string]any)[k] = v
			}
			return b
		}
		chosen := clientWrite("chosen")
		chosen["metadata"].(map[string]any)["id"] = "grafana-2"
		wrongID := clientWrite("x")
		wrongID["metadata"].(map[string]any)["id"] = "other"
		for _, c := range []struct {
			name, method, path string
			body               any
		}{
			{"http redirect URI off loopback", "POST", base, withSpec("x", map[string]any{"redirectURIs": []string{"http://evil.example.com/cb"}})},
			{"fragment", "POST", base, withSpec("x", map[string]any{"redirectURIs": []string{"https://a.example.com/cb#f"}})},
			{"wildcard", "POST", base, withSpec("x", map[string]any{"redirectURIs": []string{"https://*.example.com/cb"}})},
			{"code grant without redirect URI", "POST", base, withSpec("x", map[string]any{"redirectURIs": []string{}})},
			{"public client with client_credentials", "POST", base, withSpec("x", map[string]any{"type": "public", "grantTypes": []string{"client_credentials"}})},
			{"lifetime too short", "POST", base, withSpec("x", map[string]any{"accessTokenLifetime": 5})},
			{"negative lifetime", "POST", base, withSpec("x", map[string]any{"refreshTokenLifetime": -1})},
			{"empty name", "POST", base, map[string]any{"metadata": map[string]any{"name": ""}, "spec": map[string]any{}}},
			{"organization client choosing its ID", "POST", base, chosen},
			{"type change", "PUT", base + "/" + orgClient, withSpec("x", map[string]any{"type": "public"})},
			{"another client_id in the body", "PUT", base + "/" + orgClient, wrongID},
			{"rotating a public client", "POST", base + "/" + pub + "/rotatesecret", nil},
		} {
			wantError(t, a.call(t, c.method, c.path, acme.token, c.body), http.StatusBadRequest, "invalid_request")
		}
		if after := a.must(t, http.StatusOK, "GET", base, acme.token, nil).Body; string(after) != string(before) {
			t.Errorf("refused writes changed the clients:\n%s\n%s", before, after)
		}
		// A taken platform client_id is a conflict.
		wantError(t, a.call(t, "POST", "/api/v1/oauth2clients", a.AdminToken, body), http.StatusConflict, "conflict")

		// Delete: gone, its secret too.
		a.must(t, http.StatusOK, "DELETE", base+"/"+pub, acme.token, nil)
		a.must(t, http.StatusNotFound, "GET", base+"/"+pub, acme.token, nil)
		a.admin(t, http.StatusOK, "DELETE", "/api/v1/oauth2clients/grafana", nil)
		if _, err := reg.Authenticate(ctx, "grafana", sec); !errors.Is(err, client.ErrInvalidClient) {
			t.Errorf("a deleted client authenticates: %v", err)
		}
	})
}

// TestOAuth2ClientsRBAC: an organization's clients are its administrators'
// (readers read them, users do not see them); platform clients are the
// platform administrator's only; another organization's administrator gets
// 403 on the organization's paths and 404 for its client on their own.
func TestOAuth2ClientsRBAC(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		reader := a.addMember(t, acme.org, "readers", "reader")
		user := a.addMember(t, acme.org, "users", "user")
		other := a.tenant(t, "other", "administrator")
		base := orgPath(acme.org, "oauth2clients")
		c := id(a.must(t, http.StatusCreated, "POST", base, acme.token, clientWrite("portal")).obj(t))
		platform := id(a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2clients", clientWrite("platform")).obj(t))

		for _, tc := range []struct {
			who                string
			token, method, url string
			body               any
			want               int
		}{
			{"reader lists", reader.token, "GET", base, nil, http.StatusOK},
			{"reader reads", reader.token, "GET", base + "/" + c, nil, http.StatusOK},
			{"reader creates", reader.token, "POST", base, clientWrite("x"), http.StatusForbidden},
			{"reader rotates", reader.token, "POST", base + "/" + c + "/rotatesecret", nil, http.StatusForbidden},
			{"reader deletes", reader.token, "DELETE", base + "/" + c, nil, http.StatusForbidden},
			{"user lists", user.token, "GET", base, nil, http.StatusForbidden},
			{"user creates", user.token, "POST", base, clientWrite("x"), http.StatusForbidden},
			{"other administrator lists", other.token, "GET", base, nil, http.StatusForbidden},
			{"other administrator reads", other.token, "GET", base + "/" + c, nil, http.StatusForbidden},
			{"other administrator, own path", other.token, "GET", orgPath(other.org, "oauth2clients", c), nil, http.StatusNotFound},
			{"other administrator rotates, own path", other.token, "POST", orgPath(other.org, "oauth2clients", c, "rotatesecret"), nil, http.StatusNotFound},
			{"other administrator deletes, own path", other.token, "DELETE", orgPath(other.org, "oauth2clients", c), nil, http.StatusNotFound},
			{"organization administrator, platform list", acme.token, "GET", "/api/v1/oauth2clients", nil, http.StatusForbidden},
			{"organization administrator, platform create", acme.token, "POST", "/api/v1/oauth2clients", clientWrite("x"), http.StatusForbidden},
			{"organization administrator, platform rotate", acme.token, "POST", "/api/v1/oauth2clients/" + platform + "/rotatesecret", nil, http.StatusForbidden},
			{"platform administrator, organization's client", a.AdminToken, "GET", base + "/" + c, nil, http.StatusOK},
		} {
			if r := a.call(t, tc.method, tc.url, tc.token, tc.body); r.Status != tc.want {
				t.Errorf("%s: %s, want %d", tc.who, r, tc.want)
			}
		}
	})
}

// TestDeleteOrganizationDeletesItsClients: an organization's clients, with
// their sessions, go with it; platform clients stay.
func TestDeleteOrganizationDeletesItsClients(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		ctx := context.Background()
		acme := a.tenant(t, "acme", "administrator")
		c := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "oauth2clients"), acme.token, clientWrite("portal")).obj(t))
		platform := id(a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2clients", clientWrite("platform")).obj(t))
		// A session of the client, as a login leaves it.
		now := time.Now().UTC()
		if err := a.Store.Tx(ctx, func(q *store.Q) error {
			return q.ReplaceSession(ctx, &store.OIDCSession{ID: "fam-1", Subject: "jo@acme.example", ClientID: c, Scopes: "openid",
				RefreshHash: "h", AccessJTI: "j", CreatedAt: now, RefreshExpiresAt: now.Add(time.Hour),
				AccessExpiresAt: now.Add(time.Hour), AuthTime: now}, now)
		}); err != nil {
			t.Fatal(err)
		}
		a.admin(t, http.StatusAccepted, "DELETE", orgPath(acme.org), nil)
		reg := &client.Registry{Store: a.Store}
		if _, err := reg.Get(ctx, c); err == nil {
			t.Error("the organization's client survived it")
		}
		if _, err := a.Store.Read().SessionOf(ctx, "jo@acme.example", c, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the client's session survived: %v", err)
		}
		if _, err := reg.Get(ctx, platform); err != nil {
			t.Errorf("a platform client went with the organization: %v", err)
		}
	})
}

// containsText reports whether b holds s.
func containsText(b []byte, s string) bool { return s != "" && bytes.Contains(b, []byte(s)) }
