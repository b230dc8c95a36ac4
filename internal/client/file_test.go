package client_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

const (
	grafanaSecret = "grafana-secret-0123456789abcdefghijklmnop"
	argoSecret    = "argo-secret-0123456789abcdefghijklmnopqrstu"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// fileV1 declares a confidential client with an env secret, one with a
// hashed secret, and a public one.
var fileV1 = `{
  "clients": [
    {
      "id": "grafana",
      "name": "Grafana",
      "secretEnv": "GRAFANA_SECRET",
      "redirectURIs": ["https://grafana.example.com/login/generic_oauth"],
      "postLogoutRedirectURIs": ["https://grafana.example.com/login"],
      "scopes": ["openid", "email"],
      "accessTokenLifetime": "30m"
    },
    {
      "id": "argo",
      "name": "Argo CD",
      "type": "confidential",
      "secretHash": "` + strings.ToUpper(secret.Hash(argoSecret)) + `",
      "redirectURIs": ["https://argo.example.com/auth/callback"],
      "grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
      "tokenEndpointAuthMethod": "client_secret_post",
      "requirePKCE": true,
      "idTokenSignedResponseAlg": "RS256",
      "refreshTokenLifetime": "168h"
    },
    {
      "id": "cli",
      "name": "Command line",
      "type": "public",
      "redirectURIs": ["http://127.0.0.1/callback"]
    }
  ]
}`

// TestLoadFileRefuses: every mistake in a clients file is reported, naming
// the client, before anything is written.
func TestLoadFileRefuses(t *testing.T) {
	t.Parallel()
	hash := secret.Hash(grafanaSecret)
	vars := env(map[string]string{"OK": grafanaSecret, "SHORT": "tooshort"})
	entry := func(fields string) string {
		return `{"clients":[{"id":"app","name":"App","redirectURIs":["https://app.example/cb"]` + fields + `}]}`
	}
	cases := []struct{ name, content, want string }{
		{"not JSON", `clients: []`, "not valid"},
		{"trailing data", `{"clients":[]} {}`, "data after"},
		{"unknown top-level field", `{"clients":[],"extra":1}`, "unknown field"},
		{"unknown client field", entry(`,"secretEnv":"OK","redirect_uris":[]`), "unknown field"},
		{"plain secret", entry(`,"secret":"hunter2"`), "plain-text secret"},
		{"plain clientSecret", entry(`,"clientSecret":"hunter2"`), "plain-text secret"},
		{"null secret", entry(`,"secret":null,"secretEnv":"OK"`), "plain-text secret"},
		{"no id", `{"clients":[{"name":"App","secretEnv":"OK","redirectURIs":["https://app.example/cb"]}]}`, `client #1: "id" is required`},
		{"bad id", `{"clients":[{"id":"a b","name":"App","secretEnv":"OK","redirectURIs":["https://app.example/cb"]}]}`, "client id"},
		{"confidential without secret", entry(``), "needs a secret"},
		{"both secret forms", entry(`,"secretEnv":"OK","secretHash":"` + hash + `"`), "not both"},
		{"unset env", entry(`,"secretEnv":"MISSING"`), "MISSING is not set"},
		{"short env secret", entry(`,"secretEnv":"SHORT"`), "shorter than 32"},
		{"hash too short", entry(`,"secretHash":"abc123"`), "64 hexadecimal"},
		{"hash not hex", entry(`,"secretHash":"` + strings.Repeat("z", 64) + `"`), "64 hexadecimal"},
		{"public with secret", entry(`,"type":"public","secretEnv":"OK"`), "public client has no secret"},
		{"bad lifetime", entry(`,"secretEnv":"OK","accessTokenLifetime":"forever"`), "accessTokenLifetime"},
		{"lifetime out of bounds", entry(`,"secretEnv":"OK","refreshTokenLifetime":"9000h"`), "refresh token lifetime"},
		{"invalid redirect", entry(`,"secretEnv":"OK","postLogoutRedirectURIs":["https://app.example/#x"]`), "fragment"},
		{"unknown grant", entry(`,"secretEnv":"OK","grantTypes":["password"]`), "not supported"},
		{"MAC ID tokens", entry(`,"secretEnv":"OK","idTokenSignedResponseAlg":"HS256"`), "id_token_signed_response_alg"},
		{"unsigned ID tokens", entry(`,"secretEnv":"OK","idTokenSignedResponseAlg":"none"`), "id_token_signed_response_alg"},
		{"two certificate identities", entry(`,"tokenEndpointAuthMethod":"tls_client_auth","tlsClientAuthSANDNS":"a.example","tlsClientAuthSubjectDN":"CN=a"`), "exactly one"},
		{"certificate client with a secret", entry(`,"secretEnv":"OK","tokenEndpointAuthMethod":"tls_client_auth","tlsClientAuthSANDNS":"a.example"`), "has no secret"},
		{"self-signed without thumbprints", entry(`,"tokenEndpointAuthMethod":"self_signed_tls_client_auth"`), "at least one certificate"},
		{"duplicate id", `{"clients":[{"id":"a","name":"A","type":"public","redirectURIs":["https://a.example/"]},` +
			`{"id":"a","name":"B","type":"public","redirectURIs":["https://a.example/"]}]}`, "declared twice"},
	}
	for _, tc := range cases {
		path := writeFile(t, tc.content)
		_, err := client.LoadFile(path, vars)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), grafanaSecret) {
			t.Errorf("%s: the error reveals the secret: %v", tc.name, err)
		}
	}
	if _, err := client.LoadFile(filepath.Join(t.TempDir(), "missing.json"), vars); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if d, err := client.LoadFile(writeFile(t, `{"clients":[]}`), vars); err != nil || len(d) != 0 {
		t.Errorf("empty file: %v, %v", d, err)
	}
}

