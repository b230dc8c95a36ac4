package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OAuth2Client is a relying party registered with Gatehouse's OpenID Connect
// provider (table oauth2_clients). A platform client has no organization; an
// organization's client (migration 00020) signs in that organization's
// members only. The rules over these rows live in package client.
type OAuth2Client struct {
	ID string // the client_id
	// OrganizationID owns the client; "" for a platform client (stored as
	// NULL). It never changes after creation.
	OrganizationID          string
	Name                    string
	Type                    string // confidential | public; fixed at creation
	SecretHash              string // SHA-256 hex of the secret; '' for public clients
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	Scopes                  []string
	TokenEndpointAuthMethod string // client_secret_basic | client_secret_post | none
	RequirePKCE             bool
	// RequireConsent: the user is asked to allow the client's scopes.
	RequireConsent bool
	// TLSClientAuthField and TLSClientAuthValue are the certificate field
	// (subject_dn, san_dns, san_uri, san_ip, san_email) and the value a
	// tls_client_auth client's certificate must carry (RFC 8705 §2.1.2).
	TLSClientAuthField string
	TLSClientAuthValue string
	// TLSCertificates are the SHA-256 thumbprints (base64url) of the
	// certificates a self_signed_tls_client_auth client may present.
	TLSCertificates []string
	// BackchannelLogoutURI is where the client receives logout tokens
	// (OpenID Connect Back-Channel Logout 1.0); '' for none.
	BackchannelLogoutURI string
	// BackchannelLogoutSessionRequired: logout tokens must carry sid.
	BackchannelLogoutSessionRequired bool
	// SessionPerDevice: one session (refresh token family) per browser
	// session instead of one per person (migration 00023).
	SessionPerDevice bool
	// RequirePAR: the client's authorization requests must be pushed
	// first (RFC 9126 §6; migration 00028).
	RequirePAR bool
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens
	// (RS256, ES256, ES512); '' for the server's default.
	IDTokenSignedResponseAlg string
	AccessTokenLifetime      time.Duration // stored in milliseconds
	RefreshTokenLifetime     time.Duration // stored in milliseconds
	CreatedAt                time.Time
	ModifiedAt               time.Time // zero until the first change
}

const tClients = "oauth2_clients"

const clientColumns = "id, name, client_type, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, scopes, " +
	"token_endpoint_auth_method, require_pkce, access_token_lifetime_ms, refresh_token_lifetime_ms, created_at, modified_at, " +
	"require_consent, tls_client_auth_field, tls_client_auth_value, tls_client_certificates, " +
	"backchannel_logout_uri, backchannel_logout_session_required, session_per_device, id_token_signed_response_alg, organization_id, require_par"

// clientLists are the JSON-encoded list columns of c, in column order.
func clientLists(c *OAuth2Client) ([5]string, error) {
	var out [5]string
	for i, l := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes, c.TLSCertificates} {
		if l == nil {
			l = []string{}
		}
		b, err := json.Marshal(l)
		if err != nil {
			return out, fmt.Errorf("encode client %s: %w", c.ID, err)
		}
		out[i] = string(b)
	}
	return out, nil
}

func clientValues(c *OAuth2Client) ([]any, error) {
	lists, err := clientLists(c)
	if err != nil {
		return nil, err
	}
	return []any{c.ID, c.Name, c.Type, c.SecretHash, lists[0], lists[1], lists[2], lists[3],
		c.TokenEndpointAuthMethod, c.RequirePKCE, c.AccessTokenLifetime.Milliseconds(), c.RefreshTokenLifetime.Milliseconds(),
		toMillis(c.CreatedAt), toMillis(c.ModifiedAt), c.RequireConsent, c.TLSClientAuthField, c.TLSClientAuthValue, lists[4],
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, c.SessionPerDevice, c.IDTokenSignedResponseAlg, orgValue(c.OrganizationID), c.RequirePAR}, nil
}

