package oidc_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/telemetry"
	"github.com/gatehouse/gatehouse/internal/telemetry/otlptest"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// lockedBuffer collects the server's log lines, written from its request
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTracing: with tracing on, a client_credentials token request that
// arrives with a W3C traceparent is traced end to end, and the spans reach a
// real OTLP/HTTP receiver: the server span continues the caller's trace
// (same trace ID, the caller's span as parent) and is named after the
// endpoint, the OpenID Connect library's spans and the database's hang
// under it, and the request's log line carries the trace ID. Not parallel:
// the tracer provider is process-wide.
func TestTracing(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		logs := &lockedBuffer{}
		env := newEnvWith(t, open, testenv.Options{Log: logs})
		c, sec := newClient(t, env, func(s *client.Spec) {
			s.Name = "svc"
			s.GrantTypes = []string{client.GrantClientCredentials}
			s.RedirectURIs, s.PostLogoutRedirectURIs, s.Scopes = nil, nil, []string{"read"}
		})

		rcv := otlptest.Start(t)
		shutdown, err := telemetry.Setup(context.Background(), telemetry.Config{
			Endpoint: rcv.URL, ServiceVersion: "test", Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = shutdown(context.Background()) })

		const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		// A probe is not traced, even with a traceparent.
		const probeTrace = "5bf92f3577b34da6a3ce929d0e0e4736"
		probe, _ := http.NewRequest("GET", env.URL+"/readyz", nil)
		probe.Header.Set("Traceparent", "00-"+probeTrace+"-"+callerSpan+"-01")
		if resp, err := env.Client.Do(probe); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("readyz: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		req, _ := http.NewRequest("POST", env.URL+oidc.TokenPath,
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
		req.SetBasicAuth(c.ID, sec)
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token request: %d", resp.StatusCode)
		}
		// Shutting down flushes every queued span to the receiver.
		if err := shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}

		byID := map[string]otlptest.Span{}
		var server otlptest.Span
		for _, s := range rcv.Spans() {
			if s.TraceID() == probeTrace {
				t.Errorf("the probe was traced: span %q", s.Name)
			}
			if s.TraceID() != callerTrace {
				continue // another request of the set-up, in its own trace
			}
			byID[s.ID()] = s
			if s.Name == "POST "+oidc.TokenPath {
				server = s
			}
		}
		if server.Span == nil {
			t.Fatalf("no server span POST %s in the caller's trace; received %d spans", oidc.TokenPath, len(rcv.Spans()))
		}
		if server.ParentID() != callerSpan || server.Kind != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("server span: parent %s kind %v, want the caller's span %s, server", server.ParentID(), server.Kind, callerSpan)
		}
		for k, want := range map[string]string{"http.request.method": "POST", "url.path": oidc.TokenPath,
			"http.route": oidc.TokenPath, "http.response.status_code": "200"} {
			if got := server.Attr(k); got != want {
				t.Errorf("server span %s = %q, want %q", k, got, want)
			}
		}
		if server.Resource["service.name"] != "gatehouse" {
			t.Errorf("resource %v", server.Resource)
		}
		// under reports whether s descends from the server span.
		under := func(s otlptest.Span) bool {
			for i := 0; i < 50 && s.Span != nil; i++ {
				if s.ParentID() == server.ID() {
					return true
				}
				s = byID[s.ParentID()]
			}
			return false
		}
		wantDB := map[store.Dialect]string{store.SQLite: "sqlite", store.Postgres: "postgresql"}[env.Store.Dialect()]
		var db, library bool
		for _, s := range byID {
			if s.ID() == server.ID() {
				continue
			}
			if !under(s) {
				t.Errorf("span %q (parent %s) is not under the server span %s", s.Name, s.ParentID(), server.ID())
			}
			if sys := s.Attr("db.system.name"); sys != "" {
				db = true
				if sys != wantDB || s.Kind != tracepb.Span_SPAN_KIND_CLIENT {
					t.Errorf("database span %q: system %q kind %v, want %s, client", s.Name, sys, s.Kind, wantDB)
				}
			}
			if strings.HasPrefix(s.Scope, "github.com/zitadel/oidc") {
				library = true
			}
		}
		if !db || !library {
			t.Errorf("want database spans (%v) and the OIDC library's (%v) under the server span; got %v", db, library, names(byID))
		}
		var logged bool
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "msg=request") && strings.Contains(line, "path="+oidc.TokenPath) {
				logged = true
				if !strings.Contains(line, "trace_id="+callerTrace) {
					t.Errorf("request log line without the trace ID: %s", line)
				}
			}
		}
		if !logged {
			t.Error("no request log line for the token request")
		}
	})
}

func names(spans map[string]otlptest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
