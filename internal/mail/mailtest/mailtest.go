// Package mailtest runs a real SMTP server on loopback for tests
// (github.com/emersion/go-smtp): STARTTLS, implicit TLS or clear text,
// optional PLAIN authentication, and every accepted message kept for the
// test to read. It can be stopped and started again on the same port, to
// test what Gatehouse does while its SMTP server is down.
package mailtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gatehouse/gatehouse/internal/testenv"
)

// Mode is how the server protects connections.
type Mode int

// The Modes of a Server.
const (
	// StartTLS offers STARTTLS on a plain connection.
	StartTLS Mode = iota
	// ImplicitTLS speaks TLS from the first byte.
	ImplicitTLS
	// Plain offers no TLS.
	Plain
)

// Options shape a Server.
type Options struct {
	Mode Mode
	// User and Password, if set, are required (AUTH PLAIN).
	User, Password string
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Raw  []byte
}

// Server is a running SMTP server.
type Server struct {
	t    testing.TB
	opts Options
	// Addr is host:port on loopback.
	Addr string
	// Roots trust the server's certificate.
	Roots *x509.CertPool
	cert  tls.Certificate

	mu       sync.Mutex
	msgs     []Message
	arrived  chan struct{}
	srv      *smtp.Server
	ln       net.Listener
	rejectTo map[string]bool
}

// Start starts a server; it stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ca := testenv.NewCA(t, "mailtest CA", nil, testenv.CertOptions{})
	s := &Server{t: t, opts: o, Roots: ca.Pool, arrived: make(chan struct{}, 1000), rejectTo: map[string]bool{},
		cert: ca.Issue(t, testenv.CertOptions{DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
			EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// TLS is a client TLS configuration trusting the server.
func (s *Server) TLS() *tls.Config {
	return &tls.Config{RootCAs: s.Roots, MinVersion: tls.VersionTLS12}
}

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	// A relay on loopback may take a password in clear text (smtp://...?tls=none).
	srv.AllowInsecureAuth = s.opts.Mode == Plain
	if s.opts.Mode != Plain {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	}
	if s.opts.Mode == ImplicitTLS {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the server (connections fail until Restart).
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	// Closing the listener too: Serve may not have registered it with the
	// server yet, and then Close alone would leave it accepting.
	if ln != nil {
		_ = ln.Close()
	}
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart listens again on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	var (
		ln  net.Listener
		err error
	)
	// The port was just ours; a moment may pass before it is free.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("restart smtp server on %s: %v", s.Addr, err)
	}
	s.serve(ln)
}

// RejectRecipient makes RCPT TO addr fail with a permanent 550.
func (s *Server) RejectRecipient(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectTo[strings.ToLower(addr)] = true
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits for n messages in all (failing the test after timeout).
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			s.t.Fatalf("smtp server: want %d messages, got %d after %v", n, len(s.Messages()), timeout)
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	reject := ss.s.rejectTo[strings.ToLower(to)]
	ss.s.mu.Unlock()
	if reject {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, To: ss.to, Raw: raw})
	ss.s.mu.Unlock()
	select {
	case ss.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// Parsed is a message read back: headers, and its text and HTML parts.
type Parsed struct {
	Header     mail.Header
	Subject    string
	Text, HTML string
}

// Parse reads m as the multipart/alternative message Gatehouse sends.
func Parse(t testing.TB, m Message) Parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	p := Parsed{Header: msg.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: want multipart/alternative (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatalf("part body: %v", err)
		}
		switch ct := part.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			p.Text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case strings.HasPrefix(ct, "text/html"):
			p.HTML = strings.ReplaceAll(string(body), "\r\n", "\n")
		}
	}
	return p
}
