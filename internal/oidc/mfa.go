package oidc

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The second factor of a password login (issue 14). After the password,
// and before any browser session or code exists, the auth request waits at
// a step of its own (the subject is recorded, the request is not done, so
// the callback refuses it): stepMFA asks for a code of a factor the person
// has; stepEnrol, for a person without one whom a policy (or an essential
// acr) requires one, enrols a TOTP factor and then shows the new recovery
// codes once (stepRecoveryCodes). Only then does the login complete, with
// amr "pwd otp mfa" and acr ACRMFA, and a browser session that carries
// them. A password browser session asked for more (a factor enrolled since,
// a policy, acr_values naming ACRMFA) is stepped up the same way from the
// authorization endpoint. Logins through an upstream identity provider are
// that provider's to strengthen and are never asked.

// Operation IDs of the second factor's audit events (not /api/v1
// operations: named after where they come from).
const (
	// OpFactorAdded: a factor enrolled at sign-in (a forced enrolment).
	OpFactorAdded = "oidcFactorAdded"
	// OpFactorLocked: failed codes locked a person's second factor.
	OpFactorLocked = "oidcFactorLocked"
)

// FactorTOTP and FactorRecoveryCode are the factors of failed sign-in
// events at the second step.
const (
	FactorTOTP         = "totp"
	FactorRecoveryCode = "recovery_code"
)

// secondFactorStep is the second-factor step that a, just authenticated
// for request r, must pass ("" for none): stepMFA for a person with a
// factor, stepEnrol for one without whom the policy or r's essential acr
// requires one. Only password logins (local accounts) are asked, and
// never twice.
func (p *Provider) secondFactorStep(ctx context.Context, r *store.OIDCAuthRequest, a store.Authentication) (string, error) {
	if p.cfg.MFA == nil || a.IdP.ID != connector.LocalConnectorID || slices.Contains(strings.Fields(a.AMR), "mfa") {
		return "", nil
	}
	has, err := p.cfg.MFA.HasFactor(ctx, a.Subject)
	if err != nil || has {
		if has {
			return stepMFA, nil
		}
		return "", err
	}
	mode, err := p.cfg.MFA.Policy(ctx, mfa.Account{Subject: a.Subject, Organization: a.IdP.Org})
	if err != nil {
		return "", err
	}
	asked := r.ACREssential && slices.Contains(strings.Fields(r.ACRValues), ACRMFA)
	if mode == mfa.Required || asked && mode != mfa.Off {
		return stepEnrol, nil
	}
	return "", nil
}

