package client

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Size limits on what a client may register.
const (
	MaxNameLength  = 200
	MaxIDLength    = 128
	MaxURIs        = 50
	MaxURILength   = 2000
	MaxScopes      = 100
	MaxScopeLength = 128
)

var knownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantTokenExchange, GrantDeviceCode}

// IDTokenAlgorithms are the algorithms a client may choose for its ID tokens
// (Spec.IDTokenSignedResponseAlg): the ones the platform publishes keys of
// (internal/keys.Algorithms). Never "none" or a MAC: ID tokens are always
// signed with a published key.
var IDTokenAlgorithms = []string{"RS256", "ES256", "ES512"}

// normalize applies defaults to spec, checks every rule, and returns the row
// to store (without ID, secret or times).
func normalize(spec Spec) (*store.OAuth2Client, error) {
	bad := apierror.BadRequest
	row := &store.OAuth2Client{
		Name: spec.Name, Type: string(spec.Type),
		RedirectURIs: list(spec.RedirectURIs), PostLogoutRedirectURIs: list(spec.PostLogoutRedirectURIs),
		GrantTypes: list(spec.GrantTypes), Scopes: list(spec.Scopes),
		TokenEndpointAuthMethod: spec.TokenEndpointAuthMethod, RequirePKCE: spec.RequirePKCE,
		RequireConsent: spec.RequireConsent, TLSClientAuthField: spec.TLSClientAuth.Field,
		TLSClientAuthValue: spec.TLSClientAuth.Value, TLSCertificates: list(spec.TLSCertificates),
		BackchannelLogoutURI: spec.BackchannelLogoutURI, BackchannelLogoutSessionRequired: spec.BackchannelLogoutSessionRequired,
		SessionPerDevice:    spec.SessionPerDevice,
		RequirePAR:          spec.RequirePushedAuthorizationRequests,
		AccessTokenLifetime: spec.AccessTokenLifetime, RefreshTokenLifetime: spec.RefreshTokenLifetime,
		IDTokenSignedResponseAlg: spec.IDTokenSignedResponseAlg,
	}

	if strings.TrimSpace(row.Name) == "" {
		return nil, bad("a client needs a name")
	}
	if len(row.Name) > MaxNameLength || strings.IndexFunc(row.Name, unicode.IsControl) >= 0 {
		return nil, bad("client name: at most %d characters, no control characters", MaxNameLength)
	}

	switch Type(row.Type) {
	case "":
		row.Type = string(Confidential)
	case Confidential, Public:
	default:
		return nil, bad("client type %q: want confidential or public", row.Type)
	}
	public := row.Type == string(Public)

	switch row.TokenEndpointAuthMethod {
	case "":
		row.TokenEndpointAuthMethod = AuthClientSecretBasic
		if public {
			row.TokenEndpointAuthMethod = AuthNone
		}
	case AuthClientSecretBasic, AuthClientSecretPost:
		if public {
			return nil, bad("a public client has no secret: its token endpoint auth method must be none, not %s", row.TokenEndpointAuthMethod)
		}
	case AuthNone:
		if !public {
			return nil, bad("a confidential client authenticates with its secret or certificate: token endpoint auth method %s, %s, %s or %s, not none",
				AuthClientSecretBasic, AuthClientSecretPost, AuthTLSClientAuth, AuthSelfSignedTLSClientAuth)
		}
	case AuthTLSClientAuth, AuthSelfSignedTLSClientAuth:
		if public {
			return nil, bad("a public client cannot authenticate: its token endpoint auth method must be none, not %s", row.TokenEndpointAuthMethod)
		}
	default:
		return nil, bad("token endpoint auth method %q: want %s, %s, %s, %s or %s", row.TokenEndpointAuthMethod,
			AuthClientSecretBasic, AuthClientSecretPost, AuthTLSClientAuth, AuthSelfSignedTLSClientAuth, AuthNone)
	}
	if err := validateTLS(row); err != nil {
		return nil, err
	}
	if public {
		row.RequirePKCE = true
	}

	if len(row.GrantTypes) == 0 {
		row.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	for i, g := range row.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			return nil, bad("grant type %q is not supported: want %s", g, strings.Join(knownGrants, ", "))
		}
		if slices.Contains(row.GrantTypes[:i], g) {
			return nil, bad("grant type %q is listed twice", g)
		}
		if public && (g == GrantClientCredentials || g == GrantTokenExchange) {
			return nil, bad("a public client cannot use the %s grant: it has no secret to prove who it is", g)
		}
	}
	code := slices.Contains(row.GrantTypes, GrantAuthorizationCode)
	if slices.Contains(row.GrantTypes, GrantRefreshToken) && !code && !slices.Contains(row.GrantTypes, GrantDeviceCode) {
		return nil, bad("the refresh_token grant needs the authorization_code or device_code grant, which issue refresh tokens")
	}
	if row.RequirePAR && !code {
		return nil, bad("requiring pushed authorization requests needs the authorization_code grant")
	}

	if err := validateURIs("redirect URI", row.RedirectURIs); err != nil {
		return nil, err
	}
	if err := validateURIs("post-logout redirect URI", row.PostLogoutRedirectURIs); err != nil {
		return nil, err
	}
	if row.BackchannelLogoutURI != "" {
		if err := validateBackchannelLogoutURI(row.BackchannelLogoutURI); err != nil {
			return nil, err
		}
	} else if row.BackchannelLogoutSessionRequired {
		return nil, bad("backchannel logout session required needs a backchannel logout URI")
	}
	if code && len(row.RedirectURIs) == 0 {
		return nil, bad("the authorization_code grant needs at least one redirect URI")
	}

	if len(row.Scopes) == 0 {
		row.Scopes = []string{"openid", "profile", "email"}
	}
	if len(row.Scopes) > MaxScopes {
		return nil, bad("at most %d scopes", MaxScopes)
	}
	for i, s := range row.Scopes {
		if !validScope(s) {
			return nil, bad("scope %q: 1-%d printable ASCII characters, no spaces, quotes or backslashes (RFC 6749 §3.3)", s, MaxScopeLength)
		}
		if slices.Contains(row.Scopes[:i], s) {
			return nil, bad("scope %q is listed twice", s)
		}
	}

	if row.IDTokenSignedResponseAlg != "" && !slices.Contains(IDTokenAlgorithms, row.IDTokenSignedResponseAlg) {
		return nil, bad("id_token_signed_response_alg %q: want %s, or nothing for the server's default", row.IDTokenSignedResponseAlg,
			strings.Join(IDTokenAlgorithms, ", "))
	}

	var err error
	if row.AccessTokenLifetime, err = lifetime("access token", row.AccessTokenLifetime, DefaultAccessTokenLifetime, MaxAccessTokenLifetime); err != nil {
		return nil, err
	}
	if row.RefreshTokenLifetime, err = lifetime("refresh token", row.RefreshTokenLifetime, DefaultRefreshTokenLifetime, MaxRefreshTokenLifetime); err != nil {
		return nil, err
	}
	return row, nil
}

