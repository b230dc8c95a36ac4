// Package telemetry is Gatehouse's OpenTelemetry tracing: off by default, on
// when an OTLP endpoint is configured (--otlp-endpoint, or the standard
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// variables). When on, spans are batched and sent over OTLP/HTTP in protobuf
// (export.go) to the collector, and W3C trace context (traceparent,
// tracestate) is read from incoming requests and written on outgoing ones.
//
// When off, nothing is set up: the global tracer provider stays
// OpenTelemetry's no-op, Start returns the caller's context untouched and
// Transport adds nothing but an atomic load per request, so an untraced
// server pays (almost) nothing for the instrumentation.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of Gatehouse's own spans (the
// OpenID Connect library's spans carry its own).
const ScopeName = "github.com/gatehouse/gatehouse"

// enabled is true while a tracer provider set up by Setup is installed: the
// hot paths test it before building any span, attribute or context.
var enabled atomic.Bool

// propagator is W3C Trace Context, the only propagation format Gatehouse
// reads and writes.
var propagator = propagation.TraceContext{}

// Enabled reports whether tracing is on.
func Enabled() bool { return enabled.Load() }

// Config is the tracing configuration of serve.
type Config struct {
	// Endpoint is the OTLP/HTTP base URL of the collector (--otlp-endpoint),
	// e.g. http://otel-collector:4318; spans go to Endpoint/v1/traces. Empty
	// falls back on the OTEL_EXPORTER_OTLP_* variables, and without those
	// tracing is off.
	Endpoint string
	// ServiceVersion is the service.version resource attribute (the build's
	// version).
	ServiceVersion string
	// Logger receives export failures; slog.Default() when nil.
	Logger *slog.Logger
	// Getenv reads the environment; os.Getenv when nil (tests inject theirs).
	Getenv func(string) string
	// HTTPClient sends the exports; a client with the configured timeout when
	// nil.
	HTTPClient *http.Client
}

// exportSettings is where and how spans are exported, from Config and the
// environment.
type exportSettings struct {
	url         string
	headers     http.Header
	timeout     time.Duration
	compression string
}

// defaultExportTimeout is the OTLP specification's default
// (OTEL_EXPORTER_OTLP_TIMEOUT).
const defaultExportTimeout = 10 * time.Second

// settings resolves the export settings; ok is false when tracing is off.
// Precedence: --otlp-endpoint, then OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a
// full URL, used as is), then OTEL_EXPORTER_OTLP_ENDPOINT (a base URL,
// /v1/traces appended), as the OTLP exporter specification says.
// OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn tracing off
// whatever the endpoint.
func settings(c Config, getenv func(string) string) (exportSettings, bool, error) {
	var s exportSettings
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return s, false, nil
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
	case "none":
		return s, false, nil
	default:
		return s, false, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: this build exports traces over OTLP only (otlp or none)", exp)
	}
	switch {
	case c.Endpoint != "":
		s.url = strings.TrimRight(c.Endpoint, "/") + "/v1/traces"
	case getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		s.url = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	case getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "":
		s.url = strings.TrimRight(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/") + "/v1/traces"
	default:
		return s, false, nil
	}
	if u, err := url.Parse(s.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s, false, fmt.Errorf("OTLP endpoint %q: want an http(s) URL such as http://otel-collector:4318", redact(s.url))
	}
	// Only OTLP/HTTP in protobuf is built in: the gRPC exporter would add
	// the gRPC stack to the binary (see docs/PERFORMANCE.md).
	if p := first(getenv, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" && p != "http/protobuf" {
		return s, false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: this build sends OTLP over HTTP in protobuf only (http/protobuf, usually port 4318)", p)
	}
	s.headers = http.Header{}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if err := parsePairs(getenv(name), s.headers.Set); err != nil {
			return s, false, fmt.Errorf("%s: %w", name, err)
		}
	}
	s.timeout = defaultExportTimeout
	if v := first(getenv, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return s, false, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT=%s: want a positive number of milliseconds", v)
		}
		s.timeout = time.Duration(ms) * time.Millisecond
	}
	switch c := first(getenv, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"); c {
	case "", "none":
	case "gzip":
		s.compression = "gzip"
	default:
		return s, false, fmt.Errorf("OTEL_EXPORTER_OTLP_COMPRESSION=%s: want gzip or none", c)
	}
	return s, true, nil
}

// first is the first non-empty of the named variables.
func first(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// parsePairs reads the syntax of OTEL_EXPORTER_OTLP_HEADERS and
// OTEL_RESOURCE_ATTRIBUTES, key=value pairs separated by commas with
// percent-encoded values, calling set for each.
func parsePairs(raw string, set func(k, v string)) error {
	for _, pair := range strings.Split(raw, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			// The pair is not echoed: header values are often credentials.
			return errors.New("want key=value pairs separated by commas")
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("the value of %s is not percent-encoded correctly", k)
		}
		set(k, val)
	}
	return nil
}

