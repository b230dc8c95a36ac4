-- +goose Up
-- The device authorization grant (RFC 8628) and pushed authorization
-- requests (RFC 9126), issue 16.

-- A device authorization: the device polls with the device code, the
-- person types the user code into the page. Both are stored as SHA-256
-- hashes (the device code is a bearer secret; the user code is short, but
-- a database read should not hand out live ones either). state is pending,
-- approved, denied or used (the tokens were issued: single use).
-- auth_request_id is the login the user code's page started (the latest
-- browser to enter the code); interval_s the polling interval in seconds,
-- raised by slow_down; last_poll_at the last poll (Unix ms, 0 for none).
CREATE TABLE oidc_device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending',
    auth_request_id  TEXT NOT NULL DEFAULT '',
    interval_s       BIGINT NOT NULL,
    last_poll_at     BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX oidc_device_codes_auth_request ON oidc_device_codes (auth_request_id);
CREATE INDEX oidc_device_codes_expires ON oidc_device_codes (expires_at);

-- A pushed authorization request: its parameters (JSON object of string
-- lists), for the client that pushed it, usable once before expires_at.
-- Keyed by the SHA-256 of the request_uri's random part.
CREATE TABLE oidc_pushed_requests (
    request_hash TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    params       TEXT NOT NULL,
    used         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX oidc_pushed_requests_expires ON oidc_pushed_requests (expires_at);

-- A client may refuse every authorization request that was not pushed
-- (require_pushed_authorization_requests, RFC 9126 §6).
ALTER TABLE oauth2_clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE oauth2_clients DROP COLUMN require_par;
DROP TABLE oidc_pushed_requests;
DROP TABLE oidc_device_codes;
