package oidc

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The pages of password links (invitation, reset) and of the setup link
// (issue 13): server-rendered like the login pages, no script, the same
// Content-Security-Policy, and a CSRF token in a cookie and in the form
// (double submit; the cookie is SameSite=Lax, so a form posted from another
// site arrives without it). Showing a page never spends its link: only a
// successful post does, in the transaction that sets the password.
func init() {
	// The new password, twice: the fields both link pages ask for.
	template.Must(pages.New("new-password").Parse(`<div class="field">
<label for="password">{{.T.NewPassword}}</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="12" aria-describedby="password-hint"{{if .Error}} aria-invalid="true"{{end}}>
<p id="password-hint" class="hint">{{.T.NewPasswordHint}}</p>
</div>
<div class="field">
<label for="password2">{{.T.RepeatPassword}}</label>
<input id="password2" name="password2" type="password" autocomplete="new-password" required minlength="12">
</div>`))
	template.Must(pages.New("password").Parse(`{{template "head" .}}<title>{{.T.PasswordLinkTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.PasswordLinkTitle}}</h1>
<p class="lead">{{.T.PasswordLinkIntro}} <strong id="account-email">{{.Email}}</strong>.</p>
{{if .Error}}<div role="alert" class="alert" id="form-error">{{template "alert-icon"}}<div><p>{{.Error}}</p></div></div>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<input type="hidden" name="email" value="{{.Email}}" autocomplete="username">
{{template "new-password" .}}
<button type="submit">{{.T.SavePassword}}</button>
</form>
</div>
</main>
</body>
</html>`))
	template.Must(pages.New("setup").Parse(`{{template "head" .}}<title>{{.T.SetupTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.SetupTitle}}</h1>
<p class="lead">{{.T.SetupIntro}}</p>
{{if .Error}}<div role="alert" class="alert" id="form-error">{{template "alert-icon"}}<div><p>{{.Error}}</p></div></div>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<div class="field">
<label for="email">{{.T.Email}}</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}">
</div>
{{template "new-password" .}}
<button type="submit">{{.T.CreateAdministrator}}</button>
</form>
</div>
</main>
</body>
</html>`))
	template.Must(pages.New("passwordset").Parse(`{{template "head" .}}<title>{{.T.PasswordSetTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.PasswordSetTitle}}</h1>
<p class="lead">{{.T.PasswordSetText}}</p>
<p><a id="console" class="button" href="{{.Action}}">{{.T.SignInLink}}</a></p>
</div>
</main>
</body>
</html>`))
}

// ConsolePath is where the setup page sends the new administrator, and the
// password pages point to: the console (served by another part of
// Gatehouse).
const ConsolePath = "/console/"

// formCookieSuffix ends the name of the CSRF cookie of the link pages.
const formCookieSuffix = "_form"

// linkView is what the password and setup templates show.
type linkView struct {
	T                                 *messages
	Action, Token, CSRF, Email, Error string
}

// formCookie is the CSRF cookie of the page at path.
func (p *Provider) formCookie(path, token string) *http.Cookie {
	return &http.Cookie{Name: p.cookieName + formCookieSuffix, Value: token, Path: path, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(p.cfg.Issuer, "https://"), MaxAge: 3600}
}

// showLinkForm renders page (password or setup) for v with a fresh CSRF
// token, set in the cookie too.
func (p *Provider) showLinkForm(w http.ResponseWriter, status int, page, path string, v linkView) {
	csrf, err := p.tokens.randomString(32)
	if err != nil {
		p.loginError(w, v.T, err)
		return
	}
	v.CSRF, v.Action = csrf, path
	http.SetCookie(w, p.formCookie(path, csrf))
	writePage(w, status, page, v)
}

// linkForm reads a posted link form (at most 16 KiB) and checks its CSRF
// token against the cookie; on failure it has answered w.
func (p *Provider) linkForm(w http.ResponseWriter, r *http.Request, m *messages) (ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeMessage(w, http.StatusBadRequest, m, m.BadRequestTitle, m.BadRequestText)
		return false
	}
	cookie := ""
	if c, err := r.Cookie(p.cookieName + formCookieSuffix); err == nil {
		cookie = c.Value
	}
	form := r.PostForm.Get("csrf_token")
	if cookie == "" || form == "" || !secureEqual(cookie, form) {
		writeMessage(w, http.StatusForbidden, m, m.RefusedTitle, m.RefusedText)
		return false
	}
	return true
}

// linkError answers a link page's failure: an unusable link is a 400 page
// that says so; the rest as the login pages do.
func (p *Provider) linkError(w http.ResponseWriter, m *messages, err error) {
	switch {
	case errors.Is(err, account.ErrLinkInvalid):
		writeMessage(w, http.StatusBadRequest, m, m.LinkExpiredTitle, m.LinkExpiredText)
	case errors.Is(err, account.ErrAdminExists):
		writeMessage(w, http.StatusBadRequest, m, m.AdminExistsTitle, m.AdminExistsText)
	case errors.Is(err, account.ErrEmailTaken):
		writeMessage(w, http.StatusConflict, m, m.EmailTakenTitle, m.EmailTakenText)
	default:
		p.loginError(w, m, err)
	}
}

