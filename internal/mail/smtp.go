// Package mail sends Gatehouse's email: the SMTP configuration (one URL,
// --smtp-url), a Sender that delivers one message over net/smtp with TLS
// (STARTTLS required unless the URL says otherwise, or implicit TLS), and
// the messages themselves (templates in English and German, text and HTML
// as multipart/alternative). It does not queue: internal/outbox does, and
// calls Sender.Send for each message it delivers.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Security is how a connection to the SMTP server is protected.
type Security string

// The Security modes of an SMTP URL.
const (
	// StartTLS upgrades a plain connection with STARTTLS, and fails if the
	// server does not offer it (smtp://, the default).
	StartTLS Security = "starttls"
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465).
	ImplicitTLS Security = "tls"
	// Plain sends in clear text: only when the URL says so
	// (smtp://host?tls=none), for a relay on loopback or a test server.
	Plain Security = "none"
)

// Config is a parsed --smtp-url with the password and sender added.
type Config struct {
	// Addr is host:port.
	Addr     string
	Host     string
	Security Security
	// Username is the URL's user ("" sends no AUTH).
	Username string
	// Password comes from a file or the environment, never the URL.
	Password string
	// From is the envelope and header sender.
	From *mail.Address
	// TLS is the client TLS configuration (nil: the system roots and
	// Host as the server name). Tests set their CA here.
	TLS *tls.Config
	// Timeout bounds one delivery: connecting, the dialogue and the data.
	Timeout time.Duration
	// HeloName is the name given in EHLO ("" is "localhost").
	HeloName string
}

// ParseURL parses an SMTP URL: smtp://[user@]host[:port][?tls=none] or
// smtps://[user@]host[:port]. A password in the URL is refused: it would
// show wherever the URL does (process lists, `gatehouse config print`);
// give it in a file or the environment.
func ParseURL(raw string) (*Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	c := &Config{Host: u.Hostname()}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		c.Security = StartTLS
		if port == "" {
			port = "587"
		}
	case "smtps":
		c.Security = ImplicitTLS
		if port == "" {
			port = "465"
		}
	default:
		return nil, fmt.Errorf("smtp url: scheme %q: want smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	if c.Host == "" {
		return nil, errors.New("smtp url: no host")
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" {
		return nil, errors.New("smtp url: a path or fragment means nothing here")
	}
	if u.User != nil {
		if _, set := u.User.Password(); set {
			return nil, errors.New("smtp url: holds a password: give it with --smtp-password-file or GATEHOUSE_SMTP_PASSWORD instead")
		}
		c.Username = u.User.Username()
	}
	for k, v := range u.Query() {
		switch {
		case k == "tls" && len(v) == 1 && v[0] == "none" && u.Scheme == "smtp":
			c.Security = Plain
		case k == "tls" && len(v) == 1 && v[0] == "starttls" && u.Scheme == "smtp":
		default:
			return nil, fmt.Errorf("smtp url: unknown parameter %s=%s (only tls=none or tls=starttls, on smtp://)", k, strings.Join(v, ","))
		}
	}
	c.Addr = net.JoinHostPort(c.Host, port)
	return c, nil
}

// ParseFrom parses the sender address (a bare address or "Name <addr>").
func ParseFrom(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("mail from %q: %w", s, err)
	}
	return a, nil
}

// Redact is url with any password replaced, for logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable>"
	}
	if u.User != nil {
		if _, set := u.User.Password(); set {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
	}
	return u.String()
}

// Sender delivers messages to one SMTP server.
type Sender struct {
	cfg Config
	// Dial opens the TCP connection (nil: net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewSender makes a Sender of c (whose From must be set).
func NewSender(c *Config) (*Sender, error) {
	if c.From == nil {
		return nil, errors.New("mail: no sender address (--mail-from)")
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return &Sender{cfg: *c}, nil
}

// From is the sender address.
func (s *Sender) From() *mail.Address { return s.cfg.From }

// PermanentError is an SMTP answer in the 5xx range: retrying the same
// message will not help (an unknown recipient, a refused sender).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

func (s *Sender) tlsConfig() *tls.Config {
	if s.cfg.TLS != nil {
		c := s.cfg.TLS.Clone()
		if c.ServerName == "" {
			c.ServerName = s.cfg.Host
		}
		return c
	}
	return &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
}

// Send delivers msg (a complete RFC 5322 message) to the one recipient to.
// An error wrapped in PermanentError is a 5xx answer; any other may pass
// on a later attempt.
func (s *Sender) Send(ctx context.Context, to string, msg []byte) (err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	dial := s.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("connect to smtp server %s: %w", s.cfg.Addr, err)
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return fmt.Errorf("smtp deadline: %w", err)
	}
	// A cancelled context (shutdown) cuts the dialogue at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.cfg.Security == ImplicitTLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("smtp tls handshake with %s: %w", s.cfg.Addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return classify("smtp greeting", err)
	}
	defer c.Close()
	helo := s.cfg.HeloName
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return classify("smtp EHLO", err)
	}
	if s.cfg.Security == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp server %s does not offer STARTTLS, which smtp:// requires (add ?tls=none to the URL to send in clear text)", s.cfg.Addr)
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("smtp STARTTLS with %s: %w", s.cfg.Addr, err)
		}
	}
	if s.cfg.Username != "" {
		// PlainAuth refuses to send the password over a connection that
		// is neither TLS nor to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			// Never permanent: a wrong or rotated password is the
			// operator's to fix, and the messages should wait for it.
			return fmt.Errorf("smtp AUTH: %w", err)
		}
	}
	if err := c.Mail(s.cfg.From.Address); err != nil {
		return classify("smtp MAIL FROM", err)
	}
	if err := c.Rcpt(to); err != nil {
		return classify("smtp RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return classify("smtp DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp message data: %w", err)
	}
	if err := w.Close(); err != nil {
		return classify("smtp end of data", err)
	}
	// The message is accepted: a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// classify wraps an SMTP error with what was being done, as a
// PermanentError for a 5xx answer.
func classify(step string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 && tp.Code < 600 {
		return &PermanentError{Err: fmt.Errorf("%s: %w", step, err)}
	}
	return fmt.Errorf("%s: %w", step, err)
}
