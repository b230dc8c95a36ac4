package oidc_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestUpstreamSilentOrDown: choosing a system provider whose upstream hangs
// shows an error page once UpstreamTimeout has passed (504), and one whose
// upstream is down shows one at once (502); never a hanging browser or a
// stack trace.
func TestUpstreamSilentOrDown(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, c := range []struct {
		name    string
		addr    func(testing.TB) string
		status  int
		says    string
		atLeast time.Duration
	}{
		{"silent upstream", testenv.SilentAddr, http.StatusGatewayTimeout, "did not answer in time", timeout},
		{"upstream down", testenv.ClosedAddr, http.StatusBadGateway, "did not complete the sign-in", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := testenv.NewEnv(t, testenv.SQLite(t), testenv.WithOIDC(func(oc *oidc.Config) { oc.UpstreamTimeout = timeout }))
			if err := env.Password.SetPassword(context.Background(), email, password); err != nil {
				t.Fatal(err)
			}
			sec := "upstream-secret"
			pr, err := env.Tenancy.CreateProvider(context.Background(), &authn.Principal{Kind: authn.KindServiceAccount, ID: "t", Subject: "test"}, "",
				&tenancy.ProviderInput{Provider: store.OAuth2Provider{Meta: store.Meta{Name: "Upstream"}, Type: "oidc",
					Issuer: "http://" + c.addr(t), ClientID: "gatehouse"}, ClientSecret: &sec})
			if err != nil {
				t.Fatal(err)
			}
			web, webSecret := newClient(t, env, nil)
			r := newRP(t, env, web, webSecret)
			_, v := r.openLogin()
			v.Set("provider", pr.ID)
			start := time.Now()
			resp, err := r.browser.PostForm(env.URL+oidc.LoginPath, v)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), c.says) {
				t.Errorf("status %d %s, body %s; want %d and an HTML page saying %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status, c.says)
			}
			if took < c.atLeast || took > timeout+3*time.Second {
				t.Errorf("answered after %v, want between %v and the timeout (%v) plus slack", took, c.atLeast, timeout)
			}
		})
	}
}
