package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/netguard"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/telemetry"
)

// OpenID Connect Back-Channel Logout 1.0: when a user's session ends at
// Gatehouse (RP-initiated logout), every client that took part in it and
// registered a backchannel_logout_uri receives a logout token, a JWT POSTed
// as logout_token (application/x-www-form-urlencoded).
//
// Who: the clients whose session (oidc_sessions, the refresh token family)
// the logout ends: the id_token_hint's client, and, when the browser session
// ends, every client whose session a login in that browser session started
// (same sid). A client that never logged the user in through the session
// gets nothing, and neither does one without a back-channel URI.
//
// When: after the database writes that end the sessions have committed, in
// the background: the user's logout response never waits for a relying
// party, so a slow or dead one cannot hold the browser. Each POST is bounded
// by Config.BackchannelLogoutTimeout and all run concurrently (after the
// tokens are signed, under the same bound), so the whole delivery ends
// within twice that bound; Provider.WaitLogoutNotifications
// lets shutdown (and tests) wait for it. A failed delivery is logged (never
// the token) and not retried: the specification leaves retries to the OP,
// and a logout token expires in LogoutTokenLifetime anyway.

// BackchannelLogoutEvent is the event a logout token's events claim carries.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutTokenType is the typ header of logout tokens (Back-Channel Logout
// §2.4), which no other token of Gatehouse's has, so that a logout token
// cannot pass as an ID or access token.
const LogoutTokenType = "logout+jwt"

// LogoutTokenLifetime is how long a logout token is valid: long enough for
// clock skew, short enough that a captured one is useless soon.
const LogoutTokenLifetime = 2 * time.Minute

// DefaultBackchannelLogoutTimeout bounds each logout token POST when
// Config.BackchannelLogoutTimeout is zero.
const DefaultBackchannelLogoutTimeout = 5 * time.Second

// logoutClaims are the claims of a logout token (Back-Channel Logout §2.4):
// never a nonce, which would let it pass as an ID token.
type logoutClaims struct {
	Issuer    string                    `json:"iss"`
	Subject   string                    `json:"sub,omitempty"`
	Audience  []string                  `json:"aud"`
	IssuedAt  int64                     `json:"iat"`
	ExpiresAt int64                     `json:"exp"`
	JTI       string                    `json:"jti"`
	Events    map[string]map[string]any `json:"events"`
	SID       string                    `json:"sid,omitempty"`
}

// logoutNotice is one logout token to deliver.
type logoutNotice struct {
	clientID, uri, token string
	// tenant: the client is an organization's, whose administrators chose
	// uri; it is delivered to public addresses only (netguard).
	tenant bool
}

// backchannel delivers logout tokens.
type backchannel struct {
	client *http.Client
	// tenantClient delivers to organizations' clients: it connects to
	// public addresses only, so that a tenant cannot make the server POST
	// into its own network (loopback, private, link-local: a blind SSRF).
	tenantClient *http.Client
	timeout      time.Duration
	// pending counts the deliveries still running.
	pending sync.WaitGroup
}

func newBackchannel(c *http.Client, timeout time.Duration, allowPrivate bool) *backchannel {
	if c == nil {
		// Redirects are not followed: the token goes to the registered URI
		// only, not wherever that answers to send it.
		c = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if timeout <= 0 {
		timeout = DefaultBackchannelLogoutTimeout
	}
	tenant := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     telemetry.Transport(netguard.Transport(timeout, allowPrivate)),
	}
	// Each delivery is a client span when tracing is on (on a copy of the
	// configured client).
	traced := *c
	traced.Transport = telemetry.Transport(c.Transport)
	return &backchannel{client: &traced, tenantClient: tenant, timeout: timeout}
}

// WaitLogoutNotifications waits until the logout tokens being delivered have
// been (each delivery is bounded by Config.BackchannelLogoutTimeout).
func (p *Provider) WaitLogoutNotifications() { p.bcl.pending.Wait() }

// NotifySessionsEnded tells the clients of sessions that ended outside the
// provider (a user suspended or deleted: tenancy.Service.SessionsEnded)
// through their back-channel logout URIs, as a logout does. Call it after
// the write that ended them has committed; it returns at once.
func (p *Provider) NotifySessionsEnded(ctx context.Context, ended []*store.OIDCSession) {
	p.notifyLogout(ctx, ended)
}

