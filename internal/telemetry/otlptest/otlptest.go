// Package otlptest is a test stand-in for an OpenTelemetry collector: an
// OTLP/HTTP receiver on loopback that decodes each export as the protocol's
// ExportTraceServiceRequest (the OTLP project's own generated types, not
// Gatehouse's encoder) and keeps the spans for the test to inspect.
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span with its resource and scope.
type Span struct {
	*tracepb.Span
	// Resource and Scope are the attributes of the span's resource and the
	// name of its instrumentation scope.
	Resource map[string]string
	Scope    string
}

// TraceID is the span's trace ID in hex.
func (s Span) TraceID() string { return hex.EncodeToString(s.Span.TraceId) }

// ID is the span's ID in hex.
func (s Span) ID() string { return hex.EncodeToString(s.Span.SpanId) }

// ParentID is the parent span's ID in hex ("" for a root span).
func (s Span) ParentID() string { return hex.EncodeToString(s.Span.ParentSpanId) }

// Attr is the span's attribute key as text ("" when absent): strings as
// they are, other values in their protobuf text form.
func (s Span) Attr(key string) string { return attr(s.Attributes, key) }

// Request is what the receiver saw of one export besides its spans.
type Request struct {
	Header http.Header
}

// Receiver is a running OTLP/HTTP receiver.
type Receiver struct {
	// URL is the base URL to configure as the OTLP endpoint; exports go
	// to URL/v1/traces.
	URL string

	mu       sync.Mutex
	spans    []Span
	requests []Request
}

// Start runs a receiver until the test ends. Requests that are not a valid
// export are answered 400 and fail the test.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("otlptest: unexpected %s %s (Content-Type %q)", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
			http.Error(w, "want POST /v1/traces in application/x-protobuf", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				t.Errorf("otlptest: gzip: %v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		var export coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &export)
		}
		if err != nil {
			t.Errorf("otlptest: decode export: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(req.Header, &export)
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Receiver) add(h http.Header, export *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, Request{Header: h.Clone()})
	for _, rs := range export.ResourceSpans {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.Key] = text(kv.Value)
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, Span{Span: s, Resource: res, Scope: ss.GetScope().GetName()})
			}
		}
	}
}

// Spans are the spans received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Requests are the exports received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return text(kv.Value)
		}
	}
	return ""
}

func text(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	}
	return v.String()
}
