package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Lifetimes of the provider's own state.
const (
	// AuthRequestLifetime is how long a user has to log in.
	AuthRequestLifetime = 10 * time.Minute
	// CodeLifetime is how long an authorization code can be redeemed:
	// 5 minutes (issue 17; 60 s was too short for a person copying a code
	// from the address bar). RFC 6749 §4.1.2 recommends at most 10
	// minutes; a code is single-use, bound to its client, redirect_uri
	// and PKCE verifier, and its replay revokes what it gave, so the
	// window adds little for an attacker.
	CodeLifetime = 5 * time.Minute
)

// storage implements op.Storage (and ClientCredentialsStorage,
// CanSetUserinfoFromRequest) over the store, the client registry and the keys
// manager.
type storage struct {
	p *Provider
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.ClientCredentialsStorage  = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

func (s *storage) now() time.Time { return s.p.cfg.Now().UTC() }

// --- requests as zitadel sees them ---

// authRequest adapts a stored authorization request to op.AuthRequest.
type authRequest struct{ r *store.OIDCAuthRequest }

func (a *authRequest) GetID() string          { return a.r.ID }
func (a *authRequest) GetACR() string         { return a.r.ACR }
func (a *authRequest) GetAMR() []string       { return strings.Fields(a.r.AMR) }
func (a *authRequest) GetAudience() []string  { return []string{a.r.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.r.AuthTime }
func (a *authRequest) GetClientID() string    { return a.r.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.CodeChallengeMethod)}
}
func (a *authRequest) GetNonce() string                   { return a.r.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.r.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.r.ResponseType) }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.r.ResponseMode) }
func (a *authRequest) GetScopes() []string                { return strings.Fields(a.r.Scopes) }
func (a *authRequest) GetState() string                   { return a.r.State }
func (a *authRequest) GetSubject() string                 { return a.r.Subject }
func (a *authRequest) Done() bool                         { return a.r.Done }
func (a *authRequest) vouchedBy() store.IdP               { return a.r.IdP }

// refreshRequest is a refresh_token grant on a session.
type refreshRequest struct {
	s      *store.OIDCSession
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return strings.Fields(r.s.AMR) }
func (r *refreshRequest) GetACR() string              { return r.s.ACR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.s.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.s.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.s.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.s.Subject }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }
func (r *refreshRequest) vouchedBy() store.IdP        { return r.s.IdP }

// clientRequest is a client_credentials grant.
type clientRequest struct {
	clientID string
	scopes   []string
}

func (c *clientRequest) GetSubject() string    { return c.clientID }
func (c *clientRequest) GetAudience() []string { return []string{c.clientID} }
func (c *clientRequest) GetScopes() []string   { return c.scopes }

// --- AuthStorage ---

// CreateAuthRequest stores a validated authorization request. It satisfies
// op.Storage; the authorization endpoint (server.Authorize) calls
// createAuthRequest with the parameters it checked itself.
func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, err := s.p.cfg.Clients.Get(ctx, req.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithParent(err)
	}
	if err := checkAuthRequest(c, req); err != nil {
		return nil, err
	}
	r, err := s.createAuthRequest(ctx, req, &authParams{locale: "en"})
	if err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

// createAuthRequest stores req with the parameters ap that Gatehouse checked.
func (s *storage) createAuthRequest(ctx context.Context, req *oidc.AuthRequest, ap *authParams) (*store.OIDCAuthRequest, error) {
	r, err := s.newAuthRequest(req, ap)
	if err != nil {
		return nil, err
	}
	return r, s.insertAuthRequest(ctx, r)
}

