package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
)

func init() {
	adminCommands["clients"] = adminCommand{
		usage: `clients create|list|get|update|delete|rotate-secret [flags] [CLIENT_ID]
      Manage the OAuth2 clients (relying parties) of the OpenID Connect
      provider. Prints JSON to stdout; a confidential client's secret is
      printed once, by create and rotate-secret, and never stored.
      "gatehouse admin clients --help" lists the flags.`,
		run: adminClients,
	}
}

const clientsUsage = `Usage:
  gatehouse admin clients create [flags]                  register a client; prints it with its secret
  gatehouse admin clients list [--limit N] [--after ID]   list clients in client_id order
  gatehouse admin clients get CLIENT_ID                   print a client
  gatehouse admin clients update CLIENT_ID [flags]        change the given settings, keep the rest
  gatehouse admin clients delete CLIENT_ID                remove a client
  gatehouse admin clients rotate-secret CLIENT_ID         replace the secret (the old one stops working at once)

Flags of create and update (list flags repeat; on update a list flag given
replaces the whole list, and an empty value clears it):
  --id ID                          client_id (create only; default: generated)
  --name NAME                      display name (required on create)
  --type confidential|public       default confidential; cannot change on update
  --redirect-uri URI               exact redirect URI (https, or http on 127.0.0.1/[::1]/localhost)
  --post-logout-redirect-uri URI   where RP-initiated logout may return to
  --grant GRANT                    authorization_code, refresh_token, client_credentials,
                                   urn:ietf:params:oauth:grant-type:token-exchange,
                                   urn:ietf:params:oauth:grant-type:device_code (RFC 8628)
                                   (default authorization_code + refresh_token)
  --scope SCOPE                    a scope the client may request (default openid, profile, email)
  --auth-method METHOD             client_secret_basic (default), client_secret_post, none (public),
                                   tls_client_auth, self_signed_tls_client_auth (RFC 8705: a TLS
                                   client certificate instead of a secret; serve --tls-client-ca-file)
  --tls-subject-dn DN              tls_client_auth: the certificate's subject DN (RFC 4514, e.g.
                                   "CN=billing,O=Acme", as openssl x509 -subject -nameopt RFC2253 prints it)
  --tls-san-dns NAME, --tls-san-uri URI, --tls-san-ip IP, --tls-san-email EMAIL
                                   tls_client_auth: a SAN the certificate must carry instead (one of the five)
  --tls-certificate FILE           self_signed_tls_client_auth: a PEM certificate the client may present
                                   (its SHA-256 thumbprint is stored; repeat for a rollover)
  --tls-certificate-sha256 T       the same, given as the base64url SHA-256 thumbprint
  --require-pkce                   require PKCE of a confidential client (always for public)
  --require-consent                ask users to allow the client's scopes (remembered per user)
  --session-per-device             one session (refresh token family) per browser session, so that a
                                   login on a second device does not end the first (default: one per
                                   person, the next login ends the previous one)
  --require-pushed-authorization-requests
                                   refuse authorization requests not pushed first to the
                                   pushed authorization request endpoint (RFC 9126)
  --id-token-signed-response-alg A RS256, ES256 or ES512: the algorithm of the client's ID tokens
                                   (default, or "" on update: the server's --signing-algorithm)
  --access-token-lifetime D        default 1h, at most 24h
  --refresh-token-lifetime D       default 720h, at most 8760h

Every command also takes the database flags of "gatehouse serve"
(--data-dir, --database-url, and their GATEHOUSE_* variables).
`

// stringList is a repeatable flag; an empty value adds nothing, so that
// `--scope ”` on update sets an empty list.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	if v != "" {
		*l = append(*l, v)
	}
	return nil
}

// clientOptions are the flags of one `admin clients` subcommand.
type clientOptions struct {
	config.Database
	cmd                                          string
	id, name, typ, authMethod, after             string
	backchannelURI                               string
	idTokenAlg                                   string
	redirectURIs, postLogoutURIs, grants, scopes stringList
	tlsCertFiles, tlsThumbprints                 stringList
	tlsIdentity                                  map[string]*string
	requirePKCE, requireConsent, perDevice       bool
	requirePAR                                   bool
	backchannelSessionRequired                   bool
	accessTTL, refreshTTL                        time.Duration
	limit                                        int
}

