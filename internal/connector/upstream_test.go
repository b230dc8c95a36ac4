package connector_test

// Stand-in upstream identity providers on httptest. They speak the real wire
// protocols: OpenID Connect discovery, JWKS, the authorization endpoint
// (redirecting back with a code), the token endpoint (client authentication,
// single-use codes bound to the redirect URI, PKCE S256 checked against the
// challenge), userinfo, real JWTs signed with real keys; and GitHub's OAuth2
// endpoints and REST API. Each test gets its own server, so tests run in
// parallel; knobs on the server make it misbehave in the ways the negative
// tests need.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Keys are expensive to generate (RSA): made once per test binary.
var (
	rsaKey      = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	rsaOtherKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	ecKey       = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC() })
	ecOtherKey  = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC() })
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// signingKey is a private key with its JWS algorithm and key ID.
type signingKey struct {
	alg jose.SignatureAlgorithm
	kid string
	key crypto.Signer
}

func (k signingKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.key.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// sign makes a compact JWS of claims. It runs in handlers too, so it
// reports failures with Errorf (safe off the test goroutine).
func (k signingKey) sign(t testing.TB, claims map[string]any) string {
	return signJWS(t, jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.key, KeyID: k.kid}}, claims)
}

func signJWS(t testing.TB, key jose.SigningKey, claims map[string]any) string {
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Errorf("signer: %v", err)
		return ""
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Errorf("sign: %v", err)
		return ""
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Errorf("serialize: %v", err)
	}
	return out
}

// unsignedJWT is an `alg: none` token.
func unsignedJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

// hmacJWT is an HS256 token keyed with secret (for instance the public key,
// the classic algorithm-confusion forgery).
func hmacJWT(t testing.TB, secret []byte, kid string, claims map[string]any) string {
	return signJWS(t, jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: kid}}, claims)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// grant is one authorization: what the authorization request said, kept
// until the code is redeemed.
type grant struct {
	clientID, redirectURI string
	challenge, nonce      string
	tenant                string // Microsoft: the tenant path of the request
	used                  bool
}

// idp is a stand-in OpenID Connect provider.
//
// Plain mode serves the issuer at the server's root. Microsoft mode serves
// Entra ID's layout: /{tenant}/v2.0/.well-known/openid-configuration,
// /{tenant}/oauth2/v2.0/{authorize,token}, /{tenant}/discovery/v2.0/keys, with
// the issuer of "common" and "organizations" the {tenantid} template.
type idp struct {
	t   testing.TB
	srv *httptest.Server

	microsoft bool
	// msDomains maps a tenant's domain name to its ID (Microsoft mode).
	msDomains map[string]string

	clientID, clientSecret string
	redirectURI            string

	// key signs ID tokens; jwks is what /keys publishes (key's public key
	// unless set).
	key  signingKey
	jwks []jose.JSONWebKey
	// algs is id_token_signing_alg_values_supported.
	algs []string
	// authMethods is token_endpoint_auth_methods_supported.
	authMethods []string
	// discoveryIssuer replaces the issuer in the discovery document.
	discoveryIssuer string

	// user is the person who logs in: ID token claims beyond the protocol
	// ones (sub, email, ..., and tid in Microsoft mode).
	user map[string]any
	// userinfo is what /userinfo answers beside sub (nil: no userinfo
	// endpoint); userinfoSub replaces sub there.
	userinfo    map[string]any
	userinfoSub string

	// tamper edits the ID token claims before signing; mint replaces the
	// signing step; noIDToken leaves id_token out of the token response.
	tamper    func(claims map[string]any)
	mint      func(claims map[string]any) string
	noIDToken bool
	// tokenStatus, when set, is the token endpoint's answer (a failure).
	tokenStatus int

	mu          sync.Mutex
	grants      map[string]*grant // by code
	tokens      map[string]*grant // by access token
	tokenErrors []string          // why the token endpoint refused, in order
}

func newIDP(t testing.TB, key signingKey, microsoft bool) *idp {
	u := &idp{
		t: t, microsoft: microsoft, key: key, algs: []string{string(key.alg)},
		authMethods:  []string{"client_secret_basic", "client_secret_post"},
		clientID:     "gatehouse-client",
		clientSecret: "upstream-client-secret-0123456789abcdef", // ≥ 32 bytes: an HS256 key
		redirectURI:  "https://id.gatehouse.example/oidc/callback",
		user:         map[string]any{"sub": "user-1234", "email": "jo@example.com", "email_verified": true, "name": "Jo Smith", "given_name": "Jo", "family_name": "Smith", "picture": "https://example.com/jo.png", "locale": "en-GB"},
		grants:       map[string]*grant{},
		tokens:       map[string]*grant{},
		msDomains:    map[string]string{},
	}
	mux := http.NewServeMux()
	if microsoft {
		mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", u.discovery)
		mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", u.authorize)
		mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", u.token)
		mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", u.keys)
	} else {
		mux.HandleFunc("GET /.well-known/openid-configuration", u.discovery)
		mux.HandleFunc("GET /authorize", u.authorize)
		mux.HandleFunc("POST /token", u.token)
		mux.HandleFunc("GET /keys", u.keys)
		mux.HandleFunc("GET /userinfo", u.userinfoHandler)
	}
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	return u
}