// withFactor is a after a second factor: amr gains otp and mfa (RFC 8176;
// a recovery code is a one-time code too), acr is ACRMFA, and auth_time
// is now (the moment the login reached its level).
func (p *Provider) withFactor(req *store.OIDCAuthRequest) store.Authentication {
	amr := strings.Fields(req.AMR)
	for _, m := range []string{"otp", "mfa"} {
		if !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	return store.Authentication{Subject: req.Subject, AMR: strings.Join(amr, " "), ACR: ACRMFA, AuthTime: p.cfg.Now(), IdP: req.IdP}
}

// mfaView is what the code prompt shows; Recovery switches it to the
// recovery code.
type mfaView struct {
	T                    *messages
	State, CSRF, Subject string
	Error                string
	Recovery             bool
}

// enrolView is what the enrolment page shows: the QR code (an SVG path:
// no data: image, no script), the key as text, grouped for reading.
type enrolView struct {
	T                                   *messages
	State, CSRF, Subject, Error         string
	FactorID, Secret, QRPath, QRViewBox string
	OTPAuthURL                          template.URL
}

// codesView is the page that shows the recovery codes (Codes empty when
// they were shown already).
type codesView struct {
	T                    *messages
	State, CSRF, Subject string
	Codes                []string
}

// mfaPage is GET MFAPath?state=ID[&recovery=1]: the code prompt.
func (p *Provider) mfaPage(w http.ResponseWriter, r *http.Request) {
	cookie := p.csrfCookie(r)
	req, err := p.pendingRequest(r.Context(), r.URL.Query().Get("state"), stepMFA, cookie, cookie)
	m := requestLocale(r, req)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	writePage(w, http.StatusOK, "mfa", mfaView{T: m, State: req.ID, CSRF: cookie, Subject: req.Subject,
		Recovery: r.URL.Query().Get("recovery") == "1"}, origin(req.RedirectURI))
}

// mfaSubmit is POST MFAPath (state, csrf_token, code): a TOTP code or a
// recovery code of the person (mfa.Service.Verify: counted, locked out like
// passwords, each code accepted once). A good one completes the login.
func (p *Provider) mfaSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, f, m, ok := p.postedForm(w, r, stepMFA, 16<<10)
	if !ok {
		return
	}
	code := strings.TrimSpace(f.Get("code"))
	recovery := f.Get("recovery") == "1"
	method, err := p.cfg.MFA.Verify(ctx, req.Subject, code)
	if err != nil {
		factor := FactorTOTP
		if recovery || len(code) > mfa.Digits {
			factor = FactorRecoveryCode
		}
		msg, status := "", http.StatusUnauthorized
		switch {
		case errors.Is(err, mfa.ErrInvalidCode):
			p.auditSignInFailed(ctx, r, req, req.Subject, "", factor, "invalid_code")
			msg = m.MFAWrongCode
		case errors.Is(err, mfa.ErrLocked):
			p.auditSignInFailed(ctx, r, req, req.Subject, "", factor, "locked")
			if le := (*mfa.LockError)(nil); errors.As(err, &le) {
				p.auditFactorLocked(ctx, r, req, le)
			}
			msg, status = m.MFALocked, http.StatusTooManyRequests
		default:
			p.loginError(w, m, err)
			return
		}
		writePage(w, status, "mfa", mfaView{T: m, State: req.ID, CSRF: f.Get("csrf_token"), Subject: req.Subject, Error: msg,
			Recovery: recovery}, origin(req.RedirectURI))
		return
	}
	next, err := p.completeLogin(ctx, w, r, req, p.withFactor(req), true, stepMFA, string(method))
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// enrolPage is GET MFAEnrolPath?state=ID: the TOTP enrolment a policy
// forces. The pending enrolment of the person (one at a time, within the
// request's lifetime) is shown again, else a new one is started.
func (p *Provider) enrolPage(w http.ResponseWriter, r *http.Request) {
	cookie := p.csrfCookie(r)
	req, err := p.pendingRequest(r.Context(), r.URL.Query().Get("state"), stepEnrol, cookie, cookie)
	m := requestLocale(r, req)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	p.showEnrolment(w, r, req, m, cookie, "", http.StatusOK)
}

func (p *Provider) showEnrolment(w http.ResponseWriter, r *http.Request, req *store.OIDCAuthRequest, m *messages, csrf, msg string, status int) {
	ctx := r.Context()
	e, err := p.cfg.MFA.PendingTOTP(ctx, req.Subject, AuthRequestLifetime)
	if errors.Is(err, mfa.ErrNoEnrolment) {
		// Begun here, audited when confirmed (a pending factor signs
		// nobody in).
		e, err = p.cfg.MFA.StartTOTP(audit.Unaudited(ctx), mfa.Account{Subject: req.Subject, Organization: req.IdP.Org}, "")
	}
	if errors.Is(err, mfa.ErrNotOffered) {
		writeMessage(w, http.StatusForbidden, m, m.RefusedTitle, err.Error())
		return
	}
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	writePage(w, status, "mfa_enrol", enrolView{T: m, State: req.ID, CSRF: csrf, Subject: req.Subject, Error: msg,
		FactorID: e.FactorID, Secret: groupSecret(e.Secret), QRPath: e.QR.Path,
		QRViewBox: "0 0 " + itoa(e.QR.Size) + " " + itoa(e.QR.Size), OTPAuthURL: template.URL(e.URL)}, origin(req.RedirectURI))
}

// enrolSubmit is POST MFAEnrolPath (state, csrf_token, factor_id, code):
// the first code confirms the factor (audited as a factor added); the
// person's first factor also brings recovery codes, shown once on the page
// this answers with.
func (p *Provider) enrolSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, f, m, ok := p.postedForm(w, r, stepEnrol, 16<<10)
	if !ok {
		return
	}
	actx := audit.Begin(ctx, p.auditEntry(OpFactorAdded, req.Subject), "mfaFactor", "")
	_, codes, err := p.cfg.MFA.Confirm(actx, req.Subject, f.Get("factor_id"), strings.TrimSpace(f.Get("code")))
	switch {
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrNoEnrolment):
		p.auditSignInFailed(ctx, r, req, req.Subject, "", FactorTOTP, "invalid_code")
		p.showEnrolment(w, r, req, m, f.Get("csrf_token"), m.MFAWrongCode, http.StatusUnauthorized)
		return
	case errors.Is(err, mfa.ErrLocked):
		p.auditSignInFailed(ctx, r, req, req.Subject, "", FactorTOTP, "locked")
		if le := (*mfa.LockError)(nil); errors.As(err, &le) {
			p.auditFactorLocked(ctx, r, req, le)
		}
		p.showEnrolment(w, r, req, m, f.Get("csrf_token"), m.MFALocked, http.StatusTooManyRequests)
		return
	case err != nil:
		p.loginError(w, m, err)
		return
	}
	if len(codes) == 0 {
		// A set from before (kept through a factor's removal): none to show.
		next, err := p.completeLogin(ctx, w, r, req, p.withFactor(req), true, stepEnrol, mfa.KindTOTP)
		if err != nil {
			p.loginError(w, m, err)
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	err = p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		return q.AdvanceAuthRequest(ctx, req.ID, stepEnrol, stepRecoveryCodes, p.cfg.Now())
	})
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	// The codes are in this answer only: never stored in clear, never
	// shown again (a reload of the page shows the next step's GET).
	w.Header().Set("Cache-Control", "no-store")
	writePage(w, http.StatusOK, "mfa_codes", codesView{T: m, State: req.ID, CSRF: f.Get("csrf_token"), Subject: req.Subject, Codes: codes},
		origin(req.RedirectURI))
}

