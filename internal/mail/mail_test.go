package mail_test

import (
	"context"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/mail/mailtest"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, addr, user, err string
		sec                  mail.Security
	}{
		{url: "smtp://mail.example.com", addr: "mail.example.com:587", sec: mail.StartTLS},
		{url: "smtp://bob@mail.example.com:2525", addr: "mail.example.com:2525", user: "bob", sec: mail.StartTLS},
		{url: "smtp://mail.example.com?tls=starttls", addr: "mail.example.com:587", sec: mail.StartTLS},
		{url: "smtp://127.0.0.1:1025?tls=none", addr: "127.0.0.1:1025", sec: mail.Plain},
		{url: "smtps://bob%40example.com@mail.example.com", addr: "mail.example.com:465", user: "bob@example.com", sec: mail.ImplicitTLS},
		{url: "smtps://[::1]:4650", addr: "[::1]:4650", sec: mail.ImplicitTLS},
		{url: "smtp://bob:hunter2@mail.example.com", err: "holds a password"},
		{url: "smtps://mail.example.com?tls=none", err: "unknown parameter"},
		{url: "smtp://mail.example.com?insecure=1", err: "unknown parameter"},
		{url: "http://mail.example.com", err: "scheme"},
		{url: "smtp://", err: "no host"},
		{url: "smtp://mail.example.com/x", err: "path"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			c, err := mail.ParseURL(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Addr != tc.addr || c.Username != tc.user || c.Security != tc.sec {
				t.Fatalf("got %+v", c)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	if got := mail.Redact("smtp://bob:hunter2@mail.example.com"); strings.Contains(got, "hunter2") {
		t.Fatalf("Redact kept the password: %s", got)
	}
}

func message(t *testing.T, kind, lang string) *mail.Message {
	t.Helper()
	m, err := mail.Render("0001", kind, lang, "jo@example.com", mail.Data{Link: "https://id.example.com/oauth2/v2/password?token=ghpw_abc&x=<y>",
		ExpiresAt: time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC), Email: "jo@example.com", Organization: "Acme <b>", Issuer: "https://id.example.com",
		At: time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRender(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"en", "de", "de-CH", "fr"} {
		for _, kind := range mail.Kinds {
			t.Run(lang+"/"+kind, func(t *testing.T) {
				t.Parallel()
				m := message(t, kind, lang)
				if m.Subject == "" || !strings.Contains(m.Text, "jo@example.com") || !strings.Contains(m.HTML, "jo@example.com") {
					t.Fatalf("message lacks subject or address:\n%s\n%s", m.Text, m.HTML)
				}
				// Organization names are escaped in HTML, not in text.
				if strings.Contains(m.HTML, "Acme <b>") || !strings.Contains(m.HTML, "Acme &lt;b&gt;") || !strings.Contains(m.Text, "Acme <b>") {
					t.Fatalf("organization name not escaped in HTML (or mangled in text):\n%s", m.HTML)
				}
				// No remote content: nothing is fetched when the mail is opened.
				for _, bad := range []string{"<img", "src=", "url(", "<link", "<script"} {
					if strings.Contains(m.HTML, bad) {
						t.Fatalf("HTML part holds %q", bad)
					}
				}
				hasLink := kind != mail.KindPasswordChanged
				if strings.Contains(m.Text, "token=ghpw_abc") != hasLink || strings.Contains(m.HTML, "token=ghpw_abc") != hasLink {
					t.Fatalf("link shown = %v, want %v", !hasLink, hasLink)
				}
			})
		}
	}
	if en, de := message(t, mail.KindReset, "en"), message(t, mail.KindReset, "de"); en.Subject == de.Subject ||
		!strings.Contains(de.Text, "08.12.2026, 10:00 UTC") || !strings.Contains(en.Text, "8 December 2026, 10:00 UTC") {
		t.Fatalf("languages: %q / %q\n%s\n%s", en.Subject, de.Subject, en.Text, de.Text)
	}
	if _, err := mail.Render("1", "nonsense", "en", "jo@example.com", mail.Data{}); err == nil {
		t.Fatal("unknown kind rendered")
	}
}

// TestSend delivers through a real SMTP server on loopback in every mode,
// and reads the message back.
func TestSend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   mailtest.Options
		scheme string
		query  string
		user   string
		pass   string
		err    string
	}{
		{name: "starttls with auth", opts: mailtest.Options{Mode: mailtest.StartTLS, User: "gh", Password: "s3cret"}, scheme: "smtp", user: "gh", pass: "s3cret"},
		{name: "implicit tls with auth", opts: mailtest.Options{Mode: mailtest.ImplicitTLS, User: "gh", Password: "s3cret"}, scheme: "smtps", user: "gh", pass: "s3cret"},
		{name: "clear text when the URL says so", opts: mailtest.Options{Mode: mailtest.Plain}, scheme: "smtp", query: "?tls=none"},
		{name: "starttls required", opts: mailtest.Options{Mode: mailtest.Plain}, scheme: "smtp", err: "does not offer STARTTLS"},
		{name: "wrong password", opts: mailtest.Options{Mode: mailtest.StartTLS, User: "gh", Password: "s3cret"}, scheme: "smtp", user: "gh", pass: "nope", err: "AUTH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mailtest.Start(t, tc.opts)
			u := tc.scheme + "://"
			if tc.user != "" {
				u += tc.user + "@"
			}
			c, err := mail.ParseURL(u + srv.Addr + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			c.Password, c.TLS, c.Timeout = tc.pass, srv.TLS(), 10*time.Second
			if c.From, err = mail.ParseFrom("Gatehouse <noreply@id.example.com>"); err != nil {
				t.Fatal(err)
			}
			s, err := mail.NewSender(c)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := message(t, mail.KindReset, "de").Bytes(c.From, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), "jo@example.com", raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if len(srv.Messages()) != 0 {
					t.Fatal("a message was accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := srv.Wait(1, 10*time.Second)[0]
			if got.From != "noreply@id.example.com" || len(got.To) != 1 || got.To[0] != "jo@example.com" {
				t.Fatalf("envelope %s → %v", got.From, got.To)
			}
			p := mailtest.Parse(t, got)
			if p.Subject != "Gatehouse-Passwort zurücksetzen" || !strings.Contains(p.Text, "token=ghpw_abc") || !strings.Contains(p.HTML, `href="https://id.example.com/oauth2/v2/password?token=ghpw_abc`) {
				t.Fatalf("message read back: %q\n%s\n%s", p.Subject, p.Text, p.HTML)
			}
			if p.Header.Get("Auto-Submitted") != "auto-generated" || !strings.HasSuffix(p.Header.Get("Message-ID"), "@id.example.com>") {
				t.Fatalf("headers: %v", p.Header)
			}
		})
	}
}

// TestSendPermanent: a 5xx answer is a PermanentError (no retry helps); a
// server that is down is not.
func TestSendPermanent(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Mode: mailtest.Plain})
	srv.RejectRecipient("gone@example.com")
	c, err := mail.ParseURL("smtp://" + srv.Addr + "?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	c.From = &mailAddr
	s, err := mail.NewSender(c)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := message(t, mail.KindInvite, "en").Bytes(c.From, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), "gone@example.com", raw); !mail.IsPermanent(err) {
		t.Fatalf("rejected recipient: err = %v, want permanent", err)
	}
	// A refused password is the operator's to fix: the message waits.
	authSrv := mailtest.Start(t, mailtest.Options{Mode: mailtest.Plain, User: "gh", Password: "right"})
	ac, err := mail.ParseURL("smtp://gh@" + authSrv.Addr + "?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	ac.From, ac.Password = &mailAddr, "wrong"
	as, err := mail.NewSender(ac)
	if err != nil {
		t.Fatal(err)
	}
	if err := as.Send(context.Background(), "jo@example.com", raw); err == nil || mail.IsPermanent(err) {
		t.Fatalf("refused password: err = %v, want a transient error", err)
	}
	srv.Stop()
	if err := s.Send(context.Background(), "jo@example.com", raw); err == nil || mail.IsPermanent(err) {
		t.Fatalf("server down: err = %v, want a transient error", err)
	}
}

var mailAddr = mustFrom("noreply@id.example.com")

func mustFrom(s string) netmail.Address {
	a, err := mail.ParseFrom(s)
	if err != nil {
		panic(err)
	}
	return *a
}