// notifyLogout tells the clients of the ended sessions, once per client,
// through their back-channel logout URIs. Call it after the sessions'
// transaction has committed. It returns at once: the tokens are signed and
// delivered in the background.
func (p *Provider) notifyLogout(ctx context.Context, ended []*store.OIDCSession) {
	if len(ended) == 0 {
		return
	}
	// The request's context ends with the response; delivery must not.
	ctx = context.WithoutCancel(ctx)
	p.bcl.pending.Add(1)
	go func() {
		defer p.bcl.pending.Done()
		// The client lookups and signing get their own bound, so that a
		// slow database cannot eat the relying parties' time.
		signCtx, cancel := context.WithTimeout(ctx, p.bcl.timeout)
		notices := p.logoutNotices(signCtx, ended)
		cancel()
		var wg sync.WaitGroup
		for _, n := range notices {
			wg.Go(func() { p.deliverLogout(ctx, n) })
		}
		wg.Wait()
	}()
}

// logoutNotices signs a logout token for each client of ended that has a
// back-channel logout URI, one per client.
func (p *Provider) logoutNotices(ctx context.Context, ended []*store.OIDCSession) []logoutNotice {
	var out []logoutNotice
	seen := map[string]bool{}
	for _, s := range ended {
		if seen[s.ClientID] {
			continue
		}
		seen[s.ClientID] = true
		c, err := p.cfg.Clients.Get(ctx, s.ClientID)
		if err != nil {
			p.log.Warn("back-channel logout: client not found", "client_id", s.ClientID, "error", err)
			continue
		}
		if c.BackchannelLogoutURI == "" {
			continue
		}
		if c.BackchannelLogoutSessionRequired && s.SID == "" {
			// A session from before sids were recorded: the client would
			// reject a token without one.
			p.log.Warn("back-channel logout: the session has no sid, which the client requires; not notified", "client_id", s.ClientID)
			continue
		}
		tok, err := p.logoutToken(ctx, s.ClientID, s.Subject, s.SID)
		if err != nil {
			p.log.Error("back-channel logout: cannot sign the logout token", "client_id", s.ClientID, "error", err)
			continue
		}
		out = append(out, logoutNotice{clientID: s.ClientID, uri: c.BackchannelLogoutURI, token: tok, tenant: c.OrganizationID != ""})
	}
	return out
}

// logoutToken signs a logout token for clientID about subject's session
// sid with the active signing key (the ID tokens' keys, so that the client
// verifies it with the JWKS it already uses).
func (p *Provider) logoutToken(ctx context.Context, clientID, subject, sid string) (string, error) {
	jti, err := p.tokens.randomString(16)
	if err != nil {
		return "", err
	}
	now := p.cfg.Now().UTC()
	c := &logoutClaims{
		Issuer: p.cfg.Issuer, Subject: subject, Audience: []string{clientID}, IssuedAt: now.Unix(),
		ExpiresAt: now.Add(LogoutTokenLifetime).Unix(), JTI: jti, SID: sid,
		Events: map[string]map[string]any{BackchannelLogoutEvent: {}},
	}
	key, err := p.cfg.Keys.SigningKey(ctx)
	if err != nil {
		return "", fmt.Errorf("logout token: %w", err)
	}
	signer, err := jose.NewSigner(key.JOSE(), (&jose.SignerOptions{}).WithType(LogoutTokenType))
	if err != nil {
		return "", fmt.Errorf("logout token signer: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("logout token claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign logout token: %w", err)
	}
	return jws.CompactSerialize()
}

// deliverLogout POSTs one logout token; the client answers 200 (or 204) if
// it logged the user out (Back-Channel Logout §2.8). Failures are logged
// without the token, which would log the user out anywhere it is replayed
// before it expires.
func (p *Provider) deliverLogout(ctx context.Context, n logoutNotice) {
	ctx, cancel := context.WithTimeout(ctx, p.bcl.timeout)
	defer cancel()
	fail := func(err error) {
		p.log.Warn("back-channel logout failed", "client_id", n.clientID, "uri", n.uri, "error", err)
	}
	body := url.Values{"logout_token": {n.token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.uri, strings.NewReader(body))
	if err != nil {
		fail(fmt.Errorf("request: %w", err))
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cache-Control", "no-store")
	hc := p.bcl.client
	if n.tenant {
		hc = p.bcl.tenantClient
	}
	res, err := hc.Do(req)
	if err != nil {
		// The error names the URI and the cause, never the body.
		fail(err)
		return
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNoContent {
		fail(fmt.Errorf("the client answered %s", res.Status))
	}
}
