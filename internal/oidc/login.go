package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// CSRFCookiePrefix starts the name of the cookie that carries the login
// form's CSRF token (the name ends with a hash of the issuer, so that two
// Gatehouses on one host keep theirs apart). The form carries the token too,
// and the auth request stores its hash, so a form posted from elsewhere (or
// for another auth request) is refused; the authorization callback requires
// the cookie as well, so a finished login cannot be completed in another
// browser.
const CSRFCookiePrefix = "gatehouse_login_"

// cookiePath covers the login page and the authorization callback (the
// path of the login and session cookies of an http issuer; see
// Provider.cookie).
const cookiePath = "/oauth2/v2/"

// Outcomes of a login attempt that are not a success.
var (
	errNoRequest   = errors.New("the login request is unknown, expired or already finished")
	errCSRF        = errors.New("the form is stale or was not sent from this page")
	errNoSession   = errors.New("the browser session ended or cannot serve this request")
	errCredentials = connector.ErrInvalidCredentials
)

// requestLocale is the language of the pages of request r, or of the
// browser when there is no request.
func requestLocale(r *http.Request, req *store.OIDCAuthRequest) *messages {
	if req != nil && req.UILocale != "" {
		return texts(req.UILocale)
	}
	return texts(pickLocale(nil, r.Header.Get("Accept-Language")))
}

// loginPage shows the form for the auth request named by ?state=, with a
// fresh CSRF token bound to that request and to this browser. A login_hint
// whose email domain belongs to an organization with an identity provider
// preselects it: the page offers a button "Continue with <provider>
// (<organization>)" that posts the form, and never goes upstream by itself.
// A link can carry any login_hint: were it followed without a click, a
// crafted link would make a victim's browser start, and finish, a login at
// the attacker's own organization's provider (login CSRF).
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	csrf, req, err := p.startLogin(ctx, r.URL.Query().Get("state"))
	m := requestLocale(r, req)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	p.setCSRFCookie(w, csrf)
	if req.Subject != "" {
		// Authenticated already, with an interaction to finish.
		http.Redirect(w, r, p.stepURL(req.ID, req.Interaction), http.StatusSeeOther)
		return
	}
	view, err := p.loginView(ctx, r, req, csrf, m)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	if !slices.Contains(strings.Fields(req.Prompt), oidc.PromptSelectAccount) && acrAllowed(req, ACRFederated) {
		if view.Hinted, err = p.hintedProvider(ctx, req); err != nil {
			p.loginError(w, m, err)
			return
		}
	}
	writePage(w, http.StatusOK, "login", view, origin(req.RedirectURI))
}

// hintedProvider is the identity provider that the domain of login_hint
// routes to (routeByEmail), as the login page offers it, or nil when it
// routes to none.
func (p *Provider) hintedProvider(ctx context.Context, req *store.OIDCAuthRequest) (*hintedChoice, error) {
	// The route the login form's own POST would take (an organization's
	// client offers its organization's provider only).
	hint := req.LoginHint
	rt, upstream, err := p.chooseRouteFor(ctx, req, "", hint)
	if err != nil || !upstream {
		return nil, err
	}
	pr, err := p.cfg.Store.Read().GetOAuth2Provider(ctx, rt.org, rt.provider)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoProvider
	}
	if err != nil {
		return nil, fmt.Errorf("provider %s of login_hint: %w", rt.provider, err)
	}
	return &hintedChoice{Email: hint, Provider: pr.Name, Organization: rt.orgName}, nil
}

// loginView fills the login page of request req: the email pre-filled from
// login_hint, the id_token_hint's subject or the browser session's; the
// browser session offered ("Continue as") when the request may use it; the
// system providers unless the request's essential acr excludes them.
func (p *Provider) loginView(ctx context.Context, r *http.Request, req *store.OIDCAuthRequest, csrf string, m *messages) (*loginView, error) {
	v := &loginView{T: m, State: req.ID, CSRF: csrf, Email: req.LoginHint}
	if p.forgotEnabled() {
		v.Forgot = ForgotPath
	}
	if v.Email == "" {
		v.Email = req.HintSubject
	}
	bs, reuse, err := p.sessionFor(ctx, r.Header, req)
	if err != nil {
		return nil, err
	}
	if reuse {
		v.Session = bs.Subject
	} else if bs != nil && v.Email == "" {
		v.Email = bs.Subject
	}
	if acrAllowed(req, ACRFederated) {
		if v.Providers, err = p.loginProviders(ctx, req.ClientID); err != nil {
			return nil, err
		}
	}
	if v.Brand, err = p.brandFor(ctx, req); err != nil {
		return nil, err
	}
	return v, nil
}

