package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/keys"
)

// Cloud credential federation (issue 5): the workload issuer's public
// endpoints, and the /api/v1 handlers of cloud identities, the credential
// store and cloud connections. The rules are internal/cloud's; these only
// translate.

// workloadIssuerMaxAge is how long relying parties (AWS, GCP) may cache an
// organization's discovery document and JWKS, as for the platform JWKS.
var workloadIssuerMaxAge = "public, max-age=" + strconv.Itoa(int(keys.JWKSMaxAge/time.Second))

// workloadDiscovery serves GET /oidc/organizations/{organizationID}/.well-known/openid-configuration.
func (s *Server) workloadDiscovery(w http.ResponseWriter, r *http.Request) {
	doc, err := s.cloud.Discovery(r.Context(), r.PathValue("organizationID"))
	s.writePublic(w, r, doc, err)
}

// workloadJWKS serves GET /oidc/organizations/{organizationID}/jwks.
func (s *Server) workloadJWKS(w http.ResponseWriter, r *http.Request) {
	set, err := s.cloud.JWKS(r.Context(), r.PathValue("organizationID"))
	s.writePublic(w, r, set, err)
}

// writePublic writes a cacheable public document, or err.
func (s *Server) writePublic(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", workloadIssuerMaxAge)
	_, _ = w.Write(body)
}

// cloudError writes err. Cloud failures (*cloud.Error) carry errorType:
// with gateway, the ones the caller cannot fix by changing the request
// (unreachable endpoint, unknown cloud failure) are 502; every other one,
// and all of them without gateway (the seed's validate answers 400 for
// every errorType), is 400 invalid_request.
func (h *handlers) cloudError(w http.ResponseWriter, r *http.Request, err error, gateway bool) {
	e, ok := cloud.AsError(err)
	if !ok {
		h.s.writeError(w, r, err)
		return
	}
	out := &apierror.Error{Status: http.StatusBadRequest, Code: apierror.InvalidRequest, Description: e.Message, ErrorType: string(e.Type)}
	if gateway && (e.Type == cloud.ErrServiceEndpointNotReachable || e.Type == cloud.ErrUnknown) {
		out.Status, out.Code = http.StatusBadGateway, apierror.ServerError
	}
	if e.Type == cloud.ErrUnknown || e.Type == cloud.ErrServiceEndpointNotReachable {
		// The message is what the caller got; the cause names the SDK's
		// error chain. Neither holds a secret.
		h.s.log.Warn("cloud call failed", "request_id", info(r.Context()).id, "error_type", string(e.Type), "error", e.Message, "cause", e.Err)
	}
	apierror.Write(w, out)
}

// --- retry policies ---

func retryPolicyFromAPI(p *api.RetryPolicy) *cloud.RetryPolicy {
	if p == nil {
		return nil
	}
	return &cloud.RetryPolicy{BackOffStrategyType: string(p.BackOffStrategyType), BackOffStrategy: cloud.BackOffStrategy{
		FixedBackoff: p.BackOffStrategy.FixedBackoff, BaseDelay: p.BackOffStrategy.BaseDelay,
		MaxBackoffTime: p.BackOffStrategy.MaxBackoffTime, RetryCount: ptr(p.BackOffStrategy.RetryCount),
	}}
}

func retryPolicyToAPI(p *cloud.RetryPolicy) *api.RetryPolicy {
	if p == nil {
		return nil
	}
	return &api.RetryPolicy{BackOffStrategyType: api.RetryPolicyBackOffStrategyType(p.BackOffStrategyType), BackOffStrategy: api.BackOffStrategy{
		FixedBackoff: p.BackOffStrategy.FixedBackoff, BaseDelay: p.BackOffStrategy.BaseDelay,
		MaxBackoffTime: p.BackOffStrategy.MaxBackoffTime, RetryCount: deref(p.BackOffStrategy.RetryCount),
	}}
}

// --- cloud identities ---

