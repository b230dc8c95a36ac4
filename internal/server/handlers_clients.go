package server

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/client"
)

// OAuth2 clients (issue 13). Platform clients (organization "") and an
// organization's own clients share these handlers; internal/client owns the
// rules, the owner check (another owner's client is a 404) and the audit
// description of each write.

func (h *handlers) listClients(w http.ResponseWriter, r *http.Request, orgID string, limit *int, token *string) {
	p, err := page(limit, token)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	cs, err := h.s.clients.ListIn(r.Context(), orgID, p)
	replyList(h, w, r, p, cs, err, func(c *client.Client) string { return c.ID }, clientToAPI)
}

func (h *handlers) createClient(w http.ResponseWriter, r *http.Request, orgID string) {
	var in api.Oauth2ClientWrite
	if !h.decode(w, r, &in) {
		return
	}
	spec, err := clientSpec(in)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	spec.ID = deref(in.Metadata.Id)
	c, plain, err := h.s.clients.CreateIn(r.Context(), orgID, spec)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return clientCreatedToAPI(c, plain) }), err)
}

func (h *handlers) getClient(w http.ResponseWriter, r *http.Request, orgID, id string) {
	c, err := h.s.clients.GetIn(r.Context(), orgID, id)
	h.reply(w, r, http.StatusOK, later(err, func() any { return clientToAPI(c) }), err)
}

func (h *handlers) updateClient(w http.ResponseWriter, r *http.Request, orgID, id string) {
	var in api.Oauth2ClientWrite
	if !h.decode(w, r, &in) {
		return
	}
	if m := deref(in.Metadata.Id); m != "" && m != id {
		h.s.writeError(w, r, apierror.BadRequest("metadata.id %q is not the client of the path (%q): a client_id cannot change", m, id))
		return
	}
	spec, err := clientSpec(in)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	c, err := h.s.clients.UpdateIn(r.Context(), orgID, id, spec)
	h.reply(w, r, http.StatusOK, later(err, func() any { return clientToAPI(c) }), err)
}

func (h *handlers) deleteClient(w http.ResponseWriter, r *http.Request, orgID, id string) {
	h.reply(w, r, http.StatusOK, nil, h.s.clients.DeleteIn(r.Context(), orgID, id))
}

func (h *handlers) rotateClientSecret(w http.ResponseWriter, r *http.Request, orgID, id string) {
	c, plain, err := h.s.clients.RotateSecretIn(r.Context(), orgID, id)
	h.reply(w, r, http.StatusOK, later(err, func() any { return clientCreatedToAPI(c, plain) }), err)
}

// ListOauth2Clients lists the platform clients (not organizations').
func (h *handlers) ListOauth2Clients(w http.ResponseWriter, r *http.Request, params api.ListOauth2ClientsParams) {
	h.listClients(w, r, "", params.Limit, params.PageToken)
}

// CreateOauth2Client registers a platform client.
func (h *handlers) CreateOauth2Client(w http.ResponseWriter, r *http.Request) {
	h.createClient(w, r, "")
}

// GetOauth2Client reads a platform client.
func (h *handlers) GetOauth2Client(w http.ResponseWriter, r *http.Request, clientID string) {
	h.getClient(w, r, "", clientID)
}

// UpdateOauth2Client replaces a platform client's settings.
func (h *handlers) UpdateOauth2Client(w http.ResponseWriter, r *http.Request, clientID string) {
	h.updateClient(w, r, "", clientID)
}

// DeleteOauth2Client deletes a platform client.
func (h *handlers) DeleteOauth2Client(w http.ResponseWriter, r *http.Request, clientID string) {
	h.deleteClient(w, r, "", clientID)
}

// RotateOauth2ClientSecret gives a platform client a new secret.
func (h *handlers) RotateOauth2ClientSecret(w http.ResponseWriter, r *http.Request, clientID string) {
	h.rotateClientSecret(w, r, "", clientID)
}

// ListOrganizationOauth2Clients lists an organization's clients.
func (h *handlers) ListOrganizationOauth2Clients(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListOrganizationOauth2ClientsParams) {
	h.listClients(w, r, organizationID, params.Limit, params.PageToken)
}

// CreateOrganizationOauth2Client registers an organization's client.
func (h *handlers) CreateOrganizationOauth2Client(w http.ResponseWriter, r *http.Request, organizationID string) {
	h.createClient(w, r, organizationID)
}

// GetOrganizationOauth2Client reads an organization's client.
func (h *handlers) GetOrganizationOauth2Client(w http.ResponseWriter, r *http.Request, organizationID, clientID string) {
	h.getClient(w, r, organizationID, clientID)
}

// UpdateOrganizationOauth2Client replaces an organization's client's settings.
func (h *handlers) UpdateOrganizationOauth2Client(w http.ResponseWriter, r *http.Request, organizationID, clientID string) {
	h.updateClient(w, r, organizationID, clientID)
}

// DeleteOrganizationOauth2Client deletes an organization's client.
func (h *handlers) DeleteOrganizationOauth2Client(w http.ResponseWriter, r *http.Request, organizationID, clientID string) {
	h.deleteClient(w, r, organizationID, clientID)
}

// RotateOrganizationOauth2ClientSecret gives an organization's client a new secret.
func (h *handlers) RotateOrganizationOauth2ClientSecret(w http.ResponseWriter, r *http.Request, organizationID, clientID string) {
	h.rotateClientSecret(w, r, organizationID, clientID)
}

// maxLifetimeSeconds bounds lifetimes before they become durations (no
// overflow); the registry checks the real bounds.
const maxLifetimeSeconds = int64(10 * 365 * 24 * 3600)

