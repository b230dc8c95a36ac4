package oidc_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// headerOf decodes a JWS's protected header (not verified).
func headerOf(t testing.TB, raw string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatalf("header of %q: %v", raw, err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestIDTokenAlgorithmPerClient (issue 17): discovery lists every
// algorithm the JWKS publishes; each client's ID tokens (the code
// exchange's and every refresh's) are signed with the algorithm it chose, or
// the default ES256, and a go-oidc verifier configured for that algorithm
// only accepts them while one configured for another refuses them. Access
// tokens stay ES256 whatever the client chose, and userinfo serves them.
func TestIDTokenAlgorithmPerClient(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		var d map[string]any
		env.Must(http.StatusOK, "GET", "/.well-known/openid-configuration", "", nil).JSON(t, &d)
		if got := fmt.Sprint(d["id_token_signing_alg_values_supported"]); got != "[ES256 ES512 RS256]" {
			t.Errorf("discovery id_token_signing_alg_values_supported %s, want [ES256 ES512 RS256] (the default first)", got)
		}
		var set jose.JSONWebKeySet
		env.Must(http.StatusOK, "GET", "/oauth2/v2/jwks", "", nil).JSON(t, &set)
		published := map[string]int{}
		for _, k := range set.Keys {
			if k.KeyID == "" || k.Use != "sig" || !k.IsPublic() {
				t.Errorf("JWKS key %s: want kid, use sig, public", k.KeyID)
			}
			published[k.Algorithm]++
		}
		if len(published) != 3 || published["RS256"] != 2 || published["ES256"] != 2 || published["ES512"] != 2 {
			t.Errorf("JWKS algorithms %v, want an active and a next key of RS256, ES256 and ES512", published)
		}

		for _, tc := range []struct {
			name, choice, want, other string
		}{
			{"RS256 client", "RS256", "RS256", "ES256"},
			{"ES256 client", "ES256", "ES256", "RS256"},
			{"ES512 client", "ES512", "ES512", "ES256"},
			{"default client", "", "ES256", "RS256"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, sec := newClient(t, env, func(s *client.Spec) { s.IDTokenSignedResponseAlg = tc.choice })
				r := newRP(t, env, c, sec)
				only := r.provider.Verifier(&gooidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{tc.want}})
				otherOnly := r.provider.Verifier(&gooidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{tc.other}})
				check := func(step string, tok *oauth2.Token) {
					t.Helper()
					raw, _ := tok.Extra("id_token").(string)
					h := headerOf(t, raw)
					if h["alg"] != tc.want {
						t.Fatalf("%s: ID token alg %v, want %s", step, h["alg"], tc.want)
					}
					kid, _ := h["kid"].(string)
					if k := set.Key(kid); len(k) != 1 || k[0].Algorithm != tc.want {
						t.Errorf("%s: ID token kid %q is not a published %s key", step, kid, tc.want)
					}
					idt, err := only.Verify(r.ctx, raw)
					if err != nil {
						t.Fatalf("%s: a go-oidc verifier for %s only refused the ID token: %v", step, tc.want, err)
					}
					if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
						t.Errorf("%s: at_hash (of the %s hash): %v", step, tc.want, err)
					}
					if _, err := otherOnly.Verify(r.ctx, raw); err == nil {
						t.Errorf("%s: a go-oidc verifier for %s only accepted a %s ID token", step, tc.other, tc.want)
					}
					if a := headerOf(t, tok.AccessToken)["alg"]; a != "ES256" {
						t.Errorf("%s: access token alg %v, want the default ES256 whatever the client chose", step, a)
					}
					if info, err := r.userinfo(tok.AccessToken); err != nil || info.Subject != email {
						t.Errorf("%s: userinfo %+v, %v", step, info, err)
					}
				}
				tok := r.signIn()
				check("code exchange", tok)
				next, err := r.refresh(tok.RefreshToken)
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				check("refresh", next)
			})
		}
	})
}

