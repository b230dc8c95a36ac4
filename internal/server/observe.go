package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/buildinfo"
	"github.com/gatehouse/gatehouse/internal/telemetry"
)

// requestInfo travels in the request context so that inner layers (the API
// guard) can tell the outer logging and metrics layer which operation ran and
// who called it.
type requestInfo struct {
	id        string
	operation string
	subject   string
}

type infoKey struct{}

func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// StatusClientClosedRequest is the status logged and counted for a request
// whose client went away before it was answered (nginx's 499): its
// database work was stopped, which is no fault of the server's, so it must
// not read as a 500 in the log, the metrics or the alerts on them.
const StatusClientClosedRequest = 499

// clientGone reports whether r's client went away: net/http cancels the
// request's context when the connection closes (or an HTTP/2 stream is
// reset). A deadline is not a departure.
func clientGone(r *http.Request) bool { return errors.Is(r.Context().Err(), context.Canceled) }

// metrics are the server's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests served, by operation (OpenAPI operationId, or the path for non-API routes) and status code.",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request latency by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// observe is the outermost middleware: request ID, panic recovery, one
// structured log line per request, the request metrics and, when tracing is
// on, the request's server span (continuing the caller's W3C traceparent)
// whose trace ID the log line carries. It never logs headers or bodies, so
// bearer tokens and secrets cannot leak into logs.
func observe(log *slog.Logger, m *metrics, now func() time.Time, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		ri := &requestInfo{id: newRequestID()}
		w.Header().Set("X-Request-Id", ri.id)
		rec := &statusRecorder{ResponseWriter: w}
		// With tracing off (and for the probes and the metrics scrape,
		// which would bury the traces that matter) the context is the
		// request's own and the span records nothing.
		ctx, span := r.Context(), noSpan
		if telemetry.Enabled() && !untraced[r.URL.Path] {
			ctx, span = telemetry.Start(telemetry.Extract(ctx, r.Header), r.Method, trace.SpanKindServer)
		}
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic serving request", "request_id", ri.id, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					apierror.Write(rec, apierror.Internal())
				}
			}
			op := ri.operation
			if op == "" {
				op = "other"
			}
			elapsed := now().Sub(start)
			status := rec.status
			// Whatever error the interrupted work turned into (a library
			// may make a 500 of a canceled lookup), nobody received it.
			if (status == 0 || status >= 500) && clientGone(r) {
				status = StatusClientClosedRequest
			}
			m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(op).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			if !span.IsRecording() {
				log.Log(r.Context(), level, "request",
					"request_id", ri.id, "method", r.Method, "path", r.URL.Path, "operation", ri.operation,
					"status", status, "bytes", rec.bytes, "duration_ms", float64(elapsed.Microseconds())/1000,
					"subject", ri.subject, "remote", r.RemoteAddr)
				return
			}
			endServerSpan(span, r, ri, status)
			log.Log(ctx, level, "request",
				"request_id", ri.id, "method", r.Method, "path", r.URL.Path, "operation", ri.operation,
				"status", status, "bytes", rec.bytes, "duration_ms", float64(elapsed.Microseconds())/1000,
				"subject", ri.subject, "remote", r.RemoteAddr, "trace_id", telemetry.TraceID(ctx))
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(ctx, infoKey{}, ri)))
	})
}

// untraced are the paths that get no span: load balancers' probes and
// Prometheus' scrapes, every few seconds each.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// noSpan is the span of untraced requests; it records nothing.
var noSpan = trace.SpanFromContext(context.Background())

// endServerSpan names a request's server span after what served it and
// ends it: "METHOD operationId" for the API and the named routes, "METHOD
// path" for the OpenID Connect provider's endpoints (a fixed set under
// /oauth2/v2/), just the method for anything else (unknown paths would make
// names without bound). A 5xx marks the span as failed; a 4xx is the
// client's error and does not (the OpenTelemetry HTTP conventions).
func endServerSpan(span trace.Span, r *http.Request, ri *requestInfo, status int) {
	route := ri.operation
	if route == "" && strings.HasPrefix(r.URL.Path, "/oauth2/v2/") && status != http.StatusNotFound {
		route = r.URL.Path
	}
	if route != "" {
		span.SetName(r.Method + " " + route)
		span.SetAttributes(attribute.String("http.route", route))
	}
	span.SetAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.Path),
		attribute.Int("http.response.status_code", status),
		attribute.String("gatehouse.request_id", ri.id))
	if ri.operation != "" {
		span.SetAttributes(attribute.String("gatehouse.operation", ri.operation))
	}
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// newBuildInfo is the gatehouse_build_info gauge: always 1, labelled with
// the build, so that dashboards can show which version each replica runs
// (and join it onto other series).
func newBuildInfo(info buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatehouse_build_info",
		Help: "Build of the running Gatehouse: version, commit and Go version as labels; the value is always 1.",
	}, []string{"version", "commit", "goversion"})
	g.WithLabelValues(info.Version, info.Commit, info.GoVersion).Set(1)
	return g
}
