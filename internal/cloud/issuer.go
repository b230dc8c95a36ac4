package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
)

// WorkloadTokenType is the JWS "typ" of workload identity tokens: plain
// JWTs, as AWS STS and GCP STS expect of an OpenID Connect ID token.
const WorkloadTokenType = "JWT"

// Token lifetimes. Tokens are short: a cloud exchanges them at once, and AWS
// and GCP bound the credentials they issue by their own settings.
const (
	// ExchangeTokenLifetime is the lifetime of the token minted for a
	// credential exchange: used within seconds.
	ExchangeTokenLifetime = 5 * time.Minute
	// DefaultTokenLifetime and MaxTokenLifetime bound the tokens handed out
	// by the token endpoint, for external tooling.
	DefaultTokenLifetime = 15 * time.Minute
	MinTokenLifetime     = time.Minute
	MaxTokenLifetime     = time.Hour
)

// AWSSessionTagsClaim is the claim AWS STS reads session tags from.
const AWSSessionTagsClaim = "https://aws.amazon.com/tags"

// IssuerPath is the path of organization orgID's workload issuer below
// Gatehouse's base URL.
func IssuerPath(orgID string) string { return "/oidc/organizations/" + orgID }

// IssuerURL is organization orgID's workload issuer: exactly the token's iss
// and the URL AWS and GCP are configured with (no trailing slash).
func (s *Service) IssuerURL(orgID string) string {
	return strings.TrimRight(s.Issuer, "/") + IssuerPath(orgID)
}

