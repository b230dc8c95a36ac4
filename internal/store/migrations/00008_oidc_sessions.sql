-- +goose Up
-- Issue 3, the rest of the OpenID Connect provider (internal/oidc): browser
-- single sign-on sessions, remembered consent, the authorization parameters an
-- auth request keeps between the authorization endpoint and the end of the
-- login, RFC 8705 client certificates, and signup links. Times are unix ms.

-- Browser sessions: one per browser that logged in. The cookie holds 32
-- random bytes; only their SHA-256 is stored, so a copy of the database
-- signs nobody in. A new login in the same browser replaces its session;
-- logout deletes it.
CREATE TABLE oidc_browser_sessions (
    id_hash    TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    -- Space-separated (RFC 8176 values: pwd, fed).
    amr        TEXT NOT NULL,
    acr        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_browser_sessions_expiry ON oidc_browser_sessions (expires_at);

-- Consent a user gave a client: the union of the scopes allowed, remembered
-- until the client is deleted.
CREATE TABLE oidc_consents (
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES oauth2_clients (id) ON DELETE CASCADE,
    -- Space-separated.
    scopes     TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id)
);

-- The authorization parameters that decide whether a browser session may be
-- reused and what the login must achieve.
ALTER TABLE oidc_auth_requests ADD COLUMN prompt TEXT NOT NULL DEFAULT '';
-- Seconds; -1 when the request has no max_age.
ALTER TABLE oidc_auth_requests ADD COLUMN max_age BIGINT NOT NULL DEFAULT -1;
ALTER TABLE oidc_auth_requests ADD COLUMN ui_locale TEXT NOT NULL DEFAULT '';
-- Space-separated acr values asked for, and whether the claims parameter
-- made them essential.
ALTER TABLE oidc_auth_requests ADD COLUMN acr_values TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_auth_requests ADD COLUMN acr_essential BOOLEAN NOT NULL DEFAULT FALSE;
-- The subject of a verified id_token_hint.
ALTER TABLE oidc_auth_requests ADD COLUMN hint_subject TEXT NOT NULL DEFAULT '';
-- The acr of the login that completed the request.
ALTER TABLE oidc_auth_requests ADD COLUMN acr TEXT NOT NULL DEFAULT '';
-- What the user must still do after authenticating: '' (nothing),
-- onboard or consent.
ALTER TABLE oidc_auth_requests ADD COLUMN interaction TEXT NOT NULL DEFAULT '';

ALTER TABLE oidc_sessions ADD COLUMN acr TEXT NOT NULL DEFAULT '';

-- Clients that must ask the user's consent, and RFC 8705 client
-- certificates: for tls_client_auth the certificate field that must match
-- (subject_dn, san_dns, san_uri, san_ip or san_email) and its value; for
-- self_signed_tls_client_auth the certificates' SHA-256 thumbprints (JSON
-- array of base64url strings).
ALTER TABLE oauth2_clients ADD COLUMN require_consent BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE oauth2_clients ADD COLUMN tls_client_auth_field TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth2_clients ADD COLUMN tls_client_auth_value TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth2_clients ADD COLUMN tls_client_certificates TEXT NOT NULL DEFAULT '[]';

-- Signup links (GET /api/v1/signup?token=...): activate a pending user. One
-- per user; the token is stored as SHA-256 and works once.
CREATE TABLE user_signups (
    token_hash      TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX user_signups_expiry ON user_signups (expires_at);

-- +goose Down
DROP TABLE user_signups;
ALTER TABLE oauth2_clients DROP COLUMN tls_client_certificates;
ALTER TABLE oauth2_clients DROP COLUMN tls_client_auth_value;
ALTER TABLE oauth2_clients DROP COLUMN tls_client_auth_field;
ALTER TABLE oauth2_clients DROP COLUMN require_consent;
ALTER TABLE oidc_sessions DROP COLUMN acr;
ALTER TABLE oidc_auth_requests DROP COLUMN interaction;
ALTER TABLE oidc_auth_requests DROP COLUMN acr;
ALTER TABLE oidc_auth_requests DROP COLUMN hint_subject;
ALTER TABLE oidc_auth_requests DROP COLUMN acr_essential;
ALTER TABLE oidc_auth_requests DROP COLUMN acr_values;
ALTER TABLE oidc_auth_requests DROP COLUMN ui_locale;
ALTER TABLE oidc_auth_requests DROP COLUMN max_age;
ALTER TABLE oidc_auth_requests DROP COLUMN prompt;
DROP TABLE oidc_consents;
DROP TABLE oidc_browser_sessions;
