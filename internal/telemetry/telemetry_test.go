package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/gatehouse/gatehouse/internal/telemetry"
	"github.com/gatehouse/gatehouse/internal/telemetry/otlptest"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestSetupOff: without an endpoint, or when the standard variables turn
// the SDK or the exporter off, Setup installs nothing and spans are not
// recorded.
func TestSetupOff(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"nothing configured": {},
		"sdk disabled":       {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
		"exporter none":      {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"},
	} {
		t.Run(name, func(t *testing.T) {
			shutdown, err := telemetry.Setup(context.Background(), telemetry.Config{Getenv: env(vars)})
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(context.Background())
			if telemetry.Enabled() {
				t.Fatal("tracing on")
			}
			ctx := context.Background()
			got, span := telemetry.Start(ctx, "x", trace.SpanKindInternal)
			if got != ctx || span.IsRecording() {
				t.Fatal("Start made a span with tracing off")
			}
			h := http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
			if telemetry.TraceID(telemetry.Extract(ctx, h)) != "" {
				t.Fatal("Extract read a trace context with tracing off")
			}
		})
	}
}

// TestSetupRefuses: configurations this build cannot honour fail at start
// with the variable named, instead of silently sending nothing.
func TestSetupRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		vars map[string]string
		want string
	}{
		"grpc":                       {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		"other exporter":             {map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		"not a URL":                  {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"}, "http(s) URL"},
		"not http, with credentials": {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://alice:pw-s3cret@c:4318/v1/traces?api_key=key-s3cret"}, "http(s) URL"},
		"bad headers":                {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		"bad timeout":                {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		"bad compression":            {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		"traces protocol":            {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "http/protobuf"},
		"headers not echo":           {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "api-key"}, "key=value"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := telemetry.Setup(context.Background(), telemetry.Config{Getenv: env(tc.vars)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
			for _, secret := range []string{"alice", "pw-s3cret", "key-s3cret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err = %v: it quotes the endpoint's credentials", err)
				}
			}
			if telemetry.Enabled() {
				t.Fatal("tracing on after a refused configuration")
			}
		})
	}
}

// TestExport runs the whole path against a real OTLP/HTTP receiver: a
// server span continuing an incoming traceparent, an internal child with an
// error, and a client span whose traceparent reaches the called server;
// the receiver decodes the protocol's ExportTraceServiceRequest. Each case
// configures the endpoint another way (flag, base or traces variable, with
// gzip and headers).
func TestExport(t *testing.T) {
	for name, tc := range map[string]struct {
		flag bool
		vars func(base string) map[string]string
		gzip bool
	}{
		"flag": {flag: true, vars: func(string) map[string]string { return map[string]string{} }},
		"base variable, gzip and headers": {gzip: true, vars: func(base string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
				"OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s%20ecret,x-tenant=a", "OTEL_SERVICE_NAME": "gh-test", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,service.name=overridden"}
		}},
		"traces variable": {vars: func(base string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": base + "/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			rcv := otlptest.Start(t)
			cfg := telemetry.Config{Getenv: env(tc.vars(rcv.URL)), ServiceVersion: "v9.9.9"}
			if tc.flag {
				cfg.Endpoint = rcv.URL + "/"
			}
			shutdown, err := telemetry.Setup(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !telemetry.Enabled() {
				t.Fatal("tracing off")
			}

			var sentParent string
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sentParent = r.Header.Get("Traceparent")
				w.WriteHeader(http.StatusBadGateway)
			}))
			defer upstream.Close()

			const incomingTrace, incomingSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
			ctx := telemetry.Extract(context.Background(), http.Header{"Traceparent": {"00-" + incomingTrace + "-" + incomingSpan + "-01"}})
			ctx, server := telemetry.Start(ctx, "POST /oauth2/v2/token", trace.SpanKindServer)
			server.SetAttributes(attribute.Int("http.response.status_code", 200), attribute.Bool("flag", true),
				attribute.StringSlice("list", []string{"a", "b"}))
			if telemetry.TraceID(ctx) != incomingTrace {
				t.Fatalf("TraceID = %q, want the incoming %s", telemetry.TraceID(ctx), incomingTrace)
			}
			_, child := telemetry.Start(ctx, "db.transaction", trace.SpanKindInternal)
			telemetry.End(child, fmt.Errorf("create user alice@example.com: %w", errors.New("invalid email address")))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, upstream.URL+"/token?code=secret", nil)
			resp, err := (&http.Client{Transport: telemetry.Transport(nil)}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if req.Header.Get("Traceparent") != "" {
				t.Fatal("Transport changed the caller's request")
			}
			server.End()
			if err := shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if telemetry.Enabled() {
				t.Fatal("tracing still on after shutdown")
			}

			spans := map[string]otlptest.Span{}
			for _, s := range rcv.Spans() {
				spans[s.Name] = s
			}
			if len(spans) != 3 {
				t.Fatalf("received %d distinct spans, want 3: %v", len(spans), rcv.Spans())
			}
			srv, db, cl := spans["POST /oauth2/v2/token"], spans["db.transaction"], spans["HTTP GET"]
			for _, s := range []otlptest.Span{srv, db, cl} {
				if s.TraceID() != incomingTrace {
					t.Errorf("span %q in trace %s, want %s", s.Name, s.TraceID(), incomingTrace)
				}
				if s.Scope != telemetry.ScopeName {
					t.Errorf("span %q scope %q", s.Name, s.Scope)
				}
			}
			if srv.ParentID() != incomingSpan || srv.Kind != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("server span parent %s kind %v, want the incoming %s, server", srv.ParentID(), srv.Kind, incomingSpan)
			}
			if srv.Flags&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) == 0 {
				t.Error("server span's parent not marked remote")
			}
			if srv.Attr("http.response.status_code") != "200" || srv.Attr("flag") != "true" || !strings.Contains(srv.Attr("list"), `"b"`) {
				t.Errorf("server span attributes %v", srv.Attributes)
			}
			if db.ParentID() != srv.ID() || db.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || db.Status.GetMessage() != "*errors.errorString" {
				t.Errorf("db span parent %s status %v, want child of %s with the error's kind (not its message)", db.ParentID(), db.Status, srv.ID())
			}
			if cl.ParentID() != srv.ID() || cl.Kind != tracepb.Span_SPAN_KIND_CLIENT || cl.Attr("http.response.status_code") != "502" ||
				cl.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("client span %v", cl.Span)
			}
			if got := cl.Attr("url.full"); got != upstream.URL+"/token" {
				t.Errorf("client span url.full %q: want the URL without its query", got)
			}
			if want := "00-" + incomingTrace + "-" + cl.ID() + "-01"; sentParent != want {
				t.Errorf("upstream got traceparent %q, want %q", sentParent, want)
			}
			wantService := "gatehouse"
			if tc.vars("")["OTEL_SERVICE_NAME"] != "" {
				wantService = "gh-test"
			}
			if srv.Resource["service.name"] != wantService || srv.Resource["service.version"] != "v9.9.9" ||
				(tc.gzip && srv.Resource["deployment.environment"] != "ci") {
				t.Errorf("resource %v", srv.Resource)
			}
			for _, r := range rcv.Requests() {
				if tc.gzip && r.Header.Get("Content-Encoding") != "gzip" {
					t.Error("export not gzip-compressed")
				}
				if tc.gzip && (r.Header.Get("X-Api-Key") != "s ecret" || r.Header.Get("X-Tenant") != "a") {
					t.Errorf("export headers %v", r.Header)
				}
			}
		})
	}
}