// Discovery is the OpenID Connect discovery document of a workload issuer:
// what AWS and GCP read before they fetch the keys.
type Discovery struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                  []string `json:"scopes_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

// WorkloadClaims are the claims of a workload identity token. Everything
// about who is asking comes from the authenticated caller, never from the
// request body; only Context is the caller's to choose (validated).
type WorkloadClaims struct {
	Issuer          string `json:"iss"`
	Subject         string `json:"sub"`
	Audience        string `json:"aud"`
	IssuedAt        int64  `json:"iat"`
	NotBefore       int64  `json:"nbf"`
	ExpiresAt       int64  `json:"exp"`
	JTI             string `json:"jti"`
	OrganizationID  string `json:"organization_id"`
	ProjectID       string `json:"project_id,omitempty"`
	PrincipalType   string `json:"principal_type"`
	PrincipalID     string `json:"principal_id"`
	CloudIdentityID string `json:"cloud_identity_id,omitempty"`
	// AccountID and PermissionSetID are set instead of ProjectID and
	// CloudIdentityID in a token for an account assignment.
	AccountID       string          `json:"account_id,omitempty"`
	PermissionSetID string          `json:"permission_set_id,omitempty"`
	Context         string          `json:"context,omitempty"`
	AWSSessionTags  *AWSSessionTags `json:"https://aws.amazon.com/tags,omitempty"`
}

// AWSSessionTags is the value of the AWSSessionTagsClaim: AWS turns
// principal_tags into session tags (aws:PrincipalTag/KEY in policies) when
// the role's trust policy allows sts:TagSession.
type AWSSessionTags struct {
	PrincipalTags     map[string][]string `json:"principal_tags"`
	TransitiveTagKeys []string            `json:"transitive_tag_keys,omitempty"`
}

// claimsSupported lists the claims workload tokens carry.
var claimsSupported = []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "organization_id", "project_id",
	"principal_type", "principal_id", "cloud_identity_id", "account_id", "permission_set_id", "context", AWSSessionTagsClaim}

// Subject is the sub claim of a token about caller in a project: scoped so
// that a trust policy conditioned on sub (AWS cannot condition on custom
// claims) can tell organizations, projects and principals apart:
//
//	org:{organizationID}:project:{projectID}:sa:{serviceAccountID}
//	org:{organizationID}:project:{projectID}:user:{userID}
//
// The principal type is short ("sa", not principal_type's "serviceAccount")
// because GCP refuses a google.subject over 127 bytes, and the usual mapping
// is google.subject = assertion.sub: with UUIDs this is at most 127 bytes.
func Subject(orgID, projectID string, c Caller) string {
	kind := c.Type
	if kind == PrincipalServiceAccount {
		kind = "sa"
	}
	return "org:" + orgID + ":project:" + projectID + ":" + kind + ":" + c.ID
}

// MaxSubjectLength is GCP's limit on google.subject, which Subject respects
// for Gatehouse's UUID identifiers.
const MaxSubjectLength = 127

// SubjectPrefix is what every token about a project's principals starts
// with: a StringLike condition "PREFIX*" admits them all.
func SubjectPrefix(orgID, projectID string) string {
	return "org:" + orgID + ":project:" + projectID + ":"
}

// contextPattern is what the optional context claim may hold: short, and of
// characters that are safe in a trust policy condition and a log.
var contextPattern = regexp.MustCompile(`^[A-Za-z0-9._:/@-]{1,256}$`)

// CheckContext validates a caller-chosen context claim (” means none).
func CheckContext(field, c string) error {
	if c != "" && !contextPattern.MatchString(c) {
		return invalid("%s must be 1 to 256 characters of A-Z a-z 0-9 . _ : / @ -", field)
	}
	return nil
}

// organization checks that orgID names an organization: workload issuers
// exist only for them.
func (s *Service) organization(ctx context.Context, orgID string) error {
	_, err := s.Store.Read().GetOrganization(ctx, orgID)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFoundError("no organization %q", orgID)
	}
	if err != nil {
		return fmt.Errorf("read organization: %w", err)
	}
	return nil
}

// JWKS is the public key set of orgID's workload issuer: its next, active
// and unexpired retired keys (created on first use). 404 for an unknown
// organization.
func (s *Service) JWKS(ctx context.Context, orgID string) (jose.JSONWebKeySet, error) {
	if err := s.organization(ctx, orgID); err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set, err := s.Keys.Organization(orgID).PublicJWKS(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("workload issuer keys: %w", err)
	}
	return set, nil
}

// Discovery is orgID's workload issuer discovery document. Its signing
// algorithms are those of the published keys. 404 for an unknown
// organization.
func (s *Service) Discovery(ctx context.Context, orgID string) (*Discovery, error) {
	set, err := s.JWKS(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var algs []string
	for _, k := range set.Keys {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	slices.Sort(algs)
	iss := s.IssuerURL(orgID)
	return &Discovery{
		Issuer: iss, JWKSURI: iss + "/jwks",
		ResponseTypesSupported: []string{"id_token"}, SubjectTypesSupported: []string{"public"},
		IDTokenSigningAlgValuesSupported: algs, ScopesSupported: []string{"openid"},
		ClaimsSupported: claimsSupported,
	}, nil
}

// mint signs a workload token about caller for identity, valid for
// lifetime from now.
func (s *Service) mint(ctx context.Context, id *Identity, caller Caller, audience, tokenContext string, lifetime time.Duration) (string, *WorkloadClaims, error) {
	jti, err := s.randomID()
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	c := &WorkloadClaims{
		Issuer: s.IssuerURL(id.Meta.OrganizationID), Subject: Subject(id.Meta.OrganizationID, id.ProjectID, caller),
		Audience: audience, IssuedAt: now.Unix(), NotBefore: now.Unix(), ExpiresAt: now.Add(lifetime).Unix(), JTI: jti,
		OrganizationID: id.Meta.OrganizationID, ProjectID: id.ProjectID, PrincipalType: caller.Type, PrincipalID: caller.ID,
		CloudIdentityID: id.Meta.ID, Context: tokenContext,
	}
	if id.Spec.AWS != nil && id.Spec.AWS.SessionTags {
		c.AWSSessionTags = &AWSSessionTags{PrincipalTags: map[string][]string{
			"organization_id": {c.OrganizationID}, "project_id": {c.ProjectID},
			"principal_type": {c.PrincipalType}, "principal_id": {c.PrincipalID},
		}}
	}
	raw, err := s.sign(ctx, c)
	if err != nil {
		return "", nil, err
	}
	return raw, c, nil
}

// sign signs c with the workload issuer key of c's organization.
func (s *Service) sign(ctx context.Context, c *WorkloadClaims) (string, error) {
	key, err := s.Keys.Organization(c.OrganizationID).SigningKey(ctx)
	if err != nil {
		return "", fmt.Errorf("workload issuer signing key: %w", err)
	}
	signer, err := jose.NewSigner(key.JOSE(), (&jose.SignerOptions{}).WithType(WorkloadTokenType))
	if err != nil {
		return "", fmt.Errorf("workload token signer: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("workload token claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign workload token: %w", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("serialize workload token: %w", err)
	}
	return raw, nil
}
