package cloudtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// AWS is a stand-in for the parts of AWS that Gatehouse calls: STS (the
// query API with XML answers: AssumeRoleWithWebIdentity, AssumeRole,
// GetCallerIdentity) and Organizations (JSON 1.1: DescribeOrganization,
// ListAccounts, ListParents, ListTagsForResource), each on its own TLS
// server, sharing one account world. It verifies web identity tokens against the issuer's real discovery document
// and JWKS over HTTP, checks SigV4 signatures with the secrets it issued,
// evaluates role trust (provider, aud and sub conditions, trusted principals,
// external ID, session tags) and permissions, and fails the way AWS does.
// Faults (throttling, server errors) are injected per action.
type AWS struct {
	// STS and Organizations are the servers; their URLs are the endpoints.
	STS           *httptest.Server
	Organizations *httptest.Server

	client *http.Client // fetches issuers' discovery documents and keys
	now    func() time.Time

	mu        sync.Mutex
	providers map[string]*OIDCProvider // by ARN
	roles     map[string]*Role         // by ARN
	users     map[string]*User         // by access key ID
	sessions  map[string]*session      // by access key ID
	orgs      []*Organization
	faults    map[string][]Fault
	calls     map[string]int
	seq       int
}

// OIDCProvider is an IAM OpenID Connect identity provider of an account.
type OIDCProvider struct {
	Account string
	// URL is the issuer, as IAM stores it (https://, no trailing slash).
	URL       string
	ClientIDs []string
}

// ARN of the provider: arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH.
func (p *OIDCProvider) ARN() string {
	return "arn:aws:iam::" + p.Account + ":oidc-provider/" + strings.TrimPrefix(p.URL, "https://")
}

// Role is an IAM role: its trust policy (who may assume it, on what
// conditions) and what its sessions may do.
type Role struct {
	ARN string
	// MaxSessionDuration in seconds (3600 if zero).
	MaxSessionDuration int
	// Web identity trust: the provider ARN trusted as Federated principal,
	// with StringEquals on PROVIDER:aud and StringLike on PROVIDER:sub.
	TrustedProvider string
	AudEquals       string
	SubLike         string
	// AllowTagSession: the trust policy also allows sts:TagSession, which
	// a token carrying session tags needs.
	AllowTagSession bool
	// AWS principal trust for sts:AssumeRole: principal ARNs, or
	// arn:aws:iam::ACCOUNT:root for a whole account; ExternalID, when set,
	// is the StringEquals condition on sts:ExternalId.
	TrustedPrincipals []string
	ExternalID        string
	// Allowed are the actions the role's sessions may call, e.g.
	// "organizations:DescribeOrganization".
	Allowed []string
}

// User is an IAM user with an access key.
type User struct {
	ARN             string
	AccessKeyID     string
	SecretAccessKey string
	Allowed         []string
}

// Organization is an AWS organization of the world.
type Organization struct {
	ID                     string
	ManagementAccountID    string
	ManagementAccountEmail string
	Accounts               []Account
	// Units are its organizational units, below the root or each other.
	Units []Unit
	// RootTags are the root's tags.
	RootTags map[string]string
}

// Account is a member account.
type Account struct {
	ID, Name, Email string
	State           string // ACTIVE, SUSPENDED, ...
	// Parent is the organizational unit it is in, "" for the root.
	Parent string
	Tags   map[string]string
}

// Unit is an organizational unit ("ou-..."): its parent unit ("" for the
// root) and tags.
type Unit struct {
	ID, Parent string
	Tags       map[string]string
}

// node finds the root, an account or a unit by ID: its parent unit (""
// for the root or a node right below it) and its tags.
func (o *Organization) node(id string) (parent string, tags map[string]string, ok bool) {
	if id == o.RootID() {
		return "", o.RootTags, true
	}
	for _, acc := range o.Accounts {
		if acc.ID == id {
			return acc.Parent, acc.Tags, true
		}
	}
	for _, u := range o.Units {
		if u.ID == id {
			return u.Parent, u.Tags, true
		}
	}
	return "", nil, false
}

// RootID is the ID of the organization's root.
func (o *Organization) RootID() string { return "r-" + strings.TrimPrefix(o.ID, "o-")[:4] }

