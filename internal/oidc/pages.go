package oidc

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/webui"
)

// The provider's HTML pages: server-rendered, no script, nothing loaded from
// elsewhere, translated (i18n.go).
var pages = template.Must(template.New("pages").Funcs(webui.Funcs).Parse(webui.Partials + `
{{define "login"}}{{template "head" .}}<title>{{.T.SignInTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.SignInTitle}}</h1>
{{if .Error}}<div role="alert" class="alert" id="login-error">{{template "alert-icon"}}<div><p>{{.Error}}</p>{{if .Notice}}<p id="lockout-hint" class="alert-more">{{.Notice}}</p>{{end}}</div></div>{{end}}
{{with .Hinted}}<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{$.State}}">
<input type="hidden" name="csrf_token" value="{{$.CSRF}}">
<input type="hidden" name="email" value="{{.Email}}">
<p class="session">{{$.T.HintedProvider}} <strong id="hinted-email">{{.Email}}</strong></p>
<button type="submit" id="hinted-provider" name="hinted" value="1">{{$.T.ContinueWith}} {{.Provider}}{{if .Organization}} ({{.Organization}}){{end}}</button>
</form>
<h2 class="divider">{{$.T.UseAnother}}</h2>{{end}}
{{if .Session}}<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<p class="session">{{.T.SignedInAs}} <strong id="session-subject">{{.Session}}</strong></p>
<button type="submit" name="continue" value="1">{{.T.ContinueAs}} {{.Session}}</button>
</form>
<h2 class="divider">{{.T.UseAnother}}</h2>{{end}}
<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<div class="field">
<label for="email">{{.T.Email}}</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{{.Email}}"{{if .Error}} aria-describedby="login-error"{{end}}>
</div>
<div class="field">
<label for="password">{{.T.Password}}</label>
<input id="password" name="password" type="password" autocomplete="current-password" aria-describedby="password-hint">
<p id="password-hint" class="hint">{{.T.PasswordHint}}</p>
{{if .Forgot}}<p class="hint"><a id="forgot-password" href="{{.Forgot}}">{{.T.ForgotPassword}}</a></p>{{end}}
</div>
<button type="submit"{{if or .Session .Hinted}} class="secondary"{{end}}>{{.T.SignIn}}</button>
</form>
{{if .Providers}}<h2 class="divider">{{.T.OrSignInWith}}</h2>
<div class="providers">
{{range .Providers}}<form method="post" action="/oauth2/v2/login">
<input type="hidden" name="state" value="{{$.State}}">
<input type="hidden" name="csrf_token" value="{{$.CSRF}}">
<button type="submit" class="secondary" name="provider" value="{{.ID}}">{{.Name}}</button>
</form>
{{end}}</div>{{end}}
</div>
</main>
</body>
</html>{{end}}

{{define "consent"}}{{template "head" .}}<title>{{.T.ConsentTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.ConsentTitle}}</h1>
<p><strong id="client-name">{{.Client}}</strong> {{.T.ConsentWants}}</p>
<ul id="scopes" class="scopes">{{range .Scopes}}<li>{{.Text}}{{if .Raw}} <code>{{.Name}}</code>{{end}}</li>{{end}}</ul>
<p><small>{{.T.SignedInAs}} <strong>{{.Subject}}</strong></small></p>
<form method="post" action="/oauth2/v2/consent">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<div class="actions">
<button type="submit" name="decision" value="allow">{{.T.Allow}}</button>
<button type="submit" class="secondary" name="decision" value="deny">{{.T.Deny}}</button>
</div>
</form>
</div>
</main>
</body>
</html>{{end}}

{{define "device"}}{{template "head" .}}<title>{{.T.DeviceTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.DeviceTitle}}</h1>
<p class="lead">{{.T.DeviceIntro}}</p>
{{if .Error}}<div role="alert" class="alert" id="device-error">{{template "alert-icon"}}<div><p>{{.Error}}</p></div></div>{{end}}
{{if .Refused}}<div role="alert" class="alert" id="device-refused">{{template "alert-icon"}}<div><p>{{.T.DeviceRefused}}</p></div></div>{{end}}
<form method="post" action="/oauth2/v2/device">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<div class="field">
<label for="user_code">{{.T.UserCode}}</label>
<input id="user_code" name="user_code" type="text" required autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="16" value="{{.UserCode}}" aria-describedby="user-code-hint{{if .Error}} device-error{{end}}">
<p id="user-code-hint" class="hint">{{.T.UserCodeHint}}</p>
</div>
<button type="submit">{{.T.DeviceContinue}}</button>
</form>
</div>
</main>
</body>
</html>{{end}}

{{define "device-confirm"}}{{template "head" .}}<title>{{.T.DeviceConfirmTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.DeviceConfirmTitle}}</h1>
<p><strong id="client-name">{{.Client}}</strong> {{.T.DeviceConfirmWants}}</p>
<ul id="scopes" class="scopes">{{range .Scopes}}<li>{{.Text}}{{if .Raw}} <code>{{.Name}}</code>{{end}}</li>{{end}}</ul>
<div role="note" class="alert" id="device-warning">{{template "alert-icon"}}<div><p>{{.T.DeviceWarning}}</p></div></div>
<p><small>{{.T.SignedInAs}} <strong id="session-subject">{{.Subject}}</strong></small></p>
<form method="post" action="/oauth2/v2/device/confirm">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<div class="actions">
<button type="submit" name="decision" value="approve">{{.T.Approve}}</button>
<button type="submit" class="secondary" name="decision" value="deny">{{.T.Deny}}</button>
</div>
</form>
</div>
</main>
</body>
</html>{{end}}

{{define "onboard"}}{{template "head" .}}<title>{{.T.OnboardTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main class="wide">
<div class="card">
<h1>{{.T.OnboardTitle}}</h1>
<p class="lead">{{.T.OnboardIntro}}</p>
<p><small>{{.T.SignedInAs}} <strong>{{.Subject}}</strong></small></p>
{{if .Error}}<p role="alert" class="alert" id="onboard-error">{{template "alert-icon"}}<span>{{.Error}}</span></p>{{end}}
<form method="post" action="/oauth2/v2/onboard">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<div class="field">
<label for="organization_name">{{.T.OrgName}}</label>
<input id="organization_name" name="organization_name" type="text" required maxlength="63" value="{{.OrgName}}" aria-describedby="name-hint">
<p id="name-hint" class="hint">{{.T.NameHint}}</p>
</div>
<div class="field">
<label for="organization_description">{{.T.OrgDescription}}</label>
<textarea id="organization_description" name="organization_description" maxlength="1024">{{.OrgDescription}}</textarea>
</div>
<div class="field">
<label for="group_name">{{.T.GroupName}}</label>
<input id="group_name" name="group_name" type="text" required maxlength="63" value="{{.GroupName}}">
</div>
<div class="field">
<label for="group_description">{{.T.GroupDescription}}</label>
<textarea id="group_description" name="group_description" maxlength="1024">{{.GroupDescription}}</textarea>
</div>
<fieldset><legend>{{.T.Roles}}</legend>
{{range .Roles}}<div class="check"><input type="checkbox" id="role-{{.Name}}" name="roles" value="{{.Name}}"{{if .Checked}} checked{{end}}>
<label for="role-{{.Name}}">{{.Name}}</label> <small>{{.Text}}</small></div>
{{end}}</fieldset>
<button type="submit">{{.T.CreateOrganization}}</button>
</form>
</div>
</main>
</body>
</html>{{end}}

{{define "logout"}}{{template "head" .}}<title>{{.T.LogoutTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.LogoutTitle}}</h1>
<p class="session">{{.T.SignedInAs}} <strong>{{.Subject}}</strong></p>
<form method="post" action="/oauth2/v2/logout">
<input type="hidden" name="logout_csrf" value="{{.CSRF}}">
{{if .ClientID}}<input type="hidden" name="client_id" value="{{.ClientID}}">{{end}}
{{if .PostLogoutRedirectURI}}<input type="hidden" name="post_logout_redirect_uri" value="{{.PostLogoutRedirectURI}}">{{end}}
{{if .State}}<input type="hidden" name="state" value="{{.State}}">{{end}}
<input type="hidden" name="ui_locales" value="{{.T.Lang}}">
<button type="submit">{{.T.LogoutButton}}</button>
</form>
</div>
</main>
</body>
</html>{{end}}

{{define "leave"}}{{template "head" .}}<title>{{.T.SignedOutTitle}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.SignedOutTitle}}</h1>
<p class="lead">{{.T.LeaveText}}</p>
<p><strong id="destination">{{.Host}}</strong></p>
<p><small>{{.T.LeaveFrom}} <span id="client-name">{{.Client}}</span></small></p>
<a id="continue" href="{{.URL}}" class="button">{{.T.ContinueLink}}</a>
</div>
</main>
</body>
</html>{{end}}

{{define "continue"}}{{template "head" .}}<title>{{.T.ContinueTitle}} · Gatehouse</title>
<meta http-equiv="refresh" content="0;url={{.URL}}"></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
<h1>{{.T.ContinueTitle}}</h1>
<p class="lead">{{.T.ContinueText}}</p>
<a id="continue" href="{{.URL}}" class="button">{{.T.ContinueLink}}</a>
</div>
</main>
</body>
</html>{{end}}

{{define "message"}}{{template "head" .}}<title>{{.Title}} · Gatehouse</title></head>
<body>
{{template "brand" .}}
<main>
<div class="card">
{{if .Status}}<p class="status">{{.Status}}</p>{{end}}
<h1>{{.Title}}</h1>
<p class="lead">{{.Text}}</p>
{{if .Detail}}<p><small>{{.Detail}}</small></p>{{end}}
</div>
</main>
</body>
</html>{{end}}
`))