// passwordPage is GET account.PasswordPath?token=...: the form of an
// invitation or reset link.
func (p *Provider) passwordPage(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	if p.cfg.Accounts == nil {
		p.linkError(w, m, account.ErrLinkInvalid)
		return
	}
	token := r.URL.Query().Get("token")
	l, err := p.cfg.Accounts.LinkFor(r.Context(), token, store.LinkReset)
	if err != nil {
		p.linkError(w, m, err)
		return
	}
	p.showLinkForm(w, http.StatusOK, "password", account.PasswordPath, linkView{T: m, Token: token, Email: l.Email})
}

// passwordSubmit is POST account.PasswordPath: sets the password and spends
// the link, or shows the form again with what is wrong (the link unspent).
func (p *Provider) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	if p.cfg.Accounts == nil {
		p.linkError(w, m, account.ErrLinkInvalid)
		return
	}
	if !p.linkForm(w, r, m) {
		return
	}
	f := r.PostForm
	token, pw := f.Get("token"), f.Get("password")
	l, err := p.cfg.Accounts.LinkFor(r.Context(), token, store.LinkReset)
	if err != nil {
		p.linkError(w, m, err)
		return
	}
	again := func(msg string) {
		p.showLinkForm(w, http.StatusBadRequest, "password", account.PasswordPath, linkView{T: m, Token: token, Email: l.Email, Error: msg})
	}
	if pw != f.Get("password2") {
		again(m.PasswordsDiffer)
		return
	}
	// The notice of a replaced password is in the page's language.
	done, err := p.cfg.Accounts.CompleteLink(account.WithLanguage(r.Context(), m.Lang), token, pw)
	if errors.Is(err, connector.ErrPasswordPolicy) {
		again(m.PasswordWeak)
		return
	}
	if err != nil {
		p.linkError(w, m, err)
		return
	}
	p.log.Info("password link completed", "link", done.Purpose, "organization_id", done.OrganizationID)
	writePage(w, http.StatusOK, "passwordset", linkView{T: m, Action: ConsolePath})
}

// setupPage is GET account.SetupPath?token=...: the form that creates the
// first human platform administrator.
func (p *Provider) setupPage(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	if p.cfg.Accounts == nil {
		p.linkError(w, m, account.ErrLinkInvalid)
		return
	}
	token := r.URL.Query().Get("token")
	if _, err := p.cfg.Accounts.LinkFor(r.Context(), token, store.LinkSetup); err != nil {
		p.linkError(w, m, err)
		return
	}
	needed, err := p.cfg.Accounts.SetupNeeded(r.Context())
	if err == nil && !needed {
		err = account.ErrAdminExists
	}
	if err != nil {
		p.linkError(w, m, err)
		return
	}
	p.showLinkForm(w, http.StatusOK, "setup", account.SetupPath, linkView{T: m, Token: token})
}

// setupSubmit is POST account.SetupPath: creates the administrator, spends
// the link and sends the browser to the console, where they sign in.
func (p *Provider) setupSubmit(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	if p.cfg.Accounts == nil {
		p.linkError(w, m, account.ErrLinkInvalid)
		return
	}
	if !p.linkForm(w, r, m) {
		return
	}
	f := r.PostForm
	token, email, pw := f.Get("token"), strings.TrimSpace(f.Get("email")), f.Get("password")
	again := func(msg string) {
		p.showLinkForm(w, http.StatusBadRequest, "setup", account.SetupPath, linkView{T: m, Token: token, Email: email, Error: msg})
	}
	if _, err := p.cfg.Accounts.LinkFor(r.Context(), token, store.LinkSetup); err != nil {
		p.linkError(w, m, err)
		return
	}
	if pw != f.Get("password2") {
		again(m.PasswordsDiffer)
		return
	}
	admin, err := p.cfg.Accounts.CompleteSetup(r.Context(), token, email, pw)
	switch {
	case errors.Is(err, connector.ErrPasswordPolicy):
		again(m.PasswordWeak)
		return
	case errors.Is(err, connector.ErrInvalidEmail):
		again(m.BadEmail)
		return
	case err != nil:
		p.linkError(w, m, err)
		return
	}
	p.log.Info("setup completed: first human platform administrator created", "subject", admin)
	// The new administrator has just proved the password: they are signed
	// in (a browser session, audited as a sign-in), so that the console
	// they are sent to continues it by single sign-on instead of asking for
	// the password chosen a second ago. Failing that, the console asks.
	now := p.cfg.Now()
	a := store.Authentication{Subject: admin, AMR: "pwd", ACR: ACRPassword, AuthTime: now,
		IdP: store.IdP{ID: connector.LocalConnectorID, Issuer: p.cfg.Issuer, Subject: admin}}
	var cookie *http.Cookie
	ctx := p.auditSignIn(r.Context(), r, nil, a)
	if err := p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		var err error
		cookie, _, err = p.startBrowserSession(ctx, q, r.Header, a)
		return err
	}); err != nil {
		p.log.Warn("setup completed, but no browser session was started: the console will ask to sign in", "error", err)
	} else {
		http.SetCookie(w, cookie)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, ConsolePath, http.StatusSeeOther)
}