// startLogin issues the CSRF token of an open auth request and returns the
// request.
func (p *Provider) startLogin(ctx context.Context, id string) (string, *store.OIDCAuthRequest, error) {
	if id == "" {
		return "", nil, errNoRequest
	}
	csrf, err := p.tokens.randomString(32)
	if err != nil {
		return "", nil, err
	}
	var req *store.OIDCAuthRequest
	err = p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.SetAuthRequestCSRF(ctx, id, secret.Hash(csrf), p.cfg.Now()); err != nil {
			return err
		}
		req, err = q.GetAuthRequest(ctx, id, p.cfg.Now())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, errNoRequest
	}
	if err != nil {
		return "", nil, err
	}
	return csrf, req, nil
}

// csrfCookieFor is the cookie that carries the login CSRF token.
func (p *Provider) csrfCookieFor(token string) *http.Cookie {
	return p.cookie(p.cookieName, token, cookiePath, int(AuthRequestLifetime.Seconds()), http.SameSiteLaxMode)
}

func (p *Provider) setCSRFCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, p.csrfCookieFor(token))
}

// pendingRequest is auth request id waiting for step ("" the login,
// stepOnboard or stepConsent after it), shown or posted by the browser whose
// CSRF token (cookie, and form when posted) belongs to it. With errCSRF it
// returns the request too (its language).
func (p *Provider) pendingRequest(ctx context.Context, id, step, csrfForm, csrfCookie string) (*store.OIDCAuthRequest, error) {
	req, err := p.cfg.Store.Read().GetAuthRequest(ctx, id, p.cfg.Now())
	if errors.Is(err, store.ErrNotFound) || err == nil && (req.Done || req.Interaction != step || (req.Subject == "") != (step == "")) {
		return nil, errNoRequest
	}
	if err != nil {
		return nil, err
	}
	if !validCSRF(req.CSRFHash, csrfForm, csrfCookie) {
		return req, errCSRF
	}
	return req, nil
}

// postedForm reads the form of a page (at most limit bytes) and the auth
// request it was posted for, waiting for step ("" for the login form): open,
// and posted with this browser's CSRF token for it. On failure it has
// answered w with the page that says why, and ok is false.
func (p *Provider) postedForm(w http.ResponseWriter, r *http.Request, step string, limit int64) (req *store.OIDCAuthRequest, f url.Values, m *messages, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		m := requestLocale(r, nil)
		writeMessage(w, http.StatusBadRequest, m, m.BadRequestTitle, m.BadRequestText)
		return nil, nil, nil, false
	}
	f = r.PostForm
	req, err := p.pendingRequest(r.Context(), f.Get("state"), step, f.Get("csrf_token"), p.csrfCookie(r))
	m = requestLocale(r, req)
	if err != nil {
		p.loginError(w, m, err)
		return nil, nil, nil, false
	}
	return req, f, m, true
}