// newAuthRequest is the row of req, not stored yet.
func (s *storage) newAuthRequest(req *oidc.AuthRequest, ap *authParams) (*store.OIDCAuthRequest, error) {
	id, err := s.p.tokens.randomString(16)
	if err != nil {
		return nil, err
	}
	now := s.now()
	maxAge := time.Duration(-1)
	if req.MaxAge != nil {
		maxAge = time.Duration(*req.MaxAge) * time.Second
	}
	return &store.OIDCAuthRequest{
		ID: id, ClientID: req.ClientID, RedirectURI: req.RedirectURI, Scopes: strings.Join(req.Scopes, " "),
		State: req.State, Nonce: req.Nonce, ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod), LoginHint: req.LoginHint,
		Prompt: strings.Join(req.Prompt, " "), MaxAge: maxAge, UILocale: ap.locale, ACRValues: strings.Join(ap.acrValues, " "),
		ACREssential: ap.acrEssential, HintSubject: ap.hintSubject, CreatedAt: now, ExpiresAt: now.Add(AuthRequestLifetime),
	}, nil
}

// insertAuthRequest stores r, purging what expired first.
func (s *storage) insertAuthRequest(ctx context.Context, r *store.OIDCAuthRequest) error {
	return s.insertReusing(ctx, r, "")
}

// insertReusing is insertAuthRequest for a request authenticated from the
// browser session whose cookie hash is reused ("" for none): the session's
// last use is recorded in the same transaction (the account page shows it).
func (s *storage) insertReusing(ctx context.Context, r *store.OIDCAuthRequest, reused string) error {
	err := s.p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.PurgeOIDC(ctx, r.CreatedAt); err != nil {
			return err
		}
		if reused != "" {
			if err := q.TouchBrowserSession(ctx, reused, r.CreatedAt); err != nil {
				return err
			}
		}
		return q.CreateAuthRequest(ctx, r)
	})
	if store.IsUnavailable(err) {
		// zitadel redirects this error to the client (the browser cannot be
		// given a 503 through a redirect), as RFC 6749 §4.1.2.1 intends.
		return (&oidc.Error{ErrorType: temporarilyUnavailable,
			Description: "the authorization server is temporarily unavailable; try again later"}).WithParent(err)
	}
	return err
}

// temporarilyUnavailable is RFC 6749's error code for an authorization
// request the server cannot handle for now (zitadel/oidc does not define
// it; its error type is unexported, hence the untyped constant).
const temporarilyUnavailable = "temporarily_unavailable"

// checkAuthRequest applies Gatehouse's rules on top of zitadel's checks.
func checkAuthRequest(c *client.Client, req *oidc.AuthRequest) error {
	if !client.AllowsGrant(c, client.GrantAuthorizationCode) {
		return oidc.ErrUnauthorizedClient().WithDescription("the client may not use the authorization code flow")
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return oidc.ErrInvalidRequest().WithDescription("only response_type=code is supported")
	}
	if req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if client.RequiresPKCE(c) && req.CodeChallenge == "" {
		return oidc.ErrInvalidRequest().WithDescription("this client must use PKCE (code_challenge with S256)")
	}
	for _, sc := range req.Scopes {
		if !client.AllowsScope(c, sc) {
			return oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for this client", sc)
		}
	}
	return nil
}

// displayValues are the display parameters discovery lists (OpenID Connect
// Core §3.1.2.1): every page is the same responsive page whatever is asked,
// and zitadel ignores values outside these four.
var displayValues = []oidc.Display{oidc.DisplayPage, oidc.DisplayPopup, oidc.DisplayTouch, oidc.DisplayWAP}

// AuthRequestByID reads an unexpired authorization request.
func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.p.cfg.Store.Read().GetAuthRequest(ctx, id, s.now())
	if err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

// AuthRequestByCode redeems an authorization code: it is marked used in the
// same statement that finds it, so it works once. A second presentation
// revokes what the first one issued (RFC 6749 §4.1.2, RFC 9700 §4.5).
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.now()
	var (
		r        *store.OIDCAuthRequest
		replayed bool
	)
	err := s.p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		var err error
		r, err = q.ClaimAuthCode(ctx, secret.Hash(code))
		if errors.Is(err, store.ErrCodeReplayed) {
			replayed = true
			if rerr := q.RevokeJTI(ctx, r.IssuedJTI, now.Add(s.p.cfg.TokenLifetime), now); rerr != nil {
				return rerr
			}
			if r.IssuedSession != "" {
				if rerr := q.RevokeSession(ctx, r.IssuedSession, now); rerr != nil {
					return rerr
				}
			}
			return nil
		}
		return err
	})
	switch {
	case err != nil:
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid authorization code").WithParent(err)
	case replayed:
		s.p.log.Warn("authorization code replayed: tokens issued from it revoked", "client_id", r.ClientID)
		return nil, oidc.ErrInvalidGrant().WithDescription("authorization code already used")
	case !now.Before(r.CodeExpiresAt):
		return nil, oidc.ErrInvalidGrant().WithDescription("authorization code expired: a code must be exchanged within %s of the login", CodeLifetime)
	case r.IdP.ID == "":
		// Authenticated by a release (or an old replica) that did not
		// record who vouched: its tokens would be unconfined.
		return nil, oidc.ErrInvalidGrant().WithDescription("the login does not say which identity provider vouched for it; sign in again")
	}
	return &authRequest{r}, nil
}

