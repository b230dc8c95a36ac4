package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/outbox"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// mailConfig reads the mail options into an SMTP configuration, or nil
// when no --smtp-url is given (Gatehouse then mails nothing).
func mailConfig(c *config.Mail) (*mail.Config, error) {
	if c.SMTPURL == "" {
		return nil, nil
	}
	mc, err := mail.ParseURL(c.SMTPURL)
	if err != nil {
		return nil, fmt.Errorf("--smtp-url: %w", err)
	}
	if c.MailFrom == "" {
		return nil, errors.New("--mail-from is required with --smtp-url: the address Gatehouse's mail comes from")
	}
	if mc.From, err = mail.ParseFrom(c.MailFrom); err != nil {
		return nil, fmt.Errorf("--mail-from: %w", err)
	}
	switch {
	case c.SMTPPassword != "" && c.SMTPPasswordFile != "":
		return nil, errors.New("give the SMTP password once: --smtp-password (or GATEHOUSE_SMTP_PASSWORD) or --smtp-password-file")
	case c.SMTPPasswordFile != "":
		b, err := os.ReadFile(c.SMTPPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp-password-file: %w", err)
		}
		mc.Password = strings.TrimRight(string(b), "\r\n")
	default:
		mc.Password = c.SMTPPassword
	}
	if mc.Password != "" && mc.Username == "" {
		return nil, errors.New("an SMTP password is given but --smtp-url names no user (smtp://USER@host)")
	}
	return mc, nil
}

// startMail builds the outbox of a serving Gatehouse: the queue the
// account service writes to, and the worker that delivers (its metrics in
// reg), running until the returned stop is called. Without --smtp-url
// both are nil and stop does nothing.
func startMail(ctx context.Context, c *config.Mail, st *store.Store, sealer *secret.Sealer, newID func() string,
	reg prometheus.Registerer, log *slog.Logger) (*outbox.Queue, func(), error) {
	mc, err := mailConfig(c)
	if err != nil {
		return nil, nil, err
	}
	if mc == nil {
		log.Info("mail: no --smtp-url, so nothing is mailed: invitation and password reset links are handed out by the API, the console and `gatehouse admin`, and the sign-in page offers no \"Forgot password?\"")
		return nil, func() {}, nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--mail-retention", c.MailRetention}, {"--mail-poll-interval", c.MailPollInterval}, {"--mail-backoff", c.MailBackoff}} {
		if d.v <= 0 {
			return nil, nil, fmt.Errorf("%s must be positive, got %v", d.name, d.v)
		}
	}
	sender, err := mail.NewSender(mc)
	if err != nil {
		return nil, nil, err
	}
	metrics, err := outbox.NewMetrics(reg)
	if err != nil {
		return nil, nil, fmt.Errorf("mail metrics: %w", err)
	}
	owner := make([]byte, 8)
	if _, err := rand.Read(owner); err != nil {
		return nil, nil, fmt.Errorf("mail worker id: %w", err)
	}
	w := &outbox.Worker{Store: st, Sealer: sealer, Sender: sender, Log: log, Now: time.Now, Owner: hex.EncodeToString(owner),
		Keep: c.MailRetention, Poll: c.MailPollInterval, Backoff: c.MailBackoff, Metrics: metrics}
	q := &outbox.Queue{Sealer: sealer, NewID: newID, Now: time.Now, Wake: w.Wake}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	log.Info("mail: delivering through the outbox", "smtp", mail.Redact(c.SMTPURL), "security", string(mc.Security), "from", mc.From.Address)
	return q, func() { cancel(); <-done }, nil
}
