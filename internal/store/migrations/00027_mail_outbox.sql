-- +goose Up
-- Email (issue 14). The outbox: every message Gatehouse sends is a row,
-- written in the transaction of the event that causes it (an invitation,
-- a password reset, a password change), so that a message
-- exists if and only if its event committed. A worker in every replica
-- claims due rows with a lease, delivers them over SMTP, and retries with
-- backoff; claiming is a conditional UPDATE (FOR UPDATE SKIP LOCKED on
-- PostgreSQL), so one replica sends each message.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    lang            TEXT NOT NULL,
    -- The message's data (its link, a bearer secret) sealed with the
    -- encryption key, bound to the row's id; '' once the row is sent or
    -- given up, so a link lives in the database no longer than needed.
    body            TEXT NOT NULL,
    -- queued, sent or failed.
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds: due after next_attempt_at; claimed until
    -- lease_until by lease_owner (a worker's random ID).
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    -- A message whose link expired is not worth sending (0: never).
    expires_at      BIGINT NOT NULL DEFAULT 0,
    -- When the row was sent or given up (0 while queued): pruned later.
    done_at         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_attempt_at);
CREATE INDEX mail_outbox_done ON mail_outbox (done_at);

-- +goose Down
DROP TABLE mail_outbox;
