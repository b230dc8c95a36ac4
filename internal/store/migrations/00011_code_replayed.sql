-- +goose Up
-- A replayed authorization code must revoke what its first redemption
-- issued, even when the replay arrives (on another replica) before the first
-- redemption has recorded its tokens: the replay sets code_replayed, and the
-- redemption that records its tokens afterwards finds the flag (under the
-- row lock its UPDATE takes) and revokes them itself.
ALTER TABLE oidc_auth_requests ADD COLUMN code_replayed BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE oidc_auth_requests DROP COLUMN code_replayed;