// orgValue stores a platform client's organization "" as NULL.
func orgValue(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// clientScan holds the raw columns of one row while it is scanned.
type clientScan struct {
	c                     OAuth2Client
	lists                 [5]string
	accessMS, refreshMS   int64
	createdMS, modifiedMS int64
	org                   sql.NullString
}

func (s *clientScan) targets() []any {
	return []any{&s.c.ID, &s.c.Name, &s.c.Type, &s.c.SecretHash, &s.lists[0], &s.lists[1], &s.lists[2], &s.lists[3],
		&s.c.TokenEndpointAuthMethod, &s.c.RequirePKCE, &s.accessMS, &s.refreshMS, &s.createdMS, &s.modifiedMS,
		&s.c.RequireConsent, &s.c.TLSClientAuthField, &s.c.TLSClientAuthValue, &s.lists[4],
		&s.c.BackchannelLogoutURI, &s.c.BackchannelLogoutSessionRequired, &s.c.SessionPerDevice, &s.c.IDTokenSignedResponseAlg, &s.org, &s.c.RequirePAR}
}

func (s *clientScan) finish() (*OAuth2Client, error) {
	c := s.c
	for i, dst := range []*[]string{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.Scopes, &c.TLSCertificates} {
		*dst = []string{}
		if err := json.Unmarshal([]byte(s.lists[i]), dst); err != nil {
			return nil, fmt.Errorf("decode client %s: %w", c.ID, err)
		}
	}
	c.AccessTokenLifetime = time.Duration(s.accessMS) * time.Millisecond
	c.RefreshTokenLifetime = time.Duration(s.refreshMS) * time.Millisecond
	c.CreatedAt = fromMillis(s.createdMS)
	c.ModifiedAt = fromMillis(s.modifiedMS)
	c.OrganizationID = s.org.String
	return &c, nil
}

// CreateOAuth2Client inserts c; an existing client_id is ErrConflict.
func (q *Q) CreateOAuth2Client(ctx context.Context, c *OAuth2Client) error {
	args, err := clientValues(c)
	if err != nil {
		return err
	}
	query := "INSERT INTO " + tClients + " (" + clientColumns + ") VALUES (" + placeholders(1, len(args)) + ")"
	if _, err := q.q.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("create client %s: %w", c.ID, classify(err))
	}
	return nil
}

// CreateOAuth2ClientIfAbsent inserts c unless a client with its ID exists,
// and reports whether it did. Unlike CreateOAuth2Client it does not fail (and,
// on PostgreSQL, abort the transaction) when another transaction inserted the
// same ID first: replicas applying the same clients file at the same moment
// both succeed.
func (q *Q) CreateOAuth2ClientIfAbsent(ctx context.Context, c *OAuth2Client) (bool, error) {
	args, err := clientValues(c)
	if err != nil {
		return false, err
	}
	query := "INSERT INTO " + tClients + " (" + clientColumns + ") VALUES (" + placeholders(1, len(args)) + ") ON CONFLICT (id) DO NOTHING"
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("create client %s: %w", c.ID, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("create client %s: rows affected: %w", c.ID, err)
	}
	return n == 1, nil
}

// GetOAuth2Client reads one client.
func (q *Q) GetOAuth2Client(ctx context.Context, id string) (*OAuth2Client, error) {
	var s clientScan
	query := "SELECT " + clientColumns + " FROM " + tClients + " WHERE id = $1"
	if err := q.q.QueryRowContext(ctx, query, id).Scan(s.targets()...); err != nil {
		return nil, fmt.Errorf("get client %s: %w", id, classify(err))
	}
	return s.finish()
}

// ListOAuth2Clients pages through every client, platform and
// organization-owned, in id order (the operator's view: `gatehouse admin
// clients list`).
func (q *Q) ListOAuth2Clients(ctx context.Context, page Page) ([]*OAuth2Client, error) {
	return q.listClients(ctx, "", nil, page)
}

// ListOAuth2ClientsOf pages through the clients of organization orgID in id
// order; orgID "" lists the platform clients only (organization NULL).
func (q *Q) ListOAuth2ClientsOf(ctx context.Context, orgID string, page Page) ([]*OAuth2Client, error) {
	if orgID == "" {
		return q.listClients(ctx, "organization_id IS NULL", nil, page)
	}
	return q.listClients(ctx, "organization_id = $1", []any{orgID}, page)
}

