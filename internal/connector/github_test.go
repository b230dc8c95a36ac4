package connector_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/connector"
)

func newGitHub(t testing.TB, g *githubAPI, opts ...connector.Option) connector.RedirectConnector {
	t.Helper()
	return newConnector(t, provider("github", "", g.clientID), g.clientSecret,
		append([]connector.Option{connector.WithGitHubEndpoints(g.srv.URL, g.srv.URL+"/api/v3")}, opts...)...)
}

var octocat = connector.Identity{ConnectorID: "prov-github", Subject: "583231", Email: "octocat@github.example", EmailVerified: true,
	Name: "The Octocat", Picture: "https://avatars.example/u/583231"}

// TestGitHubRoundTrip: OAuth2 code flow with PKCE (no nonce: GitHub is not
// OpenID Connect), then /user and /user/emails; the subject is the numeric
// user ID and the email the primary verified one.
func TestGitHubRoundTrip(t *testing.T) {
	t.Parallel()
	g := newGitHubAPI(t)
	c := newGitHub(t, g)
	l := startLogin(t, c, "state-1", "ignored-nonce")
	checkAuthURL(t, l, g.srv.URL+"/login/oauth/authorize", g.clientID, "read:user user:email", "state-1", "")
	id, err := c.Exchange(t.Context(), l.code, l.verifier, "")
	if err != nil {
		t.Fatalf("Exchange: %v (upstream: %s)", err, g.lastTokenError())
	}
	want := octocat
	want.Issuer = g.srv.URL // GitHub's web URL vouches for its users
	if id != want {
		t.Errorf("identity %+v, want %+v", id, want)
	}
	_, err = c.Exchange(t.Context(), l.code, l.verifier, "")
	wantErr(t, err, connector.ErrUpstream, "bad_verification_code")
}

// TestGitHubEnterprise: an Issuer other than https://github.com is a GitHub
// Enterprise Server: web endpoints under it, the API under it + /api/v3.
func TestGitHubEnterprise(t *testing.T) {
	t.Parallel()
	g := newGitHubAPI(t)
	c := newConnector(t, provider("github", g.srv.URL+"/", g.clientID), g.clientSecret)
	l := startLogin(t, c, "s", "")
	id, err := c.Exchange(t.Context(), l.code, l.verifier, "")
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "583231" || id.Email != "octocat@github.example" {
		t.Errorf("identity %+v", id)
	}
}

// TestGitHubRejects: wrong verifier, emails that do not qualify, upstream
// failures.
func TestGitHubRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		setup         func(g *githubAPI)
		wrongVerifier bool
		sentinel      error
		parts         []string
	}{
		{name: "wrong verifier", wrongVerifier: true, sentinel: connector.ErrUpstream,
			parts: []string{"bad_verification_code", "code_verifier"}},
		{name: "no verified email", setup: func(g *githubAPI) {
			g.emails = []map[string]any{{"email": "octocat@github.example", "primary": true, "verified": false}}
		}, sentinel: connector.ErrEmailNotVerified, parts: []string{"octocat"}},
		{name: "verified email that is not the primary", setup: func(g *githubAPI) {
			g.emails = []map[string]any{
				{"email": "primary@github.example", "primary": true, "verified": false},
				{"email": "other@github.example", "primary": false, "verified": true},
			}
		}, sentinel: connector.ErrEmailNotVerified},
		{name: "no emails", setup: func(g *githubAPI) { g.emails = []map[string]any{} }, sentinel: connector.ErrEmailNotVerified},
		{name: "token endpoint 502", setup: func(g *githubAPI) { g.tokenStatus = http.StatusBadGateway },
			sentinel: connector.ErrUpstream, parts: []string{"token exchange", "502"}},
		{name: "API refuses the token", setup: func(g *githubAPI) { g.userStatus = http.StatusUnauthorized },
			sentinel: connector.ErrUpstream, parts: []string{"GET /user", "401"}},
		{name: "user without id", setup: func(g *githubAPI) { g.user = map[string]any{"login": "ghost"} },
			sentinel: connector.ErrUpstream, parts: []string{"no user id"}},
		{name: "wrong client secret", setup: func(g *githubAPI) { g.clientSecret = "rotated" },
			sentinel: connector.ErrUpstream, parts: []string{"incorrect_client_credentials"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGitHubAPI(t)
			c := newGitHub(t, g)
			l := startLogin(t, c, "s", "")
			if tc.setup != nil {
				g.set(tc.setup)
			}
			verifier := l.verifier
			if tc.wrongVerifier {
				verifier = startLogin(t, c, "s2", "").verifier
			}
			id, err := c.Exchange(t.Context(), l.code, verifier, "")
			if err == nil {
				t.Fatalf("accepted: %+v", id)
			}
			wantErr(t, err, tc.sentinel, tc.parts...)
		})
	}
}
