-- +goose Up
-- OpenID Connect Back-Channel Logout 1.0 (internal/oidc/backchannel.go).

-- Where a client receives logout tokens ('' for none), and whether they must
-- carry the sid of the ended session.
ALTER TABLE oauth2_clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth2_clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;

-- The sid of the browser session a login used (derived from the session,
-- see internal/oidc), carried from the auth request to the client session
-- its code starts, so that the end of a browser session finds the clients
-- that took part in it. '' for logins from before this migration.
ALTER TABLE oidc_auth_requests ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE INDEX oidc_sessions_sid ON oidc_sessions (sid);

-- +goose Down
DROP INDEX oidc_sessions_sid;
ALTER TABLE oidc_sessions DROP COLUMN sid;
ALTER TABLE oidc_auth_requests DROP COLUMN sid;
ALTER TABLE oauth2_clients DROP COLUMN backchannel_logout_session_required;
ALTER TABLE oauth2_clients DROP COLUMN backchannel_logout_uri;
