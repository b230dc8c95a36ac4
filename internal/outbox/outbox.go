// Package outbox delivers Gatehouse's email reliably (issue 14): a message
// is a row of the store's mail_outbox, written by Queue.Add in the
// transaction of the event that causes it, so it exists exactly when the
// event committed; a Worker in every replica claims due rows with a lease,
// renders and sends them (internal/mail), and records the outcome:
// sent (the body erased), retried later with exponential backoff, or given
// up (a permanent SMTP refusal, too many attempts, or a link that expired
// meanwhile; the body erased). Sent and failed rows are pruned after a
// while. Metrics (queued, sent, failed, oldest queued age) go to the
// server's Prometheus registry.
//
// The message data holds bearer links, so a row's body is sealed with the
// encryption key (internal/secret), bound to the row's ID, and erased as
// soon as the row is done with.
//
// Delivery is at most once per lease: two workers never hold a row at the
// same time, and a worker records an outcome only while its lease holds.
// A replica that dies (or loses the database) after the SMTP server
// accepted a message but before it recorded so leaves the row to be sent
// again when the lease runs out:
// SMTP offers nothing better, and the lease (Worker.Lease) is much longer
// than a delivery may take (mail.Config.Timeout), so only a crash at that
// moment duplicates a message.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"time"

	gmail "github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Queue writes messages into the outbox.
type Queue struct {
	Sealer *secret.Sealer
	NewID  func() string
	Now    func() time.Time
	// Wake, if set, hears that a message was queued (after the commit:
	// the caller calls it), so the local worker sends it without waiting
	// for its next poll.
	Wake func()
}

// aad binds a sealed body to its row.
func aad(id string) string { return "mail_outbox:" + id }

// Add queues the message kind in lang for to with data, in q (the event's
// transaction). expires is when its link stops working (zero: never):
// past it the message is dropped instead of sent. It returns the
// message's ID.
func (o *Queue) Add(ctx context.Context, q *store.Q, kind, lang, to string, data gmail.Data, expires time.Time) (string, error) {
	if o.Sealer == nil {
		return "", errors.New("outbox: no encryption key to seal messages with")
	}
	if _, err := mail.ParseAddress(to); err != nil {
		return "", fmt.Errorf("outbox: recipient %q: %w", to, err)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("outbox: encode message: %w", err)
	}
	id := o.NewID()
	now := o.Now().UTC()
	m := &store.OutboxMessage{ID: id, Kind: kind, Recipient: to, Lang: gmail.Lang(lang), Body: o.Sealer.Seal(string(b), aad(id)),
		NextAttemptAt: now, CreatedAt: now, ExpiresAt: expires}
	if err := q.EnqueueMail(ctx, m); err != nil {
		return "", err
	}
	return id, nil
}

// Poke tells the local worker that a message was queued (call it after the
// transaction committed).
func (o *Queue) Poke() {
	if o != nil && o.Wake != nil {
		o.Wake()
	}
}

// Open reads the data of a claimed message.
func Open(s *secret.Sealer, m *store.OutboxMessage) (gmail.Data, error) {
	var d gmail.Data
	plain, err := s.Open(m.Body, aad(m.ID))
	if err != nil {
		return d, fmt.Errorf("outbox: open message %s: %w", m.ID, err)
	}
	if err := json.Unmarshal([]byte(plain), &d); err != nil {
		return d, fmt.Errorf("outbox: decode message %s: %w", m.ID, err)
	}
	return d, nil
}

// Sender delivers one rendered message (mail.Sender).
type Sender interface {
	Send(ctx context.Context, to string, msg []byte) error
	From() *mail.Address
}

// Worker delivers the outbox's messages.
type Worker struct {
	Store  *store.Store
	Sealer *secret.Sealer
	Sender Sender
	Log    *slog.Logger
	Now    func() time.Time
	// Owner identifies this worker's leases (random per process).
	Owner string
	// Poll is how often the worker looks for due messages (besides a
	// Wake); Lease how long a claim holds; Batch how many a claim takes.
	Poll, Lease time.Duration
	Batch       int
	// MaxAttempts gives up on a message after so many failed attempts.
	MaxAttempts int
	// Backoff is the wait after the first failure, doubled after each
	// further one up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Keep is how long sent and failed messages stay (their metadata
	// only: the body is erased when they are done) before pruning.
	Keep time.Duration
	// Metrics, if set, are updated as messages are sent and failed.
	Metrics *Metrics

	wake chan struct{}
}

// Defaults of a Worker's settings.
const (
	DefaultPoll        = 5 * time.Second
	DefaultLease       = 5 * time.Minute
	DefaultBatch       = 10
	DefaultMaxAttempts = 12
	DefaultBackoff     = 30 * time.Second
	DefaultMaxBackoff  = time.Hour
	DefaultKeep        = 7 * 24 * time.Hour
)

