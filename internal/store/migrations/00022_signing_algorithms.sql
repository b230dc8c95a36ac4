-- +goose Up
-- RS256, ES256 and ES512 side by side (issue 17; OpenID Connect Core §15.1
-- makes RS256 mandatory for a provider). The platform's keys form one key
-- set per algorithm, each with its own next/active/retired rotation; an
-- organization's workload issuer keeps one set whatever its algorithm (a
-- change of --workload-signing-algorithm reaches it at its next rotations).
-- Existing platform keys keep their algorithm and join that algorithm's set.
DROP INDEX signing_keys_one_per_scope_state;
-- At most one next and one active key per platform algorithm ...
CREATE UNIQUE INDEX signing_keys_platform_one_per_state ON signing_keys (algorithm, state)
    WHERE scope = '' AND state IN ('next', 'active');
-- ... and per organization.
CREATE UNIQUE INDEX signing_keys_org_one_per_state ON signing_keys (scope, state)
    WHERE scope <> '' AND state IN ('next', 'active');

-- The algorithm of a client's ID tokens (OpenID Connect Dynamic Client
-- Registration's id_token_signed_response_alg): RS256, ES256 or ES512, or ''
-- for the server's default (--signing-algorithm).
ALTER TABLE oauth2_clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth2_clients DROP COLUMN id_token_signed_response_alg;
-- Only one platform key per state may stay: keep the newest of each state
-- (the old code handles an active and a next key of different algorithms).
DELETE FROM signing_keys WHERE scope = '' AND state IN ('next', 'active') AND EXISTS (
    SELECT 1 FROM signing_keys o WHERE o.scope = '' AND o.state = signing_keys.state
        AND (o.created_at > signing_keys.created_at OR (o.created_at = signing_keys.created_at AND o.id > signing_keys.id)));
DROP INDEX signing_keys_org_one_per_state;
DROP INDEX signing_keys_platform_one_per_state;
CREATE UNIQUE INDEX signing_keys_one_per_scope_state ON signing_keys (scope, state) WHERE state IN ('next', 'active');
