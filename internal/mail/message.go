package mail

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Kinds of message Gatehouse sends.
const (
	// KindInvite carries an invitation link: choose the password of a new
	// local account.
	KindInvite = "invite"
	// KindReset carries a password reset link (asked by an administrator
	// or by the person on the "Forgot password?" page).
	KindReset = "reset"
	// KindPasswordChanged tells the owner their password changed (no
	// link: if it was not them, they reset it or tell an administrator).
	KindPasswordChanged = "password_changed"
)

// Kinds lists every kind, for tests and metrics.
var Kinds = []string{KindInvite, KindReset, KindPasswordChanged}

// Data is what a message says: the variables of its templates. It is what
// the outbox keeps (sealed) until the message is delivered.
type Data struct {
	// Link is the URL the message carries ("" for a notice).
	Link string `json:"link,omitempty"`
	// ExpiresAt is when Link stops working.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Email is the recipient's account address.
	Email string `json:"email"`
	// Organization names the organization owning the account ("" the
	// platform).
	Organization string `json:"organization,omitempty"`
	// Issuer is the Gatehouse the message comes from (its public URL).
	Issuer string `json:"issuer"`
	// At is when the event happened (a password change).
	At time.Time `json:"at,omitzero"`
}

// Message is one rendered message.
type Message struct {
	ID, To, Subject string
	Text, HTML      string
}

// Languages are the languages messages exist in; the first is the default.
var Languages = []string{"en", "de"}

// Lang is a shipped language for tag ("de-CH" is "de"), else English.
func Lang(tag string) string {
	base := strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(base, "-_"); i >= 0 {
		base = base[:i]
	}
	for _, l := range Languages {
		if l == base {
			return l
		}
	}
	return Languages[0]
}

// Render makes the message of kind in lang for data, addressed to to, with
// the message ID id.
func Render(id, kind, lang, to string, data Data) (*Message, error) {
	t, ok := catalog[Lang(lang)][kind]
	if !ok {
		return nil, fmt.Errorf("mail: unknown message kind %q", kind)
	}
	v := view{Data: data, T: t, Lang: Lang(lang), Expires: formatTime(data.ExpiresAt, Lang(lang)), When: formatTime(data.At, Lang(lang))}
	var text, html bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&text, "text", v); err != nil {
		return nil, fmt.Errorf("mail: render text of %s: %w", kind, err)
	}
	if err := htmlTemplates.ExecuteTemplate(&html, "html", v); err != nil {
		return nil, fmt.Errorf("mail: render html of %s: %w", kind, err)
	}
	return &Message{ID: id, To: to, Subject: t.Subject, Text: text.String(), HTML: html.String()}, nil
}

// formatTime writes t for people of lang, in UTC (the mail cannot know the
// reader's zone, and says so).
func formatTime(t time.Time, lang string) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if lang == "de" {
		return t.Format("02.01.2006, 15:04") + " UTC"
	}
	return t.Format("2 January 2006, 15:04") + " UTC"
}

// Bytes is m as an RFC 5322 message from from, sent at date:
// multipart/alternative with the text part first (what a client shows
// when it does not show HTML) and the HTML part last (preferred).
func (m *Message) Bytes(from *mail.Address, date time.Time) ([]byte, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := []struct{ k, v string }{
		{"From", from.String()},
		{"To", (&mail.Address{Address: m.To}).String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", date.UTC().Format(time.RFC1123Z)},
		{"Message-ID", "<" + m.ID + "@" + domainOf(from.Address) + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/alternative; boundary="` + mw.Boundary() + `"`},
		// Mails of Gatehouse are automatic: no vacation replies to them.
		{"Auto-Submitted", "auto-generated"},
	}
	var head bytes.Buffer
	for _, kv := range h {
		fmt.Fprintf(&head, "%s: %s\r\n", kv.k, kv.v)
	}
	head.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.typ}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, fmt.Errorf("mail part: %w", err)
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n"))); err != nil {
			return nil, fmt.Errorf("mail part: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("mail part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return append(head.Bytes(), buf.Bytes()...), nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "gatehouse.invalid"
}

// view is what the templates see.
type view struct {
	Data
	T             texts
	Lang          string
	Expires, When string
}
