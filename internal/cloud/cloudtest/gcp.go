package cloudtest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

// GCP is a stand-in for GCP's Security Token Service (POST /v1/token, the
// RFC 8693 token exchange of workload identity federation, form or JSON
// bodies) and IAM Credentials (POST
// /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken), on two TLS
// servers. STS verifies the subject token against the provider's issuer's
// real discovery document and JWKS over HTTP, checks the audience against the
// provider's allowed audiences, maps attributes and evaluates the attribute
// condition with CEL, as GCP does; IAM Credentials checks the federated
// token and the service account's workloadIdentityUser bindings.
type GCP struct {
	STS            *httptest.Server
	IAMCredentials *httptest.Server

	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	providers map[string]*WorkloadProvider // by resource name (without the "//iam.googleapis.com/" part)
	bindings  map[string][]string          // service account email → members
	federated map[string]*federatedToken
	faults    map[string][]Fault // "sts" or "iam"
	calls     map[string]int
}

// WorkloadProvider is an OIDC provider of a workload identity pool.
type WorkloadProvider struct {
	ProjectNumber, Pool, Provider string
	IssuerURI                     string
	// AllowedAudiences; empty means the provider's own resource name (in
	// its // and https:// forms).
	AllowedAudiences []string
	// AttributeMapping: target ("google.subject", "attribute.NAME") → CEL
	// over assertion. google.subject is required.
	AttributeMapping map[string]string
	// AttributeCondition is an optional CEL boolean over assertion,
	// google and attribute.
	AttributeCondition string
}

func (p *WorkloadProvider) poolName() string {
	return "projects/" + p.ProjectNumber + "/locations/global/workloadIdentityPools/" + p.Pool
}

func (p *WorkloadProvider) resourceName() string {
	return p.poolName() + "/providers/" + p.Provider
}

// federatedToken is an access token GCP STS issued.
type federatedToken struct {
	pool       string // projects/N/locations/global/workloadIdentityPools/P
	subject    string
	attributes map[string]string
	expires    time.Time
}

// GCP faults.
var (
	GCPThrottling  = Fault{Status: 429, Code: "RESOURCE_EXHAUSTED", Message: "Quota exceeded."}
	GCPServerError = Fault{Status: 503, Code: "UNAVAILABLE", Message: "The service is currently unavailable."}
)

// NewGCP starts the stand-in; client fetches issuers' discovery documents
// and keys, now is its clock (time.Now if nil).
func NewGCP(t testing.TB, client *http.Client, now func() time.Time) *GCP {
	if now == nil {
		now = time.Now
	}
	g := &GCP{client: client, now: now, providers: map[string]*WorkloadProvider{}, bindings: map[string][]string{},
		federated: map[string]*federatedToken{}, faults: map[string][]Fault{}, calls: map[string]int{}}
	g.STS = httptest.NewTLSServer(http.HandlerFunc(g.serveSTS))
	g.IAMCredentials = httptest.NewTLSServer(http.HandlerFunc(g.serveIAM))
	t.Cleanup(g.STS.Close)
	t.Cleanup(g.IAMCredentials.Close)
	return g
}

// AddProvider registers a workload identity pool provider.
func (g *GCP) AddProvider(p WorkloadProvider) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.providers[p.resourceName()] = &p
}

// Bind grants member (principal://… or principalSet://…) the
// workloadIdentityUser role on a service account.
func (g *GCP) Bind(serviceAccount, member string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bindings[serviceAccount] = append(g.bindings[serviceAccount], member)
}

// Fail makes the next n calls of service ("sts" or "iam") fail with f.
func (g *GCP) Fail(service string, n int, f Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range n {
		g.faults[service] = append(g.faults[service], f)
	}
}

// Calls reports how many requests service ("sts" or "iam") received.
func (g *GCP) Calls(service string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[service]
}

// FederatedSubject tells whether token is a live federated token, and its
// subject.
func (g *GCP) FederatedSubject(token string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, ok := g.federated[token]
	if !ok || !g.now().Before(f.expires) {
		return "", false
	}
	return f.subject, true
}

func (g *GCP) takeFault(service string) *Fault {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[service]++
	q := g.faults[service]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	g.faults[service] = q[1:]
	return &f
}