// issuer is the issuer of tokens for tenant (Microsoft) or of the server.
func (u *idp) issuer(tenant string) string {
	if !u.microsoft {
		return u.srv.URL
	}
	return u.srv.URL + "/" + tenant + "/v2.0"
}

// tenantIssuer is the issuer a Microsoft discovery document names for the
// tenant path.
func (u *idp) tenantIssuer(tenant string) string {
	switch tenant {
	case "common", "organizations":
		return u.issuer("{tenantid}")
	case "consumers":
		return u.issuer("9188040d-6c67-4c5b-b112-36a304b66dad")
	}
	if id, ok := u.msDomains[tenant]; ok {
		return u.issuer(id)
	}
	return u.issuer(tenant)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (u *idp) discovery(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	base, iss := u.srv.URL, u.srv.URL
	if u.microsoft {
		tenant := r.PathValue("tenant")
		base, iss = u.srv.URL+"/"+tenant+"/oauth2/v2.0", u.tenantIssuer(tenant)
	}
	if u.discoveryIssuer != "" {
		iss = u.discoveryIssuer
	}
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                base + "/authorize",
		"token_endpoint":                        base + "/token",
		"jwks_uri":                              u.srv.URL + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": u.algs,
		"token_endpoint_auth_methods_supported": u.authMethods,
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
	}
	if u.microsoft {
		doc["jwks_uri"] = u.srv.URL + "/" + r.PathValue("tenant") + "/discovery/v2.0/keys"
	}
	if u.userinfo != nil {
		doc["userinfo_endpoint"] = u.srv.URL + "/userinfo"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (u *idp) keys(w http.ResponseWriter, _ *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	keys := u.jwks
	if keys == nil {
		keys = []jose.JSONWebKey{u.key.public()}
	}
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: keys})
}

// authorize is the user's visit: the stand-in logs them in at once and
// redirects back with a code, after checking the request as a real OP would.
func (u *idp) authorize(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code":
		http.Error(w, "unsupported response_type", http.StatusBadRequest)
		return
	case q.Get("client_id") != u.clientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case q.Get("redirect_uri") != u.redirectURI:
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "not an OpenID Connect request", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	}
	code := randomString()
	u.grants[code] = &grant{clientID: u.clientID, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
		nonce: q.Get("nonce"), tenant: r.PathValue("tenant")}
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// refuse answers a token request with an OAuth2 error (u.mu held).
func (u *idp) refuse(w http.ResponseWriter, status int, code, why string) {
	u.tokenErrors = append(u.tokenErrors, code+": "+why)
	writeJSON(w, status, map[string]string{"error": code, "error_description": why})
}

