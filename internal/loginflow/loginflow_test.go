package loginflow_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/loginflow"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestMain silences zitadel/oidc, which logs through slog's default logger.
func TestMain(m *testing.M) { os.Exit(testenv.RunQuiet(m)) }

// TestFlows: a code obtained through the login page redeems once, its
// refresh token rotates, a wrong password and a replayed refresh token are
// refused with the token endpoint's error, and client_credentials works.
func TestFlows(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := testenv.NewEnv(t, open(t))
		ctx := context.Background()
		if err := env.Password.SetPassword(ctx, "jo@acme.example", "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		web, sec, err := env.Clients.Create(ctx, client.Spec{Name: "web", RedirectURIs: []string{"http://127.0.0.1:9/cb"},
			GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
			Scopes:     []string{"openid", "email", "offline_access"}})
		if err != nil {
			t.Fatal(err)
		}
		c := &loginflow.Client{BaseURL: env.URL, ClientID: web.ID, ClientSecret: sec, RedirectURI: "http://127.0.0.1:9/cb", HTTP: env.Client}

		if _, _, err := c.Code(ctx, "jo@acme.example", "wrong password!!", "openid"); err == nil {
			t.Error("a wrong password gave a code")
		}
		code, flow, err := c.Code(ctx, "jo@acme.example", "correct horse battery staple", "openid", "email", "offline_access")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.Exchange(ctx, code, flow)
		if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" {
			t.Fatalf("exchange: %+v %v", tok, err)
		}
		next, err := c.Refresh(ctx, tok.RefreshToken)
		if err != nil || next.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh: %+v %v", next, err)
		}
		var te *loginflow.Error
		if _, err := c.Refresh(ctx, tok.RefreshToken); !errors.As(err, &te) || te.Code != "invalid_grant" {
			t.Errorf("reused refresh token: %v, want invalid_grant", err)
		}
		if _, err := c.Exchange(ctx, code, flow); !errors.As(err, &te) || te.Code != "invalid_grant" || te.Status != http.StatusBadRequest {
			t.Errorf("second redemption: %v, want 400 invalid_grant", err)
		}

		svc, svcSec, err := env.Clients.Create(ctx, client.Spec{Name: "svc", GrantTypes: []string{client.GrantClientCredentials}, Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		cc := &loginflow.Client{BaseURL: env.URL, ClientID: svc.ID, ClientSecret: svcSec, HTTP: env.Client}
		if tok, err := cc.ClientCredentials(ctx, "read"); err != nil || tok.AccessToken == "" {
			t.Errorf("client_credentials: %+v %v", tok, err)
		}
		cc.ClientSecret = "wrong"
		if _, err := cc.ClientCredentials(ctx); !errors.As(err, &te) || te.Status != http.StatusUnauthorized || te.Code != "invalid_client" {
			t.Errorf("wrong secret: %v, want 401 invalid_client", err)
		}
	})
}
