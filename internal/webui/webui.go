// Package webui holds what Gatehouse's server-rendered pages share: the one
// stylesheet (pages.css, embedded and served under a content-hashed name
// with an immutable cache), the Content-Security-Policy that allows it and
// nothing inline, the brand header (the Gatehouse mark) and the simple pages
// the HTTP server renders itself: the landing page at /, the 429 page of the
// browser endpoints and their "bad request" page.
//
// No page has an inline style or script: the policy is style-src 'self'
// (the stylesheet) and no script-src at all; a test renders every page and
// scans it.
package webui

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"html/template"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

//go:embed pages.css
var stylesheet []byte

// StylesheetPath is where the pages' stylesheet is served: its name carries
// a hash of its content, so it is cached for good and a new build's pages
// ask for the new one.
var StylesheetPath = func() string {
	sum := sha256.Sum256(stylesheet)
	return "/assets/pages-" + hex.EncodeToString(sum[:8]) + ".css"
}()

// Stylesheet serves the stylesheet at StylesheetPath: immutable, text/css
// (the server's nosniff header makes browsers insist on the type).
func Stylesheet(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(stylesheet)
}

// CSP is the pages' Content-Security-Policy: the stylesheet and images of
// this origin only, no script, forms posting to this origin and to
// formOrigins (scheme://host[:port] each, already checked by the caller),
// never framed.
func CSP(formOrigins ...string) string {
	formAction := "'self'"
	for _, o := range formOrigins {
		if o != "" && !strings.Contains(formAction+" ", " "+o+" ") {
			formAction += " " + o
		}
	}
	return "default-src 'none'; style-src 'self'; img-src 'self'; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// Partials are the templates every page includes, to be parsed with Funcs
// into a page set: "head" (the document up to the title; the data's .T.Lang
// is the page's language), "brand" (the Gatehouse mark and name) and
// "alert-icon". A page writes:
//
//	{{template "head" .}}<title>...</title></head><body>{{template "brand" .}}<main>...
const Partials = `
{{define "head"}}<!doctype html>
<html lang="{{.T.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="stylesheet" href="{{stylesheet}}">
{{with brandOf .}}<link rel="stylesheet" href="{{.StyleURL}}">
{{end}}{{end}}
{{define "mark"}}<span class="logo" aria-hidden="true"><svg viewBox="0 0 32 32"><path d="M9 25V13l7-5 7 5v12h-5v-7h-4v7z"/></svg></span>{{end}}
{{define "brand"}}<header class="brand">{{with brandOf .}}{{if .LogoURL}}<img class="brand-logo" src="{{.LogoURL}}" alt="">{{else}}{{template "mark"}}{{end}}<span id="brand-name">{{.Name}}</span>{{else}}{{template "mark"}}<span>Gatehouse</span>{{end}}</header>{{end}}
{{define "alert-icon"}}<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="10"/><path d="M12 8v4M12 16h.01"/></svg>{{end}}
`

// Brand is an organization's look on a page (internal/branding): the name
// and logo in the header, and the stylesheet of its colours, loaded after
// the pages' own. Both URLs are Gatehouse's, so the policy stays 'self'.
type Brand struct {
	Name, LogoURL, StyleURL string
}

// Branded is a page's data that may carry a Brand; pages whose data does
// not implement it, or returns nil, show Gatehouse's.
type Branded interface {
	PageBrand() *Brand
}

// brandOf is the Brand of a page's data, or nil.
func brandOf(data any) *Brand {
	if b, ok := data.(Branded); ok {
		return b.PageBrand()
	}
	return nil
}

// Funcs are the template functions Partials need.
var Funcs = template.FuncMap{"stylesheet": func() string { return StylesheetPath }, "brandOf": brandOf}

// SetPageHeaders sets the headers of an HTML page: its type, never cached,
// never framed, the policy CSP(formOrigins...), no referrer.
func SetPageHeaders(h http.Header, formOrigins ...string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", CSP(formOrigins...))
	h.Set("Referrer-Policy", "no-referrer")
}

var own = template.Must(template.New("webui").Funcs(Funcs).Parse(Partials + `
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

{{define "landing"}}{{template "head" .}}<title>Gatehouse</title></head>
<body>
{{template "brand" .}}
<main class="wide">
<div class="card">
<h1>{{.T.LandingTitle}}</h1>
<p class="lead">{{.T.LandingText}}</p>
<a class="button" id="console" href="/console/">{{.T.OpenConsole}}</a>
<h2>{{.T.ForDevelopers}}</h2>
<ul class="links">
<li><a id="discovery" href="/.well-known/openid-configuration">{{.T.Discovery}}</a><small><code>/.well-known/openid-configuration</code></small></li>
<li><a id="jwks" href="/oauth2/v2/jwks">{{.T.JWKS}}</a><small><code>/oauth2/v2/jwks</code></small></li>
<li><a id="openapi" href="/api/v1/openapi.yaml">{{.T.OpenAPI}}</a><small><code>/api/v1/openapi.yaml</code></small></li>
<li><a id="health" href="/healthz">{{.T.Health}}</a><small><code>/healthz</code></small></li>
</ul>
</div>
</main>
</body>
</html>{{end}}
`))

// texts are the words of this package's pages in one language.
type texts struct {
	Lang                                                  string
	LandingTitle, LandingText, OpenConsole, ForDevelopers string
	Discovery, JWKS, OpenAPI, Health                      string
	TooManyTitle, TooManyOne, TooManyMany                 string
	BadRequestTitle, BadRequestText                       string
	NotFoundTitle, NotFoundText                           string
}

var english = &texts{
	Lang:            "en",
	LandingTitle:    "Gatehouse identity service",
	LandingText:     "Sign-in, single sign-on and access management for your organization's applications.",
	OpenConsole:     "Open the console",
	ForDevelopers:   "For developers",
	Discovery:       "OpenID Connect discovery",
	JWKS:            "Signing keys (JWKS)",
	OpenAPI:         "API description (OpenAPI)",
	Health:          "Health",
	TooManyTitle:    "Too many attempts",
	TooManyOne:      "There were too many sign-in attempts from here. Wait a second and try again.",
	TooManyMany:     "There were too many sign-in attempts from here. Wait %s seconds and try again.",
	BadRequestTitle: "Bad request",
	BadRequestText:  "The request could not be read. Go back to the application and start again.",
	NotFoundTitle:   "Page not found",
	NotFoundText:    "There is nothing at this address.",
}

var german = &texts{
	Lang:            "de",
	LandingTitle:    "Gatehouse Identitätsdienst",
	LandingText:     "Anmeldung, Single Sign-on und Zugriffsverwaltung für die Anwendungen Ihrer Organisation.",
	OpenConsole:     "Konsole öffnen",
	ForDevelopers:   "Für Entwickler",
	Discovery:       "OpenID-Connect-Discovery",
	JWKS:            "Signaturschlüssel (JWKS)",
	OpenAPI:         "API-Beschreibung (OpenAPI)",
	Health:          "Zustand",
	TooManyTitle:    "Zu viele Versuche",
	TooManyOne:      "Von hier gab es zu viele Anmeldeversuche. Warten Sie eine Sekunde und versuchen Sie es erneut.",
	TooManyMany:     "Von hier gab es zu viele Anmeldeversuche. Warten Sie %s Sekunden und versuchen Sie es erneut.",
	BadRequestTitle: "Ungültige Anfrage",
	BadRequestText:  "Die Anfrage konnte nicht gelesen werden. Kehren Sie zur Anwendung zurück und beginnen Sie erneut.",
	NotFoundTitle:   "Seite nicht gefunden",
	NotFoundText:    "Unter dieser Adresse gibt es nichts.",
}

// pick chooses the language of a page for r: the first shipped language of
// the ui_locales parameter (OpenID Connect's), else the best one of
// Accept-Language, else English.
func pick(r *http.Request) *texts {
	if ui := r.URL.Query().Get("ui_locales"); ui != "" {
		for _, l := range strings.Fields(ui) {
			if t := byLang(l); t != nil {
				return t
			}
		}
		return english
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		l, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if l == "*" {
			break
		}
		if t := byLang(l); t != nil {
			return t
		}
	}
	return english
}

// byLang is the texts of a language tag's base ("de-CH" is "de"), nil for
// languages Gatehouse does not ship.
func byLang(tag string) *texts {
	base, _, _ := strings.Cut(strings.ToLower(tag), "-")
	switch base {
	case "en":
		return english
	case "de":
		return german
	}
	return nil
}

type messageView struct {
	T                           *texts
	Status, Title, Text, Detail string
}

func render(w io.Writer, name string, data any) {
	_ = own.ExecuteTemplate(w, name, data)
}

// Landing writes the landing page at /.
func Landing(w http.ResponseWriter, r *http.Request) {
	SetPageHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	render(w, "landing", struct{ T *texts }{pick(r)})
}

// TooMany writes the 429 page of a browser endpoint; retryAfter is the
// Retry-After header's value (whole seconds), which the caller has set.
func TooMany(w http.ResponseWriter, r *http.Request, retryAfter string) {
	t := pick(r)
	text := t.TooManyOne
	if retryAfter != "1" {
		text = strings.Replace(t.TooManyMany, "%s", retryAfter, 1)
	}
	Message(w, http.StatusTooManyRequests, t.Lang, t.TooManyTitle, text, "")
}

// BadRequest writes the page of a browser request refused before any
// handler read it (status 400 or 413); detail says what was wrong.
func BadRequest(w http.ResponseWriter, r *http.Request, status int, detail string) {
	t := pick(r)
	Message(w, status, t.Lang, t.BadRequestTitle, t.BadRequestText, detail)
}

// NotFound writes the 404 page of a browser's request for an unknown path.
func NotFound(w http.ResponseWriter, r *http.Request) {
	t := pick(r)
	Message(w, http.StatusNotFound, t.Lang, t.NotFoundTitle, t.NotFoundText, "")
}

// Message writes a page with a title, a text and an optional detail in
// lang ("en" or "de"), with status.
func Message(w http.ResponseWriter, status int, lang, title, text, detail string) {
	t := byLang(lang)
	if t == nil {
		t = english
	}
	SetPageHeaders(w.Header())
	w.WriteHeader(status)
	render(w, "message", messageView{T: t, Status: statusLine(status), Title: title, Text: text, Detail: detail})
}

func statusLine(status int) string {
	if status < 400 {
		return ""
	}
	return strings.TrimSpace(strconv.Itoa(status) + " " + http.StatusText(status))
}

// WantsHTML reports whether a request's Accept header prefers an HTML page
// to JSON: a browser's navigation ("text/html,...") does, an API client
// ("application/json", "*/*" or none) does not.
func WantsHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	html := strings.Index(accept, "text/html")
	if html < 0 {
		return false
	}
	j := strings.Index(accept, "application/json")
	return j < 0 || html < j
}

// inlineCode finds what a page must not hold under its policy: a style
// element or attribute, a script element, an event handler attribute or a
// javascript: URL.
var inlineCode = regexp.MustCompile(`(?i)<style|<script|\sstyle\s*=|\son[a-z]+\s*=|javascript:`)

// InlineCode returns the first inline style or script in page, "" when
// there is none; tests scan every rendered page with it.
func InlineCode(page string) string {
	return inlineCode.FindString(page)
}