// SaveAuthCode stores the hash of the code issued for a request.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		return q.SaveAuthCode(ctx, id, secret.Hash(code), s.now().Add(CodeLifetime))
	})
}

// DeleteAuthRequest forgets a request without a code; requests with one stay
// until they expire, for replay detection.
func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.p.cfg.Store.Tx(ctx, func(q *store.Q) error { return q.DeleteAuthRequest(ctx, id) })
}

// accessLifetime is the lifetime of the tokens Gatehouse signs for client c
// (access, ID and exchanged tokens): the client's access token lifetime,
// capped at the provider's TokenLifetime (how long retired keys stay
// published).
func (p *Provider) accessLifetime(c *client.Client) time.Duration {
	d := p.cfg.TokenLifetime
	if c.AccessTokenLifetime > 0 && c.AccessTokenLifetime < d {
		d = c.AccessTokenLifetime
	}
	return d
}

// issued is a minted access token not yet handed to zitadel.
type issued struct {
	jti, subject, token string
	exp                 time.Time
}

// handOver parks the token for Crypto.Encrypt, which zitadel calls right
// after the storage method returns; only done once nothing can fail any more,
// so that nothing is parked for a token that is never sent.
func (s *storage) handOver(i *issued) (string, time.Time) {
	s.p.tokens.minted.Store(i.jti+":"+i.subject, i.token)
	return i.jti, i.exp
}

// newAccessToken mints the access token for req, issued in the session
// family ("" for client credentials): the token lives only while that
// session does (checkLineage), so ending the session (logout, revocation,
// refresh token reuse, deactivation) ends every access token issued in it,
// not only the latest.
func (s *storage) newAccessToken(ctx context.Context, req op.TokenRequest, clientID string, authTime time.Time, family string) (*issued, error) {
	jti, err := s.p.tokens.randomString(16)
	if err != nil {
		return nil, err
	}
	cl, err := s.p.cfg.Clients.Get(ctx, clientID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	exp := now.Add(s.p.accessLifetime(cl)).Truncate(time.Second)
	c := &AccessClaims{
		Issuer: s.p.cfg.Issuer, Subject: req.GetSubject(), Audience: []string{s.p.cfg.Issuer}, ClientID: clientID,
		Scope: strings.Join(req.GetScopes(), " "), IssuedAt: now.Unix(), ExpiresAt: exp.Unix(), JTI: jti, Kind: kindUser,
		Family: family,
	}
	if !authTime.IsZero() {
		c.AuthTime = authTime.Unix()
	}
	if r, ok := req.(interface{ GetACR() string }); ok {
		c.ACR = r.GetACR()
	}
	if c.Confirmation, err = binding(ctx, cl); err != nil {
		return nil, err
	}
	c.ClientOrganization = cl.OrganizationID
	if _, ok := req.(*clientRequest); ok {
		c.Kind = kindClient
	} else {
		// Who vouched for the login (the code's request, or the refresh
		// token's session): an organization's own provider confines the
		// token, and its org_ids, to that organization.
		var idp store.IdP
		if v, ok := req.(interface{ vouchedBy() store.IdP }); ok {
			idp = v.vouchedBy()
		}
		if idp.ID != "" {
			c.IdP = &authn.IdP{Org: idp.Org, ID: idp.ID, Issuer: idp.Issuer, Subject: idp.Subject}
		}
		// An organization's client: only its active members, whoever
		// vouched for them (the code's login was checked; a refresh or a
		// late redemption is checked again here).
		if err := s.p.admits(ctx, cl, req.GetSubject(), idp.Org); errors.Is(err, errNotMember) {
			return nil, oidc.ErrInvalidGrant().WithDescription("%s", errNotMember.Error())
		} else if err != nil {
			return nil, err
		}
		confined := authn.Confinement(idp.Org, cl.OrganizationID)
		states, err := s.p.cfg.Store.Read().UserStatesOfSubject(ctx, req.GetSubject())
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			if st.State == activeState && (confined == "" || st.OrganizationID == confined) {
				c.Organizations = append(c.Organizations, st.OrganizationID)
			}
		}
	}
	tok, err := s.p.tokens.mint(ctx, c)
	if err != nil {
		return nil, err
	}
	return &issued{jti: jti, subject: req.GetSubject(), token: tok, exp: exp}, nil
}