func (w *Worker) defaults() {
	if w.Poll <= 0 {
		w.Poll = DefaultPoll
	}
	if w.Lease <= 0 {
		w.Lease = DefaultLease
	}
	if w.Batch <= 0 {
		w.Batch = DefaultBatch
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = DefaultMaxAttempts
	}
	if w.Backoff <= 0 {
		w.Backoff = DefaultBackoff
	}
	if w.MaxBackoff <= 0 {
		w.MaxBackoff = DefaultMaxBackoff
	}
	if w.Keep <= 0 {
		w.Keep = DefaultKeep
	}
	if w.wake == nil {
		w.wake = make(chan struct{}, 1)
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
}

// Wake makes the worker look for due messages now. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// BackoffAfter is the wait after the attempts-th failed attempt.
func (w *Worker) BackoffAfter(attempts int) time.Duration {
	d := w.Backoff
	for i := 1; i < attempts && d < w.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, w.MaxBackoff)
}

// Run delivers until ctx ends: at once, then at every Poll or Wake, and
// prunes done messages hourly. Failures of the database are logged and
// retried at the next poll.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	poll := time.NewTicker(w.Poll)
	defer poll.Stop()
	w.prune(ctx)
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.Log.Warn("mail outbox: delivery round failed; retrying at the next poll", "error", err)
		}
		w.refreshStats(ctx)
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-w.wake:
		case <-prune.C:
			w.prune(ctx)
		}
	}
}

func (w *Worker) prune(ctx context.Context) {
	var n int64
	err := w.Store.Tx(ctx, func(q *store.Q) error {
		var err error
		n, err = q.PruneMail(ctx, w.Now().Add(-w.Keep))
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			w.Log.Warn("mail outbox: prune failed", "error", err)
		}
		return
	}
	if n > 0 {
		w.Log.Info("mail outbox: pruned done messages", "count", n, "older_than", w.Keep.String())
	}
}

func (w *Worker) refreshStats(ctx context.Context) {
	if w.Metrics == nil {
		return
	}
	st, err := w.Store.Read().MailStats(ctx)
	if err != nil {
		return
	}
	w.Metrics.setStats(st, w.Now())
}

// RunOnce claims the due messages, a batch at a time, and delivers them;
// it returns how many it handled (sent, retried or given up).
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.defaults()
	handled := 0
	for ctx.Err() == nil {
		now := w.Now().UTC()
		var batch []*store.OutboxMessage
		err := w.Store.Tx(ctx, func(q *store.Q) error {
			var err error
			batch, err = q.ClaimMail(ctx, w.Owner, now, now.Add(w.Lease), w.Batch)
			return err
		})
		if err != nil {
			return handled, err
		}
		for _, m := range batch {
			if err := w.deliver(ctx, m); err != nil {
				return handled, err
			}
			handled++
		}
		if len(batch) < w.Batch {
			return handled, nil
		}
	}
	return handled, ctx.Err()
}

// deliver sends claimed message m and records the outcome; the error is a
// database failure (a failed delivery is an outcome).
func (w *Worker) deliver(ctx context.Context, m *store.OutboxMessage) error {
	now := w.Now().UTC()
	// Each outcome is one write of its own (the message was claimed in
	// an earlier one, and the SMTP dialogue runs between them outside any
	// transaction).
	record := func(f func(q *store.Q) error) error { return ignoreLost(w.Store.Tx(ctx, f)) }
	giveUp := func(reason string) error {
		w.Log.Warn("mail outbox: message given up", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "reason", reason)
		w.Metrics.failed(m.Kind)
		return record(func(q *store.Q) error { return q.FailMail(ctx, m.ID, w.Owner, reason, now) })
	}
	if !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt) {
		return giveUp("its link expired before it could be delivered")
	}
	data, err := Open(w.Sealer, m)
	if err != nil {
		return giveUp(err.Error())
	}
	msg, err := gmail.Render(m.ID, m.Kind, m.Lang, m.Recipient, data)
	if err != nil {
		return giveUp(err.Error())
	}
	raw, err := msg.Bytes(w.Sender.From(), now)
	if err != nil {
		return giveUp(err.Error())
	}
	err = w.Sender.Send(ctx, m.Recipient, raw)
	now = w.Now().UTC()
	switch {
	case err == nil:
		w.Log.Info("mail sent", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts)
		w.Metrics.sent(m.Kind)
		return record(func(q *store.Q) error { return q.MarkMailSent(ctx, m.ID, w.Owner, now) })
	case gmail.IsPermanent(err):
		return giveUp(err.Error())
	case m.Attempts >= w.MaxAttempts:
		return giveUp(fmt.Sprintf("%d attempts failed, the last: %v", m.Attempts, err))
	case ctx.Err() != nil:
		// Shutting down: the lease runs out and another replica (or
		// this one, restarted) tries again; nothing to record.
		return ctx.Err()
	default:
		next := now.Add(w.BackoffAfter(m.Attempts))
		w.Log.Warn("mail delivery failed; will retry", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "next_attempt", next, "error", err)
		return record(func(q *store.Q) error { return q.RetryMail(ctx, m.ID, w.Owner, err.Error(), next) })
	}
}

// ignoreLost: a lease lost to another worker (this one stalled past it)
// leaves the outcome to that one.
func ignoreLost(err error) error {
	if errors.Is(err, store.ErrLeaseLost) {
		return nil
	}
	return err
}
