package oidc

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse/gatehouse/internal/branding"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// PageBrand is the organization's look the login page shows (webui.Branded).
func (v *loginView) PageBrand() *webui.Brand { return v.Brand }

// brandFor is the branding of the organization that sign-in request req is
// routed to, or nil for the platform's look: the organization that owns
// the client, else the one whose verified domain login_hint (or the
// id_token_hint's subject) is in. Only verified domains count, like for
// routing: a pending claim, which anyone can make, must not dress the page
// in someone else's colours.
func (p *Provider) brandFor(ctx context.Context, req *store.OIDCAuthRequest) (*webui.Brand, error) {
	org := ""
	c, err := p.cfg.Clients.Get(ctx, req.ClientID)
	if err != nil {
		return nil, err
	}
	org = c.OrganizationID
	var o *store.Organization
	if org == "" {
		hint := req.LoginHint
		if hint == "" {
			hint = req.HintSubject
		}
		at := strings.LastIndexByte(hint, '@')
		if at < 0 {
			return nil, nil
		}
		o, err = p.cfg.Store.Read().OrganizationByDomain(ctx, strings.ToLower(strings.TrimSpace(hint[at+1:])))
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		org = o.ID
	}
	b, err := p.cfg.Store.Read().GetBranding(ctx, org)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if o == nil {
		if o, err = p.cfg.Store.Read().GetOrganization(ctx, org); err != nil {
			return nil, err
		}
	}
	return branding.Page(b, o.Name), nil
}
