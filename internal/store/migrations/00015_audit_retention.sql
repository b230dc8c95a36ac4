-- +goose Up
-- Audit log retention (--audit-retention): the purge deletes the oldest
-- events first, in small batches, by time.
CREATE INDEX audit_events_created ON audit_events (created_at);

-- +goose Down
DROP INDEX audit_events_created;
