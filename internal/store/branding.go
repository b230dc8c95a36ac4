package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Branding is what an organization's sign-in pages show instead of the
// platform's look (issue 14): theme values only, validated by
// internal/branding before they are stored.
type Branding struct {
	OrganizationID  string
	DisplayName     string
	PrimaryColor    string
	BackgroundColor string
	// Logo is the image's bytes (PNG, JPEG or WebP), LogoType its media
	// type; both empty without a logo.
	Logo     []byte
	LogoType string
	// Version is the hash of what the pages load (stylesheet and logo),
	// part of their URLs.
	Version   string
	UpdatedAt time.Time
}

// PutBranding writes b, replacing the organization's branding if it has
// one.
func (q *Q) PutBranding(ctx context.Context, b *Branding) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO organization_branding
		(organization_id, display_name, primary_color, background_color, logo, logo_type, version, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (organization_id) DO UPDATE SET display_name = excluded.display_name,
			primary_color = excluded.primary_color, background_color = excluded.background_color,
			logo = excluded.logo, logo_type = excluded.logo_type, version = excluded.version,
			updated_at = excluded.updated_at`,
		b.OrganizationID, b.DisplayName, b.PrimaryColor, b.BackgroundColor, encodeLogo(b.Logo), b.LogoType, b.Version, toMillis(b.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put branding of organization %s: %w", b.OrganizationID, classify(err))
	}
	return nil
}

// GetBranding reads organization org's branding; ErrNotFound when it has
// none (its pages look like the platform's).
func (q *Q) GetBranding(ctx context.Context, org string) (*Branding, error) {
	b := Branding{OrganizationID: org}
	var logo string
	var updated int64
	err := q.q.QueryRowContext(ctx, `SELECT display_name, primary_color, background_color, logo, logo_type, version, updated_at
		FROM organization_branding WHERE organization_id = $1`, org).
		Scan(&b.DisplayName, &b.PrimaryColor, &b.BackgroundColor, &logo, &b.LogoType, &b.Version, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get branding of organization %s: %w", org, classify(err))
	}
	if b.Logo, err = decodeLogo(logo); err != nil {
		return nil, fmt.Errorf("get branding of organization %s: logo: %w", org, err)
	}
	b.UpdatedAt = fromMillis(updated)
	return &b, nil
}

// DeleteBranding removes organization org's branding; ErrNotFound when it
// had none.
func (q *Q) DeleteBranding(ctx context.Context, org string) error {
	res, err := q.q.ExecContext(ctx, `DELETE FROM organization_branding WHERE organization_id = $1`, org)
	if err != nil {
		return fmt.Errorf("delete branding of organization %s: %w", org, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete branding of organization %s: %w", org, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// The logo is stored as base64 text: one column type on both engines.
func encodeLogo(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func decodeLogo(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return b, nil
}
