-- +goose Up
-- Token signing keys (internal/keys). A key is generated as "next" (published
-- in JWKS, not yet signing), becomes "active" (the one key every replica signs
-- with) at a rotation, and "retired" (still published until expires_at, so
-- that the tokens it signed keep verifying) at the rotation after that.
-- The private key is sealed with the key-encryption key (AES-256-GCM, AAD
-- "signingkey:" || id); the database never holds it in the clear.
CREATE TABLE signing_keys (
    id           TEXT PRIMARY KEY, -- the JWK "kid"
    algorithm    TEXT NOT NULL,    -- ES256 | ES512 | RS256
    state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    private_key  TEXT NOT NULL,    -- sealed PKCS #8
    public_jwk   TEXT NOT NULL,    -- public JWK JSON with kid, alg and use
    created_at   BIGINT NOT NULL,
    activated_at BIGINT NOT NULL DEFAULT 0,
    retired_at   BIGINT NOT NULL DEFAULT 0,
    expires_at   BIGINT NOT NULL DEFAULT 0 -- retired keys leave JWKS then
);
-- At most one next and one active key, whatever the application does: two
-- replicas racing to create or rotate keys cannot both succeed.
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'active');

-- +goose Down
DROP TABLE signing_keys;