// oauthFail answers as GCP STS does: an OAuth2 error.
func oauthFail(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// googleFail answers as Google APIs do: the error envelope.
func googleFail(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": message, "status": code}})
}

// exchangeRequest is the STS request in its form (snake_case) or JSON
// (camelCase) spelling.
type exchangeRequest struct {
	GrantType, Audience, Scope, RequestedTokenType, SubjectToken, SubjectTokenType string
}

func readExchange(r *http.Request) (*exchangeRequest, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		var j struct {
			GrantType, Audience, Scope, RequestedTokenType, SubjectToken, SubjectTokenType string
		}
		if err := json.Unmarshal(body, &j); err != nil {
			return nil, err
		}
		e := exchangeRequest(j)
		return &e, nil
	}
	f, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	return &exchangeRequest{GrantType: f.Get("grant_type"), Audience: f.Get("audience"), Scope: f.Get("scope"),
		RequestedTokenType: f.Get("requested_token_type"), SubjectToken: f.Get("subject_token"), SubjectTokenType: f.Get("subject_token_type")}, nil
}

func (g *GCP) serveSTS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/token" {
		googleFail(w, 404, "NOT_FOUND", "The requested URL was not found on this server.")
		return
	}
	if f := g.takeFault("sts"); f != nil {
		googleFail(w, f.Status, f.Code, f.Message)
		return
	}
	in, err := readExchange(r)
	if err != nil {
		oauthFail(w, 400, "invalid_request", "malformed request body")
		return
	}
	switch {
	case in.GrantType != "urn:ietf:params:oauth:grant-type:token-exchange":
		oauthFail(w, 400, "unsupported_grant_type", "Unsupported grant type: "+in.GrantType)
		return
	case in.RequestedTokenType != "urn:ietf:params:oauth:token-type:access_token":
		oauthFail(w, 400, "invalid_request", "Invalid requested_token_type")
		return
	case in.SubjectTokenType != "urn:ietf:params:oauth:token-type:jwt" && in.SubjectTokenType != "urn:ietf:params:oauth:token-type:id_token":
		oauthFail(w, 400, "invalid_request", "Invalid subject_token_type for an OIDC provider")
		return
	case in.SubjectToken == "":
		oauthFail(w, 400, "invalid_request", "subject_token is required")
		return
	}
	name := strings.TrimPrefix(strings.TrimPrefix(in.Audience, "//iam.googleapis.com/"), "https://iam.googleapis.com/")
	g.mu.Lock()
	p := g.providers[name]
	g.mu.Unlock()
	if p == nil {
		oauthFail(w, 400, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.")
		return
	}
	iss, err := unverifiedIssuer(in.SubjectToken)
	if err != nil {
		oauthFail(w, 400, "invalid_grant", "The ID Token could not be parsed: "+err.Error())
		return
	}
	if iss != p.IssuerURI {
		oauthFail(w, 400, "invalid_grant", fmt.Sprintf("The issuer in ID Token %s does not match the expected ones: %s.", iss, p.IssuerURI))
		return
	}
	audiences := p.AllowedAudiences
	if len(audiences) == 0 {
		audiences = []string{"//iam.googleapis.com/" + p.resourceName(), "https://iam.googleapis.com/" + p.resourceName()}
	}
	v, problem, why := verifyToken(r.Context(), g.client, g.now, in.SubjectToken, p.IssuerURI, audiences)
	switch problem {
	case tokenUnreachable:
		oauthFail(w, 400, "invalid_grant", "Unable to retrieve the JWKS of the issuer: "+why)
		return
	case tokenExpired:
		oauthFail(w, 400, "invalid_grant", "ID Token expired: "+why)
		return
	case tokenWrongAudience:
		oauthFail(w, 400, "invalid_grant", "The audience in ID Token does not match the expected audience: "+why)
		return
	case tokenMalformed, tokenInvalid:
		oauthFail(w, 400, "invalid_grant", "Invalid ID Token: "+why)
		return
	}
	if exp := v.Expiry; exp.After(g.now().Add(48 * time.Hour)) {
		oauthFail(w, 400, "invalid_grant", "The ID Token's lifetime exceeds 48 hours.")
		return
	}
	subject, attrs, err := mapAttributes(p, v.Claims)
	if err != nil {
		oauthFail(w, 400, "invalid_grant", err.Error())
		return
	}
	token := "ya29.d." + randomHex(32)
	g.mu.Lock()
	g.federated[token] = &federatedToken{pool: p.poolName(), subject: subject, attributes: attrs, expires: g.now().Add(time.Hour)}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": "Bearer", "expires_in": 3600})
}