// ARN of the organization.
func (o *Organization) ARN() string {
	return "arn:aws:organizations::" + o.ManagementAccountID + ":organization/" + o.ID
}

// session is a set of temporary credentials the stand-in issued.
type session struct {
	secret, token string
	roleARN       string
	assumedARN    string
	expires       time.Time
}

// Fault makes calls fail: HTTP Status with the service's error Code.
type Fault struct {
	Status  int
	Code    string
	Message string
}

// Faults as AWS sends them.
var (
	STSThrottling           = Fault{Status: 400, Code: "Throttling", Message: "Rate exceeded"}
	OrganizationsThrottling = Fault{Status: 400, Code: "TooManyRequestsException", Message: "AWS Organizations can't complete your request because another request is already in progress. Try again later."}
	AWSServerError          = Fault{Status: 500, Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure."}
	AWSUnavailable          = Fault{Status: 503, Code: "ServiceUnavailable", Message: "The service is unavailable. Please try again later."}
)

// NewAWS starts the stand-in. client fetches issuers' discovery documents
// and JWKS (give it the CA of the issuer under test); now is its clock
// (time.Now if nil). Both servers close when the test ends.
func NewAWS(t testing.TB, client *http.Client, now func() time.Time) *AWS {
	if now == nil {
		now = time.Now
	}
	a := &AWS{client: client, now: now, providers: map[string]*OIDCProvider{}, roles: map[string]*Role{},
		users: map[string]*User{}, sessions: map[string]*session{}, faults: map[string][]Fault{}, calls: map[string]int{}}
	a.STS = httptest.NewTLSServer(http.HandlerFunc(a.serveSTS))
	a.Organizations = httptest.NewTLSServer(http.HandlerFunc(a.serveOrganizations))
	t.Cleanup(a.STS.Close)
	t.Cleanup(a.Organizations.Close)
	return a
}

// AddOIDCProvider registers an IAM OIDC provider in account and returns it.
func (a *AWS) AddOIDCProvider(account, issuerURL string, clientIDs ...string) *OIDCProvider {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := &OIDCProvider{Account: account, URL: issuerURL, ClientIDs: clientIDs}
	a.providers[p.ARN()] = p
	return p
}

// AddRole creates (or replaces) a role.
func (a *AWS) AddRole(r Role) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.MaxSessionDuration == 0 {
		r.MaxSessionDuration = 3600
	}
	a.roles[r.ARN] = &r
}

// AddUser creates an IAM user with an access key.
func (a *AWS) AddUser(u User) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users[u.AccessKeyID] = &u
}

// AddOrganization adds an organization to the world.
func (a *AWS) AddOrganization(o Organization) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.orgs = append(a.orgs, &o)
}

// RemoveAccount takes a member account out of its organization (it left,
// or was closed): ListAccounts no longer lists it.
func (a *AWS) RemoveAccount(account string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range a.orgs {
		o.Accounts = slices.DeleteFunc(o.Accounts, func(acc Account) bool { return acc.ID == account })
	}
}

// organizationOf finds the organization account belongs to (as its
// management account or a member), or nil.
func (a *AWS) organizationOf(account string) *Organization {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range a.orgs {
		if o.ManagementAccountID == account || slices.ContainsFunc(o.Accounts, func(acc Account) bool { return acc.ID == account }) {
			return o
		}
	}
	return nil
}

// Fail makes the next n calls of action (an STS action, or an
// Organizations operation such as "DescribeOrganization") fail with f.
func (a *AWS) Fail(action string, n int, f Fault) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.faults[action] = append(a.faults[action], f)
	}
}

// Calls reports how many requests for action arrived, failed ones included.
func (a *AWS) Calls(action string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[action]
}

// Session tells whether accessKeyID is a live session the stand-in issued,
// and the role it assumed.
func (a *AWS) Session(accessKeyID string) (roleARN string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[accessKeyID]
	if !ok || !a.now().Before(s.expires) {
		return "", false
	}
	return s.roleARN, true
}

// takeFault counts a call of action and pops its next fault.
func (a *AWS) takeFault(action string) *Fault {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[action]++
	q := a.faults[action]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	a.faults[action] = q[1:]
	return &f
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *AWS) requestID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", a.seq)
}

// ---- STS ----

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

