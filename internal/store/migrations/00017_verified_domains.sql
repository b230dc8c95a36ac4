-- +goose Up
-- Verified domains (issue 12): an organization's spec.domain is a claim; it
-- routes logins (and bounds what the organization's own identity provider
-- may vouch for) only once proven by a DNS TXT challenge or marked by the
-- platform administrator. domain_token is the challenge of the current claim
-- (issued by the application, a new one whenever the domain changes);
-- domain_verified_at (unix ms, 0 = pending) when the claim was proven.
-- Existing claims become pending: nothing was ever proven, and a claim made
-- before this migration may be an attacker's (issue 12, finding 1).
ALTER TABLE organizations ADD COLUMN domain_token TEXT NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN domain_verified_at BIGINT NOT NULL DEFAULT 0;
-- Pending claims of several organizations on one domain do not block each
-- other (the real owner can always claim and prove its domain); a verified
-- domain belongs to one organization only.
DROP INDEX organizations_domain;
CREATE INDEX organizations_domain ON organizations (domain);
CREATE UNIQUE INDEX organizations_verified_domain ON organizations (domain) WHERE domain_verified_at > 0;

-- +goose Down
DROP INDEX organizations_verified_domain;
DROP INDEX organizations_domain;
CREATE UNIQUE INDEX organizations_domain ON organizations (domain);
ALTER TABLE organizations DROP COLUMN domain_verified_at;
ALTER TABLE organizations DROP COLUMN domain_token;