func (o *clientOptions) Bind(b *config.Binder) {
	o.Database.Bind(b)
	fs := b.FS
	switch o.cmd {
	case "create", "update":
		if o.cmd == "create" {
			fs.StringVar(&o.id, "id", "", "client_id (default: generated)")
		}
		fs.StringVar(&o.name, "name", "", "display name")
		fs.StringVar(&o.typ, "type", "", "confidential (default) or public")
		fs.Var(&o.redirectURIs, "redirect-uri", "redirect URI, matched exactly (repeat for more)")
		fs.Var(&o.postLogoutURIs, "post-logout-redirect-uri", "post-logout redirect URI (repeat for more)")
		fs.Var(&o.grants, "grant", "grant type (repeat for more)")
		fs.Var(&o.scopes, "scope", "scope the client may request (repeat for more)")
		fs.StringVar(&o.authMethod, "auth-method", "", "token endpoint auth method: client_secret_basic, client_secret_post or none")
		fs.BoolVar(&o.requirePKCE, "require-pkce", false, "require PKCE of a confidential client")
		fs.BoolVar(&o.requireConsent, "require-consent", false, "ask users to allow the client's scopes")
		fs.BoolVar(&o.perDevice, "session-per-device", false, "one session per browser session instead of one per person")
		fs.BoolVar(&o.requirePAR, "require-pushed-authorization-requests", false, "refuse authorization requests that were not pushed first (RFC 9126)")
		fs.StringVar(&o.backchannelURI, "backchannel-logout-uri", "", "where the client receives logout tokens (https; \"\" for none)")
		fs.BoolVar(&o.backchannelSessionRequired, "backchannel-logout-session-required", false, "logout tokens must carry sid")
		fs.StringVar(&o.idTokenAlg, "id-token-signed-response-alg", "", "algorithm of the client's ID tokens: RS256, ES256 or ES512 (\"\": the server's default)")
		o.tlsIdentity = map[string]*string{}
		for flagName, field := range tlsIdentityFlags {
			v := new(string)
			o.tlsIdentity[flagName] = v
			fs.StringVar(v, flagName, "", "tls_client_auth: the certificate's "+strings.ReplaceAll(field, "_", " "))
		}
		fs.Var(&o.tlsCertFiles, "tls-certificate", "self_signed_tls_client_auth: PEM certificate file (repeat for more)")
		fs.Var(&o.tlsThumbprints, "tls-certificate-sha256", "self_signed_tls_client_auth: base64url SHA-256 thumbprint (repeat for more)")
		fs.DurationVar(&o.accessTTL, "access-token-lifetime", 0, "access token lifetime (default 1h)")
		fs.DurationVar(&o.refreshTTL, "refresh-token-lifetime", 0, "refresh token lifetime (default 720h)")
	case "list":
		fs.IntVar(&o.limit, "limit", 0, "at most this many clients (default all)")
		fs.StringVar(&o.after, "after", "", "start after this client_id (the last one of the previous page)")
	}
}

