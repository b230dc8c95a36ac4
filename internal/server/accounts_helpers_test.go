package server_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testenv"
)

// linkToken is the token of a passwordLink response.
func linkToken(t testing.TB, link map[string]any) string {
	t.Helper()
	u, err := url.Parse(link["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	tok := u.Query().Get("token")
	if tok == "" {
		t.Fatalf("link without token: %v", link)
	}
	return tok
}

// completeLink spends a passwordLink response with password, as the person
// following it would (the page is tested in internal/oidc).
func completeLink(t testing.TB, e *testenv.Env, link map[string]any, password string) {
	t.Helper()
	if _, err := e.Accounts.CompleteLink(context.Background(), linkToken(t, link), password); err != nil {
		t.Fatalf("complete link: %v", err)
	}
}