// mapAttributes runs the provider's attribute mapping and condition over
// the token's claims (the CEL variable assertion), as GCP does.
func mapAttributes(p *WorkloadProvider, claims map[string]any) (string, map[string]string, error) {
	env, err := cel.NewEnv(
		cel.Variable("assertion", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("google", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("attribute", cel.MapType(cel.StringType, cel.StringType)),
	)
	if err != nil {
		return "", nil, err
	}
	eval := func(expr string, vars map[string]any) (any, error) {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			return nil, iss.Err()
		}
		prg, err := env.Program(ast)
		if err != nil {
			return nil, err
		}
		out, _, err := prg.Eval(vars)
		if err != nil {
			return nil, err
		}
		return out.Value(), nil
	}
	google, attrs := map[string]string{}, map[string]string{}
	for target, expr := range p.AttributeMapping {
		v, err := eval(expr, map[string]any{"assertion": claims, "google": map[string]string{}, "attribute": map[string]string{}})
		if err != nil {
			return "", nil, fmt.Errorf("The attribute mapping %s could not be evaluated: %v", target, err)
		}
		s, ok := v.(string)
		if !ok {
			return "", nil, fmt.Errorf("The attribute mapping %s must produce a string", target)
		}
		if name, ok := strings.CutPrefix(target, "attribute."); ok {
			attrs[name] = s
		} else if name, ok := strings.CutPrefix(target, "google."); ok {
			google[name] = s
		}
	}
	subject := google["subject"]
	if subject == "" || len(subject) > 127 {
		return "", nil, fmt.Errorf("The mapped google.subject must be 1 to 127 bytes")
	}
	if p.AttributeCondition != "" {
		v, err := eval(p.AttributeCondition, map[string]any{"assertion": claims, "google": google, "attribute": attrs})
		if b, ok := v.(bool); err != nil || !ok || !b {
			return "", nil, fmt.Errorf("The given credential is rejected by the attribute condition.")
		}
	}
	return subject, attrs, nil
}

func (g *GCP) serveIAM(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/v1/projects/-/serviceAccounts/", ":generateAccessToken"
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) || !strings.HasSuffix(r.URL.Path, suffix) {
		googleFail(w, 404, "NOT_FOUND", "The requested URL was not found on this server.")
		return
	}
	if f := g.takeFault("iam"); f != nil {
		googleFail(w, f.Status, f.Code, f.Message)
		return
	}
	email := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, prefix), suffix)
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	fed := g.federated[bearer]
	members := slices.Clone(g.bindings[email])
	g.mu.Unlock()
	if !ok || fed == nil || !g.now().Before(fed.expires) {
		googleFail(w, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	var in struct {
		Scope     []string `json:"scope"`
		Lifetime  string   `json:"lifetime"`
		Delegates []string `json:"delegates"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		googleFail(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	base := "//iam.googleapis.com/" + fed.pool
	allowed := slices.ContainsFunc(members, func(m string) bool {
		switch {
		case m == "principal:"+base+"/subject/"+fed.subject, m == "principalSet:"+base+"/*":
			return true
		case strings.HasPrefix(m, "principalSet:"+base+"/attribute."):
			name, value, _ := strings.Cut(strings.TrimPrefix(m, "principalSet:"+base+"/attribute."), "/")
			return fed.attributes[name] == value && value != ""
		}
		return false
	})
	if !allowed {
		googleFail(w, 403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).")
		return
	}
	if len(in.Scope) == 0 {
		googleFail(w, 400, "INVALID_ARGUMENT", "Scope is required.")
		return
	}
	lifetime := time.Hour
	if in.Lifetime != "" {
		d, err := time.ParseDuration(in.Lifetime)
		if err != nil || d <= 0 {
			googleFail(w, 400, "INVALID_ARGUMENT", "Invalid lifetime: "+in.Lifetime)
			return
		}
		lifetime = d
	}
	if lifetime > time.Hour {
		googleFail(w, 400, "INVALID_ARGUMENT", "The lifetime must be at most 3600s without the constraints/iam.allowServiceAccountCredentialLifetimeExtension organization policy.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"accessToken": "ya29.c." + randomHex(32),
		"expireTime": g.now().Add(lifetime).UTC().Format(time.RFC3339)})
}
