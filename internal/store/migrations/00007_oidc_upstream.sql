-- +goose Up
-- Logins in flight at an upstream identity provider (internal/oidc): from the
-- redirect to the upstream until /oidc/callback, at most once each.
CREATE TABLE oidc_upstream_logins (
    -- SHA-256 (hex) of the state sent upstream.
    state_hash      TEXT PRIMARY KEY,
    auth_request_id TEXT NOT NULL,
    -- The OAuth2 provider: '' organization for a system provider.
    provider_org    TEXT NOT NULL,
    provider_id     TEXT NOT NULL,
    -- PKCE verifier and nonce of this login; useless without the upstream's
    -- code, and gone at the callback or expiry.
    verifier        TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX oidc_upstream_logins_expiry ON oidc_upstream_logins (expires_at);

-- +goose Down
DROP TABLE oidc_upstream_logins;
