-- +goose Up
-- Suspending or deleting a person's last active user record ends their
-- browser sessions (EndSessionsOfSubject): found by subject.
CREATE INDEX oidc_browser_sessions_subject ON oidc_browser_sessions (subject);

-- +goose Down
DROP INDEX oidc_browser_sessions_subject;