// loginSubmit takes the login form: "Continue as" the browser session, a
// system provider's button, an email routed to an organization's provider,
// or an email and password. A successful login goes on with a 303 to the
// callback (which issues the code) or to the consent or onboarding page.
// The way upstream is a page that moves on by itself (continueUpstream).
func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, f, m, ok := p.postedForm(w, r, "", 16<<10)
	if !ok {
		return
	}
	if f.Get("continue") != "" {
		p.continueSession(w, r, req, m)
		return
	}
	email := strings.TrimSpace(f.Get("email"))
	rt, upstream, err := p.chooseRouteFor(ctx, req, f.Get("provider"), email)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	if upstream {
		to, err := p.goUpstream(ctx, w, r, req, rt)
		if err != nil {
			p.loginError(w, m, err)
			return
		}
		continueUpstream(w, m, to)
		return
	}
	ident, err := p.cfg.Password.Login(ctx, email, f.Get("password"))
	if errors.Is(err, errCredentials) {
		p.auditSignInFailed(ctx, r, req, "", email, FactorPassword, "invalid_credentials")
		if le := (*connector.LockError)(nil); errors.As(err, &le) {
			p.auditLockout(ctx, r, req, email, le.Until)
		}
		view, verr := p.loginView(ctx, r, req, f.Get("csrf_token"), m)
		if verr != nil {
			p.loginError(w, m, verr)
			return
		}
		view.Email, view.Error = email, m.WrongPassword
		if n, period := p.cfg.Password.Lockout(); n > 0 {
			view.Notice = fmt.Sprintf(m.LockoutHint, n, int((period+time.Minute-1)/time.Minute))
		}
		writePage(w, http.StatusUnauthorized, "login", view, origin(req.RedirectURI))
		return
	}
	if err == nil {
		err = p.mayLogInLocal(ctx, ident)
		switch {
		case errors.Is(err, errInactive):
			p.auditSignInFailed(ctx, r, req, ident.Subject, "", FactorPassword, "inactive")
		case errors.Is(err, errForeignDomain):
			p.auditSignInFailed(ctx, r, req, ident.Subject, "", FactorPassword, "foreign_domain")
		}
	}
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	now := p.cfg.Now()
	// A platform-owned local account is vouched for by this Gatehouse:
	// trusted platform-wide. One an organization owns vouches like that
	// organization's own identity provider: the login acts there only
	// (migration 00021).
	a := store.Authentication{Subject: ident.Subject, AMR: "pwd", ACR: ACRPassword, AuthTime: now,
		IdP: store.IdP{Org: ident.Organization, ID: connector.LocalConnectorID, Issuer: p.cfg.Issuer, Subject: ident.Subject}}
	next, err := p.authenticated(ctx, w, r, req, a, true)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// continueSession completes req with the browser's session ("Continue as"