// Setup turns tracing on when an endpoint is configured: it installs a
// tracer provider exporting to it as OpenTelemetry's global one (the OpenID
// Connect library's spans go there too) and W3C Trace Context as the global
// propagator. The returned function flushes the spans still queued and
// turns tracing off again; call it at shutdown. With no endpoint it returns
// a no-op and changes nothing.
func Setup(ctx context.Context, c Config) (shutdown func(context.Context) error, err error) {
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	s, on, err := settings(c, getenv)
	if err != nil || !on {
		return func(context.Context) error { return nil }, err
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: s.timeout}
	}
	res, err := newResource(ctx, c.ServiceVersion, getenv)
	if err != nil {
		return nil, err
	}
	exp := &exporter{url: s.url, headers: s.headers, timeout: s.timeout, gzip: s.compression == "gzip", client: hc}
	// The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based,
	// always on), the batching from OTEL_BSP_*: the SDK reads both.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing", "error", err)
	}))
	otel.SetTextMapPropagator(propagator)
	installOnce.Do(func() { otel.SetTracerProvider(installed) })
	installed.current.Store(tp)
	enabled.Store(true)
	log.Info("tracing on", "otlp_endpoint", redact(s.url))
	return func(ctx context.Context) error {
		if installed.current.CompareAndSwap(tp, nil) {
			enabled.Store(false)
		}
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flush traces: %w", err)
		}
		return nil
	}, nil
}

// newResource describes this process to the trace backend: service.name
// gatehouse and service.version, overridden by OTEL_RESOURCE_ATTRIBUTES
// (key=value,... percent-encoded) and OTEL_SERVICE_NAME, as the
// specification says. They are read through getenv (not the SDK's own
// os.Getenv) so that tests can set them without touching the process.
func newResource(ctx context.Context, version string, getenv func(string) string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", "gatehouse"), attribute.String("service.version", version)}
	if err := parsePairs(getenv("OTEL_RESOURCE_ATTRIBUTES"), func(k, v string) {
		attrs = append(attrs, attribute.String(k, v))
	}); err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	if name := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); name != "" {
		attrs = append(attrs, attribute.String("service.name", name))
	}
	// Of attributes with the same key, the last one wins.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	return res, nil
}

// redact keeps only a URL's scheme, host and path, for logs and errors: a
// collector URL may carry a password in its user information or a token in
// its query.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return safeURL(u)
}

// tracer is Gatehouse's tracer.
func tracer() trace.Tracer { return ownTracer }

var ownTracer = installed.Tracer(ScopeName)

// installed is the global tracer provider once Setup has run. It hands the
// spans to the SDK provider of the Setup in force, or to none after its
// shutdown. The indirection exists because OpenTelemetry's global provider
// binds the tracers libraries took before it was set (the OpenID Connect
// library takes its own at init) to the first provider set, for good: a
// second Setup (tests run several) would otherwise never see their spans.
var (
	installed   = &switchProvider{}
	installOnce sync.Once
)

// switchProvider is a trace.TracerProvider whose tracers start their spans
// on the current SDK provider, or record nothing when there is none.
type switchProvider struct {
	embedded.TracerProvider
	current atomic.Pointer[sdktrace.TracerProvider]
}

// Tracer implements trace.TracerProvider.
func (p *switchProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return &switchTracer{p: p, name: name, opts: opts}
}

type switchTracer struct {
	embedded.Tracer
	p    *switchProvider
	name string
	opts []trace.TracerOption
}

// Start implements trace.Tracer.
func (t *switchTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if tp := t.p.current.Load(); tp != nil {
		return tp.Tracer(t.name, t.opts...).Start(ctx, name, opts...)
	}
	return noopTracer.Start(ctx, name, opts...)
}

// noopTracer starts the spans of a shut-down provider: they record
// nothing but carry their parent's context on.
var noopTracer = noop.NewTracerProvider().Tracer("")

// noSpan is the span of untraced work: it records nothing.
var noSpan = trace.SpanFromContext(context.Background())

// Start starts a span named name of the given kind as a child of ctx's span,
// when tracing is on. When it is off it returns ctx itself and a span that
// records nothing, allocating nothing: set attributes only when
// span.IsRecording().
func Start(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if !enabled.Load() {
		return ctx, noSpan
	}
	return tracer().Start(ctx, name, trace.WithSpanKind(kind))
}

// End records err on span (status Error with err's kind, ErrorKind) and
// ends it.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, ErrorKind(err))
	}
	span.End()
}

// ErrorKind names err's class for a span status: context.Canceled or
// context.DeadlineExceeded, otherwise the Go type of the innermost error of
// its chain. Never its message: messages carry personal data (an invalid
// email address, a SCIM userName) and spans leave for a collector that
// keeps them under other rules than Gatehouse's database.
func ErrorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	}
	for next := errors.Unwrap(err); next != nil; next = errors.Unwrap(err) {
		err = next
	}
	return fmt.Sprintf("%T", err)
}

// Extract returns ctx carrying the remote span context of an incoming
// request's traceparent and tracestate headers, when tracing is on.
func Extract(ctx context.Context, h http.Header) context.Context {
	if !enabled.Load() {
		return ctx
	}
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// TraceID is the hexadecimal trace ID of ctx's span, or "" when there is
// none (tracing off): the request log line carries it.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