// TestErrorKind: a span's error status names the error's class, never its
// message (which may carry an email address or a userName).
func TestErrorKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("tx: %w", context.DeadlineExceeded), "context.DeadlineExceeded"},
		{fmt.Errorf("tx: %w", context.Canceled), "context.Canceled"},
		{fmt.Errorf("user bob@example.com: %w", errors.New("invalid email address bob@example.com")), "*errors.errorString"},
		{fmt.Errorf("dial: %w", &net.AddrError{Err: "bad", Addr: "alice@example.com"}), "*net.AddrError"},
		{errors.Join(errors.New("a@example.com"), errors.New("b")), "*errors.joinError"},
	} {
		got := telemetry.ErrorKind(tc.err)
		if got != tc.want || strings.Contains(got, "@") {
			t.Errorf("ErrorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestClientSpanError: a failed outgoing request's span records the
// error's kind, not its text.
func TestClientSpanError(t *testing.T) {
	rcv := otlptest.Start(t)
	shutdown, err := telemetry.Setup(context.Background(), telemetry.Config{Getenv: env(map[string]string{}), Endpoint: rcv.URL})
	if err != nil {
		t.Fatal(err)
	}
	failing := roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("upstream refused alice@example.com")
	})
	req, _ := http.NewRequest(http.MethodGet, "http://upstream.example/token?code=secret", nil)
	if _, err := (&http.Client{Transport: telemetry.Transport(failing)}).Do(req); err == nil {
		t.Fatal("request succeeded")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Spans()
	if len(spans) != 1 || spans[0].Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || spans[0].Status.GetMessage() != "*errors.errorString" {
		t.Fatalf("spans %v, want one client span with the error's kind", spans)
	}
}

// roundTripFunc is a RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