// CreateAccessToken issues an access token without a refresh token. A user
// login still gets a session (without refresh token), so that logout can
// revoke the access token.
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	switch r := req.(type) {
	case *authRequest:
		family, err := s.p.tokens.randomString(16)
		if err != nil {
			return "", time.Time{}, err
		}
		at, err := s.newAccessToken(ctx, req, r.r.ClientID, r.r.AuthTime, family)
		if err != nil {
			return "", time.Time{}, err
		}
		if err := s.startSession(ctx, r, family, at, "", time.Time{}); err != nil {
			return "", time.Time{}, err
		}
		jti, exp := s.handOver(at)
		return jti, exp, nil
	case *clientRequest:
		at, err := s.newAccessToken(ctx, req, r.clientID, time.Time{}, "")
		if err != nil {
			return "", time.Time{}, err
		}
		jti, exp := s.handOver(at)
		return jti, exp, nil
	}
	return "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

// startSession replaces the (subject, client) session, or for a client
// with one session per device the (subject, client, browser session) one,
// by a new one, id, the family at was issued in.
func (s *storage) startSession(ctx context.Context, r *authRequest, id string, at *issued, refreshHash string, refreshExp time.Time) error {
	now := s.now()
	c, err := s.p.cfg.Clients.Get(ctx, r.r.ClientID)
	if err != nil {
		return err
	}
	sess := &store.OIDCSession{
		ID: id, Subject: r.r.Subject, ClientID: r.r.ClientID, Scopes: r.r.Scopes, AMR: r.r.AMR, ACR: r.r.ACR, AuthTime: r.r.AuthTime,
		RefreshHash: refreshHash, RefreshExpiresAt: refreshExp, AccessJTI: at.jti, AccessExpiresAt: at.exp, CreatedAt: now,
		SID: r.r.SID, IdP: r.r.IdP, Device: deviceOf(c, r.r.SID),
	}
	return s.p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.ReplaceSession(ctx, sess, now); err != nil {
			return err
		}
		replayed, err := q.SetAuthRequestIssued(ctx, r.r.ID, at.jti, id)
		if err != nil || !replayed {
			return err
		}
		// The code was presented again (on any replica) before these
		// tokens were recorded, so the replay could not revoke them: they
		// are revoked here, as if issued just before the replay.
		s.p.log.Warn("authorization code replayed during its redemption: tokens issued from it revoked", "client_id", r.r.ClientID)
		return q.RevokeSession(ctx, id, now)
	})
}

