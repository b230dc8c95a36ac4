package systemtest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/mail/mailtest"
)

// TestMailOutboxTwoReplicas (issue 14): two replicas on one PostgreSQL
// mail through a real SMTP server on loopback. While the server is down,
// the invitations wait in the outbox (the queued gauge says so); once it
// is back every message arrives, exactly once, though both replicas'
// workers race for them.
func TestMailOutboxTwoReplicas(t *testing.T) {
	smtp := mailtest.Start(t, mailtest.Options{Mode: mailtest.Plain, User: "gatehouse", Password: "smtp password"})
	smtp.Stop()
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte("smtp password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 2, "--smtp-url", "smtp://gatehouse@"+smtp.Addr+"?tls=none", "--smtp-password-file", pwFile,
		"--mail-from", "Gatehouse <noreply@id.example>", "--mail-poll-interval", "50ms", "--mail-backoff", "100ms")

	const n = 12
	for i := range n {
		status, body, err := c.api(i, "POST", "/api/v1/localaccounts/invitation", map[string]any{"email": fmt.Sprintf("p%02d@mail.example", i)})
		if err != nil || status != http.StatusCreated {
			t.Fatalf("invitation %d: %d %s %v", i, status, body, err)
		}
	}
	// Down: nothing can be delivered, and the outbox holds all of them.
	waitMetric(t, c.replicas[1].URL, "gatehouse_mail_queued", n)
	if got := len(smtp.Messages()); got != 0 {
		t.Fatalf("%d messages delivered while the server was down", got)
	}

	smtp.Restart()
	msgs := smtp.Wait(n, 90*time.Second)
	for _, r := range c.replicas {
		waitMetric(t, r.URL, "gatehouse_mail_queued", 0)
	}
	sent := 0
	for _, r := range c.replicas {
		sent += metric(t, r.URL, `gatehouse_mail_sent_total{kind="invite"}`)
	}
	seen := map[string]int{}
	for _, m := range smtp.Messages() {
		seen[m.To[0]]++
		if p := mailtest.Parse(t, m); p.Subject != "You are invited to Gatehouse" {
			t.Errorf("subject %q", p.Subject)
		}
	}
	if len(msgs) < n || len(seen) != n || sent != n || len(smtp.Messages()) != n {
		t.Fatalf("%d messages to %d recipients, %d sent by the replicas; want %d of each", len(smtp.Messages()), len(seen), sent, n)
	}
}

// metric reads one sample of replica base's /metrics (0 if absent).
func metric(t *testing.T, base, name string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return int(v)
}

// waitMetric waits until base's metric name reads want.
func waitMetric(t *testing.T, base, name string, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := metric(t, base, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s = %d, want %d", name, base, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
