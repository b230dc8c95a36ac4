-- +goose Up
-- Local password accounts over HTTP (issue 13).
--
-- Every local account gets an owner: NULL for the platform (every account
-- made before this migration, by `gatehouse admin users set-password`), or
-- one organization. An account an organization owns vouches like that
-- organization's own identity provider: its logins are confined to that
-- organization (never a member of another, never a platform role), so an
-- administrator who controls its password reaches no other tenant. The
-- email stays the key: one local account per address, whoever owns it.
ALTER TABLE local_passwords ADD COLUMN organization_id TEXT REFERENCES organizations (id) ON DELETE CASCADE;
CREATE INDEX local_passwords_org ON local_passwords (organization_id);

-- Single-use links that let a person choose a password: an invitation or a
-- password reset of a local account (purpose 'invite' or 'reset', for
-- email, owned as the account will be), or the setup link of the first
-- human platform administrator (purpose 'setup', email ''). Only the
-- SHA-256 of the token is kept; spending a link deletes it, and a newer
-- link for the same account (or a newer setup link) deletes the older ones.
CREATE TABLE local_account_links (
    token_hash      TEXT PRIMARY KEY,
    purpose         TEXT NOT NULL,
    email           TEXT NOT NULL,
    -- NULL for the platform (and for setup links).
    organization_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    -- The organization's user the link activates ('' for platform links).
    user_id         TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX local_account_links_email ON local_account_links (email);

-- +goose Down
DROP TABLE local_account_links;
DROP INDEX local_passwords_org;
ALTER TABLE local_passwords DROP COLUMN organization_id;
