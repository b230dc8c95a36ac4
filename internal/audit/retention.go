package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Retention defaults.
const (
	// DefaultPurgeInterval is how often Run looks for events past the
	// retention: an event may outlive it by this much.
	DefaultPurgeInterval = time.Hour
	// DefaultPurgeBatch is how many events one purge transaction deletes:
	// small, so that on SQLite the single writer is never held for long
	// (other writes wait for it), and on PostgreSQL no transaction holds
	// row locks on a large part of the table.
	DefaultPurgeBatch = 1000
)

// PurgeOperation is the operation ID of the event that records a purge.
const PurgeOperation = "purgeAuditEvents"

// RetentionActor is the actor of purge events: Gatehouse itself.
var RetentionActor = Actor{Kind: "system", ID: "audit-retention", Subject: "system:audit-retention"}

// Retention deletes the events older than Keep. Every replica may run it:
// purges are idempotent deletes of the oldest rows, so two replicas racing
// only share the work. Each purge that deleted something is itself recorded,
// as a platform-level event (organization "") with how many events it
// removed and the cutoff, so that a gap in the log is explained in the log.
type Retention struct {
	Store *store.Store
	// Keep is how long events are kept; Run does nothing when it is zero or
	// less (the default: keep every event).
	Keep time.Duration
	// Every is the time between purges (DefaultPurgeInterval if zero).
	Every time.Duration
	// Batch is the number of events deleted per transaction
	// (DefaultPurgeBatch if zero).
	Batch int
	Now   func() time.Time
	NewID func() string
	Log   *slog.Logger
}

// purgeRecord is the after state of a purge event.
type purgeRecord struct {
	Removed   int       `json:"removed"`
	Before    time.Time `json:"before"`
	Retention string    `json:"retention"`
}

// Purge deletes every event recorded before now minus Keep, oldest first,
// one batch per transaction, and records the purge when it removed
// anything. It returns how many events it removed.
func (r *Retention) Purge(ctx context.Context) (int, error) {
	if r.Keep <= 0 {
		return 0, nil
	}
	batch := r.Batch
	if batch <= 0 {
		batch = DefaultPurgeBatch
	}
	now := r.Now().UTC().Truncate(time.Millisecond)
	cutoff := now.Add(-r.Keep)
	removed := 0
	for {
		var n int
		err := r.Store.Tx(ctx, func(q *store.Q) error {
			var err error
			n, err = q.PurgeAuditEvents(ctx, cutoff, batch)
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("audit retention: %w", err)
		}
		removed += n
		if n < batch {
			break
		}
	}
	if removed == 0 {
		return 0, nil
	}
	after, err := json.Marshal(purgeRecord{Removed: removed, Before: cutoff, Retention: r.Keep.String()})
	if err != nil {
		return removed, fmt.Errorf("audit retention record: %w", err)
	}
	actor, err := json.Marshal(RetentionActor)
	if err != nil {
		return removed, fmt.Errorf("audit retention actor: %w", err)
	}
	ev := &store.AuditEvent{ID: r.NewID(), Time: now, ActorKind: RetentionActor.Kind, ActorID: RetentionActor.ID,
		ActorSubject: RetentionActor.Subject, Actor: string(actor), OperationID: PurgeOperation, ResourceType: "auditevents",
		Before: "null", After: string(after)}
	if err := r.Store.Tx(ctx, func(q *store.Q) error { return q.InsertAuditEvent(ctx, ev) }); err != nil {
		return removed, fmt.Errorf("audit retention record: %w", err)
	}
	return removed, nil
}

// Run purges at once and then every Every until ctx is done. Errors (the
// database down) are logged and the purge is tried again at the next tick.
// With Keep zero or less it returns at once.
func (r *Retention) Run(ctx context.Context) {
	if r.Keep <= 0 {
		return
	}
	every := r.Every
	if every <= 0 {
		every = DefaultPurgeInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := r.Purge(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.Log.Warn("audit retention: purge failed; retrying at the next tick", "error", err.Error())
		case n > 0:
			r.Log.Info("audit retention: purged events", "removed", n, "retention", r.Keep.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
