-- +goose Up
-- Sessions over the API (issue 13) and sessions per device (issue 17).

-- What the account page shows of a browser session: the browser's
-- User-Agent (at most 256 bytes, sanitized) and its address (behind the
-- trusted proxies) at login, and when single sign-on last reused it.
-- Sessions begun before this migration have none of them ('' and 0).
ALTER TABLE oidc_browser_sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_browser_sessions ADD COLUMN client_address TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_browser_sessions ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;

-- A client may keep one session per browser session instead of one per
-- person (sessionPerDevice).
ALTER TABLE oauth2_clients ADD COLUMN session_per_device BOOLEAN NOT NULL DEFAULT FALSE;

-- oidc_sessions was unique on (subject, client_id). A client with
-- session_per_device keeps one session per (subject, client_id, device),
-- device being the sid of the browser session the login came from; every
-- other client keeps device '' and so one session per (subject, client_id),
-- the seed's rule. SQLite cannot drop a table constraint, so the table is
-- rebuilt (the same statements work on PostgreSQL). last_used_at: the last
-- refresh (0: never refreshed).
CREATE TABLE oidc_sessions_new (
    id                 TEXT PRIMARY KEY,
    subject            TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    device             TEXT NOT NULL DEFAULT '',
    scopes             TEXT NOT NULL,
    amr                TEXT NOT NULL DEFAULT '',
    auth_time          BIGINT NOT NULL,
    refresh_hash       TEXT NOT NULL,
    refresh_expires_at BIGINT NOT NULL,
    access_jti         TEXT NOT NULL DEFAULT '',
    access_expires_at  BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    acr                TEXT NOT NULL DEFAULT '',
    sid                TEXT NOT NULL DEFAULT '',
    idp_org            TEXT NOT NULL DEFAULT '',
    idp_id             TEXT NOT NULL DEFAULT '',
    idp_issuer         TEXT NOT NULL DEFAULT '',
    idp_subject        TEXT NOT NULL DEFAULT '',
    last_used_at       BIGINT NOT NULL DEFAULT 0,
    UNIQUE (subject, client_id, device)
);
INSERT INTO oidc_sessions_new (id, subject, client_id, device, scopes, amr, auth_time, refresh_hash, refresh_expires_at,
    access_jti, access_expires_at, created_at, acr, sid, idp_org, idp_id, idp_issuer, idp_subject, last_used_at)
SELECT id, subject, client_id, '', scopes, amr, auth_time, refresh_hash, refresh_expires_at,
    access_jti, access_expires_at, created_at, acr, sid, idp_org, idp_id, idp_issuer, idp_subject, 0 FROM oidc_sessions;
DROP TABLE oidc_sessions;
ALTER TABLE oidc_sessions_new RENAME TO oidc_sessions;
CREATE INDEX oidc_sessions_refresh ON oidc_sessions (refresh_hash);
CREATE INDEX oidc_sessions_expiry ON oidc_sessions (refresh_expires_at);
CREATE INDEX oidc_sessions_sid ON oidc_sessions (sid);
-- The account page and the administrators' lists read a person's sessions.
CREATE INDEX oidc_sessions_subject ON oidc_sessions (subject);

-- +goose Down
CREATE TABLE oidc_sessions_old (
    id                 TEXT PRIMARY KEY,
    subject            TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    amr                TEXT NOT NULL DEFAULT '',
    auth_time          BIGINT NOT NULL,
    refresh_hash       TEXT NOT NULL,
    refresh_expires_at BIGINT NOT NULL,
    access_jti         TEXT NOT NULL DEFAULT '',
    access_expires_at  BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    acr                TEXT NOT NULL DEFAULT '',
    sid                TEXT NOT NULL DEFAULT '',
    idp_org            TEXT NOT NULL DEFAULT '',
    idp_id             TEXT NOT NULL DEFAULT '',
    idp_issuer         TEXT NOT NULL DEFAULT '',
    idp_subject        TEXT NOT NULL DEFAULT '',
    UNIQUE (subject, client_id)
);
-- Per-device sessions cannot go back: only the one-per-person ones stay.
INSERT INTO oidc_sessions_old (id, subject, client_id, scopes, amr, auth_time, refresh_hash, refresh_expires_at,
    access_jti, access_expires_at, created_at, acr, sid, idp_org, idp_id, idp_issuer, idp_subject)
SELECT id, subject, client_id, scopes, amr, auth_time, refresh_hash, refresh_expires_at,
    access_jti, access_expires_at, created_at, acr, sid, idp_org, idp_id, idp_issuer, idp_subject FROM oidc_sessions WHERE device = '';
DROP TABLE oidc_sessions;
ALTER TABLE oidc_sessions_old RENAME TO oidc_sessions;
CREATE INDEX oidc_sessions_refresh ON oidc_sessions (refresh_hash);
CREATE INDEX oidc_sessions_expiry ON oidc_sessions (refresh_expires_at);
CREATE INDEX oidc_sessions_sid ON oidc_sessions (sid);
ALTER TABLE oauth2_clients DROP COLUMN session_per_device;
ALTER TABLE oidc_browser_sessions DROP COLUMN last_used_at;
ALTER TABLE oidc_browser_sessions DROP COLUMN client_address;
ALTER TABLE oidc_browser_sessions DROP COLUMN user_agent;
