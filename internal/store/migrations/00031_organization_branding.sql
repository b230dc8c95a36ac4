-- +goose Up
-- An organization's branding (issue 14): the display name, logo and colours
-- its sign-in pages show. Theme values only, validated by internal/branding
-- before they are written: colours as #rrggbb, the logo as the bytes of a
-- PNG, JPEG or WebP image (base64 here, so that both engines store it as
-- text), served by Gatehouse itself. version is a hash of what the pages
-- load (the generated stylesheet and the logo): their URLs carry it, so
-- browsers cache them for good and a change is a new URL.
CREATE TABLE organization_branding (
    organization_id  TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    display_name     TEXT NOT NULL DEFAULT '',
    primary_color    TEXT NOT NULL DEFAULT '',
    background_color TEXT NOT NULL DEFAULT '',
    logo             TEXT NOT NULL DEFAULT '',
    logo_type        TEXT NOT NULL DEFAULT '',
    version          TEXT NOT NULL,
    -- Unix milliseconds of the last write.
    updated_at       BIGINT NOT NULL
);

-- +goose Down
DROP TABLE organization_branding;