// clientJSON is how the CLI prints a client: the clients file's field names,
// plus the times and, once, the secret.
type clientJSON struct {
	ID                                 string     `json:"id"`
	Name                               string     `json:"name"`
	Type                               string     `json:"type"`
	RedirectURIs                       []string   `json:"redirectURIs"`
	PostLogoutRedirectURIs             []string   `json:"postLogoutRedirectURIs"`
	GrantTypes                         []string   `json:"grantTypes"`
	Scopes                             []string   `json:"scopes"`
	TokenEndpointAuthMethod            string     `json:"tokenEndpointAuthMethod"`
	RequirePKCE                        bool       `json:"requirePKCE"`
	RequireConsent                     bool       `json:"requireConsent"`
	TLSClientAuthSubjectDN             string     `json:"tlsClientAuthSubjectDN,omitempty"`
	TLSClientAuthSANDNS                string     `json:"tlsClientAuthSANDNS,omitempty"`
	TLSClientAuthSANURI                string     `json:"tlsClientAuthSANURI,omitempty"`
	TLSClientAuthSANIP                 string     `json:"tlsClientAuthSANIP,omitempty"`
	TLSClientAuthSANEmail              string     `json:"tlsClientAuthSANEmail,omitempty"`
	TLSClientCertificates              []string   `json:"tlsClientCertificates,omitempty"`
	BackchannelLogoutURI               string     `json:"backchannelLogoutURI,omitempty"`
	BackchannelLogoutSessionRequired   bool       `json:"backchannelLogoutSessionRequired,omitempty"`
	SessionPerDevice                   bool       `json:"sessionPerDevice,omitempty"`
	RequirePushedAuthorizationRequests bool       `json:"requirePushedAuthorizationRequests,omitempty"`
	IDTokenSignedResponseAlg           string     `json:"idTokenSignedResponseAlg,omitempty"`
	AccessTokenLifetime                string     `json:"accessTokenLifetime"`
	RefreshTokenLifetime               string     `json:"refreshTokenLifetime"`
	CreatedAt                          time.Time  `json:"createdAt"`
	ModifiedAt                         *time.Time `json:"modifiedAt,omitempty"`
	Secret                             string     `json:"secret,omitempty"`
}

func toClientJSON(c *client.Client) *clientJSON {
	out := &clientJSON{
		ID: c.ID, Name: c.Name, Type: string(c.Type), RedirectURIs: c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, GrantTypes: c.GrantTypes, Scopes: c.Scopes,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, RequirePKCE: c.RequirePKCE, RequireConsent: c.RequireConsent,
		TLSClientCertificates: c.TLSCertificates, BackchannelLogoutURI: c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired, SessionPerDevice: c.SessionPerDevice,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		IDTokenSignedResponseAlg:           c.IDTokenSignedResponseAlg,
		AccessTokenLifetime:                c.AccessTokenLifetime.String(), RefreshTokenLifetime: c.RefreshTokenLifetime.String(),
		CreatedAt: c.CreatedAt,
	}
	if len(out.TLSClientCertificates) == 0 {
		out.TLSClientCertificates = nil
	}
	switch c.TLSClientAuth.Field {
	case client.TLSSubjectDN:
		out.TLSClientAuthSubjectDN = c.TLSClientAuth.Value
	case client.TLSSANDNS:
		out.TLSClientAuthSANDNS = c.TLSClientAuth.Value
	case client.TLSSANURI:
		out.TLSClientAuthSANURI = c.TLSClientAuth.Value
	case client.TLSSANIP:
		out.TLSClientAuthSANIP = c.TLSClientAuth.Value
	case client.TLSSANEmail:
		out.TLSClientAuthSANEmail = c.TLSClientAuth.Value
	}
	if !c.ModifiedAt.IsZero() {
		m := c.ModifiedAt
		out.ModifiedAt = &m
	}
	return out
}

// newClientRegistry is the client registry over st, as serve and the CLI use it.
func newClientRegistry(st *store.Store) *client.Registry {
	return &client.Registry{
		Store: st, Now: time.Now, Rand: rand.Reader,
		NewID: func() string { return uuid.Must(uuid.NewV7()).String() },
	}
}

// applyClientsFile creates or updates the clients declared in --clients-file
// (nothing when it is empty); serve calls it after the migrations.
func applyClientsFile(ctx context.Context, st *store.Store, path string, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	res, err := newClientRegistry(st).ApplyFile(ctx, path, os.Getenv)
	if err != nil {
		return err
	}
	log.Info("clients file applied", "file", path, "created", res.Created, "updated", res.Updated, "unchanged", len(res.Unchanged))
	return nil
}

