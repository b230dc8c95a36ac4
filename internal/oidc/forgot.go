package oidc

import (
	"errors"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// ForgotPath is the "Forgot password?" page (issue 14): a person gives the
// address of their local account and is mailed a reset link, the one
// administrators hand out (single use, 24 hours). The answer is the same
// whether the address has an account or not, and requests are limited per
// client address and per address asked for, so the page neither tells who
// has an account nor floods anyone's mailbox. Without mail (no
// --smtp-url) the page says to ask an administrator, and the login page
// does not link to it.
const ForgotPath = "/oauth2/v2/forgot"

// DefaultForgotRate limits "Forgot password?" posts per client address and
// per address asked for, when Config.ForgotRate is zero.
var DefaultForgotRate = ratelimit.Rate{N: 5, Per: time.Hour}

func init() {
	template.Must(pages.New("forgot").Parse(`{{template "head" .}}<title>{{.T.ForgotTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.ForgotTitle}}</h1>
<p class="lead">{{.T.ForgotIntro}}</p>
{{if .Error}}<div role="alert" class="alert" id="form-error">{{template "alert-icon"}}<div><p>{{.Error}}</p></div></div>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<div class="field">
<label for="email">{{.T.Email}}</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}"{{if .Error}} aria-invalid="true" aria-describedby="form-error"{{end}}>
</div>
<button type="submit">{{.T.SendResetLink}}</button>
</form>
</div>
</main>
</body>
</html>`))
}

// forgotLimits are the token buckets of the forgot page.
type forgotLimits struct{ byAddr, byAccount *ratelimit.Limiter }

func newForgotLimits(rp *ratelimit.Rate, now func() time.Time) *forgotLimits {
	r := DefaultForgotRate
	if rp != nil {
		r = *rp
	}
	if !r.Enabled() {
		return nil
	}
	return &forgotLimits{byAddr: ratelimit.New(r, 0, now), byAccount: ratelimit.New(r, 0, now)}
}

// allow takes a token for the client address and one for the account;
// false with the wait when either is empty. The account's bucket is keyed
// by the normalized address (at most 254 bytes), and text that is no
// address gets none (nothing can be mailed to it, and the page says so):
// keyed by what was typed, each post could keep up to the form's 16 KiB
// for an hour, and posts from many addresses fill the limiter's keys with
// hundreds of megabytes.
func (l *forgotLimits) allow(r *http.Request, email string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	addr := "unknown"
	if a, ok := clientip.FromContext(r.Context()); ok {
		addr = clientip.Key(a)
	}
	if ok, wait := l.byAddr.Allow(addr); !ok {
		return false, wait
	}
	account, err := connector.CheckEmail(email)
	if err != nil {
		return true, 0
	}
	return l.byAccount.Allow(account)
}

// forgotEnabled: a mailed reset needs local accounts and mail.
func (p *Provider) forgotEnabled() bool { return p.cfg.Accounts != nil && p.cfg.Accounts.Mails() }

// forgotPage is GET ForgotPath: the form.
func (p *Provider) forgotPage(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	if !p.forgotEnabled() {
		writeMessage(w, http.StatusNotFound, m, m.ForgotTitle, m.ForgotNoMail)
		return
	}
	p.showLinkForm(w, http.StatusOK, "forgot", ForgotPath, linkView{T: m, Email: strings.TrimSpace(r.URL.Query().Get("email"))})
}

// forgotSubmit is POST ForgotPath: queues the reset mail if the account
// exists, and answers the same either way.
func (p *Provider) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	if !p.forgotEnabled() {
		writeMessage(w, http.StatusNotFound, m, m.ForgotTitle, m.ForgotNoMail)
		return
	}
	if !p.linkForm(w, r, m) {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	if ok, wait := p.forgotLimits.allow(r, email); !ok {
		secs := strconv.Itoa(int(math.Ceil(wait.Seconds())))
		w.Header().Set("Retry-After", secs)
		webui.TooMany(w, r, secs)
		return
	}
	err := p.cfg.Accounts.RequestReset(account.WithLanguage(r.Context(), m.Lang), email)
	switch {
	case errors.Is(err, connector.ErrInvalidEmail):
		p.showLinkForm(w, http.StatusBadRequest, "forgot", ForgotPath, linkView{T: m, Email: email, Error: m.BadEmail})
	case err != nil:
		p.loginError(w, m, err)
	default:
		writeMessage(w, http.StatusOK, m, m.ForgotSentTitle, m.ForgotSentText)
	}
}
