package oidc

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// SessionCookiePrefix starts the name of the browser session cookie (the
// name ends with a hash of the issuer, like the login CSRF cookie's). The
// cookie holds 32 random bytes; the server keeps their SHA-256 with the
// subject, auth_time, amr, acr and expiry (table oidc_browser_sessions). It
// is HttpOnly, SameSite=Lax (so it reaches the authorization endpoint on the
// top-level redirect from a relying party, and no cross-site subrequest),
// Secure, named __Host-... and at Path=/ when the issuer is https (else
// scoped to /oauth2/v2/; see Provider.cookie), and lives as long as the
// session (BrowserSessionLifetime).
const SessionCookiePrefix = "gatehouse_session_"

// DefaultBrowserSessionLifetime is how long a login is reused for single
// sign-on when Config.BrowserSessionLifetime is zero.
const DefaultBrowserSessionLifetime = 12 * time.Hour

// The authentication context classes Gatehouse can honour (acr_values,
// the claims parameter, and the acr claim of its tokens).
const (
	// ACRPassword: the local password connector.
	ACRPassword = "urn:gatehouse:acr:password"
	// ACRFederated: an upstream identity provider vouched for the user.
	ACRFederated = "urn:gatehouse:acr:federated"
	// ACRMFA: the local password and a second factor (a TOTP code or a
	// recovery code). Asking for it in acr_values steps up a password
	// session (issue 14).
	ACRMFA = "urn:gatehouse:acr:mfa"
)

// acrOf is the acr of a login by its amr.
func acrOf(amr string) string {
	if amr == "fed" {
		return ACRFederated
	}
	return ACRPassword
}

// The interactions a user may have to complete after authenticating.
const (
	stepOnboard = "onboard"
	stepConsent = "consent"
	// The second factor of a password login (mfa.go): the code prompt,
	// the forced enrolment, and the page that shows new recovery codes.
	stepMFA           = "mfa"
	stepEnrol         = "mfa_enrol"
	stepRecoveryCodes = "mfa_recovery_codes"
)