func adminClients(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, clientsUsage)
		return errors.New("admin clients: expected create, list, get, update, delete or rotate-secret")
	}
	cmd := args[0]
	switch cmd {
	case "create", "list", "get", "update", "delete", "rotate-secret":
	case "-h", "--help", "help":
		fmt.Fprint(stderr, clientsUsage)
		return flag.ErrHelp
	default:
		fmt.Fprint(stderr, clientsUsage)
		return fmt.Errorf("admin clients: unknown subcommand %q", cmd)
	}
	o := &clientOptions{cmd: cmd}
	fs := flag.NewFlagSet("gatehouse admin clients "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	b := config.NewBinder(fs)
	o.Bind(b)
	if err := b.Parse(args[1:]); err != nil {
		return err
	}
	// CLIENT_ID may come before or after the flags.
	var pos []string
	for fs.NArg() > 0 {
		pos = append(pos, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	wantID := cmd != "create" && cmd != "list"
	switch {
	case wantID && len(pos) != 1:
		return fmt.Errorf("admin clients %s: expected one CLIENT_ID, got %d arguments", cmd, len(pos))
	case !wantID && len(pos) != 0:
		return fmt.Errorf("admin clients %s: unexpected arguments %q", cmd, pos)
	}
	if o.limit < 0 {
		return errors.New("admin clients list: --limit must not be negative")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	st, err := openStore(ctx, o.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := newClientRegistry(st)
	if ctx, err = auditClientCommand(ctx, reg, cmd, pos); err != nil {
		return plain(err)
	}
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")

	var result any
	switch cmd {
	case "create":
		spec := client.Spec{ID: o.id}
		if err := o.apply(&spec, set); err != nil {
			return err
		}
		c, sec, err := reg.Create(ctx, spec)
		if err != nil {
			return plain(err)
		}
		j := toClientJSON(c)
		j.Secret = sec
		result = j
	case "list":
		page := store.Page{Limit: store.NoLimit, After: o.after}
		if o.limit > 0 {
			page.Limit = o.limit
		}
		cs, err := reg.List(ctx, page)
		if err != nil {
			return plain(err)
		}
		list := make([]*clientJSON, 0, len(cs))
		for _, c := range cs {
			list = append(list, toClientJSON(c))
		}
		result = list
	case "get":
		c, err := reg.Get(ctx, pos[0])
		if err != nil {
			return plain(err)
		}
		result = toClientJSON(c)
	case "update":
		c, err := reg.Get(ctx, pos[0])
		if err != nil {
			return plain(err)
		}
		spec := client.SpecOf(c)
		if err := o.apply(&spec, set); err != nil {
			return err
		}
		if c, err = reg.Update(ctx, pos[0], spec); err != nil {
			return plain(err)
		}
		result = toClientJSON(c)
	case "delete":
		if err := reg.Delete(ctx, pos[0]); err != nil {
			return plain(err)
		}
		result = map[string]any{"id": pos[0], "deleted": true}
	case "rotate-secret":
		sec, err := reg.RotateSecret(ctx, pos[0])
		if err != nil {
			return plain(err)
		}
		result = map[string]string{"id": pos[0], "secret": sec}
	}
	return out.Encode(result)
}

// clientCommandOperations are the API operations the writing subcommands
// are recorded as in the audit log: the platform client's, or the
// organization's for an organization's client.
var clientCommandOperations = map[string][2]string{
	"create":        {"createOauth2Client", "createOrganizationOauth2Client"},
	"update":        {"updateOauth2Client", "updateOrganizationOauth2Client"},
	"delete":        {"deleteOauth2Client", "deleteOrganizationOauth2Client"},
	"rotate-secret": {"rotateOauth2ClientSecret", "rotateOrganizationOauth2ClientSecret"},
}

// auditClientCommand returns ctx carrying the audit entry of a writing
// subcommand (reads are not recorded, as on the API): its change commits
// with its event, in the organization's log for an organization's client,
// under the operation the API records the same change as (audit.BeginCLI).
func auditClientCommand(ctx context.Context, reg *client.Registry, cmd string, pos []string) (context.Context, error) {
	ops, writes := clientCommandOperations[cmd]
	if !writes {
		return ctx, nil
	}
	var orgID, resourceID string
	if len(pos) == 1 {
		c, err := reg.Get(ctx, pos[0])
		if err != nil {
			return ctx, err
		}
		orgID, resourceID = c.OrganizationID, c.ID
	}
	op := ops[0]
	if orgID != "" {
		op = ops[1]
	}
	// The command's entry (actor kind cli, the operating-system user), under
	// the operation the API records the same change as.
	ctx, e := audit.BeginCLI(ctx, reg.NewID, reg.Now, "clients "+cmd, client.AuditResource, resourceID)
	e.OperationID, e.OrganizationID = op, orgID
	return ctx, nil
}

// tlsIdentityFlags maps the flags of a tls_client_auth client's certificate
// identity to the fields they set.
var tlsIdentityFlags = map[string]string{
	"tls-subject-dn": client.TLSSubjectDN, "tls-san-dns": client.TLSSANDNS, "tls-san-uri": client.TLSSANURI,
	"tls-san-ip": client.TLSSANIP, "tls-san-email": client.TLSSANEmail,
}

// apply copies the flags that were given onto spec.
func (o *clientOptions) apply(spec *client.Spec, set map[string]bool) error {
	if set["require-consent"] {
		spec.RequireConsent = o.requireConsent
	}
	if set["session-per-device"] {
		spec.SessionPerDevice = o.perDevice
	}
	if set["require-pushed-authorization-requests"] {
		spec.RequirePushedAuthorizationRequests = o.requirePAR
	}
	var identities int
	for flagName, field := range tlsIdentityFlags {
		if !set[flagName] {
			continue
		}
		identities++
		spec.TLSClientAuth = client.TLSIdentity{Field: field, Value: *o.tlsIdentity[flagName]}
		if spec.TLSClientAuth.Value == "" {
			spec.TLSClientAuth = client.TLSIdentity{}
		}
	}
	if identities > 1 {
		return errors.New("give one of --tls-subject-dn, --tls-san-dns, --tls-san-uri, --tls-san-ip and --tls-san-email")
	}
	if set["tls-certificate"] || set["tls-certificate-sha256"] {
		thumbprints := append([]string{}, o.tlsThumbprints...)
		for _, path := range o.tlsCertFiles {
			t, err := certificateThumbprint(path)
			if err != nil {
				return err
			}
			thumbprints = append(thumbprints, t)
		}
		spec.TLSCertificates = thumbprints
	}
	if set["name"] {
		spec.Name = o.name
	}
	if set["type"] {
		spec.Type = client.Type(o.typ)
	}
	if set["redirect-uri"] {
		spec.RedirectURIs = o.redirectURIs
	}
	if set["post-logout-redirect-uri"] {
		spec.PostLogoutRedirectURIs = o.postLogoutURIs
	}
	if set["grant"] {
		spec.GrantTypes = o.grants
	}
	if set["scope"] {
		spec.Scopes = o.scopes
	}
	if set["auth-method"] {
		spec.TokenEndpointAuthMethod = o.authMethod
	}
	if set["require-pkce"] {
		spec.RequirePKCE = o.requirePKCE
	}
	if set["backchannel-logout-uri"] {
		spec.BackchannelLogoutURI = o.backchannelURI
	}
	if set["backchannel-logout-session-required"] {
		spec.BackchannelLogoutSessionRequired = o.backchannelSessionRequired
	}
	if set["id-token-signed-response-alg"] {
		spec.IDTokenSignedResponseAlg = o.idTokenAlg
	}
	if set["access-token-lifetime"] {
		spec.AccessTokenLifetime = o.accessTTL
	}
	if set["refresh-token-lifetime"] {
		spec.RefreshTokenLifetime = o.refreshTTL
	}
	return nil
}

// certificateThumbprint reads the first PEM certificate of path and returns
// its SHA-256 thumbprint (base64url), as self_signed_tls_client_auth
// clients are registered.
func certificateThumbprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--tls-certificate: %w", err)
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return "", fmt.Errorf("--tls-certificate %s: no PEM certificate in it", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("--tls-certificate %s: %w", path, err)
		}
		return client.Thumbprint(cert), nil
	}
}

// plain turns an API error into a plain message for the terminal.
func plain(err error) error {
	if e, ok := apierror.As(err); ok {
		return errors.New(e.Description)
	}
	return err
}
