package oidc

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// maxExchangeDepth is how many times a token may be exchanged for another
// (RFC 8693) down one chain: each exchanged token carries the jtis of all
// its ancestors, checked on every use.
const maxExchangeDepth = 8

// Errors of the lineage check; all wrap authn.ErrInvalid.
var (
	errFamilyEnded = fmt.Errorf("%w: the session the access token was issued in has ended", authn.ErrInvalid)
	errSourceGone  = fmt.Errorf("%w: the service account token the access token was exchanged from is gone", authn.ErrInvalid)
)

// lineage is what c descends from (see store.TokenLineage).
func lineage(c *AccessClaims) store.TokenLineage {
	l := store.TokenLineage{JTIs: append(slices.Clone(c.Parents), c.JTI), Family: c.Family}
	if c.ServiceAccountToken != "" {
		l.ServiceAccount = c.Subject
	}
	return l
}

// checkLineage refuses a token whose own jti or an ancestor's is revoked,
// whose session (refresh token family) has ended, or whose service account
// token has been rotated or deleted: a derived token dies with its source,
// at once and on every replica, because the source's state is read from the
// database on every use. Tokens that carry no family (client credentials,
// role sessions, tokens minted before lineage existed) are checked by their
// jtis alone.
func (t *tokens) checkLineage(ctx context.Context, c *AccessClaims) error {
	if len(c.Parents) > maxExchangeDepth {
		return errMalformed
	}
	st, err := t.store.Read().TokenLineageState(ctx, lineage(c))
	if err != nil {
		return err
	}
	switch {
	case st.Revoked:
		return errRevoked
	case c.Family != "" && !st.FamilyLive:
		return errFamilyEnded
	case c.ServiceAccountToken != "" && (st.ServiceAccountTokenHash == "" ||
		subtle.ConstantTimeCompare([]byte(serviceAccountTokenFingerprint(st.ServiceAccountTokenHash)), []byte(c.ServiceAccountToken)) != 1):
		return errSourceGone
	}
	return nil
}

// serviceAccountTokenFingerprint names one token of a service account in
// the tokens exchanged from it (gh_sat) without publishing the hash the
// database looks the token up by: a rotation changes the stored hash, so
// the fingerprint no longer matches.
func serviceAccountTokenFingerprint(tokenHash string) string {
	return secret.Hash("gatehouse service account token lineage\x00" + tokenHash)[:32]
}

// credentialLineage is the lineage of a user's access token as the
// credentials derived from it (role sessions, API keys; internal/iam)
// inherit it: the token's jti and its ancestors' (none revoked) and its
// session (alive). checkLineage checks the same on every use of the token
// itself; a role session assumed with it checks these links on every use
// of the session, so ending the token's family ends the session too.
func credentialLineage(c *AccessClaims) []store.LineageLink {
	links := make([]store.LineageLink, 0, len(c.Parents)+2)
	for _, jti := range c.Parents {
		links = append(links, store.LineageLink{Kind: store.LinkToken, ID: jti})
	}
	links = append(links, store.LineageLink{Kind: store.LinkToken, ID: c.JTI})
	if c.Family != "" {
		links = append(links, store.LineageLink{Kind: store.LinkSession, ID: c.Family})
	}
	return links
}
