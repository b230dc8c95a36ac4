-- +goose Up
-- OAuth2 clients: the relying parties that log users in through Gatehouse's
-- OpenID Connect provider. Platform-wide (not per organization). Owned by
-- internal/client. List fields are JSON arrays of strings, times unix ms.
CREATE TABLE oauth2_clients (
    -- The client_id: a UUIDv7 when generated, or chosen by the operator.
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    -- confidential | public; never changes after creation.
    client_type                TEXT NOT NULL,
    -- SHA-256 (hex) of the client secret; '' for public clients.
    secret_hash                TEXT NOT NULL DEFAULT '',
    redirect_uris              TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris  TEXT NOT NULL DEFAULT '[]',
    grant_types                TEXT NOT NULL DEFAULT '[]',
    scopes                     TEXT NOT NULL DEFAULT '[]',
    -- client_secret_basic | client_secret_post | none
    token_endpoint_auth_method TEXT NOT NULL,
    -- Always true for public clients.
    require_pkce               BOOLEAN NOT NULL DEFAULT FALSE,
    access_token_lifetime_ms   BIGINT NOT NULL,
    refresh_token_lifetime_ms  BIGINT NOT NULL,
    created_at                 BIGINT NOT NULL,
    modified_at                BIGINT NOT NULL DEFAULT 0
);
-- Lookups and keyset pagination are by id: the primary key serves both.

-- +goose Down
DROP TABLE oauth2_clients;
