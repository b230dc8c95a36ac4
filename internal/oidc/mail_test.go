package oidc_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/outbox"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// The mail of issue 14, end to end: links mailed through the outbox to a
// real SMTP server on loopback, read back from it and followed.

type mailbox struct {
	smtp   *mailtest.Server
	worker *outbox.Worker
	seen   int
}

// withMail makes env's account service mail through an outbox delivered
// (by deliver, not in the background) to a loopback SMTP server.
func withMail(t *testing.T, env *testenv.Env) *mailbox {
	t.Helper()
	srv := mailtest.Start(t, mailtest.Options{Mode: mailtest.StartTLS, User: "gatehouse", Password: "smtp password"})
	c, err := mail.ParseURL("smtp://gatehouse@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Password, c.TLS, c.Timeout = "smtp password", srv.TLS(), 10*time.Second
	if c.From, err = mail.ParseFrom("Gatehouse <noreply@id.example>"); err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSender(c)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	w := &outbox.Worker{Store: env.Store, Sealer: sealer, Sender: sender, Now: env.OIDCClock.Now, Owner: "test"}
	env.Accounts.Mail = &outbox.Queue{Sealer: sealer, NewID: testenv.IDs(), Now: env.OIDCClock.Now}
	return &mailbox{smtp: srv, worker: w}
}

// deliver runs the outbox and returns the messages that arrived since the
// last call (want of them).
func (mb *mailbox) deliver(t *testing.T, want int) []mailtest.Parsed {
	t.Helper()
	if _, err := mb.worker.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := mb.smtp.Messages()
	if got := len(all) - mb.seen; got != want {
		t.Fatalf("%d new messages, want %d", got, want)
	}
	var out []mailtest.Parsed
	for _, m := range all[mb.seen:] {
		out = append(out, mailtest.Parse(t, m))
	}
	mb.seen = len(all)
	return out
}

var mailedLink = regexp.MustCompile(`https?://\S+token=\S+`)

func linkIn(t *testing.T, p mailtest.Parsed) string {
	t.Helper()
	l := mailedLink.FindString(p.Text)
	if l == "" {
		t.Fatalf("no link in %q:\n%s", p.Subject, p.Text)
	}
	if !strings.Contains(p.HTML, `href="`+strings.ReplaceAll(l, "&", "&amp;")+`"`) {
		t.Fatalf("the HTML part lacks the link %s:\n%s", l, p.HTML)
	}
	return l
}

// forgot asks for a reset of email on the "Forgot password?" page, in
// language lang, and returns the answer.
func forgot(t *testing.T, env *testenv.Env, email, lang string) (int, string) {
	t.Helper()
	b := linkBrowser(env)
	req, _ := http.NewRequest("GET", env.URL+oidc.ForgotPath, nil)
	req.Header.Set("Accept-Language", lang)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("forgot page: %d", resp.StatusCode)
	}
	// The page's policy: the one stylesheet, no script, nothing inline.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("forgot page CSP %q", csp)
	}
	if bad := webui.InlineCode(string(page)); bad != "" {
		t.Errorf("forgot page: inline code %q", bad)
	}
	var csrf string
	for _, c := range b.Jar.Cookies(resp.Request.URL) {
		if strings.HasSuffix(c.Name, "_form") {
			csrf = c.Value
		}
	}
	form := url.Values{"csrf_token": {csrf}, "email": {email}}
	req, _ = http.NewRequest("POST", env.URL+oidc.ForgotPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", lang)
	resp, err = b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMailedLinks(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnvWith(t, open, testenv.Options{EditOIDC: []func(*oidc.Config){func(c *oidc.Config) {
			c.ForgotRate = &ratelimit.Rate{N: 3, Per: time.Hour}
		}}})
		mb := withMail(t, env)
		acme := env.NewTenant("acme", "administrator")
		const jo = "jo@corp.example"
		env.OwnDomain(acme.OrgID, "corp.example")
		addUser(t, env, acme, jo, "active")
		base := "/api/v1/organizations/" + acme.OrgID + "/users/" + userID(t, env, acme, jo)

		// The invitation is mailed in the organization's name; following
		// the mailed link sets the first password, which sends no notice.
		env.Must(http.StatusCreated, "POST", base+"/invitation", acme.Token, nil)
		msgs := mb.deliver(t, 1)
		if msgs[0].Subject != "You are invited to Gatehouse" || !strings.Contains(msgs[0].Text, "acme") || msgs[0].Header.Get("To") != "<"+jo+">" {
			t.Fatalf("invitation: %q to %s\n%s", msgs[0].Subject, msgs[0].Header.Get("To"), msgs[0].Text)
		}
		choosePassword(t, env, linkIn(t, msgs[0]), "jo's first password")
		mb.deliver(t, 0)

		// The login page links to the forgot page.
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		r.openLogin()
		if !strings.Contains(r.page, `id="forgot-password" href="`+oidc.ForgotPath+`"`) {
			t.Fatalf("login page without the forgot link:\n%s", r.page)
		}

		// Forgot password: the same answer for an unknown address; one
		// mail, in the page's language, for the account.
		codeKnown, bodyKnown := forgot(t, env, jo, "de")
		codeUnknown, bodyUnknown := forgot(t, env, "nobody@corp.example", "de")
		if codeKnown != http.StatusOK || codeKnown != codeUnknown || bodyKnown != bodyUnknown {
			t.Fatalf("answers differ: %d / %d\n%s\n%s", codeKnown, codeUnknown, bodyKnown, bodyUnknown)
		}
		// Audited when it wrote (the account's request), not otherwise.
		if n := strings.Count(string(env.Must(http.StatusOK, "GET", "/api/v1/organizations/"+acme.OrgID+"/auditevents", acme.Token, nil).Body), `"requestPasswordReset"`); n != 1 {
			t.Errorf("%d requestPasswordReset audit events, want 1", n)
		}
		msgs = mb.deliver(t, 1)
		if msgs[0].Subject != "Gatehouse-Passwort zurücksetzen" || msgs[0].Header.Get("To") != "<"+jo+">" {
			t.Fatalf("reset mail: %q to %s", msgs[0].Subject, msgs[0].Header.Get("To"))
		}
		link := linkIn(t, msgs[0])
		choosePassword(t, env, link, "jo's second password")
		// Single use.
		if resp, _ := fetch(t, linkBrowser(env), "GET", link, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("used link: %d, want 400", resp.StatusCode)
		}
		tok, code := r.signInAs(jo, "jo's second password")
		if code != http.StatusSeeOther {
			t.Fatalf("sign in with the new password: %d", code)
		}
		// The replaced password is told to its owner, in the language of
		// the page that replaced it (the test's browser asks for none).
		msgs = mb.deliver(t, 1)
		if msgs[0].Subject != "Your Gatehouse password was changed" || strings.Contains(msgs[0].Text, "token=") {
			t.Fatalf("notice: %q\n%s", msgs[0].Subject, msgs[0].Text)
		}
		// So is a password changed by its owner through the API; a refused
		// change sends nothing.
		env.Must(http.StatusBadRequest, "PUT", "/api/v1/account/password", tok.AccessToken,
			map[string]any{"currentPassword": "not the password", "newPassword": "jo's third password"})
		mb.deliver(t, 0)
		env.Must(http.StatusOK, "PUT", "/api/v1/account/password", tok.AccessToken,
			map[string]any{"currentPassword": "jo's second password", "newPassword": "jo's third password"})
		if msgs = mb.deliver(t, 1); msgs[0].Subject != "Your Gatehouse password was changed" {
			t.Fatalf("notice of a change: %q", msgs[0].Subject)
		}

		// Rate limited per client address (3/h here): the fourth is 429, and mails nothing.
		if code, _ := forgot(t, env, "someone@corp.example", "en"); code != http.StatusOK {
			t.Fatalf("third request: %d", code)
		}
		if code, _ := forgot(t, env, jo, "en"); code != http.StatusTooManyRequests {
			t.Fatalf("fourth request: %d, want 429", code)
		}
		mb.deliver(t, 0)

		// A reset link expires.
		env.OIDCClock.Advance(time.Hour) // the buckets refill
		forgot(t, env, jo, "en")
		msgs = mb.deliver(t, 1)
		env.OIDCClock.Advance(account.ResetLifetime + time.Minute)
		if resp, _ := fetch(t, linkBrowser(env), "GET", linkIn(t, msgs[0]), nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("expired link: %d, want 400", resp.StatusCode)
		}

		// A malformed address is said so (it tells nothing of accounts).
		if code, _ := forgot(t, env, "not an address", "en"); code != http.StatusBadRequest {
			t.Fatalf("malformed address: %d", code)
		}
	})
}

// TestForgotWithoutMail: without mail, no link on the login page, and the
// page says to ask an administrator.
func TestForgotWithoutMail(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c, sec := newClient(t, env, nil)
		r := newRP(t, env, c, sec)
		r.openLogin()
		if strings.Contains(r.page, "forgot-password") {
			t.Fatal("login page links to the forgot page without mail")
		}
		resp, body := fetch(t, linkBrowser(env), "GET", env.URL+oidc.ForgotPath, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "administrator") {
			t.Fatalf("forgot page without mail: %d %s", resp.StatusCode, body)
		}
	})
}