// CreateAccessAndRefreshTokens issues an access token and a refresh token:
// a new session for a code (replacing the previous one of that user and
// client), or a rotation for a refresh token. Rotation is one conditional
// UPDATE; losing it means the token was used twice, and the family goes.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	refresh, err := s.p.tokens.randomString(32)
	if err != nil {
		return "", "", time.Time{}, err
	}
	refresh = RefreshTokenPrefix + refresh
	switch r := req.(type) {
	case *authRequest:
		c, err := s.p.cfg.Clients.Get(ctx, r.r.ClientID)
		if err != nil {
			return "", "", time.Time{}, err
		}
		family, err := s.p.tokens.randomString(16)
		if err != nil {
			return "", "", time.Time{}, err
		}
		at, err := s.newAccessToken(ctx, req, r.r.ClientID, r.r.AuthTime, family)
		if err != nil {
			return "", "", time.Time{}, err
		}
		if err := s.startSession(ctx, r, family, at, secret.Hash(refresh), s.now().Add(c.RefreshTokenLifetime)); err != nil {
			return "", "", time.Time{}, err
		}
		jti, exp := s.handOver(at)
		return jti, refresh, exp, nil
	case *refreshRequest:
		c, err := s.p.cfg.Clients.Get(ctx, r.s.ClientID)
		if err != nil {
			return "", "", time.Time{}, err
		}
		at, err := s.newAccessToken(ctx, req, r.s.ClientID, r.s.AuthTime, r.s.ID)
		if err != nil {
			return "", "", time.Time{}, err
		}
		now := s.now()
		err = s.p.cfg.Store.Tx(ctx, func(q *store.Q) error {
			if err := q.RotateRefreshToken(ctx, r.s.ID, secret.Hash(current), secret.Hash(refresh), now.Add(c.RefreshTokenLifetime), now); err != nil {
				return err
			}
			return q.SetSessionAccessToken(ctx, r.s.ID, at.jti, at.exp)
		})
		if errors.Is(err, store.ErrConflict) {
			if rerr := s.revokeSession(ctx, r.s.ID); rerr != nil {
				return "", "", time.Time{}, rerr
			}
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used; the session is revoked")
		}
		if err != nil {
			return "", "", time.Time{}, err
		}
		jti, exp := s.handOver(at)
		return jti, refresh, exp, nil
	}
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

func (s *storage) revokeSession(ctx context.Context, id string) error {
	return s.p.cfg.Store.Tx(ctx, func(q *store.Q) error { return q.RevokeSession(ctx, id, s.now()) })
}

// TokenRequestByRefreshToken finds the session of a current refresh token.
// A rotated-away token is reuse: the whole family (session) is revoked. The
// user must still be allowed to log in, and the login still be vouched for
// (stillVouched: a recorded provider, still its organization's).
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	hash := secret.Hash(token)
	q := s.p.cfg.Store.Read()
	sess, err := q.SessionByRefreshHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		id, uerr := q.UsedRefreshToken(ctx, hash)
		if uerr == nil {
			s.p.log.Warn("refresh token reused: session revoked")
			if rerr := s.revokeSession(ctx, id); rerr != nil {
				return nil, rerr
			}
			return nil, oidc.ErrInvalidGrant().WithDescription("refresh token already used; the session is revoked")
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(sess.RefreshExpiresAt) {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token expired")
	}
	if err := s.p.mayLogIn(ctx, sess.Subject); err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("the user may no longer log in")
	}
	if err := s.p.stillVouched(ctx, sess.IdP, sess.Subject); notVouched(err) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the identity provider no longer vouches for this login; sign in again").WithParent(err)
	} else if err != nil {
		return nil, err
	}
	s.p.touch(ctx, sess.Subject)
	return &refreshRequest{s: sess, scopes: strings.Fields(sess.Scopes)}, nil
}

// TerminateSession ends the session of user at client and its tokens (for
// a client with sessions per device, the one begun without a browser
// session; our EndSession names the device).
func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	_, err := s.terminateSession(ctx, userID, clientID, "")
	return err
}

// deviceOf is the device of a session client c starts from a login in the
// browser session sid: the sid for a client with sessionPerDevice, "" (one
// session per person and client) otherwise.
func deviceOf(c *client.Client, sid string) string {
	if c.SessionPerDevice {
		return sid
	}
	return ""
}

// terminateSession is TerminateSession for the session begun in the browser
// session sid (which matters only to a client with sessions per device),
// returning the session it ended (nil if there was none), whose client
// back-channel logout notifies.
func (s *storage) terminateSession(ctx context.Context, userID, clientID, sid string) (*store.OIDCSession, error) {
	if userID == "" {
		return nil, nil
	}
	c, err := s.p.cfg.Clients.Get(ctx, clientID)
	if err != nil {
		return nil, err
	}
	sess, err := s.p.cfg.Store.Read().SessionOf(ctx, userID, clientID, deviceOf(c, sid))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return sess, s.revokeSession(ctx, sess.ID)
}