func identitySpecFromAPI(in api.CloudIdentitySpec) cloud.IdentitySpec {
	spec := cloud.IdentitySpec{Provider: string(in.Provider), Audience: deref(in.Audience), RetryPolicy: retryPolicyFromAPI(in.RetryPolicy)}
	if a := in.Aws; a != nil {
		spec.AWS = &cloud.AWSIdentity{RoleARN: a.RoleARN, SessionDuration: deref(a.SessionDuration), Region: deref(a.Region),
			STSEndpoint: deref(a.StsEndpoint), SessionTags: deref(a.SessionTags)}
	}
	if g := in.Gcp; g != nil {
		spec.GCP = &cloud.GCPIdentity{ProjectNumber: g.ProjectNumber, WorkloadIdentityPoolID: g.WorkloadIdentityPoolID,
			ProviderID: g.ProviderID, ServiceAccountEmail: deref(g.ServiceAccountEmail), Scopes: deref(g.Scopes),
			Lifetime: deref(g.Lifetime), STSEndpoint: deref(g.StsEndpoint), IAMCredentialsEndpoint: deref(g.IamCredentialsEndpoint)}
	}
	return spec
}

func identityToAPI(id *cloud.Identity) api.CloudIdentityRead {
	spec := api.CloudIdentitySpec{Provider: api.CloudIdentitySpecProvider(id.Spec.Provider), Audience: optString(id.Spec.Audience),
		RetryPolicy: retryPolicyToAPI(id.Spec.RetryPolicy)}
	if a := id.Spec.AWS; a != nil {
		spec.Aws = &api.AwsCloudIdentity{RoleARN: a.RoleARN, SessionDuration: ptr(a.SessionDuration), Region: ptr(a.Region),
			StsEndpoint: optString(a.STSEndpoint), SessionTags: ptr(a.SessionTags)}
	}
	if g := id.Spec.GCP; g != nil {
		spec.Gcp = &api.GcpCloudIdentity{ProjectNumber: g.ProjectNumber, WorkloadIdentityPoolID: g.WorkloadIdentityPoolID,
			ProviderID: g.ProviderID, ServiceAccountEmail: optString(g.ServiceAccountEmail), Scopes: ptr(g.Scopes),
			Lifetime: ptr(g.Lifetime), StsEndpoint: optString(g.STSEndpoint), IamCredentialsEndpoint: optString(g.IAMCredentialsEndpoint)}
	}
	return api.CloudIdentityRead{Metadata: projectMeta(id.Meta, id.ProjectID), Spec: spec, Status: api.CloudIdentityStatus{
		Issuer: id.Status.Issuer, Audience: id.Status.Audience, SubjectPrefix: id.Status.SubjectPrefix}}
}

func (h *handlers) ListCloudIdentities(w http.ResponseWriter, r *http.Request, organizationID, projectID string, params api.ListCloudIdentitiesParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ids, err := h.s.cloud.ListIdentities(r.Context(), organizationID, projectID, p)
	replyList(h, w, r, p, ids, err, func(c *cloud.Identity) string { return c.Meta.ID }, identityToAPI)
}

func (h *handlers) CreateCloudIdentity(w http.ResponseWriter, r *http.Request, organizationID, projectID string) {
	var in api.CloudIdentityWrite
	if !h.decode(w, r, &in) {
		return
	}
	id, err := h.s.cloud.CreateIdentity(r.Context(), principal(r), organizationID, projectID, writeMeta(in.Metadata), identitySpecFromAPI(in.Spec))
	replyCloudValue(h, w, r, http.StatusCreated, id, err, identityToAPI, false)
}

func (h *handlers) GetCloudIdentity(w http.ResponseWriter, r *http.Request, organizationID, projectID, cloudIdentityID string) {
	id, err := h.s.cloud.GetIdentity(r.Context(), organizationID, projectID, cloudIdentityID)
	replyCloudValue(h, w, r, http.StatusOK, id, err, identityToAPI, false)
}

func (h *handlers) UpdateCloudIdentity(w http.ResponseWriter, r *http.Request, organizationID, projectID, cloudIdentityID string) {
	var in api.CloudIdentityWrite
	if !h.decode(w, r, &in) {
		return
	}
	id, err := h.s.cloud.UpdateIdentity(r.Context(), principal(r), organizationID, projectID, cloudIdentityID,
		writeMeta(in.Metadata), identitySpecFromAPI(in.Spec))
	replyCloudValue(h, w, r, http.StatusOK, id, err, identityToAPI, false)
}

func (h *handlers) DeleteCloudIdentity(w http.ResponseWriter, r *http.Request, organizationID, projectID, cloudIdentityID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.cloud.DeleteIdentity(r.Context(), organizationID, projectID, cloudIdentityID))
}

