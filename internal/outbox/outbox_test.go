package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse/gatehouse/internal/outbox"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

type fixture struct {
	st     *store.Store
	clock  *testenv.Clock
	sealer *secret.Sealer
	queue  *outbox.Queue
	smtp   *mailtest.Server
	sender *mail.Sender
}

func newFixture(t *testing.T, st *store.Store) *fixture {
	t.Helper()
	sealer, err := secret.NewSealer(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, clock: testenv.NewClock(t0), sealer: sealer, smtp: mailtest.Start(t, mailtest.Options{Mode: mailtest.StartTLS})}
	f.queue = &outbox.Queue{Sealer: sealer, NewID: testenv.IDs(), Now: f.clock.Now}
	c, err := mail.ParseURL("smtp://" + f.smtp.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.TLS, c.Timeout = f.smtp.TLS(), 10*time.Second
	if c.From, err = mail.ParseFrom("noreply@id.example.com"); err != nil {
		t.Fatal(err)
	}
	if f.sender, err = mail.NewSender(c); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) worker(st *store.Store, owner string) *outbox.Worker {
	return &outbox.Worker{Store: st, Sealer: f.sealer, Sender: f.sender, Now: f.clock.Now, Owner: owner, Batch: 3}
}

// add queues a reset message for to in a transaction of its own, with a
// link expiring in a day.
func (f *fixture) add(t *testing.T, to string) string {
	t.Helper()
	var id string
	err := f.st.Tx(context.Background(), func(q *store.Q) error {
		var err error
		id, err = f.queue.Add(context.Background(), q, mail.KindReset, "en", to,
			mail.Data{Link: "https://id.example.com/oauth2/v2/password?token=ghpw_" + to, Email: to, Issuer: "https://id.example.com"},
			f.clock.Now().Add(24*time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) get(t *testing.T, id string) *store.OutboxMessage {
	t.Helper()
	m, err := f.st.Read().GetMail(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runOnce(t *testing.T, w *outbox.Worker, want int) {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("RunOnce handled %d messages, want %d", n, want)
	}
}

// TestDeliver: a queued message is sealed at rest, sent once, and then
// holds no link.
func TestDeliver(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		id := f.add(t, "jo@example.com")
		if m := f.get(t, id); m.State != store.OutboxQueued || strings.Contains(m.Body, "ghpw_") || m.Body == "" {
			t.Fatalf("queued row: state %s, body %q (want sealed)", m.State, m.Body)
		}
		// A transaction that rolls back queues nothing.
		boom := errors.New("boom")
		err := f.st.Tx(context.Background(), func(q *store.Q) error {
			if _, err := f.queue.Add(context.Background(), q, mail.KindReset, "en", "rolled@example.com", mail.Data{Email: "rolled@example.com"}, time.Time{}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		metrics, err := outbox.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		w := f.worker(f.st, "a")
		w.Metrics = metrics
		runOnce(t, w, 1)
		runOnce(t, w, 0)
		msgs := f.smtp.Wait(1, 10*time.Second)
		p := mailtest.Parse(t, msgs[0])
		if len(msgs) != 1 || msgs[0].To[0] != "jo@example.com" || !strings.Contains(p.Text, "token=ghpw_jo@example.com") {
			t.Fatalf("delivered %d messages; first to %v:\n%s", len(msgs), msgs[0].To, p.Text)
		}
		m := f.get(t, id)
		if m.State != store.OutboxSent || m.Body != "" || m.Attempts != 1 || !m.DoneAt.Equal(t0) {
			t.Fatalf("sent row: %+v", m)
		}
		if got := testutil.ToFloat64(metrics.SentCounter(mail.KindReset)); got != 1 {
			t.Fatalf("sent metric = %v", got)
		}
		// Pruned once kept long enough, not before.
		if n, err := f.st.Read().PruneMail(context.Background(), t0); err != nil || n != 0 {
			t.Fatalf("early prune: %d, %v", n, err)
		}
		if n, err := f.st.Read().PruneMail(context.Background(), t0.Add(time.Millisecond)); err != nil || n != 1 {
			t.Fatalf("prune: %d, %v", n, err)
		}
	})
}

// TestRetry: while the SMTP server is down the message waits in the
// outbox, retried with exponential backoff (the injected clock decides
// when it is due), and is delivered once the server is back.
func TestRetry(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		reg := prometheus.NewRegistry()
		metrics, err := outbox.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		w := f.worker(f.st, "a")
		w.Metrics = metrics
		f.smtp.Stop()
		id := f.add(t, "jo@example.com")
		runOnce(t, w, 1)
		m := f.get(t, id)
		if m.State != store.OutboxQueued || m.Attempts != 1 || !m.NextAttemptAt.Equal(t0.Add(outbox.DefaultBackoff)) || m.LastError == "" {
			t.Fatalf("after a failure: %+v", m)
		}
		runOnce(t, w, 0) // not due yet
		f.clock.Advance(outbox.DefaultBackoff)
		runOnce(t, w, 1)
		if m = f.get(t, id); m.Attempts != 2 || !m.NextAttemptAt.Equal(t0.Add(3*outbox.DefaultBackoff)) {
			t.Fatalf("after the second failure (backoff doubles): %+v", m)
		}
		st, err := f.st.Read().MailStats(context.Background())
		if err != nil || st.Queued != 1 || !st.OldestQueued.Equal(t0) {
			t.Fatalf("stats %+v, %v", st, err)
		}
		f.smtp.Restart()
		f.clock.Advance(2*outbox.DefaultBackoff - time.Millisecond)
		runOnce(t, w, 0)
		f.clock.Advance(time.Millisecond)
		runOnce(t, w, 1)
		if m = f.get(t, id); m.State != store.OutboxSent || m.Body != "" || m.LastError != "" {
			t.Fatalf("after the server returned: %+v", m)
		}
		if n := len(f.smtp.Wait(1, 10*time.Second)); n != 1 {
			t.Fatalf("delivered %d", n)
		}
	})
}

// TestGiveUp: a permanent refusal, too many attempts or an expired link
// end a message as failed, its body erased.
func TestGiveUp(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		reg := prometheus.NewRegistry()
		metrics, err := outbox.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		w := f.worker(f.st, "a")
		w.Metrics, w.MaxAttempts = metrics, 2
		f.smtp.RejectRecipient("gone@example.com")
		refused := f.add(t, "gone@example.com")
		runOnce(t, w, 1)
		if m := f.get(t, refused); m.State != store.OutboxFailed || m.Body != "" || !strings.Contains(m.LastError, "550") {
			t.Fatalf("refused: %+v", m)
		}

		f.smtp.Stop()
		tooMany := f.add(t, "jo@example.com")
		runOnce(t, w, 1)
		f.clock.Advance(outbox.DefaultBackoff)
		runOnce(t, w, 1)
		if m := f.get(t, tooMany); m.State != store.OutboxFailed || m.Attempts != 2 || m.Body != "" {
			t.Fatalf("too many attempts: %+v", m)
		}

		expired := f.add(t, "late@example.com")
		f.smtp.Restart()
		f.clock.Advance(24 * time.Hour)
		runOnce(t, w, 1)
		if m := f.get(t, expired); m.State != store.OutboxFailed || !strings.Contains(m.LastError, "expired") {
			t.Fatalf("expired: %+v", m)
		}
		if n := len(f.smtp.Messages()); n != 0 {
			t.Fatalf("%d messages delivered, want none", n)
		}
		if got := testutil.ToFloat64(metrics.FailedCounter(mail.KindReset)); got != 3 {
			t.Fatalf("failed metric = %v", got)
		}
	})
}

// TestLease: a claimed message is no other worker's until its lease runs
// out; then the first worker can no longer record an outcome.
func TestLease(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		f := newFixture(t, open(t))
		id := f.add(t, "jo@example.com")
		ctx := context.Background()
		claimed, err := f.st.Read().ClaimMail(ctx, "a", t0, t0.Add(outbox.DefaultLease), 10)
		if err != nil || len(claimed) != 1 || claimed[0].ID != id {
			t.Fatalf("claim: %v, %v", claimed, err)
		}
		b := f.worker(f.st, "b")
		runOnce(t, b, 0)
		f.clock.Advance(outbox.DefaultLease)
		runOnce(t, b, 1)
		if err := f.st.Read().MarkMailSent(ctx, id, "a", f.clock.Now()); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("outcome after the lease passed: %v", err)
		}
		if m := f.get(t, id); m.State != store.OutboxSent || m.LeaseOwner != "b" || m.Attempts != 2 {
			t.Fatalf("row: %+v", m)
		}
	})
}

