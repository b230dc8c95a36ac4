package telemetry

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRedact: a collector URL loses its user information, query and
// fragment, where credentials may be, and keeps what locates it.
func TestRedact(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://user:pw@collector:4318/v1/traces?api_key=s3cret#frag": "https://collector:4318/v1/traces",
		"http://collector:4318":            "http://collector:4318",
		"http://token@collector/v1/traces": "http://collector/v1/traces",
		"http://[::1]:namedport":           "(unparsable)",
	} {
		if got := redact(raw); got != want {
			t.Errorf("redact(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestSendErrorRedacted: when the collector cannot be reached, the export
// error (which is logged) names the collector without the credentials of
// its URL.
func TestSendErrorRedacted(t *testing.T) {
	t.Parallel()
	e := &exporter{url: "http://alice:pw-s3cret@127.0.0.1:1/v1/traces?api_key=key-s3cret", timeout: time.Second,
		client: &http.Client{Timeout: time.Second}}
	_, err := e.send(context.Background(), []byte("x"))
	if err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	for _, secret := range []string{"alice", "pw-s3cret", "key-s3cret", "api_key"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("export error %q contains %q", err, secret)
		}
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1/v1/traces") {
		t.Errorf("export error %q does not name the collector", err)
	}
}