// TestAlgorithmConfusion: the provider's own tokens verify with a published
// key only under that key's own algorithm. An ID token hint or an access
// token signed with the RS256 key but labelled PS256, signed with another
// key under the RS256 key's kid, MACed with the RSA public key (HS256), or
// without a kid is refused, while the same claims properly signed with the
// RS256 key (not the default algorithm) are accepted.
func TestAlgorithmConfusion(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", "administrator")
		env.Must(http.StatusCreated, "POST", "/api/v1/organizations/"+acme.OrgID+"/users", env.AdminToken, map[string]any{
			"spec": map[string]any{"subject": email, "state": "active", "groupIDs": []string{acme.GroupID}}})
		c, sec := newClient(t, env, func(s *client.Spec) { s.IDTokenSignedResponseAlg = "RS256" })
		r := newRP(t, env, c, sec)
		tok := r.signIn()
		hint, _ := tok.Extra("id_token").(string)
		ctx := context.Background()
		rsKey, err := env.Keys.SigningKeyFor(ctx, "RS256")
		if err != nil {
			t.Fatal(err)
		}
		es512, err := env.Keys.SigningKeyFor(ctx, "ES512")
		if err != nil {
			t.Fatal(err)
		}
		pubDER, _ := x509.MarshalPKIXPublicKey(rsKey.Signer().Public())
		payloadOf := func(raw string) []byte {
			b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		sign := func(alg jose.SignatureAlgorithm, key any, kid, typ string, payload []byte) string {
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
				(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
			if err != nil {
				t.Fatal(err)
			}
			jws, err := s.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := jws.CompactSerialize()
			return out
		}
		relabel := func(raw, alg string) string {
			parts := strings.Split(raw, ".")
			h := headerOf(t, raw)
			h["alg"] = alg
			return b64JSON(h) + "." + parts[1] + "." + parts[2]
		}
		forgeries := func(typ string, payload []byte) map[string]string {
			proper := sign(jose.RS256, rsKey.Signer(), rsKey.ID(), typ, payload)
			return map[string]string{
				"RS256 key labelled PS256":            sign(jose.PS256, rsKey.Signer(), rsKey.ID(), typ, payload),
				"ES512 key under the RS256 kid":       sign(jose.ES512, es512.Signer(), rsKey.ID(), typ, payload),
				"RS256 signature relabelled RS384":    relabel(proper, "RS384"),
				"RS256 signature relabelled ES256":    relabel(proper, "ES256"),
				"HS256 keyed with the RSA public key": sign(jose.HS256, pubDER, rsKey.ID(), typ, payload),
				"RS256 without a kid":                 sign(jose.RS256, rsKey.Signer(), "", typ, payload),
			}
		}

		// ID token hints.
		hintPayload := payloadOf(hint)
		if _, _, result, _ := r.authorize(param("id_token_hint", sign(jose.RS256, rsKey.Signer(), rsKey.ID(), "JWT", hintPayload)),
			param("prompt", "none")); result.Get("code") == "" {
			t.Fatalf("the control: a hint properly signed with the RS256 key was refused: %v", result)
		}
		for name, forged := range forgeries("JWT", hintPayload) {
			if _, _, result, _ := r.authorize(param("id_token_hint", forged)); result.Get("error") != "invalid_request" {
				t.Errorf("id_token_hint, %s: %v, want invalid_request", name, result)
			}
		}

		// Access tokens at /api/v1, userinfo and introspection.
		path := "/api/v1/organizations/" + acme.OrgID + "/groups"
		atPayload := payloadOf(tok.AccessToken)
		env.Must(http.StatusOK, "GET", path, sign(jose.RS256, rsKey.Signer(), rsKey.ID(), "at+jwt", atPayload), nil)
		for name, forged := range forgeries("at+jwt", atPayload) {
			env.Must(http.StatusUnauthorized, "GET", path, forged, nil)
			if _, err := r.userinfo(forged); err == nil {
				t.Errorf("userinfo accepted an access token with %s", name)
			}
			if got := introspect(t, env, c.ID, sec, forged); got["active"] != false {
				t.Errorf("introspection of an access token with %s: %v", name, got)
			}
		}
	})
}

// TestDefaultAlgorithmChange: a new default algorithm (--signing-algorithm)
// signs access tokens and default clients' ID tokens at once with a key
// relying parties already know, and a client's own choice stays.
func TestDefaultAlgorithmChange(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	before, err := env.Keys.PublicJWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	env.Keys.Algorithm = string(keys.RS256)
	def, sec := newClient(t, env, nil)
	es, esSec := newClient(t, env, func(s *client.Spec) { s.IDTokenSignedResponseAlg = "ES512" })
	for _, tc := range []struct {
		c             *client.Client
		sec, wantID   string
		wantAccessAlg string
	}{
		{def, sec, "RS256", "RS256"},
		{es, esSec, "ES512", "RS256"},
	} {
		tok := newRP(t, env, tc.c, tc.sec).signIn() // go-oidc verifies with the discovered algorithms
		raw, _ := tok.Extra("id_token").(string)
		idh, ath := headerOf(t, raw), headerOf(t, tok.AccessToken)
		if idh["alg"] != tc.wantID || ath["alg"] != tc.wantAccessAlg {
			t.Errorf("client %s: ID token %v, access token %v; want %s and %s", tc.c.ID, idh["alg"], ath["alg"], tc.wantID, tc.wantAccessAlg)
		}
		for _, kid := range []any{idh["kid"], ath["kid"]} {
			if !slices.ContainsFunc(before.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid }) {
				t.Errorf("client %s: kid %v was not published before the change", tc.c.ID, kid)
			}
		}
		env.Must(http.StatusOK, "GET", "/api/v1/acl", tok.AccessToken, nil)
	}
}