// TestTwoWorkers: two workers on two connection pools (two replicas) drain
// the outbox concurrently, and every message is sent exactly once.
func TestTwoWorkers(t *testing.T) {
	t.Parallel()
	for _, b := range []struct {
		name string
		open func(t *testing.T) (*store.Store, *store.Store)
	}{
		{"sqlite", func(t *testing.T) (*store.Store, *store.Store) {
			dir := t.TempDir()
			a := openAt(t, "", dir)
			return a, openAt(t, "", dir)
		}},
		{"postgres", func(t *testing.T) (*store.Store, *store.Store) {
			u := testenv.PostgresURL(t)
			return testenv.OpenMigrated(t, u), testenv.OpenMigrated(t, u)
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			stA, stB := b.open(t)
			f := newFixture(t, stA)
			const n = 30
			for i := range n {
				f.add(t, fmt.Sprintf("p%02d@example.com", i))
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for _, w := range []*outbox.Worker{f.worker(stA, "a"), f.worker(stB, "b")} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := w.RunOnce(context.Background())
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			msgs := f.smtp.Wait(n, 30*time.Second)
			seen := map[string]int{}
			for _, m := range msgs {
				seen[m.To[0]]++
			}
			for to, c := range seen {
				if c != 1 {
					t.Errorf("%s got %d messages", to, c)
				}
			}
			if len(msgs) != n || len(seen) != n {
				t.Fatalf("%d messages to %d recipients, want %d each", len(msgs), len(seen), n)
			}
			if st, err := stA.Read().MailStats(context.Background()); err != nil || st.Queued != 0 {
				t.Fatalf("left queued: %+v, %v", st, err)
			}
		})
	}
}

func openAt(t *testing.T, url, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	w := &outbox.Worker{Backoff: time.Second, MaxBackoff: 5 * time.Second}
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 30: 5 * time.Second} {
		if got := w.BackoffAfter(attempts); got != want {
			t.Errorf("BackoffAfter(%d) = %v, want %v", attempts, got, want)
		}
	}
}
