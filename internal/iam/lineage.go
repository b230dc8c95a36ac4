package iam

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// parent is what a credential derived from the caller (a role session, an
// API key) inherits from it: the links it will depend on, and the end it
// may not outlive (zero: the caller never expires).
type parent struct {
	lineage []store.LineageLink
	end     time.Time
}

// derivedFrom makes the lineage of a credential derived from p in
// organization orgID, of which p is a member when member is true:
//
//   - a service account: the account with its present token (the hash
//     prefix: rotating the token ends the offspring), ending with that
//     token (or with p's own token, if it is shorter, e.g. an exchanged one),
//     then an exchanged token's own lineage (its jti and its ancestors');
//   - an API key: the key's own lineage, then the key;
//   - a role session: the session's lineage (the session is a signed token,
//     not a row: it ends with its lineage or at its expiry, which the
//     offspring may not outlive);
//   - a user: the user's active membership in the organization (or, for a
//     non-member such as a platform administrator, being active anywhere or
//     holding a platform role) and the access token presented with what it
//     descends from (its jti and its ancestors' unrevoked, its session
//     alive).
//
// It reads the service account in q (the others carry what they need).
func derivedFrom(ctx context.Context, q *store.Q, p *authn.Principal, orgID string, member bool) (parent, error) {
	switch p.Kind {
	case authn.KindServiceAccount:
		sa, err := q.GetServiceAccount(ctx, p.OrganizationID, p.ID)
		if errors.Is(err, store.ErrNotFound) {
			return parent{}, apierror.Unauthorized("service account %s no longer exists", p.ID)
		}
		if err != nil {
			return parent{}, err
		}
		end := sa.ExpiresAt
		if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(end) {
			end = p.ExpiresAt
		}
		// Then, for a token exchanged from the account's (oidc), that
		// token's own lineage: revoking it ends its offspring too.
		return parent{end: end, lineage: append([]store.LineageLink{{Kind: store.LinkServiceAccount, Org: sa.OrganizationID, ID: sa.ID,
			Hash: sa.TokenHash[:min(len(sa.TokenHash), store.TokenHashPrefixLen)]}}, p.Lineage...)}, nil
	case authn.KindAPIKey:
		return parent{end: p.ExpiresAt, lineage: append(slices.Clone(p.Lineage),
			store.LineageLink{Kind: store.LinkAPIKey, Org: p.OrganizationID, ID: p.ID})}, nil
	case authn.KindAssumedRole:
		return parent{end: p.ExpiresAt, lineage: slices.Clone(p.Lineage)}, nil
	case authn.KindUser:
		u := store.LineageLink{Kind: store.LinkUser, ID: p.Subject}
		if member {
			u.Org = orgID
		}
		out := parent{end: p.ExpiresAt, lineage: []store.LineageLink{u}}
		switch {
		case len(p.Lineage) > 0:
			// The access token's own lineage (its jti, the tokens it was
			// exchanged from, its session): whatever ends the token ends
			// its offspring.
			out.lineage = append(out.lineage, p.Lineage...)
		case p.TokenID != "":
			out.lineage = append(out.lineage, store.LineageLink{Kind: store.LinkToken, ID: p.TokenID})
		}
		return out, nil
	}
	return parent{}, apierror.ForbiddenError("a %s cannot derive credentials", p.Kind)
}

// remaining is how long the parent lasts from now; ok false when it never
// ends.
func (p parent) remaining(now time.Time) (d time.Duration, ok bool) {
	if p.end.IsZero() {
		return 0, false
	}
	return p.end.Sub(now), true
}