func (u *idp) token(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.tokenStatus != 0 {
		u.refuse(w, u.tokenStatus, "server_error", "stand-in told to fail")
		return
	}
	if err := r.ParseForm(); err != nil {
		u.refuse(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != u.clientID || secret != u.clientSecret {
		u.refuse(w, http.StatusUnauthorized, "invalid_client", "bad client credentials")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		u.refuse(w, http.StatusBadRequest, "unsupported_grant_type", r.PostForm.Get("grant_type"))
		return
	}
	g := u.grants[r.PostForm.Get("code")]
	replay := g != nil && g.used
	if g != nil {
		g.used = true // single use, even when the rest fails
	}
	switch {
	case g == nil || replay:
		u.refuse(w, http.StatusBadRequest, "invalid_grant", "unknown or used code")
		return
	case g.redirectURI != r.PostForm.Get("redirect_uri"):
		u.refuse(w, http.StatusBadRequest, "invalid_grant", "redirect_uri mismatch")
		return
	case s256(r.PostForm.Get("code_verifier")) != g.challenge:
		u.refuse(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}
	access := randomString()
	u.tokens[access] = g
	resp := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": "openid email profile"}
	if !u.noIDToken {
		resp["id_token"] = u.idToken(g, access)
	}
	writeJSON(w, http.StatusOK, resp)
}

// idToken mints the ID token for g (u.mu held).
func (u *idp) idToken(g *grant, access string) string {
	now := time.Now()
	claims := map[string]any{}
	for k, v := range u.user {
		claims[k] = v
	}
	iss := u.srv.URL
	if u.microsoft {
		tid, _ := u.user["tid"].(string)
		iss = u.issuer(tid)
		claims["ver"] = "2.0"
	}
	claims["iss"] = iss
	claims["aud"] = g.clientID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(time.Hour).Unix()
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	sum := sha256.Sum256([]byte(access))
	claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
	if u.tamper != nil {
		u.tamper(claims)
	}
	if u.mint != nil {
		return u.mint(claims)
	}
	return u.key.sign(u.t, claims)
}

func (u *idp) userinfoHandler(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, known := u.tokens[tok]
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	out := map[string]any{"sub": u.user["sub"]}
	if u.userinfoSub != "" {
		out["sub"] = u.userinfoSub
	}
	for k, v := range u.userinfo {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

// set changes knobs while the server runs.
func (u *idp) set(f func(u *idp)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(u)
}

func (u *idp) lastTokenError() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.tokenErrors) == 0 {
		return ""
	}
	return u.tokenErrors[len(u.tokenErrors)-1]
}

// githubAPI is a stand-in for GitHub: OAuth2 authorize and access_token on
// the web host, and the REST API under /api/v3 (GitHub Enterprise Server's
// layout; github.com's is the same below the prefix).
type githubAPI struct {
	t   testing.TB
	srv *httptest.Server

	clientID, clientSecret, redirectURI string

	user        map[string]any
	emails      []map[string]any
	tokenStatus int
	userStatus  int

	mu          sync.Mutex
	grants      map[string]*grant
	tokens      map[string]bool
	tokenErrors []string
}

func newGitHubAPI(t testing.TB) *githubAPI {
	g := &githubAPI{
		t: t, clientID: "Iv1.gatehouse", clientSecret: "gh-secret",
		redirectURI: "https://id.gatehouse.example/oidc/callback",
		user:        map[string]any{"login": "octocat", "id": 583231, "name": "The Octocat", "avatar_url": "https://avatars.example/u/583231"},
		emails: []map[string]any{
			{"email": "octo@old.example", "primary": false, "verified": true, "visibility": nil},
			{"email": "octocat@github.example", "primary": true, "verified": true, "visibility": "public"},
			{"email": "unverified@example.com", "primary": false, "verified": false, "visibility": nil},
		},
		grants: map[string]*grant{}, tokens: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.accessToken)
	mux.HandleFunc("GET /api/v3/user", g.api(func() any { return g.user }))
	mux.HandleFunc("GET /api/v3/user/emails", g.api(func() any { return g.emails }))
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *githubAPI) authorize(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	q := r.URL.Query()
	if q.Get("client_id") != g.clientID || q.Get("redirect_uri") != g.redirectURI {
		http.Error(w, "The redirect_uri is not associated with this application.", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	}
	code := randomString()
	g.grants[code] = &grant{clientID: g.clientID, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
}

// accessToken answers like GitHub: form-encoded unless JSON is asked for,
// and errors with status 200 and an error field.
func (g *githubAPI) accessToken(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	reply := func(v url.Values) {
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			m := map[string]string{}
			for k := range v {
				m[k] = v.Get(k)
			}
			writeJSON(w, http.StatusOK, m)
			return
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(v.Encode()))
	}
	fail := func(code, why string) {
		g.tokenErrors = append(g.tokenErrors, code+": "+why)
		reply(url.Values{"error": {code}, "error_description": {why}})
	}
	if g.tokenStatus != 0 {
		http.Error(w, "unicorn", g.tokenStatus)
		return
	}
	_ = r.ParseForm()
	if r.PostForm.Get("client_id") != g.clientID || r.PostForm.Get("client_secret") != g.clientSecret {
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	gr := g.grants[r.PostForm.Get("code")]
	delete(g.grants, r.PostForm.Get("code"))
	switch {
	case gr == nil:
		fail("bad_verification_code", "The code passed is incorrect or expired.")
		return
	case gr.redirectURI != r.PostForm.Get("redirect_uri"):
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
		return
	case s256(r.PostForm.Get("code_verifier")) != gr.challenge:
		fail("bad_verification_code", "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.")
		return
	}
	tok := "gho_" + randomString()
	g.tokens[tok] = true
	reply(url.Values{"access_token": {tok}, "scope": {"read:user,user:email"}, "token_type": {"bearer"}})
}

// set changes knobs while the server runs.
func (g *githubAPI) set(f func(g *githubAPI)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

func (g *githubAPI) lastTokenError() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.tokenErrors) == 0 {
		return ""
	}
	return g.tokenErrors[len(g.tokenErrors)-1]
}

func (g *githubAPI) api(body func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		known := g.tokens[tok]
		switch {
		case r.Header.Get("User-Agent") == "":
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"})
		case !ok || !known:
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		case g.userStatus != 0:
			writeJSON(w, g.userStatus, map[string]string{"message": fmt.Sprintf("status %d", g.userStatus)})
		default:
			writeJSON(w, http.StatusOK, body())
		}
	}
}