// RevokeToken is unused: the revocation endpoint is overridden
// (Server.Revocation).
func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return oidc.ErrServerError().WithDescription("revocation is handled by the server")
}

// GetRefreshTokenInfo is unused for the same reason.
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// SigningKey is the key zitadel signs an ID token with: the active key of
// the algorithm the client chose (see algorithms.go), or of the default.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	if alg, ok := idTokenAlgorithm(ctx); ok {
		return s.p.cfg.Keys.SigningKeyFor(ctx, alg)
	}
	return s.p.cfg.Keys.SigningKey(ctx)
}

// SignatureAlgorithms lists the algorithms of the published keys.
func (s *storage) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	set, err := s.p.cfg.Keys.PublicJWKS(ctx)
	if err != nil {
		return nil, err
	}
	var algs []jose.SignatureAlgorithm
	for _, k := range set.Keys {
		if a := jose.SignatureAlgorithm(k.Algorithm); !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs, nil
}

// publishedKey adapts a published JWK to op.Key.
type publishedKey struct{ k jose.JSONWebKey }

func (k publishedKey) ID() string { return k.k.KeyID }
func (k publishedKey) Algorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.k.Algorithm)
}
func (k publishedKey) Use() string { return k.k.Use }
func (k publishedKey) Key() any    { return k.k.Key }

// KeySet is the published JWKS (next, active and unexpired retired keys):
// ID token hints are verified against it.
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	set, err := s.p.cfg.Keys.PublicJWKS(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, 0, len(set.Keys))
	for _, k := range set.Keys {
		out = append(out, publishedKey{k})
	}
	return out, nil
}

// --- OPStorage ---

// GetClientByClientID loads a registered client. An unknown one is the
// caller's mistake (400 invalid_client; at the authorization endpoint a page,
// there being no redirect_uri to trust), not a server error: zitadel turns
// any error that is not an OAuth2 error into a 500 (found by
// FuzzAuthorizationRequest).
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.cfg.Clients.Get(ctx, id)
	if e, ok := apierror.As(err); ok && e.Status == http.StatusNotFound {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id").WithParent(err)
	}
	if err != nil {
		return nil, clientLookupError(err)
	}
	return &opClient{c: c, p: s.p}, nil
}

// clientLookupError is the OAuth2 error of a failed client lookup: a client
// ID the store refuses as text (store.IsInvalidInput: NUL or invalid UTF-8,
// which PostgreSQL cannot compare) is the caller's mistake, 400
// invalid_request, not the server_error zitadel makes of any other error.
// internal/server refuses such IDs before the provider runs; this is the
// net behind it, for a caller that mounts the provider alone.
func clientLookupError(err error) error {
	if store.IsInvalidInput(err) {
		return op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("client_id is not valid text").WithParent(err), http.StatusBadRequest)
	}
	return err
}

// AuthorizeClientIDSecret checks a client's secret (constant time).
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, sec string) error {
	_, err := s.p.cfg.Clients.Authenticate(ctx, id, sec)
	return clientLookupError(err)
}

// SetUserinfoFromScopes is deprecated in zitadel/oidc; see
// SetUserinfoFromRequest.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims. A refreshed ID
// token repeats the acr of the original login (zitadel takes acr from auth
// requests only). Both carry the sid of the browser session of the login,
// the one a back-channel logout token names (zitadel sets no sid).
func (s *storage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	var org string
	if v, ok := req.(interface{ vouchedBy() store.IdP }); ok {
		org = v.vouchedBy().Org
	}
	verified, err := s.p.emailVouched(ctx, org, req.GetSubject())
	if err != nil {
		return err
	}
	setUserinfo(ui, req.GetSubject(), scopes, verified)
	var sid string
	switch r := req.(type) {
	case *refreshRequest:
		if r.s.ACR != "" {
			ui.AppendClaims("acr", r.s.ACR)
		}
		sid = r.s.SID
	case *authRequest:
		sid = r.r.SID
	}
	if sid != "" {
		ui.AppendClaims("sid", sid)
	}
	return nil
}

