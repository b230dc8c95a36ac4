-- +goose Up
-- Multi-factor authentication (issue 14).
--
-- The second factors of a person, keyed by subject (the email of a local
-- account), like logins and tokens. One table for every kind of factor:
-- kind 'totp' today; passkeys ('webauthn') come as more rows of the same
-- table, their credential in `secret_sealed`/`public_data`.
CREATE TABLE mfa_factors (
    id            TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    -- A secret the server must read back (the TOTP key), sealed with the
    -- encryption key and bound to the row ID (internal/secret).
    secret_sealed TEXT NOT NULL DEFAULT '',
    -- Public credential data (a passkey's public key); '' for TOTP.
    public_data   TEXT NOT NULL DEFAULT '',
    -- The highest TOTP time step accepted: a code is accepted only for a
    -- later step (one atomic UPDATE ... WHERE last_step < $step), so a code
    -- works once on every replica.
    last_step     BIGINT NOT NULL DEFAULT 0,
    -- Unix ms of the first good code; 0 while the enrolment is pending.
    confirmed_at  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX mfa_factors_subject ON mfa_factors (subject);

-- Recovery codes: a set per person, stored as SHA-256 (80-bit random
-- codes), each spent once (used_at set by one atomic UPDATE).
CREATE TABLE mfa_recovery_codes (
    subject    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, code_hash)
);

-- Failed second-factor attempts per person: counted before the code is
-- checked, the same way and with the same limits as local passwords
-- (local_passwords.failed_attempts/locked_until), but a counter of its own:
-- a good password must not reset the count of guessed codes.
CREATE TABLE mfa_attempts (
    subject         TEXT PRIMARY KEY,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until    BIGINT NOT NULL DEFAULT 0
);

-- An organization's multi-factor policy: 'off', 'optional' or 'required'.
-- No row: optional.
CREATE TABLE mfa_policies (
    organization_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    mode            TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE mfa_policies;
DROP TABLE mfa_attempts;
DROP TABLE mfa_recovery_codes;
DROP INDEX mfa_factors_subject;
DROP TABLE mfa_factors;