// TestFileCertificateClients: the clients file declares RFC 8705 clients
// (no secret) and consent, and a changed identity is an update.
func TestFileCertificateClients(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(testenv.SQLite(t))
	content := func(dns string) string {
		return `{"clients":[
		  {"id":"billing","name":"Billing","grantTypes":["client_credentials"],"tokenEndpointAuthMethod":"tls_client_auth","tlsClientAuthSANDNS":"` + dns + `"},
		  {"id":"robot","name":"Robot","grantTypes":["client_credentials"],"tokenEndpointAuthMethod":"self_signed_tls_client_auth","tlsClientCertificates":["` + thumb(3) + `"]},
		  {"id":"portal","name":"Portal","type":"public","requireConsent":true,"redirectURIs":["https://portal.example/cb"]}]}`
	}
	res, err := r.ApplyFile(t.Context(), writeFile(t, content("billing.svc.example")), env(nil))
	if err != nil || len(res.Created) != 3 {
		t.Fatalf("apply: %+v %v", res, err)
	}
	billing, _ := r.Get(t.Context(), "billing")
	robot, _ := r.Get(t.Context(), "robot")
	portal, _ := r.Get(t.Context(), "portal")
	if billing.TLSClientAuth != (client.TLSIdentity{Field: client.TLSSANDNS, Value: "billing.svc.example"}) ||
		!reflect.DeepEqual(robot.TLSCertificates, []string{thumb(3)}) || !portal.RequireConsent {
		t.Fatalf("read back %+v %+v %+v", billing, robot, portal)
	}
	res, err = r.ApplyFile(t.Context(), writeFile(t, content("billing2.svc.example")), env(nil))
	if err != nil || !reflect.DeepEqual(res.Updated, []string{"billing"}) || len(res.Unchanged) != 2 {
		t.Fatalf("re-apply with a new SAN: %+v %v", res, err)
	}
}

