package oidc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/authn"
)

// kindAssumedRole marks role session tokens (POST .../roles/{id}/assume):
// sub and gh_role are the role ID, gh_org its organization, gh_name its
// name, gh_src the principal that assumed it, gh_lin its lineage (the
// links checked on every use: see authn.CheckLineage).
const kindAssumedRole = "assumed_role"

// SignSession signs a role session as one of our access tokens (at+jwt, the
// active signing key), issued now by the provider's clock (the one its
// verification uses), so that it is verified by the same code as every
// other access token, revocable by jti, and published keys verify it. It
// returns the token and when it expires. The session must not outlive the
// provider's token lifetime (--max-token-lifetime): the signing keys stay
// published only that long.
func (p *Provider) SignSession(ctx context.Context, s authn.Session) (string, time.Time, error) {
	if s.ID == "" || s.OrganizationID == "" || s.RoleID == "" || s.Source.ID == "" || len(s.Lineage) == 0 {
		return "", time.Time{}, errors.New("role session: ID, organization, role, source and lineage are required")
	}
	if s.TTL <= 0 || s.TTL > p.cfg.TokenLifetime {
		return "", time.Time{}, fmt.Errorf("role session: lifetime %s outside (0, %s]", s.TTL, p.cfg.TokenLifetime)
	}
	now := p.cfg.Now().UTC().Truncate(time.Second)
	exp := now.Add(s.TTL)
	src := s.Source
	tok, err := p.tokens.mint(ctx, &AccessClaims{
		Issuer: p.cfg.Issuer, Subject: s.RoleID, Audience: []string{p.cfg.Issuer},
		IssuedAt: now.Unix(), ExpiresAt: exp.Unix(), JTI: s.ID, Kind: kindAssumedRole,
		Organization: s.OrganizationID, Name: s.RoleName, Role: s.RoleID, Source: &src, Lineage: s.Lineage,
	})
	return tok, exp, err
}

// MaxSessionLifetime is the longest role session SignSession accepts.
func (p *Provider) MaxSessionLifetime() time.Duration { return p.cfg.TokenLifetime }