type stsError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type webIdentityResponse struct {
	XMLName xml.Name `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		SubjectFromWebIdentityToken string          `xml:"SubjectFromWebIdentityToken"`
		Audience                    string          `xml:"Audience"`
		AssumedRoleUser             assumedRoleUser `xml:"AssumedRoleUser"`
		Credentials                 stsCredentials  `xml:"Credentials"`
		Provider                    string          `xml:"Provider"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
		Credentials     stsCredentials  `xml:"Credentials"`
	} `xml:"AssumeRoleResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type callerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func (a *AWS) stsFail(w http.ResponseWriter, status int, code, format string, args ...any) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	body, _ := xml.Marshal(stsError{Xmlns: stsNamespace, Type: typ, Code: code, Message: fmt.Sprintf(format, args...), RequestID: a.requestID()})
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (a *AWS) stsReply(w http.ResponseWriter, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		a.stsFail(w, 500, "InternalFailure", "encode: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(append([]byte(xml.Header), body...))
}

var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (a *AWS) serveSTS(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || (r.Method != http.MethodPost && r.Method != http.MethodGet) || r.URL.Path != "/" {
		a.stsFail(w, 400, "InvalidAction", "Could not find operation for %s %s", r.Method, r.URL.Path)
		return
	}
	form, err := url.ParseQuery(string(body))
	if r.Method == http.MethodGet {
		form, err = r.URL.Query(), nil
	}
	if err != nil {
		a.stsFail(w, 400, "MalformedQueryString", "The query string is malformed")
		return
	}
	action := form.Get("Action")
	if form.Get("Version") != "2011-06-15" {
		a.stsFail(w, 400, "InvalidParameterValue", "Version must be 2011-06-15")
		return
	}
	if f := a.takeFault(action); f != nil {
		a.stsFail(w, f.Status, f.Code, "%s", f.Message)
		return
	}
	switch action {
	case "AssumeRoleWithWebIdentity":
		a.assumeRoleWithWebIdentity(w, r, form)
	case "AssumeRole":
		a.signedSTS(w, r, body, func(principal string) { a.assumeRole(w, form, principal) })
	case "GetCallerIdentity":
		a.signedSTS(w, r, body, func(principal string) { a.getCallerIdentity(w, principal) })
	default:
		a.stsFail(w, 400, "InvalidAction", "Could not find operation %s for version 2011-06-15", action)
	}
}

// signedSTS verifies the SigV4 signature of an STS call and runs next with
// the caller's ARN.
func (a *AWS) signedSTS(w http.ResponseWriter, r *http.Request, body []byte, next func(principal string)) {
	key, problem := verifySigV4(r, body, "sts", a.now(), a.lookupKey)
	switch problem {
	case sigMissing:
		a.stsFail(w, 403, "MissingAuthenticationToken", "Request is missing Authentication Token")
	case sigUnknownKey:
		a.stsFail(w, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	case sigExpiredToken:
		a.stsFail(w, 400, "ExpiredToken", "The security token included in the request is expired")
	case sigSkew:
		a.stsFail(w, 403, "SignatureDoesNotMatch", "Signature expired: the request time is too far from the server time.")
	case sigMismatch:
		a.stsFail(w, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	default:
		next(a.principalOf(key))
	}
}

func (a *AWS) lookupKey(id string) (secret, token string, ok, expired bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, found := a.users[id]; found {
		return u.SecretAccessKey, "", true, false
	}
	if s, found := a.sessions[id]; found {
		return s.secret, s.token, true, !a.now().Before(s.expires)
	}
	return "", "", false, false
}

// principalOf is the ARN of a key's principal: the user, or the assumed
// role session.
func (a *AWS) principalOf(key string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.users[key]; ok {
		return u.ARN
	}
	return a.sessions[key].assumedARN
}

// allowed reports whether the key's principal may call action.
func (a *AWS) allowed(key, action string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.users[key]; ok {
		return slices.Contains(u.Allowed, action)
	}
	if s, ok := a.sessions[key]; ok {
		if r, ok := a.roles[s.roleARN]; ok {
			return slices.Contains(r.Allowed, action)
		}
	}
	return false
}

// accountOf reads the account ID of an IAM or STS ARN.
func accountOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func roleName(arn string) string {
	return path.Base(strings.SplitN(arn, ":", 6)[5])
}

// durationOf reads DurationSeconds against the role's maximum.
func durationOf(form url.Values, r *Role) (time.Duration, string) {
	d := 3600
	if v := form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, "DurationSeconds must be a number"
		}
		d = n
	}
	if d < 900 {
		return 0, "1 validation error detected: Value '" + strconv.Itoa(d) + "' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
	}
	if d > r.MaxSessionDuration {
		return 0, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
	}
	return time.Duration(d) * time.Second, ""
}

// issue makes a session for role as session name.
func (a *AWS) issue(role *Role, name string, d time.Duration) (stsCredentials, assumedRoleUser) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := "ASIA" + strings.ToUpper(randomHex(8))
	s := &session{secret: randomHex(20), token: "FwoGZXIvYXdzE" + randomHex(48), roleARN: role.ARN,
		assumedARN: "arn:aws:sts::" + accountOf(role.ARN) + ":assumed-role/" + roleName(role.ARN) + "/" + name,
		expires:    a.now().Add(d).UTC().Truncate(time.Second)}
	a.sessions[id] = s
	return stsCredentials{AccessKeyID: id, SecretAccessKey: s.secret, SessionToken: s.token, Expiration: s.expires.Format(time.RFC3339)},
		assumedRoleUser{Arn: s.assumedARN, AssumedRoleID: "AROA" + strings.ToUpper(randomHex(8)) + ":" + name}
}

// issueFor issues a session of role for the request's DurationSeconds, or
// answers the ValidationError AWS gives for a duration the role does not
// allow.
func (a *AWS) issueFor(w http.ResponseWriter, form url.Values, role *Role, name string) (stsCredentials, assumedRoleUser, bool) {
	d, bad := durationOf(form, role)
	if bad != "" {
		a.stsFail(w, 400, "ValidationError", "%s", bad)
		return stsCredentials{}, assumedRoleUser{}, false
	}
	creds, user := a.issue(role, name, d)
	return creds, user, true
}

// likeMatch is IAM's StringLike: * any run of characters, ? one.
func likeMatch(pattern, s string) bool {
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

func (a *AWS) assumeRoleWithWebIdentity(w http.ResponseWriter, r *http.Request, form url.Values) {
	roleARN, name, token := form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("WebIdentityToken")
	if roleARN == "" || token == "" || !sessionNamePattern.MatchString(name) {
		a.stsFail(w, 400, "ValidationError", "1 validation error detected: RoleArn, RoleSessionName ([\\w+=,.@-]{2,64}) and WebIdentityToken are required")
		return
	}
	iss, err := unverifiedIssuer(token)
	if err != nil {
		a.stsFail(w, 400, "InvalidIdentityToken", "Couldn't parse the web identity token: %v", err)
		return
	}
	a.mu.Lock()
	var provider *OIDCProvider
	for _, p := range a.providers {
		if p.URL == iss && p.Account == accountOf(roleARN) {
			provider = p
		}
	}
	role := a.roles[roleARN]
	a.mu.Unlock()
	if provider == nil {
		a.stsFail(w, 400, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for %s", iss)
		return
	}
	v, problem, why := verifyToken(r.Context(), a.client, a.now, token, provider.URL, provider.ClientIDs)
	switch problem {
	case tokenUnreachable:
		a.stsFail(w, 400, "IDPCommunicationError", "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements (%s)", why)
		return
	case tokenExpired:
		a.stsFail(w, 400, "ExpiredTokenException", "Token expired: current date/time %s must be before the expiration date/time (%s)", a.now().UTC().Format(time.RFC3339), why)
		return
	case tokenWrongAudience:
		a.stsFail(w, 400, "InvalidIdentityToken", "Incorrect token audience")
		return
	case tokenMalformed, tokenInvalid:
		a.stsFail(w, 400, "InvalidIdentityToken", "The web identity token is invalid: %s", why)
		return
	}
	denied := func() {
		a.stsFail(w, 403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	}
	if role == nil || role.TrustedProvider != provider.ARN() {
		denied()
		return
	}
	if role.AudEquals != "" && !slices.Contains(v.Audience, role.AudEquals) {
		denied()
		return
	}
	if role.SubLike != "" && !likeMatch(role.SubLike, v.Subject) {
		denied()
		return
	}
	if _, tagged := v.Claims["https://aws.amazon.com/tags"]; tagged && !role.AllowTagSession {
		denied()
		return
	}
	creds, user, ok := a.issueFor(w, form, role, name)
	if !ok {
		return
	}
	var out webIdentityResponse
	out.Xmlns = stsNamespace
	out.Result.SubjectFromWebIdentityToken = v.Subject
	out.Result.Audience = v.Audience[0]
	out.Result.AssumedRoleUser = user
	out.Result.Credentials = creds
	out.Result.Provider = strings.TrimPrefix(provider.URL, "https://")
	out.RequestID = a.requestID()
	a.stsReply(w, out)
}

func (a *AWS) assumeRole(w http.ResponseWriter, form url.Values, principal string) {
	roleARN, name := form.Get("RoleArn"), form.Get("RoleSessionName")
	if roleARN == "" || !sessionNamePattern.MatchString(name) {
		a.stsFail(w, 400, "ValidationError", "1 validation error detected: RoleArn and RoleSessionName ([\\w+=,.@-]{2,64}) are required")
		return
	}
	a.mu.Lock()
	role := a.roles[roleARN]
	a.mu.Unlock()
	trusted := role != nil && (slices.Contains(role.TrustedPrincipals, principal) ||
		slices.Contains(role.TrustedPrincipals, "arn:aws:iam::"+accountOf(principal)+":root"))
	if !trusted || (role.ExternalID != "" && form.Get("ExternalId") != role.ExternalID) {
		a.stsFail(w, 403, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", principal, roleARN)
		return
	}
	creds, user, ok := a.issueFor(w, form, role, name)
	if !ok {
		return
	}
	var out assumeRoleResponse
	out.Xmlns = stsNamespace
	out.Result.AssumedRoleUser = user
	out.Result.Credentials = creds
	out.RequestID = a.requestID()
	a.stsReply(w, out)
}

func (a *AWS) getCallerIdentity(w http.ResponseWriter, principal string) {
	var out callerIdentityResponse
	out.Xmlns = stsNamespace
	out.Result.Arn = principal
	out.Result.Account = accountOf(principal)
	out.Result.UserID = "AIDA" + strings.ToUpper(randomHex(8))
	out.RequestID = a.requestID()
	a.stsReply(w, out)
}

// ---- Organizations ----

const organizationsTargetPrefix = "AWSOrganizationsV20161128."

func (a *AWS) orgFail(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", a.requestID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "Message": fmt.Sprintf(format, args...)})
}

func (a *AWS) orgReply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", a.requestID())
	_ = json.NewEncoder(w).Encode(v)
}

func (a *AWS) serveOrganizations(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	target := r.Header.Get("X-Amz-Target")
	op := strings.TrimPrefix(target, organizationsTargetPrefix)
	if err != nil || r.Method != http.MethodPost || !strings.HasPrefix(target, organizationsTargetPrefix) {
		a.orgFail(w, 400, "UnknownOperationException", "unknown operation %q", target)
		return
	}
	if f := a.takeFault(op); f != nil {
		a.orgFail(w, f.Status, f.Code, "%s", f.Message)
		return
	}
	key, problem := verifySigV4(r, body, "organizations", a.now(), a.lookupKey)
	switch problem {
	case sigMissing:
		a.orgFail(w, 400, "MissingAuthenticationTokenException", "Missing Authentication Token")
		return
	case sigUnknownKey:
		a.orgFail(w, 400, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	case sigExpiredToken:
		a.orgFail(w, 400, "ExpiredTokenException", "The security token included in the request is expired")
		return
	case sigMismatch, sigSkew:
		a.orgFail(w, 400, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
		return
	}
	principal := a.principalOf(key)
	org := a.organizationOf(accountOf(principal))
	if org == nil {
		a.orgFail(w, 400, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
		return
	}
	if !a.allowed(key, "organizations:"+op) {
		a.orgFail(w, 400, "AccessDeniedException", "You don't have permissions to access this resource.")
		return
	}
	switch op {
	case "DescribeOrganization":
		a.orgReply(w, map[string]any{"Organization": map[string]any{
			"Id": org.ID, "Arn": org.ARN(), "FeatureSet": "ALL",
			"MasterAccountId": org.ManagementAccountID, "MasterAccountEmail": org.ManagementAccountEmail,
			"MasterAccountArn":     "arn:aws:organizations::" + org.ManagementAccountID + ":account/" + org.ID + "/" + org.ManagementAccountID,
			"AvailablePolicyTypes": []any{},
		}})
	case "ListAccounts":
		if accountOf(principal) != org.ManagementAccountID {
			a.orgFail(w, 400, "AccessDeniedException", "You don't have permissions to access this resource.")
			return
		}
		a.listAccounts(w, body, org)
	case "ListParents", "ListTagsForResource":
		if accountOf(principal) != org.ManagementAccountID {
			a.orgFail(w, 400, "AccessDeniedException", "You don't have permissions to access this resource.")
			return
		}
		if op == "ListParents" {
			a.listParents(w, body, org)
		} else {
			a.listTags(w, body, org)
		}
	default:
		a.orgFail(w, 400, "UnknownOperationException", "unknown operation %q", op)
	}
}

// listParents answers ListParents for an account or a unit.
func (a *AWS) listParents(w http.ResponseWriter, body []byte, org *Organization) {
	var in struct{ ChildId string }
	if err := json.Unmarshal(body, &in); err != nil {
		a.orgFail(w, 400, "InvalidInputException", "malformed request body")
		return
	}
	a.mu.Lock()
	parent, _, found := org.node(in.ChildId)
	a.mu.Unlock()
	if !found || in.ChildId == org.RootID() {
		a.orgFail(w, 400, "ChildNotFoundException", "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
		return
	}
	p := map[string]any{"Id": org.RootID(), "Type": "ROOT"}
	if parent != "" {
		p = map[string]any{"Id": parent, "Type": "ORGANIZATIONAL_UNIT"}
	}
	a.orgReply(w, map[string]any{"Parents": []any{p}})
}

// listTags answers ListTagsForResource for an account, a unit or the root,
// one tag per page (as AWS may page them).
func (a *AWS) listTags(w http.ResponseWriter, body []byte, org *Organization) {
	var in struct {
		ResourceId string
		NextToken  *string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		a.orgFail(w, 400, "InvalidInputException", "malformed request body")
		return
	}
	a.mu.Lock()
	_, tags, found := org.node(in.ResourceId)
	a.mu.Unlock()
	if !found {
		a.orgFail(w, 400, "TargetNotFoundException", "We can't find a resource that matches the ResourceId that you specified.")
		return
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil || n < 0 || n > len(keys) {
			a.orgFail(w, 400, "InvalidInputException", "You provided an invalid value for NextToken.")
			return
		}
		start = n
	}
	out := map[string]any{"Tags": []any{}}
	if start < len(keys) {
		out["Tags"] = []any{map[string]any{"Key": keys[start], "Value": tags[keys[start]]}}
		if start+1 < len(keys) {
			out["NextToken"] = strconv.Itoa(start + 1)
		}
	}
	a.orgReply(w, out)
}

func (a *AWS) listAccounts(w http.ResponseWriter, body []byte, org *Organization) {
	var in struct {
		NextToken  *string
		MaxResults *int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		a.orgFail(w, 400, "InvalidInputException", "malformed request body")
		return
	}
	start, size := 0, 20
	if in.MaxResults != nil {
		size = *in.MaxResults
	}
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil || n < 0 || n > len(org.Accounts) {
			a.orgFail(w, 400, "InvalidInputException", "You provided an invalid value for NextToken.")
			return
		}
		start = n
	}
	end := min(start+size, len(org.Accounts))
	var accounts []map[string]any
	for _, acc := range org.Accounts[start:end] {
		accounts = append(accounts, map[string]any{
			"Id": acc.ID, "Arn": "arn:aws:organizations::" + org.ManagementAccountID + ":account/" + org.ID + "/" + acc.ID,
			"Name": acc.Name, "Email": acc.Email, "State": acc.State, "Status": acc.State,
			"JoinedMethod": "CREATED", "JoinedTimestamp": 1.7e9,
		})
	}
	out := map[string]any{"Accounts": accounts}
	if end < len(org.Accounts) {
		out["NextToken"] = strconv.Itoa(end)
	}
	a.orgReply(w, out)
}
