package connector_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/connector"
)

// Tenant IDs of the stand-in Entra ID.
const (
	tenantA   = "11111111-aaaa-4aaa-8aaa-111111111111"
	tenantB   = "22222222-bbbb-4bbb-8bbb-222222222222"
	consumers = connector.MicrosoftConsumersTenantID
)

// TestMicrosoft: logins through each kind of Entra ID tenant, with tokens
// whose iss and tid agree and with forged ones. On the multi-tenant
// endpoints iss must be the issuer of the tenant the token's own tid names.
func TestMicrosoft(t *testing.T) {
	t.Parallel()
	type token struct {
		tid  any    // the tid claim (nil: none)
		iss  string // the iss claim's tenant segment, if not tid's
		host string // replaces the stand-in's URL in iss
	}
	for _, tc := range []struct {
		name   string
		tenant string // the provider's Issuer
		tok    token
		parts  []string // the error must mention these; nil: success
	}{
		{name: "common: good", tenant: "common", tok: token{tid: tenantA}},
		{name: "common: personal account", tenant: "common", tok: token{tid: consumers}},
		{name: "common: tid of another tenant than iss", tenant: "common", tok: token{tid: tenantB, iss: tenantA},
			parts: []string{"issuer", tenantB}},
		{name: "common: iss on another host", tenant: "common", tok: token{tid: tenantA, host: "https://login.evil.example"},
			parts: []string{"login.evil.example"}},
		{name: "common: iss is the template", tenant: "common", tok: token{tid: tenantA, iss: "{tenantid}"},
			parts: []string{"{tenantid}"}},
		{name: "common: no tid", tenant: "common", tok: token{iss: tenantA}, parts: []string{"tid"}},
		{name: "common: tid that is not a tenant ID", tenant: "common", tok: token{tid: "evil/../" + tenantA, iss: "evil/../" + tenantA},
			parts: []string{"not a tenant ID"}},
		{name: "common: tid of the wrong type", tenant: "common", tok: token{tid: 42, iss: tenantA}, parts: []string{"tid"}},
		{name: "organizations: good", tenant: "organizations", tok: token{tid: tenantB}},
		{name: "organizations: personal account", tenant: "organizations", tok: token{tid: consumers},
			parts: []string{"personal Microsoft accounts"}},
		{name: "organizations: forged tid", tenant: "organizations", tok: token{tid: tenantA, iss: tenantB}, parts: []string{"issuer"}},
		{name: "consumers: good", tenant: "consumers", tok: token{tid: consumers}},
		{name: "consumers: work account", tenant: "consumers", tok: token{tid: tenantA}, parts: []string{"not tenant " + consumers}},
		{name: "tenant ID: good", tenant: tenantA, tok: token{tid: tenantA}},
		{name: "tenant ID: another tenant's token", tenant: tenantA, tok: token{tid: tenantB},
			parts: []string{"different provider"}},
		{name: "tenant ID: tid of another tenant", tenant: tenantA, tok: token{tid: tenantB, iss: tenantA},
			parts: []string{"not tenant " + tenantA}},
		{name: "tenant domain: good", tenant: "contoso.example", tok: token{tid: tenantA}},
		{name: "tenant domain: another tenant's token", tenant: "contoso.example", tok: token{tid: tenantB},
			parts: []string{"not tenant " + tenantA}},
		{name: "tenant domain: forged tid", tenant: "contoso.example", tok: token{tid: tenantA, iss: tenantB}, parts: []string{"issuer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newIDP(t, rsaSigner(), true)
			u.msDomains["contoso.example"] = tenantA
			c := newConnector(t, provider("microsoft", tc.tenant, u.clientID), u.clientSecret,
				connector.WithMicrosoftAuthority(u.srv.URL))
			l := startLogin(t, c, "state", "nonce")
			checkAuthURL(t, l, u.srv.URL+"/"+tc.tenant+"/oauth2/v2.0/authorize", u.clientID, "openid email profile", "state", "nonce")
			u.set(func(u *idp) {
				u.user = map[string]any{"sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
					"email": "jo@contoso.example", "name": "Jo Smith", "preferred_username": "jo@contoso.example"}
				if tc.tok.tid != nil {
					u.user["tid"] = tc.tok.tid
				}
				u.tamper = func(c map[string]any) {
					host, seg := u.srv.URL, tc.tok.iss
					if tc.tok.host != "" {
						host = tc.tok.host
					}
					if seg == "" {
						seg, _ = tc.tok.tid.(string)
					}
					c["iss"] = host + "/" + seg + "/v2.0"
				}
			})
			id, err := c.Exchange(t.Context(), l.code, l.verifier, "nonce")
			if tc.parts != nil {
				wantErr(t, err, connector.ErrInvalidIDToken, tc.parts...)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			// The issuer is the tenant's, from the token's own tid.
			if !strings.HasPrefix(id.Issuer, u.srv.URL+"/") || !strings.HasSuffix(id.Issuer, "/v2.0") {
				t.Errorf("issuer %q is not a tenant of %s", id.Issuer, u.srv.URL)
			}
			want := connector.Identity{ConnectorID: "prov-microsoft", Subject: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
				Issuer: id.Issuer, Email: "jo@contoso.example", Name: "Jo Smith"}
			if id != want {
				t.Errorf("identity %+v, want %+v", id, want)
			}
		})
	}
}

// TestMicrosoftEmailVerified: Entra ID's email claim counts as verified only
// with xms_edov or email_verified.
func TestMicrosoftEmailVerified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		claim map[string]any
		want  bool
	}{
		{name: "no claim", want: false},
		{name: "xms_edov", claim: map[string]any{"xms_edov": true}, want: true},
		{name: "xms_edov false", claim: map[string]any{"xms_edov": false}, want: false},
		{name: "email_verified", claim: map[string]any{"email_verified": true}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newIDP(t, rsaSigner(), true)
			u.user = map[string]any{"sub": "s", "tid": tenantA, "email": "jo@contoso.example"}
			for k, v := range tc.claim {
				u.user[k] = v
			}
			// The issuer given as a URL: the authority comes from it.
			c := newConnector(t, provider("microsoft", u.srv.URL+"/organizations/v2.0", u.clientID), u.clientSecret)
			l := startLogin(t, c, "s", "n")
			id, err := c.Exchange(t.Context(), l.code, l.verifier, "n")
			if err != nil {
				t.Fatal(err)
			}
			if id.EmailVerified != tc.want || id.Email != "jo@contoso.example" {
				t.Errorf("identity %+v, want EmailVerified %v", id, tc.want)
			}
		})
	}
}

// TestMicrosoftDiscovery: New refuses a discovery document whose issuer does
// not have the shape the tenant kind implies.
func TestMicrosoftDiscovery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ tenant, issuer, part string }{
		{"common", "/" + tenantA + "/v2.0", "template"},
		{"organizations", "https://login.evil.example/{tenantid}/v2.0", "template"},
		{"contoso.example", "/contoso.example/v2.0", "is not"},
		{"consumers", "/" + tenantA + "/v2.0", "does not name tenant"},
		{tenantA, "/" + tenantB + "/v2.0", tenantB},
	} {
		t.Run(tc.tenant, func(t *testing.T) {
			t.Parallel()
			u := newIDP(t, rsaSigner(), true)
			u.discoveryIssuer = tc.issuer
			if tc.issuer[0] == '/' {
				u.discoveryIssuer = u.srv.URL + tc.issuer
			}
			_, err := connector.New(t.Context(), provider("microsoft", tc.tenant, u.clientID), u.clientSecret, callback,
				connector.WithMicrosoftAuthority(u.srv.URL))
			wantErr(t, err, connector.ErrUpstream, "discovery", tc.part)
		})
	}
}
