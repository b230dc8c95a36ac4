package client_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newRegistry(st *store.Store) (*client.Registry, *testenv.Clock) {
	clock := testenv.NewClock(t0)
	return &client.Registry{Store: st, Now: clock.Now, NewID: testenv.IDs(), Rand: rand.Reader}, clock
}

// web is a valid confidential client spec; tests change one thing at a time.
func web() client.Spec {
	return client.Spec{
		Name:         "Web app",
		RedirectURIs: []string{"https://app.example.com/callback"},
	}
}

func count(t *testing.T, r *client.Registry) int {
	t.Helper()
	cs, err := r.List(t.Context(), store.Page{Limit: store.NoLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// TestValidation: every rule checked at write, each with the 400 it gives;
// a refused create stores nothing.
func TestValidation(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(testenv.SQLite(t))
	long := strings.Repeat("a", 129)
	cases := []struct {
		name string
		edit func(s *client.Spec)
		want string // substring of the error; "" means accepted
	}{
		{"valid confidential", func(s *client.Spec) {}, ""},
		{"valid public", func(s *client.Spec) { s.Type = client.Public }, ""},
		{"chosen id", func(s *client.Spec) { s.ID = "grafana-prod_1.x~y" }, ""},
		{"id with colon", func(s *client.Spec) { s.ID = "a:b" }, "client id"},
		{"id with space", func(s *client.Spec) { s.ID = "a b" }, "client id"},
		{"id starting with dash", func(s *client.Spec) { s.ID = "-a" }, "client id"},
		{"id too long", func(s *client.Spec) { s.ID = long }, "client id"},
		{"id non-ascii", func(s *client.Spec) { s.ID = "grafanä" }, "client id"},
		{"no name", func(s *client.Spec) { s.Name = " " }, "needs a name"},
		{"name too long", func(s *client.Spec) { s.Name = strings.Repeat("n", 201) }, "client name"},
		{"name with newline", func(s *client.Spec) { s.Name = "a\nb" }, "client name"},
		{"unknown type", func(s *client.Spec) { s.Type = "trusted" }, "client type"},
		{"RS256 ID tokens", func(s *client.Spec) { s.IDTokenSignedResponseAlg = "RS256" }, ""},
		{"ES256 ID tokens", func(s *client.Spec) { s.IDTokenSignedResponseAlg = "ES256" }, ""},
		{"ES512 ID tokens", func(s *client.Spec) { s.IDTokenSignedResponseAlg = "ES512" }, ""},
		{"unsigned ID tokens", func(s *client.Spec) { s.IDTokenSignedResponseAlg = "none" }, "id_token_signed_response_alg"},
		{"MAC ID tokens", func(s *client.Spec) { s.IDTokenSignedResponseAlg = "HS256" }, "id_token_signed_response_alg"},
		{"unpublished algorithm", func(s *client.Spec) { s.IDTokenSignedResponseAlg = "PS256" }, "id_token_signed_response_alg"},
		{"lower-case algorithm", func(s *client.Spec) { s.IDTokenSignedResponseAlg = "rs256" }, "id_token_signed_response_alg"},

		{"unknown grant", func(s *client.Spec) { s.GrantTypes = []string{"password"} }, "not supported"},
		{"implicit grant", func(s *client.Spec) { s.GrantTypes = []string{"implicit"} }, "not supported"},
		{"PAR required without the code grant", func(s *client.Spec) {
			s.GrantTypes, s.RedirectURIs, s.PostLogoutRedirectURIs = []string{client.GrantDeviceCode}, nil, nil
			s.RequirePushedAuthorizationRequests = true
		}, "needs the authorization_code grant"},
		{"duplicate grant", func(s *client.Spec) { s.GrantTypes = []string{"authorization_code", "authorization_code"} }, "twice"},
		{"refresh without code", func(s *client.Spec) { s.GrantTypes = []string{"client_credentials", "refresh_token"} }, "needs the authorization_code"},
		{"client credentials only, no redirect URIs", func(s *client.Spec) {
			s.GrantTypes, s.RedirectURIs = []string{client.GrantClientCredentials, client.GrantTokenExchange}, nil
		}, ""},
		{"code without redirect URI", func(s *client.Spec) { s.RedirectURIs = nil }, "at least one redirect URI"},
		{"public with client_credentials", func(s *client.Spec) {
			s.Type, s.GrantTypes = client.Public, []string{client.GrantAuthorizationCode, client.GrantClientCredentials}
		}, "public client cannot use the client_credentials"},
		{"public with token exchange", func(s *client.Spec) {
			s.Type, s.GrantTypes = client.Public, []string{client.GrantTokenExchange}
		}, "public client cannot use the urn:ietf"},

		{"public with client_secret_basic", func(s *client.Spec) {
			s.Type, s.TokenEndpointAuthMethod = client.Public, client.AuthClientSecretBasic
		}, "must be none"},
		{"public with client_secret_post", func(s *client.Spec) {
			s.Type, s.TokenEndpointAuthMethod = client.Public, client.AuthClientSecretPost
		}, "must be none"},
		{"confidential with none", func(s *client.Spec) { s.TokenEndpointAuthMethod = client.AuthNone }, "not none"},
		{"confidential with post", func(s *client.Spec) { s.TokenEndpointAuthMethod = client.AuthClientSecretPost }, ""},
		{"private_key_jwt", func(s *client.Spec) { s.TokenEndpointAuthMethod = "private_key_jwt" }, "auth method"},

		{"http non-loopback", func(s *client.Spec) { s.RedirectURIs = []string{"http://app.example.com/cb"} }, "http is allowed only for loopback"},
		{"http 127.0.0.1", func(s *client.Spec) { s.RedirectURIs = []string{"http://127.0.0.1/cb"} }, ""},
		{"http [::1] with port", func(s *client.Spec) { s.RedirectURIs = []string{"http://[::1]:8080/cb"} }, ""},
		{"http localhost", func(s *client.Spec) { s.RedirectURIs = []string{"http://localhost:3000/cb"} }, ""},
		{"http 127.0.0.2", func(s *client.Spec) { s.RedirectURIs = []string{"http://127.0.0.2/cb"} }, "loopback"},
		{"http localhost lookalike", func(s *client.Spec) { s.RedirectURIs = []string{"http://localhost.example.com/cb"} }, "loopback"},
		{"http long-form ::1", func(s *client.Spec) { s.RedirectURIs = []string{"http://[0:0:0:0:0:0:0:1]/cb"} }, "loopback"},
		{"relative", func(s *client.Spec) { s.RedirectURIs = []string{"/callback"} }, "absolute https"},
		{"scheme-relative", func(s *client.Spec) { s.RedirectURIs = []string{"//app.example.com/cb"} }, "absolute https"},
		{"uppercase scheme", func(s *client.Spec) { s.RedirectURIs = []string{"HTTPS://app.example.com/cb"} }, "lowercase scheme"},
		{"fragment", func(s *client.Spec) { s.RedirectURIs = []string{"https://app.example.com/cb#x"} }, "fragment"},
		{"empty fragment", func(s *client.Spec) { s.RedirectURIs = []string{"https://app.example.com/cb#"} }, "fragment"},
		{"wildcard host", func(s *client.Spec) { s.RedirectURIs = []string{"https://*.example.com/cb"} }, "wildcards"},
		{"wildcard path", func(s *client.Spec) { s.RedirectURIs = []string{"https://app.example.com/*"} }, "wildcards"},
		{"javascript", func(s *client.Spec) { s.RedirectURIs = []string{"javascript:alert(1)"} }, "absolute https"},
		{"data", func(s *client.Spec) { s.RedirectURIs = []string{"data:text/html,hi"} }, "absolute https"},
		{"custom scheme", func(s *client.Spec) { s.RedirectURIs = []string{"com.example.app:/oauth2redirect"} }, "absolute https"},
		{"file", func(s *client.Spec) { s.RedirectURIs = []string{"file:///etc/passwd"} }, "absolute https"},
		{"opaque https", func(s *client.Spec) { s.RedirectURIs = []string{"https:app.example.com"} }, "absolute https"},
		{"no host", func(s *client.Spec) { s.RedirectURIs = []string{"https:///cb"} }, "no host"},
		{"userinfo", func(s *client.Spec) { s.RedirectURIs = []string{"https://app.example.com@evil.example/cb"} }, "user information"},
		{"space", func(s *client.Spec) { s.RedirectURIs = []string{"https://app.example.com/c b"} }, "printable ASCII"},
		{"backslash", func(s *client.Spec) { s.RedirectURIs = []string{`https://app.example.com\@evil.example/cb`} }, "backslash"},
		{"non-ascii", func(s *client.Spec) { s.RedirectURIs = []string{"https://app.exämple.com/cb"} }, "printable ASCII"},
		{"too long", func(s *client.Spec) {
			s.RedirectURIs = []string{"https://app.example.com/" + strings.Repeat("a", 2000)}
		}, "longer than"},
		{"duplicate", func(s *client.Spec) {
			s.RedirectURIs = []string{"https://app.example.com/cb", "https://app.example.com/cb"}
		}, "twice"},
		{"too many", func(s *client.Spec) {
			s.RedirectURIs = nil
			for i := range 51 {
				s.RedirectURIs = append(s.RedirectURIs, "https://app.example.com/"+strings.Repeat("x", i+1))
			}
		}, "at most 50"},
		{"query allowed", func(s *client.Spec) { s.RedirectURIs = []string{"https://app.example.com/cb?tenant=a"} }, ""},
		{"bad post-logout URI", func(s *client.Spec) { s.PostLogoutRedirectURIs = []string{"http://app.example.com/"} }, "post-logout redirect URI"},
		{"post-logout fragment", func(s *client.Spec) { s.PostLogoutRedirectURIs = []string{"https://app.example.com/#/bye"} }, "fragment"},

		{"scope with space", func(s *client.Spec) { s.Scopes = []string{"openid profile"} }, "scope"},
		{"scope with quote", func(s *client.Spec) { s.Scopes = []string{`a"b`} }, "scope"},
		{"empty scope", func(s *client.Spec) { s.Scopes = []string{"openid", ""} }, "scope"},
		{"duplicate scope", func(s *client.Spec) { s.Scopes = []string{"openid", "openid"} }, "twice"},
		{"custom scopes", func(s *client.Spec) { s.Scopes = []string{"openid", "api:read", "offline_access"} }, ""},

		{"negative access lifetime", func(s *client.Spec) { s.AccessTokenLifetime = -time.Hour }, "access token lifetime"},
		{"tiny access lifetime", func(s *client.Spec) { s.AccessTokenLifetime = time.Second }, "access token lifetime"},
		{"huge access lifetime", func(s *client.Spec) { s.AccessTokenLifetime = 25 * time.Hour }, "access token lifetime"},
		{"max access lifetime", func(s *client.Spec) { s.AccessTokenLifetime = 24 * time.Hour }, ""},
		{"negative refresh lifetime", func(s *client.Spec) { s.RefreshTokenLifetime = -1 }, "refresh token lifetime"},
		{"huge refresh lifetime", func(s *client.Spec) { s.RefreshTokenLifetime = 366 * 24 * time.Hour }, "refresh token lifetime"},
		{"min refresh lifetime", func(s *client.Spec) { s.RefreshTokenLifetime = time.Minute }, ""},

		// RFC 8705 client certificates.
		{"tls_client_auth by SAN DNS", tlsAuth(client.TLSSANDNS, "billing.svc.example"), ""},
		{"tls_client_auth by subject DN", tlsAuth(client.TLSSubjectDN, "CN=billing,O=Acme"), ""},
		{"tls_client_auth by SAN URI", tlsAuth(client.TLSSANURI, "spiffe://acme/billing"), ""},
		{"tls_client_auth by SAN IP", tlsAuth(client.TLSSANIP, "10.0.0.7"), ""},
		{"tls_client_auth by SAN email", tlsAuth(client.TLSSANEmail, "billing@acme.example"), ""},
		{"tls_client_auth without identity", tlsAuth("", ""), "needs the subject DN or a SAN"},
		{"tls_client_auth unknown field", tlsAuth("issuer_dn", "CN=x"), "certificate field"},
		{"tls_client_auth bad IP", tlsAuth(client.TLSSANIP, "10.0.0"), "not an IP address"},
		{"tls_client_auth relative URI", tlsAuth(client.TLSSANURI, "billing"), "absolute URI"},
		{"tls_client_auth email without @", tlsAuth(client.TLSSANEmail, "billing"), "email"},
		{"tls_client_auth control character", tlsAuth(client.TLSSubjectDN, "CN=a\x01b"), "control"},
		{"tls_client_auth for a public client", func(s *client.Spec) {
			tlsAuth(client.TLSSANDNS, "a.example")(s)
			s.Type = client.Public
		}, "public client cannot authenticate"},
		{"self-signed with a thumbprint", selfSigned(thumb(1)), ""},
		{"self-signed with two (rollover)", selfSigned(thumb(1), thumb(2)), ""},
		{"self-signed without a thumbprint", selfSigned(), "at least one certificate"},
		{"self-signed, thumbprint not base64url", selfSigned("not a thumbprint"), "base64url"},
		{"self-signed, thumbprint of another size", selfSigned("AAAA"), "base64url"},
		{"self-signed, thumbprint twice", selfSigned(thumb(1), thumb(1)), "twice"},
		{"self-signed, too many", selfSigned(thumb(1), thumb(2), thumb(3), thumb(4), thumb(5), thumb(6), thumb(7), thumb(8), thumb(9), thumb(10), thumb(11)), "at most 10"},
		{"identity with a secret method", func(s *client.Spec) {
			s.TLSClientAuth = client.TLSIdentity{Field: client.TLSSANDNS, Value: "a.example"}
		}, "for tls_client_auth clients only"},
		{"thumbprints with a secret method", func(s *client.Spec) { s.TLSCertificates = []string{thumb(1)} }, "for self_signed_tls_client_auth clients only"},
		{"thumbprints with tls_client_auth", func(s *client.Spec) {
			tlsAuth(client.TLSSANDNS, "a.example")(s)
			s.TLSCertificates = []string{thumb(1)}
		}, "for self_signed_tls_client_auth clients only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := web()
			tc.edit(&spec)
			before := count(t, r)
			c, _, err := r.Create(t.Context(), spec)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c == nil {
					t.Fatal("no client")
				}
				return
			}
			e, ok := apierror.As(err)
			if !ok || e.Status != http.StatusBadRequest {
				t.Fatalf("error %v, want a 400", err)
			}
			if !strings.Contains(e.Description, tc.want) {
				t.Errorf("error %q does not mention %q", e.Description, tc.want)
			}
			if n := count(t, r); n != before {
				t.Errorf("a refused create stored a client (%d → %d)", before, n)
			}
		})
	}
}

// tlsAuth makes a spec a tls_client_auth client.
func tlsAuth(field, value string) func(*client.Spec) {
	return func(s *client.Spec) {
		s.TokenEndpointAuthMethod = client.AuthTLSClientAuth
		s.TLSClientAuth = client.TLSIdentity{Field: field, Value: value}
	}
}

// selfSigned makes a spec a self_signed_tls_client_auth client.
func selfSigned(thumbprints ...string) func(*client.Spec) {
	return func(s *client.Spec) {
		s.TokenEndpointAuthMethod = client.AuthSelfSignedTLSClientAuth
		s.TLSCertificates = thumbprints
	}
}

// thumb is a well-formed thumbprint, different for each n.
func thumb(n byte) string {
	b := make([]byte, 32)
	b[0] = n
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestDefaults: what an almost empty spec becomes.
func TestDefaults(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(testenv.SQLite(t))
	c, sec, err := r.Create(t.Context(), web())
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != client.Confidential || c.TokenEndpointAuthMethod != client.AuthClientSecretBasic || c.RequirePKCE ||
		!reflect.DeepEqual(c.GrantTypes, []string{"authorization_code", "refresh_token"}) ||
		!reflect.DeepEqual(c.Scopes, []string{"openid", "profile", "email"}) ||
		c.AccessTokenLifetime != time.Hour || c.RefreshTokenLifetime != 30*24*time.Hour ||
		!c.CreatedAt.Equal(t0) || !c.ModifiedAt.IsZero() || c.ID == "" || c.IDTokenSignedResponseAlg != "" {
		t.Errorf("confidential defaults: %+v", c)
	}
	if !strings.HasPrefix(sec, client.SecretPrefix) || len(sec) < 40 {
		t.Errorf("secret %q", sec)
	}
	spec := web()
	spec.Type = client.Public
	p, psec, err := r.Create(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if psec != "" || p.TokenEndpointAuthMethod != client.AuthNone || !p.RequirePKCE {
		t.Errorf("public defaults: secret %q, %+v", psec, p)
	}
}

// TestRedirectURIMatching: exact match only, with the RFC 8252 loopback port
// exception.
func TestRedirectURIMatching(t *testing.T) {
	t.Parallel()
	c := &client.Client{Type: client.Confidential, RedirectURIs: []string{
		"https://app.example.com/callback",
		"https://app.example.com/cb?tenant=a",
		"https://app.example.com",
		"http://127.0.0.1/native",
		"http://[::1]:8080/native6",
		"http://127.0.0.1:9000?q=1",
		"http://localhost:3000/dev",
	}}
	cases := []struct {
		uri  string
		want bool
	}{
		{"https://app.example.com/callback", true},
		{"https://app.example.com/cb?tenant=a", true},
		{"https://app.example.com", true},
		{"", false},
		// trailing slash, both ways
		{"https://app.example.com/callback/", false},
		{"https://app.example.com/", false},
		// case
		{"https://APP.example.com/callback", false},
		{"https://app.example.com/Callback", false},
		{"HTTPS://app.example.com/callback", false},
		// query strings
		{"https://app.example.com/callback?x=1", false},
		{"https://app.example.com/callback?", false},
		{"https://app.example.com/cb?tenant=b", false},
		{"https://app.example.com/cb?tenant=a&x=1", false},
		{"https://app.example.com/cb", false},
		// fragments
		{"https://app.example.com/callback#", false},
		{"https://app.example.com/callback#frag", false},
		// prefixes, suffixes and look-alikes
		{"https://app.example.com/callback/../evil", false},
		{"https://app.example.com/callbackx", false},
		{"https://app.example.com.evil.example/callback", false},
		{"https://app.example.com@evil.example/callback", false},
		{"https://evil.example/https://app.example.com/callback", false},
		{"https://app.example.com/callback%2F..%2Fevil", false},
		{"https://app.example.com:443/callback", false},
		{" https://app.example.com/callback", false},
		{"https://app.example.com/callback ", false},
		// schemes
		{"http://app.example.com/callback", false},
		{"javascript:alert(1)", false},
		{"javascript://app.example.com/callback", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"file:///etc/passwd", false},
		{"//app.example.com/callback", false},
		{"com.example.app:/callback", false},
		// loopback IP literals: any port (RFC 8252 §7.3), the rest exact
		{"http://127.0.0.1/native", true},
		{"http://127.0.0.1:51234/native", true},
		{"http://127.0.0.1:1/native", true},
		{"http://127.0.0.1:65535/native", true},
		{"http://127.0.0.1:0/native", false},
		{"http://127.0.0.1:65536/native", false},
		{"http://127.0.0.1:080/native", false},
		{"http://127.0.0.1:+80/native", false},
		{"http://127.0.0.1:/native", false},
		{"http://127.0.0.1:abc/native", false},
		{"http://127.0.0.1:51234/native/", false},
		{"http://127.0.0.1:51234/Native", false},
		{"http://127.0.0.1:51234/native?x=1", false},
		{"http://127.0.0.1:51234/native#x", false},
		{"http://127.0.0.1:51234/other", false},
		{"https://127.0.0.1:51234/native", false},
		{"HTTP://127.0.0.1:51234/native", false},
		{"http://127.0.0.1.evil.example/native", false},
		{"http://127.0.0.1:80.evil.example/native", false},
		{"http://127.0.0.1:80@evil.example/native", false},
		{"http://127.0.0.1@evil.example/native", false},
		{"http://localhost:51234/native", false},
		{"http://127.0.0.2:51234/native", false},
		{"http://[::1]:8080/native6", true},
		{"http://[::1]:4000/native6", true},
		{"http://[::1]/native6", true},
		{"http://[0:0:0:0:0:0:0:1]:4000/native6", false},
		{"http://127.0.0.1:4000/native6", false},
		{"http://127.0.0.1:9000?q=1", true},
		{"http://127.0.0.1:9001?q=1", true},
		{"http://127.0.0.1?q=1", true},
		{"http://127.0.0.1:9001?q=2", false},
		// localhost: matched exactly, port included
		{"http://localhost:3000/dev", true},
		{"http://localhost:3001/dev", false},
		{"http://localhost/dev", false},
		{"http://127.0.0.1:3000/dev", false},
	}
	for _, tc := range cases {
		if got := client.ValidRedirectURI(c, tc.uri); got != tc.want {
			t.Errorf("ValidRedirectURI(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
	logout := &client.Client{PostLogoutRedirectURIs: []string{"https://app.example.com/bye"}}
	if !client.ValidPostLogoutRedirectURI(logout, "https://app.example.com/bye") ||
		client.ValidPostLogoutRedirectURI(logout, "https://app.example.com/bye/") ||
		client.ValidPostLogoutRedirectURI(logout, "https://app.example.com/callback") ||
		client.ValidRedirectURI(logout, "https://app.example.com/bye") {
		t.Error("post-logout redirect URIs are matched like redirect URIs, and only against their own list")
	}
}

// TestRegisteredURIsMatchThemselves: whatever validation accepts, the exact
// matcher finds again.
func TestRegisteredURIsMatchThemselves(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(testenv.SQLite(t))
	uris := []string{"https://a.example/x?y=%20z&w", "https://a.example:8443/", "http://127.0.0.1:8080", "http://[::1]", "http://localhost/x"}
	spec := web()
	spec.RedirectURIs = uris
	c, _, err := r.Create(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range uris {
		if !client.ValidRedirectURI(c, u) {
			t.Errorf("registered %q does not match itself", u)
		}
	}
}

func TestGrantsAndPKCE(t *testing.T) {
	t.Parallel()
	conf := &client.Client{Type: client.Confidential, GrantTypes: []string{client.GrantAuthorizationCode, client.GrantClientCredentials}, Scopes: []string{"openid"}}
	if !client.AllowsGrant(conf, client.GrantAuthorizationCode) || !client.AllowsGrant(conf, client.GrantClientCredentials) ||
		client.AllowsGrant(conf, client.GrantRefreshToken) || client.AllowsGrant(conf, client.GrantTokenExchange) ||
		client.AllowsGrant(conf, "password") || client.AllowsGrant(conf, "") {
		t.Error("AllowsGrant on a confidential client")
	}
	if client.RequiresPKCE(conf) {
		t.Error("PKCE required of a confidential client that did not ask for it")
	}
	conf.RequirePKCE = true
	if !client.RequiresPKCE(conf) {
		t.Error("RequirePKCE ignored")
	}
	// Even a public row that somehow holds client_credentials does not get it.
	pub := &client.Client{Type: client.Public, GrantTypes: []string{client.GrantAuthorizationCode, client.GrantClientCredentials, client.GrantTokenExchange}}
	if !client.AllowsGrant(pub, client.GrantAuthorizationCode) || client.AllowsGrant(pub, client.GrantClientCredentials) ||
		client.AllowsGrant(pub, client.GrantTokenExchange) {
		t.Error("AllowsGrant on a public client")
	}
	if !client.RequiresPKCE(pub) {
		t.Error("public clients always need PKCE")
	}
	if !client.AllowsScope(conf, "openid") || client.AllowsScope(conf, "email") {
		t.Error("AllowsScope")
	}
}

// TestRegistryRoundTrip: create, get, list (keyset), update, rotate and delete
// on each database engine.
func TestRegistryRoundTrip(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		r, clock := newRegistry(open(t))
		ctx := t.Context()
		full := client.Spec{
			ID: "full", Name: "Full", Type: client.Confidential,
			RedirectURIs:             []string{"https://a.example/cb", "http://127.0.0.1/cb"},
			PostLogoutRedirectURIs:   []string{"https://a.example/bye"},
			GrantTypes:               []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials, client.GrantTokenExchange},
			Scopes:                   []string{"openid", "email", "api:write"},
			TokenEndpointAuthMethod:  client.AuthClientSecretPost,
			RequirePKCE:              true,
			IDTokenSignedResponseAlg: "RS256",
			AccessTokenLifetime:      15*time.Minute + 1500*time.Microsecond, // stored in whole milliseconds
			RefreshTokenLifetime:     90 * 24 * time.Hour,
		}
		c, sec, err := r.Create(ctx, full)
		if err != nil {
			t.Fatal(err)
		}
		want := &client.Client{
			ID: "full", Name: "Full", Type: client.Confidential, RedirectURIs: full.RedirectURIs,
			PostLogoutRedirectURIs: full.PostLogoutRedirectURIs, GrantTypes: full.GrantTypes, Scopes: full.Scopes,
			TokenEndpointAuthMethod: client.AuthClientSecretPost, RequirePKCE: true, TLSCertificates: []string{},
			IDTokenSignedResponseAlg: "RS256", AccessTokenLifetime: 15*time.Minute + time.Millisecond, RefreshTokenLifetime: 90 * 24 * time.Hour, CreatedAt: t0,
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("create returned\n %+v\nwant\n %+v", c, want)
		}
		got, err := r.Get(ctx, "full")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("get: %+v, %v\nwant %+v", got, err, want)
		}
		if _, err := r.Authenticate(ctx, "full", sec); err != nil {
			t.Errorf("the secret from create does not authenticate: %v", err)
		}

		// A taken client_id is a 409 and changes nothing.
		dup := web()
		dup.ID = "full"
		_, _, err = r.Create(ctx, dup)
		if e, ok := apierror.As(err); !ok || e.Status != http.StatusConflict {
			t.Errorf("duplicate id: %v, want 409", err)
		}
		if got, _ := r.Get(ctx, "full"); got.Name != "Full" {
			t.Error("a refused duplicate changed the client")
		}

		// Keyset pages over generated and chosen ids.
		for range 4 {
			if _, _, err := r.Create(ctx, web()); err != nil {
				t.Fatal(err)
			}
		}
		all, err := r.List(ctx, store.Page{Limit: store.NoLimit})
		if err != nil || len(all) != 5 {
			t.Fatalf("list: %d clients, %v", len(all), err)
		}
		var paged []string
		after := ""
		for {
			page, err := r.List(ctx, store.Page{Limit: 2, After: after})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, c := range page {
				paged = append(paged, c.ID)
			}
			after = page[len(page)-1].ID
		}
		var ids []string
		for _, c := range all {
			ids = append(ids, c.ID)
		}
		if !reflect.DeepEqual(paged, ids) {
			t.Errorf("pages %v, list %v", paged, ids)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i-1] >= ids[i] {
				t.Errorf("list not in id order: %v", ids)
			}
		}

		// Update replaces the settings, keeps the secret, stamps modified_at.
		clock.Advance(time.Hour)
		upd := client.Spec{Name: "Renamed", RedirectURIs: []string{"https://b.example/cb"}, Scopes: []string{"openid"}}
		u, err := r.Update(ctx, "full", upd)
		if err != nil {
			t.Fatal(err)
		}
		if u.Name != "Renamed" || !reflect.DeepEqual(u.RedirectURIs, []string{"https://b.example/cb"}) ||
			u.TokenEndpointAuthMethod != client.AuthClientSecretBasic || u.RequirePKCE || u.IDTokenSignedResponseAlg != "" ||
			!u.CreatedAt.Equal(t0) || !u.ModifiedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("update: %+v", u)
		}
		if got, _ := r.Get(ctx, "full"); !reflect.DeepEqual(got, u) {
			t.Errorf("update returned %+v, reads back %+v", u, got)
		}
		if _, err := r.Authenticate(ctx, "full", sec); err != nil {
			t.Errorf("update lost the secret: %v", err)
		}
		upd.Type = client.Public
		if _, err := r.Update(ctx, "full", upd); err == nil || !strings.Contains(err.Error(), "cannot change") {
			t.Errorf("type change: %v", err)
		}
		bad := upd
		bad.Type, bad.RedirectURIs = "", []string{"http://b.example/cb"}
		if _, err := r.Update(ctx, "full", bad); err == nil {
			t.Error("update accepted an invalid redirect URI")
		}
		bad = upd
		bad.Type, bad.IDTokenSignedResponseAlg = "", "HS256"
		if _, err := r.Update(ctx, "full", bad); !isStatus(err, http.StatusBadRequest) {
			t.Errorf("update to HS256 ID tokens: %v, want 400", err)
		}
		if got, _ := r.Get(ctx, "full"); !reflect.DeepEqual(got, u) {
			t.Error("a refused update changed the client")
		}
		if _, err := r.Update(ctx, "missing", web()); !isStatus(err, http.StatusNotFound) {
			t.Errorf("update of a missing client: %v", err)
		}

		// Rotate: the new secret works, the old one stops at once.
		clock.Advance(time.Hour)
		sec2, err := r.RotateSecret(ctx, "full")
		if err != nil || sec2 == sec || !strings.HasPrefix(sec2, client.SecretPrefix) {
			t.Fatalf("rotate: %q, %v", sec2, err)
		}
		if _, err := r.Authenticate(ctx, "full", sec); !errors.Is(err, client.ErrInvalidClient) {
			t.Errorf("old secret after rotation: %v", err)
		}
		if _, err := r.Authenticate(ctx, "full", sec2); err != nil {
			t.Errorf("new secret: %v", err)
		}
		if got, _ := r.Get(ctx, "full"); !got.ModifiedAt.Equal(t0.Add(2 * time.Hour)) {
			t.Errorf("rotation did not stamp modified_at: %v", got.ModifiedAt)
		}
		if _, err := r.RotateSecret(ctx, "missing"); !isStatus(err, http.StatusNotFound) {
			t.Errorf("rotate of a missing client: %v", err)
		}

		// Delete.
		if err := r.Delete(ctx, "full"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx, "full"); !isStatus(err, http.StatusNotFound) {
			t.Errorf("get after delete: %v", err)
		}
		if _, err := r.Authenticate(ctx, "full", sec2); !errors.Is(err, client.ErrInvalidClient) {
			t.Errorf("secret of a deleted client: %v", err)
		}
		if err := r.Delete(ctx, "full"); !isStatus(err, http.StatusNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
}

// TestAuthenticate: right, wrong, missing, rotated secrets; public clients.
func TestAuthenticate(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		r, _ := newRegistry(st)
		ctx := t.Context()
		conf, sec, err := r.Create(ctx, web())
		if err != nil {
			t.Fatal(err)
		}
		spec := web()
		spec.Type = client.Public
		pub, _, err := r.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}

		// Only the hash is stored.
		row, err := st.Read().GetOAuth2Client(ctx, conf.ID)
		if err != nil {
			t.Fatal(err)
		}
		if row.SecretHash != secret.Hash(sec) || strings.Contains(row.SecretHash, sec) {
			t.Errorf("stored %q for secret %q", row.SecretHash, sec)
		}
		if prow, _ := st.Read().GetOAuth2Client(ctx, pub.ID); prow.SecretHash != "" {
			t.Errorf("a public client has a secret hash %q", prow.SecretHash)
		}

		cases := []struct {
			name, id, secret string
			ok               bool
		}{
			{"right secret", conf.ID, sec, true},
			{"wrong secret", conf.ID, sec + "x", false},
			{"truncated secret", conf.ID, sec[:len(sec)-1], false},
			{"no secret", conf.ID, "", false},
			{"the hash as the secret", conf.ID, secret.Hash(sec), false},
			{"another client's id", pub.ID, sec, false},
			{"unknown client", "nobody", sec, false},
			{"unknown client, no secret", "nobody", "", false},
			{"public, no secret", pub.ID, "", true},
			{"public with a secret", pub.ID, "anything", false},
		}
		for _, tc := range cases {
			c, err := r.Authenticate(ctx, tc.id, tc.secret)
			switch {
			case tc.ok && (err != nil || c == nil || c.ID != tc.id):
				t.Errorf("%s: %v, %v", tc.name, c, err)
			case !tc.ok && (!errors.Is(err, client.ErrInvalidClient) || c != nil):
				t.Errorf("%s: %v, %v; want ErrInvalidClient", tc.name, c, err)
			}
		}

		sec2, err := r.RotateSecret(ctx, conf.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Authenticate(ctx, conf.ID, sec); !errors.Is(err, client.ErrInvalidClient) {
			t.Errorf("rotated-out secret: %v", err)
		}
		if _, err := r.Authenticate(ctx, conf.ID, sec2); err != nil {
			t.Errorf("rotated-in secret: %v", err)
		}
		if _, err := r.RotateSecret(ctx, pub.ID); !isStatus(err, http.StatusBadRequest) {
			t.Errorf("rotating a public client's secret: %v", err)
		}
	})
}

// TestRotateRacesUpdate: an update running beside rotations never writes an
// old secret hash back (updates do not touch the secret column).
func TestRotateRacesUpdate(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		r, _ := newRegistry(open(t))
		ctx := t.Context()
		c, _, err := r.Create(ctx, web())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			for i := range 10 {
				spec := web()
				spec.Name = "n" + string(rune('a'+i))
				if _, err := r.Update(context.Background(), c.ID, spec); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		var last string
		for range 10 {
			if last, err = r.RotateSecret(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := r.Authenticate(ctx, c.ID, last); err != nil {
			t.Errorf("the last rotated secret does not work: %v", err)
		}
	})
}

func isStatus(err error, status int) bool {
	e, ok := apierror.As(err)
	return ok && e.Status == status
}
