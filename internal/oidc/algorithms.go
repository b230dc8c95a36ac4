package oidc

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// ID tokens are signed with the algorithm their client chose
// (client.Spec.IDTokenSignedResponseAlg: RS256, ES256 or ES512), or the
// server's default; access tokens and logout tokens always with the default,
// since Gatehouse verifies them itself. zitadel asks Storage.SigningKey for
// the key of an ID token with nothing but the request's context, so the
// token endpoint's overrides (CodeExchange, RefreshToken) put the client's
// choice there first.

// idTokenAlgKey carries a client's ID token algorithm in a context.
type idTokenAlgKey struct{}

// withIDTokenAlgorithm is ctx carrying the ID token algorithm of c, if it
// chose one.
func withIDTokenAlgorithm(ctx context.Context, c op.Client) context.Context {
	if oc, ok := c.(*opClient); ok && oc.c.IDTokenSignedResponseAlg != "" {
		return context.WithValue(ctx, idTokenAlgKey{}, oc.c.IDTokenSignedResponseAlg)
	}
	return ctx
}

// idTokenAlgorithm is the algorithm withIDTokenAlgorithm put in ctx, if any.
func idTokenAlgorithm(ctx context.Context) (string, bool) {
	alg, ok := ctx.Value(idTokenAlgKey{}).(string)
	return alg, ok
}

// publishedKeySet verifies the provider's own ID tokens (id_token_hint at the
// authorization and logout endpoints) against the published keys, strictly:
// the header's kid must name a published key, and its alg must be that key's
// own algorithm. zitadel's key set picks a key by kid and key type only, so a
// token could otherwise be checked with an RS256 key under PS256, or with no
// kid at all against the only key of a type.
type publishedKeySet struct{ p *Provider }

// errUnknownKey: the token names no published key of its algorithm.
var errUnknownKey = errors.New("the token's kid and alg name no published key")

// VerifySignature implements oidc.KeySet.
func (k publishedKeySet) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	set, err := k.p.cfg.Keys.PublicJWKS(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify ID token: %w", err)
	}
	found := set.Key(h.KeyID)
	if h.KeyID == "" || len(found) != 1 || found[0].Algorithm != h.Algorithm {
		return nil, errUnknownKey
	}
	return jws.Verify(found[0].Key)
}
