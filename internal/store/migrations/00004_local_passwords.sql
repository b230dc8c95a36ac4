-- +goose Up
-- Credentials of the built-in local password connector (internal/connector):
-- users who log in to Gatehouse itself, with no upstream identity provider.
-- Platform-wide, not per organization: the login flow maps the email to its
-- organization the same way it does for upstream identities.
CREATE TABLE local_passwords (
    -- Lowercased by the store on every read and write.
    email           TEXT PRIMARY KEY,
    -- PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash (parameters
    -- travel with the hash, so they can change without invalidating it).
    password_hash   TEXT NOT NULL,
    -- Consecutive failed (or in-flight) attempts since the last success;
    -- only ever changed by single atomic UPDATE statements.
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    -- Unix ms until which every attempt is refused; 0 when not locked.
    locked_until    BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE local_passwords;
