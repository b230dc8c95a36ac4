// Package loginflow drives Gatehouse's OpenID Connect provider over HTTP the
// way a relying party and a browser do: the authorization request with PKCE,
// the login form (with its CSRF cookie), the callback that issues the code,
// and the token endpoint (code, refresh, client_credentials). It is for
// programs that need real tokens from a running Gatehouse without a browser:
// the system tests of several replicas and the load generator.
package loginflow

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/oauth2"
)

// Paths of Gatehouse's provider, as internal/oidc serves them.
const (
	authorizationPath = "/oauth2/v2/authorization"
	loginPath         = "/oauth2/v2/login"
	tokenPath         = "/oauth2/v2/token"
)

// Client is one OAuth2 client of a Gatehouse at BaseURL.
type Client struct {
	// BaseURL is the issuer, e.g. http://127.0.0.1:8080.
	BaseURL      string
	ClientID     string
	ClientSecret string // empty for a public client
	RedirectURI  string
	// HTTP sends the token requests; http.DefaultClient when nil. The
	// browser part of a login uses a client of its own (with a cookie jar)
	// on the same transport.
	HTTP *http.Client
}

// Tokens is a successful token response.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
}

// Error is a token endpoint refusal: the HTTP status and the OAuth2 error.
type Error struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Flow is one authorization request in progress: what the code redemption
// must present.
type Flow struct {
	State, Nonce, Verifier string
}

var hiddenField = regexp.MustCompile(`name="(state|csrf_token)" value="([^"]*)"`)

// Code logs email in with password through the login page and returns the
// authorization code with its flow.
func (c *Client) Code(ctx context.Context, email, password string, scopes ...string) (string, *Flow, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", nil, err
	}
	base := c.http()
	browser := &http.Client{Transport: base.Transport, Jar: jar, Timeout: base.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f := &Flow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {c.RedirectURI},
		"scope": {strings.Join(scopes, " ")}, "state": {f.State}, "nonce": {f.Nonce},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(f.Verifier)}, "code_challenge_method": {"S256"},
	}
	resp, body, err := c.follow(ctx, browser, "GET", c.BaseURL+authorizationPath+"?"+q.Encode(), nil)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("authorization request: status %d: %.200s", resp.StatusCode, body)
	}
	form := url.Values{"email": {email}, "password": {password}}
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("state") == "" || form.Get("csrf_token") == "" {
		return "", nil, fmt.Errorf("no login form in the login page: %.200s", body)
	}
	resp, body, err = c.follow(ctx, browser, "POST", c.BaseURL+loginPath, form)
	if err != nil {
		return "", nil, err
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || err != nil || !strings.HasPrefix(loc.String(), c.RedirectURI) {
		return "", nil, fmt.Errorf("login: status %d, Location %q: %.200s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if e := loc.Query().Get("error"); e != "" {
		return "", nil, fmt.Errorf("authorization refused: %s: %s", e, loc.Query().Get("error_description"))
	}
	if loc.Query().Get("state") != f.State || loc.Query().Get("code") == "" {
		return "", nil, fmt.Errorf("callback to %s without our state or a code", loc)
	}
	return loc.Query().Get("code"), f, nil
}

// follow sends a request (a form post when form is not nil) and follows
// redirects as long as they stay on BaseURL; it returns the last response
// (its body read and closed) and the body.
func (c *Client) follow(ctx context.Context, browser *http.Client, method, u string, form url.Values) (*http.Response, string, error) {
	for range 10 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, u, body)
		if err != nil {
			return nil, "", err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Accept", "text/html")
		resp, err := browser.Do(req)
		if err != nil {
			return nil, "", fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, "", fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
		}
		next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if resp.StatusCode/100 != 3 || err != nil || resp.Header.Get("Location") == "" || !strings.HasPrefix(next.String(), c.BaseURL+"/") {
			return resp, string(b), nil
		}
		method, u, form = "GET", next.String(), nil
	}
	return nil, "", errors.New("too many redirects")
}

// Exchange redeems a code.
func (c *Client) Exchange(ctx context.Context, code string, f *Flow) (*Tokens, error) {
	return c.Token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.RedirectURI}, "code_verifier": {f.Verifier}})
}

// Refresh rotates a refresh token.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	return c.Token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// ClientCredentials gets a token for the client itself.
func (c *Client) ClientCredentials(ctx context.Context, scopes ...string) (*Tokens, error) {
	v := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		v.Set("scope", strings.Join(scopes, " "))
	}
	return c.Token(ctx, v)
}

// Token posts a token request, authenticating with HTTP Basic when the
// client has a secret (client_secret_basic, Gatehouse's default). A refusal
// is an *Error.
func (c *Client) Token(ctx context.Context, form url.Values) (*Tokens, error) {
	if c.ClientSecret == "" {
		form.Set("client_id", c.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.BaseURL+tokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Description = fmt.Sprintf("%.200s", b)
		}
		return nil, e
	}
	var t Tokens
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return nil, fmt.Errorf("token response without an access token: %.200s", b)
	}
	return &t, nil
}