// TestApplyFile: the first start creates, the next ones change nothing, a
// changed file updates, secrets come from hashes and the environment, a client
// dropped from the file stays, and a type change is refused.
func TestApplyFile(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		r, clock := newRegistry(open(t))
		ctx := t.Context()
		vars := map[string]string{"GRAFANA_SECRET": grafanaSecret}
		path := writeFile(t, fileV1)

		// A client created with the CLI beforehand.
		own, ownSecret, err := r.Create(ctx, web())
		if err != nil {
			t.Fatal(err)
		}

		res, err := r.ApplyFile(ctx, path, env(vars))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res, &client.Applied{Created: []string{"grafana", "argo", "cli"}}) {
			t.Errorf("first apply: %+v", res)
		}
		g, err := r.Get(ctx, "grafana")
		if err != nil {
			t.Fatal(err)
		}
		want := &client.Client{ID: "grafana", Name: "Grafana", Type: client.Confidential,
			RedirectURIs:           []string{"https://grafana.example.com/login/generic_oauth"},
			PostLogoutRedirectURIs: []string{"https://grafana.example.com/login"},
			GrantTypes:             []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "email"},
			TokenEndpointAuthMethod: client.AuthClientSecretBasic, AccessTokenLifetime: 30 * time.Minute,
			RefreshTokenLifetime: client.DefaultRefreshTokenLifetime, CreatedAt: t0, TLSCertificates: []string{}}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("grafana:\n %+v\nwant\n %+v", g, want)
		}
		if a, err := r.Authenticate(ctx, "argo", argoSecret); err != nil || !a.RequirePKCE ||
			a.TokenEndpointAuthMethod != client.AuthClientSecretPost || !client.AllowsGrant(a, client.GrantClientCredentials) ||
			a.RefreshTokenLifetime != 168*time.Hour || a.IDTokenSignedResponseAlg != "RS256" {
			t.Errorf("argo (hashed secret, given in upper case): %+v, %v", a, err)
		}
		if _, err := r.Authenticate(ctx, "grafana", grafanaSecret); err != nil {
			t.Errorf("grafana (secret from the environment): %v", err)
		}
		if c, err := r.Authenticate(ctx, "cli", ""); err != nil || !client.RequiresPKCE(c) {
			t.Errorf("cli (public): %+v, %v", c, err)
		}

		// Idempotent: nothing is written again, not even modified_at.
		clock.Advance(time.Hour)
		before, _ := r.List(ctx, store.Page{Limit: store.NoLimit})
		for range 2 {
			res, err = r.ApplyFile(ctx, path, env(vars))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res, &client.Applied{Unchanged: []string{"grafana", "argo", "cli"}}) {
				t.Errorf("re-apply: %+v", res)
			}
		}
		after, _ := r.List(ctx, store.Page{Limit: store.NoLimit})
		if !reflect.DeepEqual(before, after) {
			t.Errorf("re-applying the same file changed clients:\n%+v\n%+v", before, after)
		}

		// A changed file: grafana's secret (new env value) and argo's name
		// change; the CLI's client and "cli", now dropped from the file, stay.
		clock.Advance(time.Hour)
		vars["GRAFANA_SECRET"] = grafanaSecret + "-rotated"
		v2 := strings.Replace(fileV1, `"Argo CD"`, `"Argo"`, 1)
		v2 = strings.Replace(v2, `"idTokenSignedResponseAlg": "RS256"`, `"idTokenSignedResponseAlg": "ES512"`, 1)
		v2 = v2[:strings.Index(v2, `,
    {
      "id": "cli"`)] + "\n  ]\n}"
		res, err = r.ApplyFile(ctx, writeFile(t, v2), env(vars))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res, &client.Applied{Updated: []string{"grafana", "argo"}}) {
			t.Errorf("apply of a changed file: %+v", res)
		}
		if _, err := r.Authenticate(ctx, "grafana", grafanaSecret); !errors.Is(err, client.ErrInvalidClient) {
			t.Errorf("grafana's old secret after the change: %v", err)
		}
		if _, err := r.Authenticate(ctx, "grafana", grafanaSecret+"-rotated"); err != nil {
			t.Errorf("grafana's new secret: %v", err)
		}
		a, _ := r.Get(ctx, "argo")
		if a.Name != "Argo" || a.IDTokenSignedResponseAlg != "ES512" || !a.CreatedAt.Equal(t0) || !a.ModifiedAt.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("argo after the change: %+v", a)
		}
		if _, err := r.Authenticate(ctx, "argo", argoSecret); err != nil {
			t.Errorf("argo's unchanged secret: %v", err)
		}
		if _, err := r.Get(ctx, "cli"); err != nil {
			t.Errorf("a client dropped from the file was removed: %v", err)
		}
		if _, err := r.Authenticate(ctx, own.ID, ownSecret); err != nil {
			t.Errorf("a client not in the file was touched: %v", err)
		}

		// A declared type change is refused, and the whole file is then
		// applied not at all.
		v3 := strings.Replace(fileV1, `"Argo CD"`, `"Argo 3"`, 1)
		v3 = strings.Replace(v3, `"type": "public"`, `"type": "confidential", "secretEnv": "GRAFANA_SECRET"`, 1)
		_, err = r.ApplyFile(ctx, writeFile(t, v3), env(vars))
		if err == nil || !strings.Contains(err.Error(), "cannot change") || !strings.Contains(err.Error(), "admin clients delete cli") {
			t.Errorf("type change: %v", err)
		}
		if a, _ := r.Get(ctx, "argo"); a.Name != "Argo" {
			t.Error("a refused file was partly applied")
		}
	})
}

// TestApplyConcurrently: replicas starting together apply the same file at
// once; every one succeeds and each client exists once.
func TestApplyConcurrently(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		decls, err := client.LoadFile(writeFile(t, fileV1), env(map[string]string{"GRAFANA_SECRET": grafanaSecret}))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			r, _ := newRegistry(st)
			wg.Go(func() {
				_, err := r.Apply(t.Context(), decls)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent apply: %v", err)
			}
		}
		r, _ := newRegistry(st)
		all, err := r.List(t.Context(), store.Page{Limit: store.NoLimit})
		if err != nil || len(all) != 3 {
			t.Errorf("after concurrent applies: %d clients, %v", len(all), err)
		}
	})
}