func (h *handlers) IssueCloudIdentityToken(w http.ResponseWriter, r *http.Request, organizationID, projectID, cloudIdentityID string) {
	var in api.CloudIdentityTokenRequest
	if !h.decode(w, r, &in) {
		return
	}
	tok, err := h.s.cloud.IssueToken(r.Context(), principal(r), organizationID, projectID, cloudIdentityID, cloud.TokenRequest{
		Context: deref(in.Context), Lifetime: time.Duration(deref(in.Lifetime)) * time.Second})
	replyCloudValue(h, w, r, http.StatusOK, tok, err, func(t *cloud.IssuedToken) api.CloudIdentityToken {
		return api.CloudIdentityToken{Token: t.Token, TokenType: cloud.JWTTokenType, Issuer: t.Claims.Issuer, Subject: t.Claims.Subject,
			Audience: t.Claims.Audience, Expiration: t.Expiration()}
	}, true)
}

func (h *handlers) IssueCloudIdentityCredentials(w http.ResponseWriter, r *http.Request, organizationID, projectID, cloudIdentityID string) {
	var in api.CloudIdentityCredentialsRequest
	if !h.decode(w, r, &in) {
		return
	}
	creds, err := h.s.cloud.IssueCredentials(r.Context(), principal(r), organizationID, projectID, cloudIdentityID, cloud.CredentialsRequest{
		Context: deref(in.Context), RetryPolicy: retryPolicyFromAPI(in.RetryPolicy)})
	replyCloudValue(h, w, r, http.StatusOK, creds, err, credentialsToAPI, true)
}

func (h *handlers) IssueCloudAccountCredentials(w http.ResponseWriter, r *http.Request, organizationID, accountID string) {
	var in api.CloudAccountCredentialsRequest
	if !h.decode(w, r, &in) {
		return
	}
	creds, err := h.s.cloud.IssueAccountCredentials(r.Context(), principal(r), organizationID, accountID, cloud.AccountCredentialsRequest{
		PermissionSetID: in.PermissionSetID, RetryPolicy: retryPolicyFromAPI(in.RetryPolicy)})
	replyCloudValue(h, w, r, http.StatusOK, creds, err, credentialsToAPI, true)
}

func credentialsToAPI(c *cloud.Credentials) api.CloudCredentials {
	out := api.CloudCredentials{Provider: api.CloudCredentialsProvider(c.Provider)}
	if a := c.AWS; a != nil {
		out.Aws = &api.AwsCredentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey, SessionToken: a.SessionToken,
			Expiration: a.Expiration, AssumedRoleARN: a.AssumedRoleARN}
	}
	if g := c.GCP; g != nil {
		out.Gcp = &api.GcpAccessToken{AccessToken: g.AccessToken, TokenType: g.TokenType, Expiration: g.Expiration, Kind: api.GcpAccessTokenKind(g.Kind)}
	}
	return out
}

// replyCloudValue writes conv(v) with status, or err (see cloudError).
func replyCloudValue[T any, R any](h *handlers, w http.ResponseWriter, r *http.Request, status int, v T, err error, conv func(T) R, gateway bool) {
	if err != nil {
		h.cloudError(w, r, err, gateway)
		return
	}
	writeJSON(w, status, conv(v))
}

// --- credential store ---

func credentialFromAPI(in api.CredentialWrite) cloud.CredentialInput {
	out := cloud.CredentialInput{Meta: writeMeta(in.Metadata), Spec: cloud.CredentialSpec{Type: string(in.Spec.Type)}}
	if k := in.Spec.AwsAccessKey; k != nil {
		out.Spec.AWSAccessKey = &cloud.AWSAccessKey{AccessKeyID: k.AccessKeyID}
		out.SecretAccessKey = k.SecretAccessKey
	}
	if a := in.Spec.AwsAssumeRole; a != nil {
		out.Spec.AWSAssumeRole = &cloud.AWSAssumeRole{RoleARN: a.RoleARN}
	}
	return out
}

// credentialToAPI never sets the secret: it is write-only.
func credentialToAPI(c *cloud.Credential) api.CredentialRead {
	spec := api.CredentialSpec{Type: api.CredentialSpecType(c.Spec.Type)}
	if k := c.Spec.AWSAccessKey; k != nil {
		spec.AwsAccessKey = &api.AwsAccessKeyCredential{AccessKeyID: k.AccessKeyID}
	}
	if a := c.Spec.AWSAssumeRole; a != nil {
		spec.AwsAssumeRole = &api.AwsAssumeRoleCredential{RoleARN: a.RoleARN}
	}
	return api.CredentialRead{Metadata: orgMeta(c.Meta), Spec: spec,
		Status: api.CredentialStatus{ExternalID: optString(c.Status.ExternalID), HasSecret: c.Status.HasSecret}}
}

