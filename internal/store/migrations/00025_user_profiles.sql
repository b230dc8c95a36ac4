-- +goose Up
-- The profile claims an upstream identity provider gave at a person's last
-- login (issue 17): userinfo answers them for the profile scope. Keyed by
-- subject (the email), like logins and tokens: a person is one subject
-- whatever organizations they are a member of. A local password login
-- leaves the row as it was.
CREATE TABLE user_profiles (
    subject     TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    given_name  TEXT NOT NULL DEFAULT '',
    family_name TEXT NOT NULL DEFAULT '',
    picture     TEXT NOT NULL DEFAULT '',
    locale      TEXT NOT NULL DEFAULT '',
    -- Unix milliseconds of the login that wrote it (the updated_at claim).
    updated_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE user_profiles;