// setUserinfo fills the claims of a user: the subject is the email, which
// verified says whoever vouched for the login may vouch for (emailVouched).
func setUserinfo(ui *oidc.UserInfo, subject string, scopes []string, verified bool) {
	ui.Subject = subject
	if slices.Contains(scopes, oidc.ScopeEmail) {
		ui.Email = subject
		ui.EmailVerified = oidc.Bool(verified)
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		ui.PreferredUsername = subject
	}
}

// SetUserinfoFromToken is unused: userinfo is overridden (Server.UserInfo).
func (s *storage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return errors.New("userinfo is handled by the server")
}

// SetIntrospectionFromToken is unused: introspection is overridden.
func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is handled by the server")
}

// GetPrivateClaimsFromScopes adds nothing: access tokens are minted by
// newAccessToken, not by zitadel.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID: the JWT profile grant is not supported.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile is not supported")
}

// ValidateJWTProfileScopes: the JWT profile grant is not supported.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile is not supported")
}

// Health pings the database.
func (s *storage) Health(ctx context.Context) error { return s.p.cfg.Store.Ping(ctx) }

// ClientCredentials authenticates a confidential client allowed the
// client_credentials grant.
func (s *storage) ClientCredentials(ctx context.Context, id, sec string) (op.Client, error) {
	c, err := s.p.cfg.Clients.Authenticate(ctx, id, sec)
	if errors.Is(err, client.ErrInvalidClient) {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized)
	}
	if store.IsInvalidInput(err) {
		return nil, clientLookupError(err)
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if !client.AllowsGrant(c, client.GrantClientCredentials) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use client_credentials")
	}
	return &opClient{c: c, p: s.p}, nil
}

// ClientCredentialsTokenRequest checks the requested scopes.
func (s *storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := s.p.cfg.Clients.Get(ctx, id)
	if err != nil {
		return nil, clientLookupError(err)
	}
	for _, sc := range scopes {
		if sc == oidc.ScopeOpenID || !client.AllowsScope(c, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for client_credentials", sc)
		}
	}
	return &clientRequest{clientID: id, scopes: scopes}, nil
}

// opClient adapts a registered client to op.Client.
type opClient struct {
	c *client.Client
	p *Provider
}

func (c *opClient) GetID() string                    { return c.c.ID }
func (c *opClient) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

// ApplicationType: public clients are native apps or SPAs; native lets
// zitadel accept loopback redirect URIs on any port (RFC 8252 §7.3), as the
// registry does.
func (c *opClient) ApplicationType() op.ApplicationType {
	if c.c.Type == client.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c *opClient) AuthMethod() oidc.AuthMethod {
	switch c.c.TokenEndpointAuthMethod {
	case client.AuthClientSecretPost:
		return oidc.AuthMethodPost
	case client.AuthNone:
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		if client.AllowsGrant(c.c, g) {
			out = append(out, oidc.GrantType(g))
		}
	}
	return out
}
func (c *opClient) LoginURL(id string) string           { return LoginPath + "?state=" + id }
func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration      { return c.p.accessLifetime(c.c) }
func (c *opClient) DevMode() bool                       { return false }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) IsScopeAllowed(scope string) bool     { return client.AllowsScope(c.c, scope) }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *opClient) ClockSkew() time.Duration             { return 0 }

// emailVouched reports whether the party that vouched for a login of
// subject may vouch for that address, so that email_verified is true only
// then: the platform (its providers, its local accounts) for any address;
// an organization (its own provider, the local accounts it owns) for its
// verified email domain only (issue 12), checked again at every token,
// as the domain may have stopped being verified or moved since.
func (p *Provider) emailVouched(ctx context.Context, org, subject string) (bool, error) {
	if org == "" {
		return true, nil
	}
	o, err := p.cfg.Store.Read().GetOrganization(ctx, org)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("organization that vouched for the login: %w", err)
	}
	return domainVouches(o, subject), nil
}