func (h *handlers) ListCredentials(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListCredentialsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	cs, err := h.s.cloud.ListCredentials(r.Context(), organizationID, p)
	replyList(h, w, r, p, cs, err, func(c *cloud.Credential) string { return c.Meta.ID }, credentialToAPI)
}

func (h *handlers) CreateCredential(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.CredentialWrite
	if !h.decode(w, r, &in) {
		return
	}
	c, err := h.s.cloud.CreateCredential(r.Context(), principal(r), organizationID, credentialFromAPI(in))
	replyCloudValue(h, w, r, http.StatusCreated, c, err, credentialToAPI, false)
}

func (h *handlers) GetCredential(w http.ResponseWriter, r *http.Request, organizationID, credentialID string) {
	c, err := h.s.cloud.GetCredential(r.Context(), organizationID, credentialID)
	replyCloudValue(h, w, r, http.StatusOK, c, err, credentialToAPI, false)
}

func (h *handlers) UpdateCredential(w http.ResponseWriter, r *http.Request, organizationID, credentialID string) {
	var in api.CredentialWrite
	if !h.decode(w, r, &in) {
		return
	}
	c, err := h.s.cloud.UpdateCredential(r.Context(), principal(r), organizationID, credentialID, credentialFromAPI(in))
	replyCloudValue(h, w, r, http.StatusOK, c, err, credentialToAPI, false)
}

func (h *handlers) DeleteCredential(w http.ResponseWriter, r *http.Request, organizationID, credentialID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.cloud.DeleteCredential(r.Context(), organizationID, credentialID))
}

// --- cloud connections ---

func connectionCredentialFromAPI(in api.CloudConnectionCredential) cloud.ConnectionCredential {
	return cloud.ConnectionCredential{Type: string(in.Type), CredentialID: deref(in.CredentialID), RoleARN: deref(in.RoleARN),
		ProjectID: deref(in.ProjectID), CloudIdentityID: deref(in.CloudIdentityID)}
}

func connectionCredentialToAPI(c cloud.ConnectionCredential) api.CloudConnectionCredential {
	return api.CloudConnectionCredential{Type: api.CloudConnectionCredentialType(c.Type), CredentialID: optString(c.CredentialID),
		RoleARN: optString(c.RoleARN), ProjectID: optString(c.ProjectID), CloudIdentityID: optString(c.CloudIdentityID)}
}

func accessNodesFromAPI(in *[]api.AccessNode) []cloud.AccessNode {
	var out []cloud.AccessNode
	for _, n := range deref(in) {
		out = append(out, cloud.AccessNode{ID: n.Id, Name: deref(n.Name), DisplayName: deref(n.DisplayName), AccessNodeType: string(deref(n.AccessNodeType))})
	}
	return out
}

func accessNodesToAPI(in []cloud.AccessNode) *[]api.AccessNode {
	if len(in) == 0 {
		return nil
	}
	out := make([]api.AccessNode, len(in))
	for i, n := range in {
		out[i] = api.AccessNode{Id: n.ID, Name: optString(n.Name), DisplayName: optString(n.DisplayName)}
		if n.AccessNodeType != "" {
			out[i].AccessNodeType = ptr(api.AccessNodeAccessNodeType(n.AccessNodeType))
		}
	}
	return &out
}

func awsOrganizationToAPI(o cloud.Organization) api.AwsOrganization {
	return api.AwsOrganization{OrganizationID: o.OrganizationID, OrganizationARN: o.OrganizationARN,
		ManagementAccountID: o.ManagementAccountID, ManagementAccountARN: o.ManagementAccountARN, ManagementAccountEmail: o.ManagementAccountEmail}
}

func connectionSpecFromAPI(in api.CloudConnectionSpec) cloud.ConnectionSpec {
	spec := cloud.ConnectionSpec{Provider: string(deref(in.Provider)), Credential: connectionCredentialFromAPI(in.Credential),
		AccessNodes: accessNodesFromAPI(in.AccessNodes), RetryPolicy: retryPolicyFromAPI(in.RetryPolicy)}
	if d := in.AccountDiscovery; d != nil {
		spec.AccountDiscovery = &cloud.AccountDiscovery{RoleNameWithPath: d.RoleNameWithPath}
	}
	if f := in.TagFilter; f != nil {
		spec.TagFilter = &cloud.TagFilter{Type: string(f.Type), Tags: make([]cloud.Tag, len(f.Tags))}
		for i, t := range f.Tags {
			spec.TagFilter.Tags[i] = cloud.Tag{Key: t.Key, Value: t.Value}
		}
	}
	return spec
}

