package oidc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestRoleSessions: a role session is one of our access tokens (at+jwt,
// signed by the active key, our issuer and audience, gh_kind assumed_role),
// introspection by a client tells nothing about it (it was issued to no
// client and is meant for no resource server but /api/v1), and token
// exchange refuses it: a session cannot become a longer or different token.
func TestRoleSessions(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", "administrator")
		base := "/api/v1/organizations/" + acme.OrgID
		allowAll := map[string]any{"defaultServiceStrategy": "allow", "services": map[string]any{}}
		role := env.Must(http.StatusCreated, "POST", base+"/roles", acme.Token, map[string]any{"metadata": map[string]any{"name": "r"},
			"spec": map[string]any{"policy": allowAll, "assumeRolePolicy": allowAll}}).Map(t)
		roleID := role["metadata"].(map[string]any)["id"].(string)
		sess := env.Must(http.StatusOK, "POST", base+"/roles/"+roleID+"/assume", acme.Token, map[string]any{"ttl": 600}).Map(t)
		tok := sess["accessToken"].(string)

		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("the session is not a JWS: %v", err)
		}
		if typ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
			t.Errorf("typ %v", typ)
		}
		var c map[string]any
		_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c)
		src, _ := c["gh_src"].(map[string]any)
		if c["gh_kind"] != "assumed_role" || c["gh_role"] != roleID || c["sub"] != roleID || c["gh_org"] != acme.OrgID ||
			c["iss"] != env.URL || src["id"] != acme.ServiceAccountID || c["exp"].(float64)-c["iat"].(float64) != 600 {
			t.Errorf("session claims %v", c)
		}

		intro, introSec := newClient(t, env, func(s *client.Spec) { s.Name = "introspector" })
		if got := introspect(t, env, intro.ID, introSec, tok); len(got) != 1 || got["active"] != false {
			t.Errorf("introspection of a live session by a client: %v, want only active false", got)
		}

		ex, exSec := newClient(t, env, func(s *client.Spec) {
			s.Name = "exchanger"
			s.GrantTypes = []string{client.GrantTokenExchange}
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		})
		status, body := postToken(t, env, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {tok},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, ex.ID, exSec)
		if status == http.StatusOK || body["error"] != "invalid_grant" {
			t.Errorf("exchanging a role session: %d %v, want invalid_grant", status, body)
		}

		// A session follows its lineage: a session of a role whose
		// assume-role policy changed ends (issue 12). Introspection tells
		// no client anything of a role session (it was issued to none), so
		// the API is where it shows.
		other := env.Must(http.StatusCreated, "POST", base+"/roles", acme.Token, map[string]any{"metadata": map[string]any{"name": "r2"},
			"spec": map[string]any{"policy": allowAll, "assumeRolePolicy": allowAll}}).Map(t)
		otherID := other["metadata"].(map[string]any)["id"].(string)
		tok2 := env.Must(http.StatusOK, "POST", base+"/roles/"+otherID+"/assume", acme.Token, map[string]any{"ttl": 600}).Map(t)["accessToken"].(string)
		env.Must(http.StatusOK, "GET", base+"/groups", tok2, nil)
		env.Must(http.StatusOK, "PUT", base+"/roles/"+otherID+"/assumerolepolicy", acme.Token,
			map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{}})
		env.Must(http.StatusUnauthorized, "GET", base+"/groups", tok2, nil)

		env.Must(http.StatusOK, "DELETE", base+"/roles/"+roleID, acme.Token, nil)
		if got := introspect(t, env, intro.ID, introSec, tok); got["active"] != false {
			t.Errorf("introspection after the role was deleted: %v", got)
		}
		env.Must(http.StatusUnauthorized, "GET", base+"/groups", tok, nil)
	})
}

// TestSignSessionBounds: SignSession refuses sessions longer than the token
// lifetime (the signing keys stay published only that long) or missing what
// makes them verifiable.
func TestSignSessionBounds(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	ok := authn.Session{ID: "s-1", OrganizationID: "o", RoleID: "r", RoleName: "r", TTL: time.Minute,
		Source:  authn.Source{Kind: authn.KindServiceAccount, ID: "sa", Subject: "serviceaccount:sa"},
		Lineage: []store.LineageLink{{Kind: store.LinkRole, Org: "o", ID: "r", Version: 1}}}
	if _, exp, err := env.Provider.SignSession(context.Background(), ok); err != nil || exp.Sub(env.OIDCClock.Now()) > time.Minute {
		t.Fatalf("a valid session: exp %v, err %v", exp, err)
	}
	for name, edit := range map[string]func(*authn.Session){
		"too long":  func(s *authn.Session) { s.TTL = env.Provider.MaxSessionLifetime() + time.Second },
		"no TTL":    func(s *authn.Session) { s.TTL = 0 },
		"no role":   func(s *authn.Session) { s.RoleID = "" },
		"no source": func(s *authn.Session) { s.Source = authn.Source{} },
		"no ID":     func(s *authn.Session) { s.ID = "" },
		// Without lineage nothing would tie it to its source.
		"no lineage": func(s *authn.Session) { s.Lineage = nil },
	} {
		s := ok
		edit(&s)
		if _, _, err := env.Provider.SignSession(context.Background(), s); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}
