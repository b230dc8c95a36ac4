// Package branding is an organization's look on its sign-in pages (issue
// 14): a display name, a logo and two colours. Theme values only, never
// customer CSS or markup, so the pages keep their strict
// Content-Security-Policy (style-src 'self', img-src 'self', no script):
//
//   - colours are #rrggbb, and the stylesheet that applies them is generated
//     here from those values alone (CSS custom properties over the pages'
//     own design tokens), served by Gatehouse at a URL carrying a hash of
//     its content;
//   - the logo is a PNG or JPEG image, at most MaxLogoBytes and
//     MaxLogoPixels on a side, decoded in full before it is accepted and
//     served by Gatehouse with the type it was decoded as.
//
// A logo by https URL was the alternative, and is refused on purpose: the
// sign-in page would make every visitor's browser tell a third party when
// they sign in (and from where), the image could change after validation
// (to something else, or something huge), and img-src would have to allow
// other origins. Stored bytes are checked once and cannot change.
package branding

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the decoder of JPEG logos
	_ "image/png"  // the decoder of PNG logos
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Limits of what an organization may set.
const (
	// MaxDisplayName is the longest display name, in characters.
	MaxDisplayName = 64
	// MaxLogoBytes bounds the logo's file: it is stored in the database and
	// sent with every branded sign-in page's first load.
	MaxLogoBytes = 64 << 10
	// MaxLogoPixels bounds the logo's width and height, checked before it
	// is decoded (a small file can claim a huge image).
	MaxLogoPixels = 1024
)

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Input is an organization's branding as written through the API.
type Input struct {
	DisplayName     string
	PrimaryColor    string
	BackgroundColor string
	// Logo is the image file's bytes; nil for no logo.
	Logo []byte
}

// Validate checks in and returns the branding to store for organization
// org: a 400 apierror naming the first bad field otherwise.
func Validate(org string, in Input, now time.Time) (*store.Branding, error) {
	name := strings.TrimSpace(in.DisplayName)
	if utf8.RuneCountInString(name) > MaxDisplayName {
		return nil, apierror.BadRequest("displayName: at most %d characters", MaxDisplayName)
	}
	for _, r := range name {
		// Format characters too: a bidirectional override would make the
		// name read as something else.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return nil, apierror.BadRequest("displayName: no control or format characters")
		}
	}
	b := &store.Branding{OrganizationID: org, DisplayName: name, UpdatedAt: now}
	for _, c := range []struct {
		field string
		in    string
		out   *string
	}{{"primaryColor", in.PrimaryColor, &b.PrimaryColor}, {"backgroundColor", in.BackgroundColor, &b.BackgroundColor}} {
		if c.in == "" {
			continue
		}
		if !hexColor.MatchString(c.in) {
			return nil, apierror.BadRequest("%s: a colour as #rrggbb (six hexadecimal digits), not %q", c.field, c.in)
		}
		*c.out = strings.ToLower(c.in)
	}
	if len(in.Logo) > 0 {
		typ, err := checkLogo(in.Logo)
		if err != nil {
			return nil, apierror.BadRequest("logo: %v", err)
		}
		b.Logo, b.LogoType = in.Logo, typ
	}
	b.Version = version(b)
	return b, nil
}

// checkLogo decodes logo in full (so that what is served is an image, not
// something that merely starts like one) and returns its media type.
func checkLogo(logo []byte) (string, error) {
	if len(logo) > MaxLogoBytes {
		return "", fmt.Errorf("at most %d KiB, this one is %d bytes", MaxLogoBytes>>10, len(logo))
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(logo))
	if err != nil {
		return "", errors.New("not a PNG or JPEG image")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxLogoPixels || cfg.Height > MaxLogoPixels {
		return "", fmt.Errorf("at most %d×%d pixels, this one is %d×%d", MaxLogoPixels, MaxLogoPixels, cfg.Width, cfg.Height)
	}
	if _, _, err := image.Decode(bytes.NewReader(logo)); err != nil {
		return "", fmt.Errorf("the %s image does not decode: %v", strings.ToUpper(format), err)
	}
	switch format {
	case "png":
		return "image/png", nil
	case "jpeg":
		return "image/jpeg", nil
	}
	return "", errors.New("not a PNG or JPEG image")
}

// version is the hash of what a branded page loads: the stylesheet and the
// logo. It names their URLs.
func version(b *store.Branding) string {
	h := sha256.New()
	h.Write(Stylesheet(b))
	h.Write([]byte{0})
	h.Write([]byte(b.LogoType))
	h.Write([]byte{0})
	h.Write(b.Logo)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// StylesheetPath is where branding b's stylesheet is served.
func StylesheetPath(b *store.Branding) string {
	return "/branding/" + b.OrganizationID + "/" + b.Version + ".css"
}

// LogoPath is where branding b's logo is served; "" without a logo.
func LogoPath(b *store.Branding) string {
	if len(b.Logo) == 0 {
		return ""
	}
	return "/branding/" + b.OrganizationID + "/" + b.Version + "-logo"
}

// Service reads and writes organizations' branding, one transaction and
// one audit event per write.
type Service struct {
	Store *store.Store
	Now   func() time.Time
}

// Get is organization org's branding; one with no values (the platform's
// look, Version "") when it has none.
func (s *Service) Get(ctx context.Context, org string) (*store.Branding, error) {
	b, err := s.Store.Read().GetBranding(ctx, org)
	if errors.Is(err, store.ErrNotFound) {
		return &store.Branding{OrganizationID: org}, nil
	}
	return b, err
}

// Put validates in and makes it organization org's branding.
func (s *Service) Put(ctx context.Context, org string, in Input) (*store.Branding, error) {
	b, err := Validate(org, in, s.Now().UTC())
	if err != nil {
		return nil, err
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetBranding(ctx, org)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := q.PutBranding(ctx, b); err != nil {
			return err
		}
		audit.Describe(ctx, "branding", org, snapshot(old), snapshot(b))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Delete removes organization org's branding: its pages look like the
// platform's again. A 404 apierror when it had none.
func (s *Service) Delete(ctx context.Context, org string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetBranding(ctx, org)
		if errors.Is(err, store.ErrNotFound) {
			return apierror.NotFoundError("organization %s has no branding", org)
		}
		if err != nil {
			return err
		}
		if err := q.DeleteBranding(ctx, org); err != nil {
			return err
		}
		audit.Describe(ctx, "branding", org, snapshot(old), nil)
		return nil
	})
}

// auditView is branding as the audit log records it: the logo by its
// type, size and hash, not its bytes.
type auditView struct {
	DisplayName     string `json:"displayName,omitempty"`
	PrimaryColor    string `json:"primaryColor,omitempty"`
	BackgroundColor string `json:"backgroundColor,omitempty"`
	LogoType        string `json:"logoType,omitempty"`
	LogoBytes       int    `json:"logoBytes,omitempty"`
	LogoSHA256      string `json:"logoSHA256,omitempty"`
}

// snapshot is b as audited; no branding yet is the empty one (the
// platform's look), so that a first write reads as the update it is.
func snapshot(b *store.Branding) any {
	if b == nil {
		return auditView{}
	}
	v := auditView{DisplayName: b.DisplayName, PrimaryColor: b.PrimaryColor, BackgroundColor: b.BackgroundColor, LogoType: b.LogoType, LogoBytes: len(b.Logo)}
	if len(b.Logo) > 0 {
		sum := sha256.Sum256(b.Logo)
		v.LogoSHA256 = hex.EncodeToString(sum[:])
	}
	return v
}
