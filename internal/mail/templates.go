package mail

import (
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// texts are the words of one kind of message in one language.
type texts struct {
	Subject, Heading, Intro, Button, Expiry, Ignore, Footer string
}

// catalog holds every message's words, by language and kind. The templates
// are shared: a message is its words, its link and its dates.
var catalog = map[string]map[string]texts{
	"en": {
		KindInvite: {
			Subject: "You are invited to Gatehouse",
			Heading: "Choose your password",
			Intro:   "An administrator created a Gatehouse account for {{.Email}}{{if .Organization}} in {{.Organization}}{{end}}. Open the link below to choose its password; it works once.",
			Button:  "Choose a password",
			Expiry:  "The link expires on {{.Expires}}.",
			Ignore:  "If you did not expect this invitation, ignore this message: nothing happens until the link is used.",
		},
		KindReset: {
			Subject: "Reset your Gatehouse password",
			Heading: "Reset your password",
			Intro:   "Someone asked to reset the password of the Gatehouse account {{.Email}}{{if .Organization}} ({{.Organization}}){{end}}. Open the link below to choose a new one; it works once.",
			Button:  "Choose a new password",
			Expiry:  "The link expires on {{.Expires}}.",
			Ignore:  "If you did not ask for this, ignore this message: your password stays as it is.",
		},
		KindPasswordChanged: {
			Subject: "Your Gatehouse password was changed",
			Heading: "Your password was changed",
			Intro:   "The password of the Gatehouse account {{.Email}}{{if .Organization}} ({{.Organization}}){{end}} was changed on {{.When}}. Other sessions of the account were signed out.",
			Ignore:  "If this was not you, reset your password on the sign-in page (\"Forgot password?\") at once and tell your administrator.",
		},
	},
	"de": {
		KindInvite: {
			Subject: "Ihre Einladung zu Gatehouse",
			Heading: "Wählen Sie Ihr Passwort",
			Intro:   "Eine Administratorin oder ein Administrator hat für {{.Email}}{{if .Organization}} in {{.Organization}}{{end}} ein Gatehouse-Konto angelegt. Öffnen Sie den Link unten, um das Passwort zu wählen; er funktioniert einmal.",
			Button:  "Passwort wählen",
			Expiry:  "Der Link läuft am {{.Expires}} ab.",
			Ignore:  "Wenn Sie diese Einladung nicht erwartet haben, ignorieren Sie diese Nachricht: Ohne den Link geschieht nichts.",
		},
		KindReset: {
			Subject: "Gatehouse-Passwort zurücksetzen",
			Heading: "Passwort zurücksetzen",
			Intro:   "Jemand hat verlangt, das Passwort des Gatehouse-Kontos {{.Email}}{{if .Organization}} ({{.Organization}}){{end}} zurückzusetzen. Öffnen Sie den Link unten, um ein neues zu wählen; er funktioniert einmal.",
			Button:  "Neues Passwort wählen",
			Expiry:  "Der Link läuft am {{.Expires}} ab.",
			Ignore:  "Wenn Sie das nicht verlangt haben, ignorieren Sie diese Nachricht: Ihr Passwort bleibt, wie es ist.",
		},
		KindPasswordChanged: {
			Subject: "Ihr Gatehouse-Passwort wurde geändert",
			Heading: "Ihr Passwort wurde geändert",
			Intro:   "Das Passwort des Gatehouse-Kontos {{.Email}}{{if .Organization}} ({{.Organization}}){{end}} wurde am {{.When}} geändert. Andere Sitzungen des Kontos wurden abgemeldet.",
			Ignore:  "Wenn Sie das nicht waren, setzen Sie Ihr Passwort sofort auf der Anmeldeseite zurück („Passwort vergessen?“) und informieren Sie Ihre Administration.",
		},
	},
}

// The sentences above hold {{.Email}} and the like: they are templates
// too, run by "say" with the message's data (escaped in HTML like any
// other value).
func say(tpl string, v view) (string, error) {
	t, err := texttemplate.New("say").Parse(tpl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

var textTemplates = texttemplate.Must(texttemplate.New("text").Funcs(texttemplate.FuncMap{"say": say}).Parse(
	`{{say .T.Heading .}}

{{say .T.Intro .}}
{{if and .Link .T.Button}}
{{say .T.Button .}}:
{{.Link}}

{{say .T.Expiry .}}
{{end}}
{{say .T.Ignore .}}

-- 
Gatehouse · {{.Issuer}}
`))

// The HTML part follows the product's pages (internal/webui: the light
// theme's tokens, the card, the accent button) with inline styles, the
// only styling mail clients keep, and no images: the mark is text, so
// nothing is fetched from anywhere when the message is opened.
var htmlTemplates = htmltemplate.Must(htmltemplate.New("html").Funcs(htmltemplate.FuncMap{"say": say}).Parse(
	`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><meta name="color-scheme" content="light"><title>{{say .T.Subject .}}</title></head>
<body style="margin:0;padding:0;background:#f7f7f8;color:#18181b;font-family:ui-sans-serif,system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;font-size:14px;line-height:1.5">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f7f7f8;padding:40px 16px 32px">
<tr><td align="center">
<table role="presentation" cellpadding="0" cellspacing="0" style="margin-bottom:24px"><tr>
<td style="width:36px;height:36px;border-radius:9px;background:#4f46e5;color:#ffffff;font-weight:700;font-size:18px;text-align:center;vertical-align:middle">G</td>
<td style="padding-left:12px;font-size:16px;font-weight:650;color:#18181b">Gatehouse</td>
</tr></table>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:440px;background:#ffffff;border:1px solid #e4e4e7;border-radius:12px">
<tr><td style="padding:32px">
<h1 style="margin:0 0 12px;font-size:20px;line-height:1.25;font-weight:600;color:#18181b">{{say .T.Heading .}}</h1>
<p style="margin:0 0 20px;color:#52525b">{{say .T.Intro .}}</p>
{{if and .Link .T.Button}}<p style="margin:0 0 20px"><a id="link" href="{{.Link}}" style="display:inline-block;background:#4f46e5;color:#ffffff;text-decoration:none;font-weight:600;padding:10px 16px;border-radius:8px">{{say .T.Button .}}</a></p>
<p style="margin:0 0 8px;font-size:12px;color:#71717a">{{say .T.Expiry .}}</p>
<p style="margin:0 0 20px;font-size:12px;color:#71717a;word-break:break-all"><a href="{{.Link}}" style="color:#3730a3">{{.Link}}</a></p>
{{end}}<p style="margin:0;font-size:13px;color:#52525b">{{say .T.Ignore .}}</p>
</td></tr>
</table>
<p style="margin:24px 0 0;font-size:12px;color:#71717a">Gatehouse · {{.Issuer}}</p>
</td></tr>
</table>
</body>
</html>
`))