// recoveryCodesPage is GET MFARecoveryCodesPath?state=ID: the codes were
// shown once already; the page only lets the login go on.
func (p *Provider) recoveryCodesPage(w http.ResponseWriter, r *http.Request) {
	cookie := p.csrfCookie(r)
	req, err := p.pendingRequest(r.Context(), r.URL.Query().Get("state"), stepRecoveryCodes, cookie, cookie)
	m := requestLocale(r, req)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	writePage(w, http.StatusOK, "mfa_codes", codesView{T: m, State: req.ID, CSRF: cookie, Subject: req.Subject}, origin(req.RedirectURI))
}

// recoveryCodesSubmit is POST MFARecoveryCodesPath: the person has seen
// the codes; the login completes with the factor just enrolled.
func (p *Provider) recoveryCodesSubmit(w http.ResponseWriter, r *http.Request) {
	req, _, m, ok := p.postedForm(w, r, stepRecoveryCodes, 16<<10)
	if !ok {
		return
	}
	next, err := p.completeLogin(r.Context(), w, r, req, p.withFactor(req), true, stepRecoveryCodes, mfa.KindTOTP)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// auditFactorLocked records that failed codes locked req.Subject's second
// factor. Errors are logged.
func (p *Provider) auditFactorLocked(ctx context.Context, r *http.Request, req *store.OIDCAuthRequest, le *mfa.LockError) {
	until := le.Until.UTC()
	d := signInDetail{Factor: FactorTOTP, ClientID: req.ClientID, LockedUntil: &until}
	ctx = audit.Begin(context.WithoutCancel(ctx), p.auditEntry(OpFactorLocked, req.Subject), "localUser", req.Subject)
	audit.Describe(ctx, "", "", nil, detailOf(r, d))
	if err := p.cfg.Store.Tx(ctx, func(*store.Q) error { return nil }); err != nil {
		p.log.Error("factor lockout not recorded in the audit log", "error", err)
	}
}

// groupSecret shows a base32 key in groups of four, easier to type.
func groupSecret(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// The second factor's pages.
var _ = template.Must(pages.New("mfa-pages").Parse(`
{{define "mfa"}}{{template "head" .}}<title>{{if .Recovery}}{{.T.RecoveryTitle}}{{else}}{{.T.MFATitle}}{{end}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{if .Recovery}}{{.T.RecoveryTitle}}{{else}}{{.T.MFATitle}}{{end}}</h1>
<p class="lead">{{if .Recovery}}{{.T.RecoveryIntro}}{{else}}{{.T.MFAIntro}}{{end}}</p>
<p><small>{{.T.SignedInAs}} <strong id="mfa-subject">{{.Subject}}</strong></small></p>
{{if .Error}}<p role="alert" class="alert" id="mfa-error">{{template "alert-icon"}}<span>{{.Error}}</span></p>{{end}}
<form method="post" action="/oauth2/v2/mfa">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{if .Recovery}}<input type="hidden" name="recovery" value="1">
<div class="field">
<label for="code">{{.T.RecoveryCode}}</label>
<input id="code" name="code" type="text" autocomplete="off" autocapitalize="none" spellcheck="false" required maxlength="64"{{if .Error}} aria-describedby="mfa-error"{{end}}>
</div>{{else}}<div class="field">
<label for="code">{{.T.MFACode}}</label>
<input id="code" name="code" type="text" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required maxlength="6"{{if .Error}} aria-describedby="mfa-error"{{end}}>
</div>{{end}}
<button type="submit">{{.T.MFAVerify}}</button>
</form>
<p>{{if .Recovery}}<a id="use-app" href="/oauth2/v2/mfa?state={{.State}}">{{.T.MFAUseApp}}</a>{{else}}<a id="use-recovery" href="/oauth2/v2/mfa?state={{.State}}&amp;recovery=1">{{.T.MFAUseRecovery}}</a>{{end}}</p>
</div>
</main>
</body>
</html>{{end}}

{{define "mfa_enrol"}}{{template "head" .}}<title>{{.T.EnrolTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.EnrolTitle}}</h1>
<p class="lead">{{.T.EnrolIntro}}</p>
<p><small>{{.T.SignedInAs}} <strong id="mfa-subject">{{.Subject}}</strong></small></p>
{{if .Error}}<p role="alert" class="alert" id="mfa-error">{{template "alert-icon"}}<span>{{.Error}}</span></p>{{end}}
<p>{{.T.EnrolScan}}</p>
<a href="{{.OTPAuthURL}}" aria-label="otpauth"><svg class="qr" id="totp-qr" viewBox="{{.QRViewBox}}" role="img" aria-label="QR code" shape-rendering="crispEdges"><path d="{{.QRPath}}"/></svg></a>
<p>{{.T.EnrolSecret}}</p>
<code class="secret" id="totp-secret">{{.Secret}}</code>
<form method="post" action="/oauth2/v2/mfa/enrol">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<input type="hidden" name="factor_id" value="{{.FactorID}}">
<div class="field">
<label for="code">{{.T.MFACode}}</label>
<input id="code" name="code" type="text" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required maxlength="6"{{if .Error}} aria-describedby="mfa-error"{{end}}>
</div>
<button type="submit">{{.T.EnrolConfirm}}</button>
</form>
</div>
</main>
</body>
</html>{{end}}

{{define "mfa_codes"}}{{template "head" .}}<title>{{.T.CodesTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.CodesTitle}}</h1>
{{if .Codes}}<p class="lead">{{.T.CodesIntro}}</p>
<ul class="codes" id="recovery-codes">{{range .Codes}}<li><code>{{.}}</code></li>{{end}}</ul>{{else}}<p class="lead">{{.T.CodesShown}}</p>{{end}}
<form method="post" action="/oauth2/v2/mfa/recoverycodes">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<button type="submit" id="codes-continue">{{.T.CodesContinue}}</button>
</form>
</div>
</main>
</body>
</html>{{end}}
`))