// lifetimeOf is a lifetime in seconds as a duration (0: the default).
func lifetimeOf(field string, s *int64) (time.Duration, error) {
	v := deref(s)
	if v < 0 || v > maxLifetimeSeconds {
		return 0, apierror.BadRequest("spec.%s: %d seconds is out of range", field, v)
	}
	return time.Duration(v) * time.Second, nil
}

// clientSpec is the registry's Spec of a write. Each field maps one to one:
// a new client.Spec field is one line here and one in clientToAPI.
func clientSpec(in api.Oauth2ClientWrite) (client.Spec, error) {
	s := in.Spec
	access, err := lifetimeOf("accessTokenLifetime", s.AccessTokenLifetime)
	if err != nil {
		return client.Spec{}, err
	}
	refresh, err := lifetimeOf("refreshTokenLifetime", s.RefreshTokenLifetime)
	if err != nil {
		return client.Spec{}, err
	}
	spec := client.Spec{
		Name:                               in.Metadata.Name,
		Type:                               client.Type(deref(s.Type)),
		RedirectURIs:                       deref(s.RedirectURIs),
		PostLogoutRedirectURIs:             deref(s.PostLogoutRedirectURIs),
		Scopes:                             deref(s.Scopes),
		TokenEndpointAuthMethod:            string(deref(s.TokenEndpointAuthMethod)),
		RequirePKCE:                        deref(s.RequirePKCE),
		RequireConsent:                     deref(s.RequireConsent),
		TLSCertificates:                    deref(s.TlsClientCertificates),
		BackchannelLogoutURI:               deref(s.BackchannelLogoutURI),
		BackchannelLogoutSessionRequired:   deref(s.BackchannelLogoutSessionRequired),
		IDTokenSignedResponseAlg:           string(deref(s.IdTokenSignedResponseAlg)),
		SessionPerDevice:                   deref(s.SessionPerDevice),
		RequirePushedAuthorizationRequests: deref(s.RequirePushedAuthorizationRequests),
		AccessTokenLifetime:                access,
		RefreshTokenLifetime:               refresh,
	}
	for _, g := range deref(s.GrantTypes) {
		spec.GrantTypes = append(spec.GrantTypes, string(g))
	}
	if t := s.TlsClientAuth; t != nil {
		spec.TLSClientAuth = client.TLSIdentity{Field: string(t.Field), Value: t.Value}
	}
	return spec, nil
}

// clientToAPI renders c without any secret (there is none in a Client).
func clientToAPI(c *client.Client) api.Oauth2ClientRead {
	grants := make([]api.Oauth2ClientSpecGrantTypes, len(c.GrantTypes))
	for i, g := range c.GrantTypes {
		grants[i] = api.Oauth2ClientSpecGrantTypes(g)
	}
	access, refresh := int64(c.AccessTokenLifetime/time.Second), int64(c.RefreshTokenLifetime/time.Second)
	spec := api.Oauth2ClientSpec{
		Type:                               ptr(api.Oauth2ClientSpecType(c.Type)),
		RedirectURIs:                       ptr(nonNil(c.RedirectURIs)),
		PostLogoutRedirectURIs:             ptr(nonNil(c.PostLogoutRedirectURIs)),
		GrantTypes:                         &grants,
		Scopes:                             ptr(nonNil(c.Scopes)),
		TokenEndpointAuthMethod:            ptr(api.Oauth2ClientSpecTokenEndpointAuthMethod(c.TokenEndpointAuthMethod)),
		RequirePKCE:                        ptr(client.RequiresPKCE(c)),
		RequireConsent:                     ptr(client.RequiresConsent(c)),
		TlsClientCertificates:              ptr(nonNil(c.TLSCertificates)),
		BackchannelLogoutURI:               ptr(c.BackchannelLogoutURI),
		BackchannelLogoutSessionRequired:   ptr(c.BackchannelLogoutSessionRequired),
		SessionPerDevice:                   ptr(c.SessionPerDevice),
		RequirePushedAuthorizationRequests: ptr(c.RequirePushedAuthorizationRequests),
		AccessTokenLifetime:                &access,
		RefreshTokenLifetime:               &refresh,
	}
	if c.IDTokenSignedResponseAlg != "" {
		spec.IdTokenSignedResponseAlg = ptr(api.Oauth2ClientSpecIdTokenSignedResponseAlg(c.IDTokenSignedResponseAlg))
	}
	if !c.TLSClientAuth.IsZero() {
		spec.TlsClientAuth = &api.Oauth2ClientTLSIdentity{Field: api.Oauth2ClientTLSIdentityField(c.TLSClientAuth.Field), Value: c.TLSClientAuth.Value}
	}
	meta := api.Oauth2ClientReadMetadata{Id: c.ID, Name: c.Name, CreationTime: c.CreatedAt}
	if c.OrganizationID != "" {
		meta.OrganizationId = ptr(c.OrganizationID)
	}
	if !c.ModifiedAt.IsZero() {
		meta.ModifiedTime = ptr(c.ModifiedAt)
	}
	return api.Oauth2ClientRead{Metadata: meta, Spec: spec}
}

// clientCreatedToAPI is c with its new secret ("" for a client without
// one): the only responses that carry it.
func clientCreatedToAPI(c *client.Client, plain string) api.Oauth2ClientCreate {
	read := clientToAPI(c)
	out := api.Oauth2ClientCreate{Metadata: read.Metadata, Spec: read.Spec}
	if plain != "" {
		out.Status.ClientSecret = &plain
	}
	return out
}
