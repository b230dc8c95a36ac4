package oidc

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// The provider's HTML pages: server-rendered, no script, nothing loaded from
// elsewhere, translated (i18n.go).
var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html>
<html lang="{{.T.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input[type=email],input[type=password],input[type=text],textarea{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.5rem;margin-right:.5rem;padding:.6rem 1.2rem;font-size:1rem}[role=alert]{color:#a00;margin-top:1rem}
fieldset{margin-top:1rem}fieldset label{display:inline;margin:0}small{color:#555}</style>
{{end}}

{{define "login"}}{{template "head" .}}<title>{{.T.SignInTitle}} · Gatehouse</title></head>
<body>
<main>
<h1>{{.T.SignInTitle}}</h1>
{{if .Error}}<p role="alert" id="login-error">{{.Error}}</p>{{end}}
{{with .Hinted}}<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{$.State}}">
<input type="hidden" name="csrf_token" value="{{$.CSRF}}">
<input type="hidden" name="email" value="{{.Email}}">
<p>{{$.T.HintedProvider}} <strong id="hinted-email">{{.Email}}</strong></p>
<button type="submit" id="hinted-provider" name="hinted" value="1">{{$.T.ContinueWith}} {{.Provider}}{{if .Organization}} ({{.Organization}}){{end}}</button>
</form>
<h2>{{$.T.UseAnother}}</h2>{{end}}
{{if .Session}}<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<p>{{.T.SignedInAs}} <strong id="session-subject">{{.Session}}</strong>.</p>
<button type="submit" name="continue" value="1">{{.T.ContinueAs}} {{.Session}}</button>
</form>
<h2>{{.T.UseAnother}}</h2>{{end}}
<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<label for="email">{{.T.Email}}</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}"{{if .Error}} aria-describedby="login-error"{{end}}>
<label for="password">{{.T.Password}}</label>
<input id="password" name="password" type="password" autocomplete="current-password" aria-describedby="password-hint">
<p id="password-hint"><small>{{.T.PasswordHint}}</small></p>
<button type="submit">{{.T.SignIn}}</button>
</form>
{{if .Providers}}<h2>{{.T.OrSignInWith}}</h2>
{{range .Providers}}<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{$.State}}">
<input type="hidden" name="csrf_token" value="{{$.CSRF}}">
<button type="submit" name="provider" value="{{.ID}}">{{.Name}}</button>
</form>
{{end}}{{end}}
</main>
</body>
</html>{{end}}

{{define "consent"}}{{template "head" .}}<title>{{.T.ConsentTitle}} · Gatehouse</title></head>
<body>
<main>
<h1>{{.T.ConsentTitle}}</h1>
<p><strong id="client-name">{{.Client}}</strong> {{.T.ConsentWants}}</p>
<ul id="scopes">{{range .Scopes}}<li>{{.Text}}{{if .Raw}} <code>{{.Name}}</code>{{end}}</li>{{end}}</ul>
<p><small>{{.T.SignedInAs}} {{.Subject}}</small></p>
<form method="post" action="/oauth2/v2/consent">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<button type="submit" name="decision" value="allow">{{.T.Allow}}</button>
<button type="submit" name="decision" value="deny">{{.T.Deny}}</button>
</form>
</main>
</body>
</html>{{end}}

{{define "onboard"}}{{template "head" .}}<title>{{.T.OnboardTitle}} · Gatehouse</title></head>
<body>
<main>
<h1>{{.T.OnboardTitle}}</h1>
<p>{{.T.OnboardIntro}}</p>
<p><small>{{.T.SignedInAs}} {{.Subject}}</small></p>
{{if .Error}}<p role="alert" id="onboard-error">{{.Error}}</p>{{end}}
<form method="post" action="/oauth2/v2/onboard">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<label for="organization_name">{{.T.OrgName}}</label>
<input id="organization_name" name="organization_name" type="text" required maxlength="63" value="{{.OrgName}}" aria-describedby="name-hint">
<p id="name-hint"><small>{{.T.NameHint}}</small></p>
<label for="organization_description">{{.T.OrgDescription}}</label>
<textarea id="organization_description" name="organization_description" maxlength="1024">{{.OrgDescription}}</textarea>
<label for="group_name">{{.T.GroupName}}</label>
<input id="group_name" name="group_name" type="text" required maxlength="63" value="{{.GroupName}}">
<label for="group_description">{{.T.GroupDescription}}</label>
<textarea id="group_description" name="group_description" maxlength="1024">{{.GroupDescription}}</textarea>
<fieldset><legend>{{.T.Roles}}</legend>
{{range .Roles}}<div><input type="checkbox" id="role-{{.Name}}" name="roles" value="{{.Name}}"{{if .Checked}} checked{{end}}>
<label for="role-{{.Name}}">{{.Name}}</label> <small>{{.Text}}</small></div>
{{end}}</fieldset>
<button type="submit">{{.T.CreateOrganization}}</button>
</form>
</main>
</body>
</html>{{end}}

