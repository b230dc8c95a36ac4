package store

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse/gatehouse/internal/telemetry"
)

// dbSystem is the OpenTelemetry db.system.name of a dialect.
func dbSystem(d Dialect) string {
	if d == Postgres {
		return "postgresql"
	}
	return "sqlite"
}

// startSpan starts the client span of one unit of database work when
// tracing is on: a transaction (Tx), a snapshot, or a statement outside
// them. Statements inside a transaction get none: the transaction's span
// tells how long the request held a connection (and, on SQLite, the write
// lock), which is what a trace needs, at a fraction of the spans.
func startSpan(ctx context.Context, name string, d Dialect) (context.Context, trace.Span) {
	ctx, span := telemetry.Start(ctx, name, trace.SpanKindClient)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("db.system.name", dbSystem(d)))
	}
	return ctx, span
}

// startStatementSpan is startSpan for a statement outside a transaction:
// named by its operation (SELECT, INSERT, ...), with its text, which holds
// placeholders, never the values.
func startStatementSpan(ctx context.Context, d Dialect, query string) (context.Context, trace.Span) {
	if !telemetry.Enabled() {
		return startSpan(ctx, "", d)
	}
	op, _, _ := strings.Cut(strings.TrimSpace(query), " ")
	op = strings.ToUpper(op)
	ctx, span := startSpan(ctx, op, d)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("db.operation.name", op), attribute.String("db.query.text", query))
	}
	return ctx, span
}
