package cloudtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// tokenProblem is why a web identity token was refused, in the terms both
// clouds distinguish.
type tokenProblem int

const (
	tokenOK tokenProblem = iota
	tokenMalformed
	tokenUnreachable // discovery or JWKS could not be fetched
	tokenInvalid     // signature, unknown key, issuer mismatch, nbf
	tokenExpired
	tokenWrongAudience
)

// verified is a token that passed verification.
type verified struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
	Claims   map[string]any
}

// unverifiedIssuer reads iss without verifying anything: like the real
// services, the stand-ins pick the trust configuration by issuer first.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWS compact serialization")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	if c.Issuer == "" {
		return "", errors.New("no iss claim")
	}
	return c.Issuer, nil
}

// verifyToken verifies raw as an OpenID Connect ID token of issuer, the way
// AWS STS and GCP STS do: read the issuer's discovery document over HTTP
// (its issuer must match byte for byte), fetch its JWKS, check the signature
// with a key of the JWKS (by kid), iss, exp and nbf at now, and that aud is
// one of audiences. Everything is fetched afresh: the stand-ins cache nothing,
// so a broken endpoint or a dropped key shows at once.
func verifyToken(ctx context.Context, client *http.Client, now func() time.Time, raw, issuer string, audiences []string) (*verified, tokenProblem, string) {
	ctx = oidc.ClientContext(ctx, client)
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, tokenInvalid, "the discovery document's issuer does not match " + issuer
		}
		return nil, tokenUnreachable, "could not read the discovery document of " + issuer
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&doc); err != nil || doc.JWKSURI == "" {
		return nil, tokenUnreachable, "the discovery document of " + issuer + " has no jwks_uri"
	}
	// Fetch the keys once ourselves, to tell an unreachable JWKS from a bad
	// signature (go-oidc reports both from Verify).
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc.JWKSURI, nil)
	if err != nil {
		return nil, tokenUnreachable, "bad jwks_uri"
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, tokenUnreachable, "could not fetch the JWKS of " + issuer
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, tokenUnreachable, fmt.Sprintf("the JWKS of %s answered %d", issuer, resp.StatusCode)
	}
	tok, err := provider.Verifier(&oidc.Config{SkipClientIDCheck: true, Now: now}).Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, tokenExpired, fmt.Sprintf("token expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
		}
		return nil, tokenInvalid, "token verification failed: " + err.Error()
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(audiences, a) }) {
		return nil, tokenWrongAudience, fmt.Sprintf("audience %v is not one of %v", tok.Audience, audiences)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, tokenMalformed, "claims: " + err.Error()
	}
	return &verified{Issuer: tok.Issuer, Subject: tok.Subject, Audience: tok.Audience, Expiry: tok.Expiry, Claims: claims}, tokenOK, ""
}
