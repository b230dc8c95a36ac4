package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// GitHub's endpoints (github.com; GitHub Enterprise Server is the instance's
// URL and URL/api/v3).
const (
	GitHubURL    = "https://github.com"
	GitHubAPIURL = "https://api.github.com"
)

// githubConnector logs in through GitHub, which speaks OAuth2 but not OpenID
// Connect: no ID token and no nonce. The access token (from a code bound to
// this login by PKCE) is used once, to read the user (GET /user) and their
// email addresses (GET /user/emails); the identity is the numeric user ID
// and the primary email, which must be verified.
type githubConnector struct {
	base
	oauth oauth2.Config
	api   string
	// web is GitHub's web URL: the issuer of its identities.
	web string
}

func newGitHub(b base, issuer string) (RedirectConnector, error) {
	web, api := GitHubURL, GitHubAPIURL
	if issuer = strings.TrimSuffix(strings.TrimSpace(issuer), "/"); issuer != "" && issuer != GitHubURL {
		web, api = issuer, issuer+"/api/v3" // GitHub Enterprise Server
	}
	if b.o.ghWeb != "" {
		web = strings.TrimSuffix(b.o.ghWeb, "/")
	}
	if b.o.ghAPI != "" {
		api = strings.TrimSuffix(b.o.ghAPI, "/")
	}
	for what, u := range map[string]string{"GitHub URL": web, "GitHub API URL": api} {
		if err := b.checkURL(what, u); err != nil {
			return nil, err
		}
	}
	scopes := b.o.scopes
	if len(scopes) == 0 {
		scopes = []string{"read:user", "user:email"}
	}
	return &githubConnector{base: b, api: api, web: web, oauth: oauth2.Config{
		ClientID: b.clientID, ClientSecret: b.clientSecret, RedirectURL: b.callback, Scopes: scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   web + "/login/oauth/authorize",
			TokenURL:  web + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}}, nil
}

// AuthCodeURL implements RedirectConnector. nonce is not sent: GitHub has no
// use for it.
func (c *githubConnector) AuthCodeURL(state, nonce string) (string, string, error) {
	if err := c.checkAuthCodeArgs(state, nonce, false); err != nil {
		return "", "", err
	}
	verifier := oauth2.GenerateVerifier()
	return c.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), verifier, nil
}

type githubUser struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Name      string `json:"name"`
	AvatarURL string `json:"avatar_url"`
}

type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// Exchange implements RedirectConnector; nonce is ignored.
func (c *githubConnector) Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	if err := c.checkExchangeArgs(code, verifier, nonce, false); err != nil {
		return Identity{}, err
	}
	ctx = c.withClient(ctx)
	tok, err := c.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, c.upstreamErr("token exchange", err)
	}
	var user githubUser
	if err := c.get(ctx, tok, "/user", &user); err != nil {
		return Identity{}, err
	}
	if user.ID <= 0 {
		return Identity{}, c.upstreamErr("GET /user", errors.New("no user id"))
	}
	var emails []githubEmail
	if err := c.get(ctx, tok, "/user/emails?per_page=100", &emails); err != nil {
		return Identity{}, err
	}
	id := Identity{ConnectorID: c.id, Subject: strconv.FormatInt(user.ID, 10), Issuer: c.web, Name: user.Name, Picture: user.AvatarURL}
	if id.Name == "" {
		id.Name = user.Login
	}
	for _, e := range emails {
		if e.Primary && e.Verified && e.Email != "" {
			id.Email, id.EmailVerified = e.Email, true
		}
	}
	if !id.EmailVerified {
		return Identity{}, fmt.Errorf("%s: %w: GitHub user %s has no verified primary email address", c.name(), ErrEmailNotVerified, user.Login)
	}
	return id, nil
}

// get reads one GitHub REST resource as JSON.
func (c *githubConnector) get(ctx context.Context, tok *oauth2.Token, path string, v any) error {
	step := "GET " + strings.SplitN(path, "?", 2)[0]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api+path, nil)
	if err != nil {
		return c.upstreamErr(step, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "Gatehouse")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.o.client.Do(req)
	if err != nil {
		return c.upstreamErr(step, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return c.upstreamErr(step, err)
	}
	if resp.StatusCode != http.StatusOK {
		return c.upstreamErr(step, fmt.Errorf("status %s: %.200s", resp.Status, body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return c.upstreamErr(step, fmt.Errorf("decode: %w", err))
	}
	return nil
}