func connectionToAPI(c *cloud.Connection) api.CloudConnectionRead {
	spec := api.CloudConnectionSpec{Credential: connectionCredentialToAPI(c.Spec.Credential), AccessNodes: accessNodesToAPI(c.Spec.AccessNodes),
		RetryPolicy: retryPolicyToAPI(c.Spec.RetryPolicy)}
	if c.Spec.Provider != "" {
		spec.Provider = ptr(api.CloudConnectionSpecProvider(c.Spec.Provider))
	}
	if d := c.Spec.AccountDiscovery; d != nil {
		spec.AccountDiscovery = &api.AccountDiscovery{RoleNameWithPath: d.RoleNameWithPath}
	}
	if f := c.Spec.TagFilter; f != nil {
		spec.TagFilter = &api.AccountTagFilter{Type: api.AccountTagFilterType(f.Type), Tags: make([]api.AwsTag, len(f.Tags))}
		for i, t := range f.Tags {
			spec.TagFilter.Tags[i] = api.AwsTag{Key: t.Key, Value: t.Value}
		}
	}
	accounts := make([]api.CloudAccount, len(c.Status.Accounts))
	for i, a := range c.Status.Accounts {
		accounts[i] = api.CloudAccount{AccountID: a.AccountID, Arn: a.ARN, Name: a.Name, Email: a.Email, State: a.State,
			Discovery: api.CloudAccountDiscovery(a.Discovery), Error: optString(a.Error)}
	}
	return api.CloudConnectionRead{Metadata: orgMeta(c.Meta), Spec: spec, Status: api.CloudConnectionStatus{
		Organization: awsOrganizationToAPI(c.Status.Organization), Accounts: accounts, FilteredOut: optInt(c.Status.FilteredOut),
		ValidatedAt: c.Status.ValidatedAt}}
}

func (h *handlers) ListCloudConnections(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListCloudConnectionsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	cs, err := h.s.cloud.ListConnections(r.Context(), organizationID, p)
	replyList(h, w, r, p, cs, err, func(c *cloud.Connection) string { return c.Meta.ID }, connectionToAPI)
}

func (h *handlers) CreateCloudConnection(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.CloudConnectionWrite
	if !h.decode(w, r, &in) {
		return
	}
	c, err := h.s.cloud.CreateConnection(r.Context(), principal(r), organizationID, writeMeta(in.Metadata), connectionSpecFromAPI(in.Spec))
	replyCloudValue(h, w, r, http.StatusCreated, c, err, connectionToAPI, false)
}

func (h *handlers) ValidateCloudConnection(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.CloudConnectionValidate
	if !h.decode(w, r, &in) {
		return
	}
	org, err := h.s.cloud.Validate(r.Context(), principal(r), organizationID, cloud.ValidateRequest{
		Provider: string(deref(in.Provider)), Credential: connectionCredentialFromAPI(in.Credential),
		AccessNodes: accessNodesFromAPI(in.AccessNodes), RetryPolicy: retryPolicyFromAPI(in.RetryPolicy)})
	replyCloudValue(h, w, r, http.StatusOK, org, err, func(o *cloud.Organization) api.CloudConnectionValidation {
		return api.CloudConnectionValidation{Organization: awsOrganizationToAPI(*o)}
	}, false)
}

func (h *handlers) GetCloudConnection(w http.ResponseWriter, r *http.Request, organizationID, cloudConnectionID string) {
	c, err := h.s.cloud.GetConnection(r.Context(), organizationID, cloudConnectionID)
	replyCloudValue(h, w, r, http.StatusOK, c, err, connectionToAPI, false)
}

func (h *handlers) UpdateCloudConnection(w http.ResponseWriter, r *http.Request, organizationID, cloudConnectionID string) {
	var in api.CloudConnectionWrite
	if !h.decode(w, r, &in) {
		return
	}
	c, err := h.s.cloud.UpdateConnection(r.Context(), principal(r), organizationID, cloudConnectionID, writeMeta(in.Metadata), connectionSpecFromAPI(in.Spec))
	replyCloudValue(h, w, r, http.StatusOK, c, err, connectionToAPI, false)
}

func (h *handlers) DeleteCloudConnection(w http.ResponseWriter, r *http.Request, organizationID, cloudConnectionID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.cloud.DeleteConnection(r.Context(), organizationID, cloudConnectionID))
}