// listClients pages through the clients matching where (with args, numbered
// from $1; "" for all).
func (q *Q) listClients(ctx context.Context, where string, args []any, page Page) ([]*OAuth2Client, error) {
	query := "SELECT " + clientColumns + " FROM " + tClients
	var conds []string
	if where != "" {
		conds = append(conds, where)
	}
	if page.After != "" {
		args = append(args, page.After)
		conds = append(conds, "id > $"+strconv.Itoa(len(args)))
	}
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += " ORDER BY id"
	if page.Limit != NoLimit {
		args = append(args, page.limit())
		query += " LIMIT $" + strconv.Itoa(len(args))
	}
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", classify(err))
	}
	defer rows.Close()
	var out []*OAuth2Client
	for rows.Next() {
		var s clientScan
		if err := rows.Scan(s.targets()...); err != nil {
			return nil, fmt.Errorf("scan client: %w", err)
		}
		c, err := s.finish()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// UpdateOAuth2Client rewrites c's settings and modified_at. It leaves the
// id, type, creation time and secret hash alone: the secret changes only
// through SetOAuth2ClientSecret, so that an update racing a rotation cannot
// write the old hash back.
func (q *Q) UpdateOAuth2Client(ctx context.Context, c *OAuth2Client) error {
	lists, err := clientLists(c)
	if err != nil {
		return err
	}
	query := "UPDATE " + tClients + " SET name = $1, redirect_uris = $2, post_logout_redirect_uris = $3, grant_types = $4, " +
		"scopes = $5, token_endpoint_auth_method = $6, require_pkce = $7, access_token_lifetime_ms = $8, " +
		"refresh_token_lifetime_ms = $9, modified_at = $10, require_consent = $11, tls_client_auth_field = $12, " +
		"tls_client_auth_value = $13, tls_client_certificates = $14, backchannel_logout_uri = $15, " +
		"backchannel_logout_session_required = $16, session_per_device = $17, id_token_signed_response_alg = $18, require_par = $19 WHERE id = $20"
	res, err := q.q.ExecContext(ctx, query, c.Name, lists[0], lists[1], lists[2], lists[3], c.TokenEndpointAuthMethod,
		c.RequirePKCE, c.AccessTokenLifetime.Milliseconds(), c.RefreshTokenLifetime.Milliseconds(), toMillis(c.ModifiedAt),
		c.RequireConsent, c.TLSClientAuthField, c.TLSClientAuthValue, lists[4], c.BackchannelLogoutURI,
		c.BackchannelLogoutSessionRequired, c.SessionPerDevice, c.IDTokenSignedResponseAlg, c.RequirePAR, c.ID)
	if err != nil {
		return fmt.Errorf("update client %s: %w", c.ID, classify(err))
	}
	return expectOne(res, tClients, c.ID)
}

// SetOAuth2ClientSecret replaces the secret hash of a confidential client in
// one statement: the old secret stops matching when the transaction commits.
// A missing or public client is ErrNotFound.
func (q *Q) SetOAuth2ClientSecret(ctx context.Context, id, secretHash string, modifiedAt time.Time) error {
	res, err := q.q.ExecContext(ctx, "UPDATE "+tClients+" SET secret_hash = $1, modified_at = $2 WHERE id = $3 AND client_type = 'confidential'",
		secretHash, toMillis(modifiedAt), id)
	if err != nil {
		return fmt.Errorf("set secret of client %s: %w", id, classify(err))
	}
	return expectOne(res, tClients, id)
}

// DeleteOAuth2Client removes a client with its sessions (refresh token
// families: every access token issued in one dies with it), pending
// authorization requests and remembered consents.
func (q *Q) DeleteOAuth2Client(ctx context.Context, id string) error {
	if err := q.clearClients(ctx, "client_id = $1", id); err != nil {
		return fmt.Errorf("delete client %s: %w", id, err)
	}
	res, err := q.q.ExecContext(ctx, "DELETE FROM "+tClients+" WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete client %s: %w", id, classify(err))
	}
	return expectOne(res, tClients, id)
}

// DeleteOAuth2ClientsOf removes every client of organization orgID, as
// DeleteOAuth2Client does one (DeleteOrganization calls it).
func (q *Q) DeleteOAuth2ClientsOf(ctx context.Context, orgID string) error {
	if err := q.clearClients(ctx, "client_id IN (SELECT id FROM "+tClients+" WHERE organization_id = $1)", orgID); err != nil {
		return fmt.Errorf("delete clients of organization %s: %w", orgID, err)
	}
	if _, err := q.q.ExecContext(ctx, "DELETE FROM "+tClients+" WHERE organization_id = $1", orgID); err != nil {
		return fmt.Errorf("delete clients of organization %s: %w", orgID, classify(err))
	}
	return nil
}

// clearClients deletes what the OpenID provider keeps per client for the
// clients matching where (one argument, arg).
func (q *Q) clearClients(ctx context.Context, where, arg string) error {
	for _, table := range []string{"oidc_sessions", "oidc_auth_requests", "oidc_consents"} {
		if _, err := q.q.ExecContext(ctx, "DELETE FROM "+table+" WHERE "+where, arg); err != nil {
			return fmt.Errorf("clear %s: %w", table, classify(err))
		}
	}
	return nil
}