// sessionCookieValue reads the browser session cookie from a request's
// headers (” if none).
func (p *Provider) sessionCookieValue(h http.Header) string {
	if c, err := (&http.Request{Header: h}).Cookie(p.sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// browserSession is the valid session of the browser that sent h, or nil.
func (p *Provider) browserSession(ctx context.Context, h http.Header) (*store.BrowserSession, error) {
	v := p.sessionCookieValue(h)
	if v == "" {
		return nil, nil
	}
	bs, err := p.cfg.Store.Read().GetBrowserSession(ctx, secret.Hash(v), p.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return bs, err
}

// sessionCookie is the Set-Cookie of a browser session value (an empty
// value with MaxAge -1 deletes the cookie).
func (p *Provider) newSessionCookie(value string, maxAge int) *http.Cookie {
	return p.cookie(p.sessionCookie, value, cookiePath, maxAge, http.SameSiteLaxMode)
}

// sidOf is the sid (OpenID Connect Back-Channel Logout 1.0, and the sid
// claim of ID tokens) of the browser session whose cookie hash is idHash. It
// is derived rather than stored, so that sessions from before back-channel
// logout have one too; a second hash, so that the sid relying parties see
// is not the key the session is looked up by.
func sidOf(idHash string) string {
	return secret.Hash("sid:" + idHash)[:32]
}

// startBrowserSession makes a new session for a, replacing the one the
// browser (headers h) had, within transaction q; it returns the cookie to
// set and the session's sid.
func (p *Provider) startBrowserSession(ctx context.Context, q *store.Q, h http.Header, a store.Authentication) (*http.Cookie, string, error) {
	value, err := p.tokens.randomString(32)
	if err != nil {
		return nil, "", err
	}
	now := p.cfg.Now()
	previous := ""
	if v := p.sessionCookieValue(h); v != "" {
		previous = secret.Hash(v)
	}
	lifetime := p.cfg.BrowserSessionLifetime
	bs := &store.BrowserSession{IDHash: secret.Hash(value), Subject: a.Subject, AuthTime: a.AuthTime, AMR: a.AMR, ACR: a.ACR,
		IdP: a.IdP, CreatedAt: now, ExpiresAt: now.Add(lifetime), UserAgent: userAgent(h.Get("User-Agent"))}
	if addr, ok := clientip.FromContext(ctx); ok {
		bs.ClientAddress = addr.String()
	}
	if err := q.ReplaceBrowserSession(ctx, previous, bs); err != nil {
		return nil, "", err
	}
	return p.newSessionCookie(value, int(lifetime/time.Second)), sidOf(bs.IDHash), nil
}

// maxUserAgent bounds the User-Agent kept with a browser session.
const maxUserAgent = 256

// userAgent is the User-Agent header as a browser session keeps it: text
// only (invalid UTF-8 and control characters dropped, which PostgreSQL
// would refuse and a page would show garbled), at most maxUserAgent bytes.
// It is what the browser claims, shown to help a person recognize their
// devices, never trusted.
func userAgent(h string) string {
	h = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(h, ""))
	for len(h) > maxUserAgent {
		_, size := utf8.DecodeLastRuneInString(h)
		h = h[:len(h)-size]
	}
	return strings.TrimSpace(h)
}

// authentication is the login a browser session stands for.
func sessionAuthentication(bs *store.BrowserSession) store.Authentication {
	return store.Authentication{Subject: bs.Subject, AMR: bs.AMR, ACR: bs.ACR, AuthTime: bs.AuthTime, SID: sidOf(bs.IDHash), IdP: bs.IdP}
}

// reusable reports whether the browser session bs satisfies auth request r
// without a new login (OpenID Connect Core §3.1.2.1): no prompt=login, the
// login no older than max_age (max_age=0 always asks again), the subject of
// an id_token_hint and of an email login_hint, an acr the request accepts,
// a user who may still log in, and a provider that still vouches for the
// login (stillVouched). prompt=select_account is the caller's:
// it shows the account instead of reusing it silently.
func (p *Provider) reusable(ctx context.Context, r *store.OIDCAuthRequest, bs *store.BrowserSession) (bool, error) {
	if bs == nil || slices.Contains(strings.Fields(r.Prompt), oidc.PromptLogin) {
		return false, nil
	}
	if r.MaxAge == 0 || r.MaxAge > 0 && p.cfg.Now().Sub(bs.AuthTime) > r.MaxAge {
		return false, nil
	}
	if r.HintSubject != "" && r.HintSubject != bs.Subject {
		return false, nil
	}
	if strings.Contains(r.LoginHint, "@") && !strings.EqualFold(strings.TrimSpace(r.LoginHint), bs.Subject) {
		return false, nil
	}
	if acrs := strings.Fields(r.ACRValues); len(acrs) > 0 && !slices.Contains(acrs, bs.ACR) &&
		!(bs.ACR == ACRPassword && slices.Contains(acrs, ACRMFA)) {
		// A password session asked for the second factor is reused and
		// stepped up (secondFactorStep); any other acr means a new login.
		return false, nil
	}
	if err := p.mayLogIn(ctx, bs.Subject); errors.Is(err, errInactive) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := p.stillVouched(ctx, bs.IdP, bs.Subject); notVouched(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}

// sessionFor is the browser session of the browser that sent h, and
// whether request r may use it (reusable).
func (p *Provider) sessionFor(ctx context.Context, h http.Header, r *store.OIDCAuthRequest) (*store.BrowserSession, bool, error) {
	bs, err := p.browserSession(ctx, h)
	if err != nil {
		return nil, false, err
	}
	reuse, err := p.reusable(ctx, r, bs)
	return bs, reuse, err
}

// acrAllowed reports whether a login of class acr may complete r: any, when
// r asks for no acr or only voluntarily (the token then says what was done);
// one of the values, when they are essential.
func acrAllowed(r *store.OIDCAuthRequest, acr string) bool {
	return !r.ACREssential || slices.Contains(strings.Fields(r.ACRValues), acr)
}
