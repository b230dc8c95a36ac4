package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
)

// minAuditRetention keeps a typo (--audit-retention 90s for 90d) from
// emptying the audit log: nothing younger than a day is ever purged.
const minAuditRetention = 24 * time.Hour

// startAuditRetention runs the audit log's retention in the background when
// --audit-retention is set. The returned function stops it and waits, so
// that it is done before the store closes.
func startAuditRetention(ctx context.Context, c *config.Serve, st *store.Store, newID func() string, log *slog.Logger) (func(), error) {
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < minAuditRetention) {
		return nil, fmt.Errorf("--audit-retention must be 0 (keep every event) or at least %v, got %v", minAuditRetention, c.AuditRetention)
	}
	r := &audit.Retention{Store: st, Keep: c.AuditRetention, Now: time.Now, NewID: newID, Log: log}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return func() { cancel(); <-done }, nil
}