// on the login page of a prompt=select_account request), if the request may
// still use it.
func (p *Provider) continueSession(w http.ResponseWriter, r *http.Request, req *store.OIDCAuthRequest, m *messages) {
	ctx := r.Context()
	bs, reuse, err := p.sessionFor(ctx, r.Header, req)
	if err == nil && !reuse {
		err = errNoSession
	}
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	next, err := p.authenticated(ctx, w, r, req, sessionAuthentication(bs), false)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// continueUpstream answers a login form that goes to an upstream identity
// provider with a page that moves on to it by itself (meta refresh, and a
// link). A redirect would be blocked: Chromium applies the page's CSP
// form-action to every redirect after the POST, and the upstream's origin is
// known only now (an email's domain picks the organization's provider), so
// it cannot be in the policy of the page that posted. A meta refresh is a
// new navigation, not the form's.
func continueUpstream(w http.ResponseWriter, m *messages, to string) {
	writePage(w, http.StatusOK, "continue", continueView{T: m, URL: to})
}

// goUpstream starts the upstream login of req at rt for the browser of r,
// binding it to that browser (upstreamBinding sets the cookie on w): every
// way upstream passes here, and every one is a post of the login form with
// its CSRF token (a provider's button, an email's domain, the button a
// login_hint preselects).
func (p *Provider) goUpstream(ctx context.Context, w http.ResponseWriter, r *http.Request, req *store.OIDCAuthRequest, rt route) (string, error) {
	browser, err := p.upstreamBinding(w, r)
	if err != nil {
		return "", err
	}
	return p.startUpstream(ctx, req, rt, browser)
}

// chooseRoute decides where a login form post goes: the chosen system
// provider, else the provider of the organization owning the email's domain,
// else (upstream false) the local password.
func (p *Provider) chooseRoute(ctx context.Context, provider, email string) (route, bool, error) {
	if provider != "" {
		return route{provider: provider}, true, nil
	}
	return p.routeByEmail(ctx, email)
}

// validCSRF: the form's token equals the cookie's, and its hash is the one
// stored with the auth request.
func validCSRF(storedHash, form, cookie string) bool {
	if storedHash == "" || form == "" || cookie == "" {
		return false
	}
	same := subtle.ConstantTimeCompare([]byte(form), []byte(cookie)) == 1
	bound := subtle.ConstantTimeCompare([]byte(secret.Hash(form)), []byte(storedHash)) == 1
	return same && bound
}

// loginError shows the page for err (a message page with the right
// status); unexpected errors are logged and shown as a 500.
func (p *Provider) loginError(w http.ResponseWriter, m *messages, err error) {
	status, title, text := http.StatusInternalServerError, m.ErrorTitle, m.ErrorText
	switch {
	case errors.Is(err, errNoRequest), errors.Is(err, errNoSession):
		status, title, text = http.StatusBadRequest, m.LinkExpiredTitle, m.LinkExpiredText
	case store.IsInvalidInput(err):
		// A state or ID that is not text (NUL, invalid UTF-8: PostgreSQL
		// refuses to compare it) names no request, like an unknown one.
		// internal/server refuses such input first; this is the net.
		status, title, text = http.StatusBadRequest, m.LinkExpiredTitle, m.LinkExpiredText
	case errors.Is(err, errCSRF):
		status, title, text = http.StatusForbidden, m.RefusedTitle, m.RefusedText
	case errors.Is(err, errBadState):
		status, title, text = http.StatusBadRequest, m.LinkExpiredTitle, m.BadStateText
	case errors.Is(err, errNoProvider):
		status, title, text = http.StatusBadRequest, m.UnknownProviderTitle, m.UnknownProviderText
	case errors.Is(err, errUpstreamTimeout):
		status, title, text = http.StatusGatewayTimeout, m.UpstreamTimeoutTitle, m.UpstreamTimeoutText
	case errors.Is(err, errUpstream):
		status, title, text = http.StatusBadGateway, m.UpstreamFailedTitle, m.UpstreamFailedText
	case errors.Is(err, errUnverified):
		status, title, text = http.StatusForbidden, m.UnverifiedTitle, m.UnverifiedText
	case errors.Is(err, errForeignDomain):
		status, title, text = http.StatusForbidden, m.ForeignDomainTitle, m.ForeignDomainText
	case errors.Is(err, errInactive):
		status, title, text = http.StatusForbidden, m.InactiveTitle, m.InactiveText
	case store.IsUnavailable(err):
		p.log.Warn("login failed: database unavailable", "error", err)
		w.Header().Set("Retry-After", apierror.RetryAfterSeconds(apierror.UnavailableRetry))
		status, title, text = http.StatusServiceUnavailable, m.UnavailableTitle, m.UnavailableText
	default:
		p.log.Error("login failed", "error", err)
	}
	writeMessage(w, status, m, title, text)
}

// csrfCookie reads the browser's login CSRF token (” if none).
func (p *Provider) csrfCookie(r *http.Request) string {
	if c, err := r.Cookie(p.cookieName); err == nil {
		return c.Value
	}
	return ""
}

// authorizeCallback guards zitadel's callback (which issues the code): the
// auth request must be finished and this browser must hold the CSRF cookie
// of the page that finished it.
func (p *Provider) authorizeCallback(next http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := p.cfg.Store.Read().GetAuthRequest(r.Context(), r.URL.Query().Get("id"), p.cfg.Now())
		m := requestLocale(r, req)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && (!req.Done || req.ResponseType == deviceResponseType)):
			// A device login never gets a code: its tokens go to the
			// device's poll.
			p.loginError(w, m, errNoRequest)
		case err != nil:
			p.loginError(w, m, err)
		case !validCSRF(req.CSRFHash, p.csrfCookie(r), p.csrfCookie(r)):
			p.loginError(w, m, errCSRF)
		default:
			next.ServeHTTP(w, r)
		}
	}
}

// loggedOut is where logout lands without a post_logout_redirect_uri.
func (p *Provider) loggedOut(w http.ResponseWriter, r *http.Request) {
	m := texts(pickLocale(oidc.ParseLocales(strings.Fields(r.URL.Query().Get("ui_locales"))), r.Header.Get("Accept-Language")))
	writeMessage(w, http.StatusOK, m, m.SignedOutTitle, m.SignedOutText)
}

// secureEqual compares two secrets in constant time.
func secureEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
