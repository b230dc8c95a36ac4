package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

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

// cookiePath covers the login page and the authorization callback.
const cookiePath = "/oauth2/v2/"

// Outcomes of a login attempt that are not a success.
var (
	errNoRequest   = errors.New("the login request is unknown, expired or already finished")
	errCSRF        = errors.New("the form is stale or was not sent from this page")
	errCredentials = connector.ErrInvalidCredentials
)

// loginView is what the login template shows.
type loginView struct {
	State     string
	CSRF      string
	Email     string
	Error     string
	Providers []providerChoice
}

var pages = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Gatehouse</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}[role=alert]{color:#a00;margin-top:1rem}</style>
</head>
<body>
<main>
<h1>Sign in</h1>
{{if .Error}}<p role="alert" id="login-error">{{.Error}}</p>{{end}}
<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}"{{if .Error}} aria-describedby="login-error"{{end}}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" aria-describedby="password-hint">
<p id="password-hint">Leave it empty if your organization signs you in with its own identity provider.</p>
<button type="submit">Sign in</button>
</form>
{{if .Providers}}<h2>Or sign in with</h2>
{{range .Providers}}<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{$.State}}">
<input type="hidden" name="csrf_token" value="{{$.CSRF}}">
<button type="submit" name="provider" value="{{.ID}}">{{.Name}}</button>
</form>
{{end}}{{end}}
</main>
</body>
</html>
{{define "message"}}<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}} · Gatehouse</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}</style></head>
<body><main><h1>{{.Title}}</h1><p>{{.Text}}</p></main></body>
</html>{{end}}`))

func writePage(w http.ResponseWriter, status int, name string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}

func writeMessage(w http.ResponseWriter, status int, title, text string) {
	writePage(w, status, "message", struct{ Title, Text string }{title, text})
}

// loginPage shows the form for the auth request named by ?state=, with a
// fresh CSRF token bound to that request and to this browser.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("state")
	csrf, hint, err := p.startLogin(r.Context(), id)
	if err != nil {
		p.loginError(w, err)
		return
	}
	providers, err := p.systemProviders(r.Context())
	if err != nil {
		p.loginError(w, err)
		return
	}
	p.setCSRFCookie(w, csrf)
	writePage(w, http.StatusOK, "login", loginView{State: id, CSRF: csrf, Email: hint, Providers: providers})
}

// startLogin issues the CSRF token of an open auth request.
func (p *Provider) startLogin(ctx context.Context, id string) (csrf, loginHint string, err error) {
	if id == "" {
		return "", "", errNoRequest
	}
	csrf, err = p.tokens.randomString(32)
	if err != nil {
		return "", "", err
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
		return "", "", errNoRequest
	}
	if err != nil {
		return "", "", err
	}
	return csrf, req.LoginHint, nil
}

func (p *Provider) setCSRFCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: p.cookieName, Value: token, Path: cookiePath, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(p.cfg.Issuer, "https://"), MaxAge: int(AuthRequestLifetime.Seconds()),
	})
}

// loginSubmit checks the form and the password; on success the browser goes
// back to the provider's callback, which issues the code.
func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeMessage(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	cookie := p.csrfCookie(r)
	f := r.PostForm
	id, email := f.Get("state"), f.Get("email")
	rt, upstream, err := p.chooseRoute(r.Context(), f.Get("provider"), email)
	if err != nil {
		p.loginError(w, err)
		return
	}
	if upstream {
		to, err := p.startUpstream(r.Context(), id, f.Get("csrf_token"), cookie, rt)
		if err != nil {
			p.loginError(w, err)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	err = p.login(r.Context(), id, f.Get("csrf_token"), cookie, email, f.Get("password"))
	switch {
	case err == nil:
		http.Redirect(w, r, p.cfg.Issuer+CallbackPath+"?id="+url.QueryEscape(id), http.StatusSeeOther)
	case errors.Is(err, errCredentials):
		writePage(w, http.StatusUnauthorized, "login", loginView{State: id, CSRF: f.Get("csrf_token"), Email: email,
			Error: "The email address or the password is wrong."})
	default:
		p.loginError(w, err)
	}
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

// login is the logic of a login form post.
func (p *Provider) login(ctx context.Context, id, csrfForm, csrfCookie, email, password string) error {
	req, err := p.cfg.Store.Read().GetAuthRequest(ctx, id, p.cfg.Now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && req.Done) {
		return errNoRequest
	}
	if err != nil {
		return err
	}
	if !validCSRF(req.CSRFHash, csrfForm, csrfCookie) {
		return errCSRF
	}
	ident, err := p.cfg.Password.Login(ctx, email, password)
	if err != nil {
		return err
	}
	if err := p.mayLogIn(ctx, ident.Subject); err != nil {
		return err
	}
	now := p.cfg.Now()
	err = p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		return q.CompleteAuthRequest(ctx, id, ident.Subject, "pwd", now, now)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNoRequest
	}
	return err
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

func (p *Provider) loginError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNoRequest):
		writeMessage(w, http.StatusBadRequest, "Sign-in link expired", "Go back to the application and start again.")
	case errors.Is(err, errCSRF):
		writeMessage(w, http.StatusForbidden, "Request refused", "The form is stale or was not sent from this page. Go back to the application and start again.")
	case errors.Is(err, errBadState):
		writeMessage(w, http.StatusBadRequest, "Sign-in link expired", "The answer from the identity provider does not belong to a sign-in in progress. Go back to the application and start again.")
	case errors.Is(err, errNoProvider):
		writeMessage(w, http.StatusBadRequest, "Unknown identity provider", "Go back and choose another way to sign in.")
	case errors.Is(err, errUpstreamTimeout):
		writeMessage(w, http.StatusGatewayTimeout, "Sign-in timed out", "The identity provider did not answer in time. Go back to the application and try again later.")
	case errors.Is(err, errUpstream):
		writeMessage(w, http.StatusBadGateway, "Sign-in failed", "The identity provider did not complete the sign-in. Go back to the application and try again.")
	case errors.Is(err, errUnverified):
		writeMessage(w, http.StatusForbidden, "Email address not verified", "Your identity provider did not confirm your email address.")
	case errors.Is(err, errForeignDomain):
		writeMessage(w, http.StatusForbidden, "Sign-in refused", "Your organization's identity provider cannot sign in addresses outside its domain.")
	case errors.Is(err, errInactive):
		writeMessage(w, http.StatusForbidden, "Account not active", "Your account is pending or suspended. Ask an administrator of your organization.")
	case store.IsUnavailable(err):
		p.log.Warn("login failed: database unavailable", "error", err)
		w.Header().Set("Retry-After", apierror.RetryAfterSeconds(apierror.UnavailableRetry))
		writeMessage(w, http.StatusServiceUnavailable, "Temporarily unavailable", "Sign-in is not possible right now. Please try again in a few seconds.")
	default:
		p.log.Error("login failed", "error", err)
		writeMessage(w, http.StatusInternalServerError, "Something went wrong", "Please try again later.")
	}
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
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && !req.Done):
			p.loginError(w, errNoRequest)
		case err != nil:
			p.loginError(w, err)
		case !validCSRF(req.CSRFHash, p.csrfCookie(r), p.csrfCookie(r)):
			p.loginError(w, errCSRF)
		default:
			next.ServeHTTP(w, r)
		}
	}
}

// loggedOut is where logout lands without a post_logout_redirect_uri.
func (p *Provider) loggedOut(w http.ResponseWriter, _ *http.Request) {
	writeMessage(w, http.StatusOK, "Signed out", "You have been signed out.")
}
