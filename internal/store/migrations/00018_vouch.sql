-- +goose Up
-- Who vouched for a login (issue 12, finding 1): the identity provider that
-- authenticated the person, carried from the auth request to the browser
-- session (single sign-on) and to the OpenID Connect session (the refresh
-- token family), so that every token issued from the login says it. idp_org
-- is the organization that registered the provider ('' for a platform
-- provider and for local passwords): what such a provider vouches for acts
-- in that organization only. idp_id is the provider's ID ('local' for a
-- password), idp_issuer and idp_subject the upstream's issuer and its
-- identifier for the person.
ALTER TABLE oidc_auth_requests ADD COLUMN idp_org TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_auth_requests ADD COLUMN idp_id TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_auth_requests ADD COLUMN idp_issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_auth_requests ADD COLUMN idp_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_browser_sessions ADD COLUMN idp_org TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_browser_sessions ADD COLUMN idp_id TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_browser_sessions ADD COLUMN idp_issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_browser_sessions ADD COLUMN idp_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_sessions ADD COLUMN idp_org TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_sessions ADD COLUMN idp_id TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_sessions ADD COLUMN idp_issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_sessions ADD COLUMN idp_subject TEXT NOT NULL DEFAULT '';
-- The sessions begun before this migration cannot say who vouched for them:
-- left alive, a login an organization's provider made for another tenant's
-- email (the takeover of finding 1) would go on refreshing unconfined for the
-- refresh tokens' lifetime (30 days by default). They end here: everyone
-- signs in once more, and every new token says who vouched. Access tokens
-- already issued live out their own lifetime (--max-token-lifetime at most).
-- Auth requests already authenticated (a login waiting for consent or
-- onboarding, or a code not yet redeemed) cannot say either: they end too, and
-- their users start the login again. The code refuses any such row a replica
-- of the previous release writes later (oidc.stillVouched).
DELETE FROM oidc_sessions;
DELETE FROM oidc_browser_sessions;
DELETE FROM oidc_auth_requests WHERE subject <> '';

-- +goose Down
ALTER TABLE oidc_sessions DROP COLUMN idp_subject;
ALTER TABLE oidc_sessions DROP COLUMN idp_issuer;
ALTER TABLE oidc_sessions DROP COLUMN idp_id;
ALTER TABLE oidc_sessions DROP COLUMN idp_org;
ALTER TABLE oidc_browser_sessions DROP COLUMN idp_subject;
ALTER TABLE oidc_browser_sessions DROP COLUMN idp_issuer;
ALTER TABLE oidc_browser_sessions DROP COLUMN idp_id;
ALTER TABLE oidc_browser_sessions DROP COLUMN idp_org;
ALTER TABLE oidc_auth_requests DROP COLUMN idp_subject;
ALTER TABLE oidc_auth_requests DROP COLUMN idp_issuer;
ALTER TABLE oidc_auth_requests DROP COLUMN idp_id;
ALTER TABLE oidc_auth_requests DROP COLUMN idp_org;
