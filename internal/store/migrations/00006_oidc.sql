-- +goose Up
-- State of the OpenID Connect provider (internal/oidc). Times are unix ms.

-- Authorization requests, from the authorization endpoint until their code is
-- redeemed. The row outlives the redemption (consumed) until expires_at so
-- that a replayed code is recognised and the tokens issued from it revoked.
CREATE TABLE oidc_auth_requests (
    id                    TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    -- Space-separated.
    scopes                TEXT NOT NULL,
    state                 TEXT NOT NULL DEFAULT '',
    nonce                 TEXT NOT NULL DEFAULT '',
    response_type         TEXT NOT NULL,
    response_mode         TEXT NOT NULL DEFAULT '',
    code_challenge        TEXT NOT NULL DEFAULT '',
    code_challenge_method TEXT NOT NULL DEFAULT '',
    login_hint            TEXT NOT NULL DEFAULT '',
    -- SHA-256 (hex) of the login form's CSRF token.
    csrf_hash             TEXT NOT NULL,
    -- Set by a successful login.
    subject               TEXT NOT NULL DEFAULT '',
    auth_time             BIGINT NOT NULL DEFAULT 0,
    amr                   TEXT NOT NULL DEFAULT '',
    done                  BOOLEAN NOT NULL DEFAULT FALSE,
    -- SHA-256 (hex) of the authorization code; NULL until issued.
    code_hash             TEXT UNIQUE,
    code_expires_at       BIGINT NOT NULL DEFAULT 0,
    -- TRUE once the code was presented: it never works again.
    code_used             BOOLEAN NOT NULL DEFAULT FALSE,
    -- What the code produced, revoked if the code is replayed.
    issued_jti            TEXT NOT NULL DEFAULT '',
    issued_session        TEXT NOT NULL DEFAULT '',
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL
);
CREATE INDEX oidc_auth_requests_expiry ON oidc_auth_requests (expires_at);

-- Sessions: one per (subject, client), holding the current refresh token's
-- hash. The id is the refresh token family: rotation replaces the hash with a
-- conditional UPDATE (WHERE refresh_hash = the presented one), so two replicas
-- rotating the same token cannot both win.
CREATE TABLE oidc_sessions (
    id                 TEXT PRIMARY KEY,
    subject            TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    amr                TEXT NOT NULL DEFAULT '',
    auth_time          BIGINT NOT NULL,
    -- SHA-256 (hex) of the current refresh token; '' when none was issued.
    refresh_hash       TEXT NOT NULL,
    refresh_expires_at BIGINT NOT NULL,
    -- The latest access token issued in the session, revoked with it.
    access_jti         TEXT NOT NULL DEFAULT '',
    access_expires_at  BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    UNIQUE (subject, client_id)
);
CREATE INDEX oidc_sessions_refresh ON oidc_sessions (refresh_hash);
-- PurgeOIDC's lookup of sessions whose refresh token expired.
CREATE INDEX oidc_sessions_expiry ON oidc_sessions (refresh_expires_at);

-- Refresh tokens already rotated away: presenting one again is reuse, and
-- revokes its whole family (the session).
CREATE TABLE oidc_used_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_used_refresh_tokens_expiry ON oidc_used_refresh_tokens (expires_at);

-- Revoked access tokens, kept until they would have expired anyway.
CREATE TABLE oidc_revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_revoked_tokens_expiry ON oidc_revoked_tokens (expires_at);

-- +goose Down
DROP TABLE oidc_revoked_tokens;
DROP TABLE oidc_used_refresh_tokens;
DROP TABLE oidc_sessions;
DROP TABLE oidc_auth_requests;