// list copies l; empty lists are non-nil, as they read back from the store.
func list(l []string) []string { return append([]string{}, l...) }

// lifetime applies the default to 0 and checks the bounds. Lifetimes are
// stored in whole milliseconds.
func lifetime(what string, d, def, max time.Duration) (time.Duration, error) {
	if d == 0 {
		return def, nil
	}
	if d < MinTokenLifetime || d > max {
		return 0, apierror.BadRequest("%s lifetime %s: want between %s and %s", what, d, MinTokenLifetime, max)
	}
	return d.Truncate(time.Millisecond), nil
}

// validateID checks a chosen client_id. The character set is safe everywhere
// a client_id travels: URLs, form bodies, and HTTP Basic credentials (which
// cannot carry a ':' in the user name).
func validateID(id string) error {
	ok := len(id) >= 1 && len(id) <= MaxIDLength
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '.' || c == '_' || c == '~' || c == '-')
	}
	if !ok {
		return apierror.BadRequest("client id %q: 1-%d characters of A-Z a-z 0-9 . _ ~ -, starting with a letter or digit", id, MaxIDLength)
	}
	return nil
}

// validScope: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3).
func validScope(s string) bool {
	if s == "" || len(s) > MaxScopeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func validateURIs(what string, uris []string) error {
	if len(uris) > MaxURIs {
		return apierror.BadRequest("at most %d %ss", MaxURIs, what)
	}
	for i, u := range uris {
		if err := validateRedirectURI(what, u); err != nil {
			return err
		}
		if slices.Contains(uris[:i], u) {
			return apierror.BadRequest("%s %q is listed twice", what, u)
		}
	}
	return nil
}

// validateRedirectURI checks a URI a client registers: absolute https (or
// http on a loopback host), no fragment, no wildcard, no user information, no
// whitespace, control characters or backslashes, and a lowercase scheme so
// that the exact match at request time compares like with like.
func validateRedirectURI(what, raw string) error {
	bad := func(why string) error { return apierror.BadRequest("%s %q: %s", what, raw, why) }
	if raw == "" {
		return bad("empty")
	}
	if len(raw) > MaxURILength {
		return bad("longer than " + strconv.Itoa(MaxURILength) + " characters")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || r == '\\' || r > unicode.MaxASCII {
			return bad("only printable ASCII without spaces or backslashes (percent-encode the rest)")
		}
	}
	if strings.Contains(raw, "#") {
		return bad("a redirect URI must not have a fragment (RFC 6749 §3.1.2)")
	}
	if strings.Contains(raw, "*") {
		return bad("wildcards are not supported: redirect URIs are matched exactly")
	}
	if !strings.HasPrefix(raw, "https://") && !strings.HasPrefix(raw, "http://") {
		return bad("must be an absolute https:// URL (http:// only for 127.0.0.1, [::1] or localhost), with a lowercase scheme")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URL: " + err.Error())
	}
	if u.User != nil {
		return bad("must not contain user information (user@host)")
	}
	host := u.Hostname()
	if host == "" {
		return bad("has no host")
	}
	if u.Scheme == "http" && !loopbackHost(host) {
		return bad("http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https")
	}
	return nil
}

// validateBackchannelLogoutURI checks where logout tokens are posted
// (OpenID Connect Back-Channel Logout 1.0 §2.2): the redirect URI rules
// (absolute https, http only on a loopback host, no fragment, no user
// information), which also keep a logout token off plain-text networks. A
// query is allowed, as the specification does.
func validateBackchannelLogoutURI(raw string) error {
	if strings.Contains(raw, "#") {
		return apierror.BadRequest("backchannel logout URI %q: must not have a fragment (Back-Channel Logout §2.2)", raw)
	}
	return validateRedirectURI("backchannel logout URI", raw)
}

func loopbackHost(host string) bool {
	return host == "127.0.0.1" || host == "::1" || host == "localhost"
}

// ValidRedirectURI reports whether uri, as given in an authorization request,
// is one of c's registered redirect URIs. The match is exact (see the package
// documentation), except that an http://127.0.0.1 or http://[::1] URI may
// carry any port (RFC 8252 §7.3). A URI with a fragment never matches.
func ValidRedirectURI(c *Client, uri string) bool { return matchURI(c.RedirectURIs, uri) }

// ValidPostLogoutRedirectURI is ValidRedirectURI for the URIs RP-initiated
// logout may return to.
func ValidPostLogoutRedirectURI(c *Client, uri string) bool {
	return matchURI(c.PostLogoutRedirectURIs, uri)
}

func matchURI(registered []string, uri string) bool {
	if uri == "" || strings.Contains(uri, "#") {
		return false
	}
	if slices.Contains(registered, uri) {
		return true
	}
	want, ok := withoutLoopbackPort(uri)
	if !ok {
		return false
	}
	for _, r := range registered {
		if have, ok := withoutLoopbackPort(r); ok && have == want {
			return true
		}
	}
	return false
}

// loopbackPrefixes are the forms RFC 8252 §7.3 gives port flexibility to.
var loopbackPrefixes = []string{"http://127.0.0.1", "http://[::1]"}

// withoutLoopbackPort removes the port from an http://127.0.0.1[:port]/... or
// http://[::1][:port]/... URI, working on the string so that no URL parser's
// leniency can make two different URIs equal. It reports false for any other
// URI, and for a port that is not 1-65535 in canonical decimal.
func withoutLoopbackPort(uri string) (string, bool) {
	for _, p := range loopbackPrefixes {
		rest, ok := strings.CutPrefix(uri, p)
		if !ok {
			continue
		}
		if port, ok := strings.CutPrefix(rest, ":"); ok {
			end := strings.IndexAny(port, "/?")
			if end < 0 {
				end = len(port)
			}
			digits := port[:end]
			n, err := strconv.Atoi(digits)
			if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != digits {
				return "", false
			}
			rest = port[end:]
		}
		if rest != "" && rest[0] != '/' && rest[0] != '?' {
			return "", false // 127.0.0.1.example.com, 127.0.0.1@host, ...
		}
		return p + rest, true
	}
	return "", false
}
