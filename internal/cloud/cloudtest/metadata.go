package cloudtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SessionCredentials are temporary credentials the AWS stand-in issued.
type SessionCredentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 time.Time
}

// IssueSession makes a session of the role roleARN, as an instance profile
// or a task role would get from STS, for d. ok is false when no such role
// exists.
func (a *AWS) IssueSession(roleARN, name string, d time.Duration) (c SessionCredentials, ok bool) {
	a.mu.Lock()
	role := a.roles[roleARN]
	a.mu.Unlock()
	if role == nil {
		return SessionCredentials{}, false
	}
	creds, _ := a.issue(role, name, d)
	exp, _ := time.Parse(time.RFC3339, creds.Expiration)
	return SessionCredentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken, Expiration: exp}, true
}

// roleSource hands out the credentials of a role of the AWS stand-in, the
// way the metadata services do: one session, renewed when it nears its end.
type roleSource struct {
	aws *AWS

	mu      sync.Mutex
	role    string
	forged  bool
	current *SessionCredentials
	calls   int
}

func (r *roleSource) set(roleARN string, forged bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.role, r.forged, r.current = roleARN, forged, nil
}

// credentials returns the session to hand out, or false when no role is
// attached.
func (r *roleSource) credentials() (SessionCredentials, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.role == "" {
		return SessionCredentials{}, false
	}
	if r.current != nil && r.aws.now().Add(15*time.Minute).Before(r.current.Expiration) {
		return *r.current, true
	}
	if r.forged {
		// Well-formed credentials AWS never issued.
		c := SessionCredentials{AccessKeyID: "ASIA" + strings.ToUpper(randomHex(8)), SecretAccessKey: randomHex(20),
			SessionToken: "FwoGZXIvYXdzE" + randomHex(48), Expiration: r.aws.now().Add(time.Hour).UTC().Truncate(time.Second)}
		r.current = &c
		return c, true
	}
	c, ok := r.aws.IssueSession(r.role, "i-0123456789abcdef0", time.Hour)
	if !ok {
		return SessionCredentials{}, false
	}
	r.current = &c
	return c, true
}

func roleNameOf(arn string) string {
	if arn == "" {
		return ""
	}
	return roleName(arn)
}

// IMDS is a stand-in for the EC2 instance metadata service, IMDSv2 only
// (HttpTokens=required): PUT /latest/api/token with
// X-aws-ec2-metadata-token-ttl-seconds (1–21600) answers a session token;
// every GET needs it in X-aws-ec2-metadata-token, or is refused with 401.
// /latest/meta-data/iam/security-credentials/ lists the instance profile's
// role (404 when none is attached), and .../<role> answers its
// credentials, issued by the AWS stand-in so that STS and Organizations
// accept their signatures. Like EC2, a token PUT carrying X-Forwarded-For
// is refused (403): IMDSv2 tokens must not pass through proxies.
type IMDS struct {
	*httptest.Server
	src roleSource

	mu     sync.Mutex
	tokens map[string]time.Time
}

// NewIMDS starts the stand-in (plain HTTP, like the real one), with roleARN
// (a role of a) attached to the instance; "" attaches none.
func NewIMDS(t testing.TB, a *AWS, roleARN string) *IMDS {
	m := &IMDS{src: roleSource{aws: a, role: roleARN}, tokens: map[string]time.Time{}}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

// ForgeCredentials makes the instance's credentials well-formed ones AWS
// never issued, as after a revoked session.
func (m *IMDS) ForgeCredentials() { m.src.set(m.src.role, true) }

// CredentialCalls counts the GETs of the role's credentials.
func (m *IMDS) CredentialCalls() int {
	m.src.mu.Lock()
	defer m.src.mu.Unlock()
	return m.src.calls
}

const credentialsPath = "/latest/meta-data/iam/security-credentials/"

func (m *IMDS) serve(w http.ResponseWriter, r *http.Request) {
	now := m.src.aws.now()
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.Header.Get("X-Forwarded-For") != "" {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		if err != nil || ttl < 1 || ttl > 21600 {
			http.Error(w, "Bad Request", http.StatusBadRequest)
			return
		}
		tok := "AQAEA" + randomHex(24)
		m.mu.Lock()
		m.tokens[tok] = now.Add(time.Duration(ttl) * time.Second)
		m.mu.Unlock()
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
		_, _ = w.Write([]byte(tok))
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	m.mu.Lock()
	exp, ok := m.tokens[r.Header.Get("X-aws-ec2-metadata-token")]
	m.mu.Unlock()
	if !ok || !now.Before(exp) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	m.src.mu.Lock()
	role := roleNameOf(m.src.role)
	m.src.mu.Unlock()
	switch {
	case r.URL.Path == credentialsPath:
		if role == "" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(role))
	case strings.HasPrefix(r.URL.Path, credentialsPath) && role != "" && strings.TrimPrefix(r.URL.Path, credentialsPath) == role:
		c, ok := m.src.credentials()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_ = json.NewEncoder(w).Encode(map[string]string{"Code": "Success", "LastUpdated": now.UTC().Format(time.RFC3339), "Type": "AWS-HMAC",
			"AccessKeyId": c.AccessKeyID, "SecretAccessKey": c.SecretAccessKey, "Token": c.SessionToken,
			"Expiration": c.Expiration.UTC().Format(time.RFC3339)})
	default:
		http.NotFound(w, r)
	}
}

// ContainerCredentials is a stand-in for the ECS task role / EKS Pod
// Identity credentials endpoint: a GET with the expected Authorization
// header answers {AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn}
// of a role of the AWS stand-in; a wrong or missing header is refused
// (401, with the endpoint's JSON error shape).
type ContainerCredentials struct {
	*httptest.Server
	src   roleSource
	token string
}

// NewContainerCredentials starts the stand-in for roleARN; authorization
// is the Authorization header it requires ("" requires none).
func NewContainerCredentials(t testing.TB, a *AWS, roleARN, authorization string) *ContainerCredentials {
	c := &ContainerCredentials{src: roleSource{aws: a, role: roleARN}, token: authorization}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *ContainerCredentials) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "MethodNotAllowed", "message": "only GET"})
		return
	}
	if c.token != "" && r.Header.Get("Authorization") != c.token {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "AccessDeniedException", "message": "invalid authorization token"})
		return
	}
	creds, ok := c.src.credentials()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "ResourceNotFoundException", "message": "no role for this task"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": creds.AccessKeyID, "SecretAccessKey": creds.SecretAccessKey,
		"Token": creds.SessionToken, "Expiration": creds.Expiration.UTC().Format(time.RFC3339), "RoleArn": c.src.role})
}