// loginView is what the login template shows.
type loginView struct {
	T     *messages
	State string
	CSRF  string
	Email string
	Error string
	// Notice follows Error: the lockout policy after a failed password
	// (the same for every address, known or not).
	Notice    string
	Providers []providerChoice
	// Session is the subject of the browser's session when the request
	// may continue with it ("Continue as ...").
	Session string
	// Hinted is the identity provider a login_hint's domain routes to,
	// offered as a button ("Continue with ..."): the page never goes
	// upstream by itself.
	Hinted *hintedChoice
	// Forgot is the "Forgot password?" link ("" when no mail is sent).
	Forgot string
	// Brand is the look of the organization the sign-in is routed to
	// (brandFor); nil for the platform's.
	Brand *webui.Brand
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

// consentView is a page that asks about a client: consent, and a
// device's approval (clientQuestion).
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

// leaveView is the page after a logout at an organization's client: the
// destination's host, the client's name and the link.
type leaveView struct {
	T                 *messages
	Client, Host, URL string
}

type continueView struct {
	T   *messages
	URL string
}

// messageView is a message page: a title, a text, for errors the status
// line and what the client was told (Detail, e.g. an OAuth2 error's
// description).
type messageView struct {
	T                           *messages
	Status, Title, Text, Detail string
}

// writePage renders page name. The Content-Security-Policy (webui.CSP)
// allows the pages' stylesheet and nothing inline, and lets forms submit to
// this origin and to formOrigins only: Chromium applies form-action to
// every redirect that follows a form's POST, so a page whose form ends at a
// relying party (the login, consent and onboarding forms end at the
// client's redirect_uri) must list that origin, and no other.
func writePage(w http.ResponseWriter, status int, name string, data any, formOrigins ...string) {
	webui.SetPageHeaders(w.Header(), formOrigins...)
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}

// contentSecurityPolicy is the pages' policy with form-action extended by
// origins (scheme://host[:port] each, already checked by origin).
func contentSecurityPolicy(origins []string) string { return webui.CSP(origins...) }

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
	writePage(w, status, "message", messageView{T: m, Status: statusLine(status), Title: title, Text: text})
}

// statusLine is what an error page shows above its title ("404 Not
// Found"); nothing for a page that is not an error.
func statusLine(status int) string {
	if status < 400 {
		return ""
	}
	return strconv.Itoa(status) + " " + http.StatusText(status)
}