{{define "logout"}}{{template "head" .}}<title>{{.T.LogoutTitle}} · Gatehouse</title></head>
<body>
<main>
<h1>{{.T.LogoutTitle}}</h1>
<p>{{.T.SignedInAs}} <strong>{{.Subject}}</strong>.</p>
<form method="post" action="/oauth2/v2/logout">
<input type="hidden" name="logout_csrf" value="{{.CSRF}}">
{{if .ClientID}}<input type="hidden" name="client_id" value="{{.ClientID}}">{{end}}
{{if .PostLogoutRedirectURI}}<input type="hidden" name="post_logout_redirect_uri" value="{{.PostLogoutRedirectURI}}">{{end}}
{{if .State}}<input type="hidden" name="state" value="{{.State}}">{{end}}
<input type="hidden" name="ui_locales" value="{{.T.Lang}}">
<button type="submit">{{.T.LogoutButton}}</button>
</form>
</main>
</body>
</html>{{end}}

{{define "continue"}}{{template "head" .}}<title>{{.T.ContinueTitle}} · Gatehouse</title>
<meta http-equiv="refresh" content="0;url={{.URL}}"></head>
<body>
<main>
<h1>{{.T.ContinueTitle}}</h1>
<p>{{.T.ContinueText}} <a id="continue" href="{{.URL}}">{{.T.ContinueLink}}</a></p>
</main>
</body>
</html>{{end}}

{{define "message"}}{{template "head" .}}<title>{{.Title}} · Gatehouse</title></head>
<body><main><h1>{{.Title}}</h1><p>{{.Text}}</p></main></body>
</html>{{end}}
`))

// loginView is what the login template shows.
type loginView struct {
	T         *messages
	State     string
	CSRF      string
	Email     string
	Error     string
	Providers []providerChoice
	// Session is the subject of the browser's session when the request
	// may continue with it ("Continue as ...").
	Session string
	// Hinted is the identity provider a login_hint's domain routes to,
	// offered as a button ("Continue with ..."): the page never goes
	// upstream by itself.
	Hinted *hintedChoice
}

// hintedChoice is the identity provider that the domain of a login_hint
// routes to, as the login page offers it: the provider's and the owning
// organization's names (Organization "" for a system provider the
// organization chose), and the hinted email that the button posts.
type hintedChoice struct{ Email, Provider, Organization string }

// scopeView is one requested scope on the consent page; Raw when there is
// no description of it, so its name is shown.
type scopeView struct {
	Name, Text string
	Raw        bool
}

type consentView struct {
	T                            *messages
	State, CSRF, Client, Subject string
	Scopes                       []scopeView
}

// roleView is a role the onboarding form offers.
type roleView struct {
	Name, Text string
	Checked    bool
}

type onboardView struct {
	T                                                    *messages
	State, CSRF, Subject, Error                          string
	OrgName, OrgDescription, GroupName, GroupDescription string
	Roles                                                []roleView
}

type logoutView struct {
	T                                                     *messages
	Subject, CSRF, ClientID, PostLogoutRedirectURI, State string
}

type continueView struct {
	T   *messages
	URL string
}

type messageView struct {
	T           *messages
	Title, Text string
}

// writePage renders page name. The Content-Security-Policy allows nothing
// but the inline style sheet, and lets forms submit to this origin and to
// formOrigins only: Chromium applies form-action to every redirect that
// follows a form's POST, so a page whose form ends at a relying party (the
// login, consent and onboarding forms end at the client's redirect_uri)
// must list that origin, and no other.
func writePage(w http.ResponseWriter, status int, name string, data any, formOrigins ...string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", contentSecurityPolicy(formOrigins))
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}

// contentSecurityPolicy is the pages' policy with form-action extended by
// origins (scheme://host[:port] each, already checked by origin).
func contentSecurityPolicy(origins []string) string {
	formAction := "'self'"
	for _, o := range origins {
		if o != "" && !strings.Contains(formAction, " "+o) {
			formAction += " " + o
		}
	}
	return "default-src 'none'; style-src 'unsafe-inline'; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// origin is the scheme://host[:port] of an absolute http(s) URI, as a CSP
// source expression; "" when uri is not one or holds a character that could
// change the policy's meaning (registered redirect URIs never do).
func origin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	for _, c := range u.Host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

func writeMessage(w http.ResponseWriter, status int, m *messages, title, text string) {
	writePage(w, status, "message", messageView{T: m, Title: title, Text: text})
}
