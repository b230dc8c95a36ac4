package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gatehouse/gatehouse/internal/loginflow"
)

// Target is the Gatehouse under load and what the scenarios log in with.
// Setting it up takes the admin CLI (clients and local users are not in
// the API); scripts/load.sh does it.
type Target struct {
	URL  string
	HTTP *http.Client
	// AdminToken is the platform administrator's token: the /api/v1
	// scenarios create their organization, group, service account and users
	// with it.
	AdminToken string
	// The confidential client: client_credentials, authorization_code and
	// refresh_token, with RedirectURI registered.
	ClientID, ClientSecret, RedirectURI string
	// Email of the local user to log in as; with a %d in it, worker w logs
	// in as fmt.Sprintf(Email, w) (refresh rotation needs a session per
	// worker: a user has one session per client). Password is everyone's.
	Email, Password string
	// ListSize users are created for the paged list, read PageSize a page.
	ListSize, PageSize int

	members    sync.Once
	membersErr error
}

// ScenarioNames are the scenarios, in the order they run by default.
var ScenarioNames = []string{"discovery", "jwks", "client_credentials", "refresh", "userinfo", "introspection", "acl", "list"}

// Scenario returns the scenario called name.
func (t *Target) Scenario(name string) (Scenario, error) {
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	switch name {
	case "discovery":
		return fixed(name, func(context.Context) (*request, error) {
			return t.prepare("GET", "/.well-known/openid-configuration", http.Header{}, nil, http.StatusOK)
		}, nil), nil
	case "jwks":
		return fixed(name, func(context.Context) (*request, error) {
			return t.prepare("GET", "/oauth2/v2/jwks", http.Header{}, nil, http.StatusOK)
		}, nil), nil
	case "client_credentials":
		return fixed(name, func(context.Context) (*request, error) {
			h := form.Clone()
			h.Set("Authorization", t.basicAuth())
			return t.prepare("POST", "/oauth2/v2/token", h, []byte("grant_type=client_credentials"), http.StatusOK)
		}, nil), nil
	case "refresh":
		return &refresh{t: t}, nil
	case "userinfo":
		return fixed(name, func(ctx context.Context) (*request, error) {
			tok, err := t.login(ctx, 0)
			if err != nil {
				return nil, err
			}
			return t.prepare("GET", "/oauth2/v2/userinfo", http.Header{"Authorization": {"Bearer " + tok.AccessToken}}, nil, http.StatusOK)
		}, nil), nil
	case "introspection":
		return fixed(name, func(ctx context.Context) (*request, error) {
			tok, err := t.login(ctx, 0)
			if err != nil {
				return nil, err
			}
			h := form.Clone()
			h.Set("Authorization", t.basicAuth())
			return t.prepare("POST", "/oauth2/v2/introspect", h, []byte(url.Values{"token": {tok.AccessToken}}.Encode()), http.StatusOK)
		}, func(b []byte) error {
			if !bytes.Contains(b, []byte(`"active":true`)) {
				return fmt.Errorf("introspection: token not active: %.200s", b)
			}
			return nil
		}), nil
	case "acl":
		return fixed(name, func(ctx context.Context) (*request, error) {
			tn, err := t.newTenant(ctx)
			if err != nil {
				return nil, err
			}
			return t.prepare("GET", "/api/v1/organizations/"+tn.org+"/acl", http.Header{"Authorization": {"Bearer " + tn.token}}, nil, http.StatusOK)
		}, nil), nil
	case "list":
		return &list{t: t}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(ScenarioNames, ", "))
}

func (t *Target) flow() *loginflow.Client {
	return &loginflow.Client{BaseURL: t.URL, ClientID: t.ClientID, ClientSecret: t.ClientSecret, RedirectURI: t.RedirectURI, HTTP: t.HTTP}
}

func (t *Target) email(w int) string {
	if strings.Contains(t.Email, "%d") {
		return fmt.Sprintf(t.Email, w)
	}
	return t.Email
}

// login gets tokens for worker w's user through the login page.
func (t *Target) login(ctx context.Context, w int) (*loginflow.Tokens, error) {
	t.members.Do(func() { t.membersErr = t.ownEmailDomain(ctx) })
	if t.membersErr != nil {
		return nil, t.membersErr
	}
	f := t.flow()
	code, fl, err := f.Code(ctx, t.email(w), t.Password, "openid", "email", "offline_access")
	if err != nil {
		return nil, fmt.Errorf("log in as %s: %w", t.email(w), err)
	}
	return f.Exchange(ctx, code, fl)
}

// ownEmailDomain makes an organization own the load users' email domain, so
// that their logins end at the relying party: Gatehouse offers onboarding
// (creating an organization) to a first-time local user who belongs to no
// organization, which is not what a load test measures. An organization that
// already claims the domain (an earlier run's) is as good. Only a verified
// domain is owned, so the platform administrator marks it verified (no DNS
// record to publish for a load test; verifying again is harmless).
func (t *Target) ownEmailDomain(ctx context.Context) error {
	email := t.email(0)
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return fmt.Errorf("load user %q has no email domain", email)
	}
	domain := strings.ToLower(email[at+1:])
	name := "load-users-" + strings.NewReplacer(".", "-").Replace(domain)
	b, _, err := t.send(ctx, "POST", "/api/v1/organizations", t.AdminToken, nil, false, map[string]any{
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"organizationType": "domain", "domain": domain}}, http.StatusAccepted)
	var se *statusError
	if err != nil && errors.As(err, &se) && se.status == http.StatusConflict {
		b, _, err = t.send(ctx, "GET", "/api/v1/organizations", t.AdminToken, nil, false, nil, http.StatusOK)
	}
	if err != nil {
		return fmt.Errorf("an organization owning %s: %w", domain, err)
	}
	id, err := organizationID(b, name)
	if err != nil {
		return fmt.Errorf("an organization owning %s: %w", domain, err)
	}
	if _, _, err := t.send(ctx, "POST", "/api/v1/organizations/"+id+"/domain/verify", t.AdminToken, nil, false,
		map[string]any{"markVerified": true}, http.StatusOK); err != nil {
		return fmt.Errorf("verify %s for %s: %w", domain, name, err)
	}
	return nil
}

// organizationID finds the ID of organization name in b, one organization
// or a list of them.
func organizationID(b []byte, name string) (string, error) {
	type org struct {
		Metadata struct{ ID, Name string }
	}
	var list []org
	if err := json.Unmarshal(b, &list); err != nil {
		var one org
		if err := json.Unmarshal(b, &one); err != nil {
			return "", fmt.Errorf("decode organizations: %w", err)
		}
		list = []org{one}
	}
	for _, o := range list {
		if o.Metadata.Name == name && o.Metadata.ID != "" {
			return o.Metadata.ID, nil
		}
	}
	return "", fmt.Errorf("no organization %q", name)
}

// send does one request and checks the status; the body is read whole
// (so the connection is reused) and returned. For set-up and requests that
// change each time; the hot paths use a prepared request.
func (t *Target) send(ctx context.Context, method, path, token string, form url.Values, basic bool, body any, want int) ([]byte, http.Header, error) {
	var raw []byte
	h := http.Header{}
	switch {
	case form != nil:
		raw = []byte(form.Encode())
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	case body != nil:
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		raw = b
		h.Set("Content-Type", "application/json")
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if basic {
		h.Set("Authorization", t.basicAuth())
	}
	r, err := t.prepare(method, path, h, raw, want)
	if err != nil {
		return nil, nil, err
	}
	return r.do(ctx, true)
}

// basicAuth is the client's Authorization header (client_secret_basic).
func (t *Target) basicAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(t.ClientID)+":"+url.QueryEscape(t.ClientSecret)))
}

// request is a request prepared once and sent many times: the load
// generator shares the machine with the server, so what it spends per
// request (parsing the URL, encoding the form and the credentials) is taken
// from the server.
type request struct {
	t      *Target
	method string
	u      *url.URL
	header http.Header // read-only once prepared: shared by concurrent sends
	body   []byte
	want   int
}

func (t *Target) prepare(method, path string, header http.Header, body []byte, want int) (*request, error) {
	u, err := url.Parse(t.URL + path)
	if err != nil {
		return nil, err
	}
	return &request{t: t, method: method, u: u, header: header, body: body, want: want}, nil
}

// statusError is an answer with another status than the one expected.
type statusError struct {
	method, path string
	status, want int
	body         []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d, want %d: %.200s", e.method, e.path, e.status, e.want, e.body)
}

// do sends r; with keep the body is returned, else it is discarded.
func (r *request) do(ctx context.Context, keep bool) ([]byte, http.Header, error) {
	req := (&http.Request{Method: r.method, URL: r.u, Header: r.header, Host: r.u.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(ctx)
	if r.body != nil {
		req.Body = io.NopCloser(bytes.NewReader(r.body))
		req.ContentLength = int64(len(r.body))
	}
	resp, err := r.t.HTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != r.want || keep {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode != r.want {
			return nil, nil, &statusError{method: r.method, path: r.u.Path, status: resp.StatusCode, want: r.want, body: b}
		}
		return b, resp.Header, nil
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return nil, resp.Header, err
}

// fixedScenario sends one request, prepared at set-up, over and over.
type fixedScenario struct {
	name    string
	prepare func(ctx context.Context) (*request, error)
	// check, when set, looks at the answer's body (read only then).
	check func(body []byte) error
	r     *request
}

func fixed(name string, prepare func(context.Context) (*request, error), check func([]byte) error) *fixedScenario {
	return &fixedScenario{name: name, prepare: prepare, check: check}
}

func (s *fixedScenario) Name() string { return s.name }
func (s *fixedScenario) Setup(ctx context.Context, _ int) (err error) {
	s.r, err = s.prepare(ctx)
	return err
}
func (s *fixedScenario) Do(ctx context.Context, _ int) error {
	b, _, err := s.r.do(ctx, s.check != nil)
	if err == nil && s.check != nil {
		err = s.check(b)
	}
	return err
}

// refresh rotates a refresh token per worker, each on its own user's
// session.
type refresh struct {
	t      *Target
	tokens []string
}

func (s *refresh) Name() string { return "refresh" }
func (s *refresh) Setup(ctx context.Context, workers int) error {
	s.tokens = make([]string, workers)
	for w := range workers {
		tok, err := s.t.login(ctx, w)
		if err != nil {
			return err
		}
		s.tokens[w] = tok.RefreshToken
	}
	return nil
}
func (s *refresh) Do(ctx context.Context, w int) error {
	tok, err := s.t.flow().Refresh(ctx, s.tokens[w])
	if err != nil {
		return err
	}
	s.tokens[w] = tok.RefreshToken
	return nil
}

// tenant is an organization with a group granting administrator and a
// service account in it: the caller of the /api/v1 scenarios, as a tenant's
// automation would be.
type tenant struct {
	org, token string
}

func (t *Target) newTenant(ctx context.Context) (*tenant, error) {
	name := "load-" + strings.ToLower(rand.Text()[:10])
	b, _, err := t.send(ctx, "POST", "/api/v1/organizations", t.AdminToken, nil, false,
		map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{"organizationType": "adhoc"}}, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	org := idOf(b)
	base := "/api/v1/organizations/" + org
	b, _, err = t.send(ctx, "GET", base+"/roles", t.AdminToken, nil, false, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var roles []struct {
		Metadata struct{ ID, Name string }
	}
	if err := json.Unmarshal(b, &roles); err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	role := ""
	for _, r := range roles {
		if r.Metadata.Name == "administrator" {
			role = r.Metadata.ID
		}
	}
	b, _, err = t.send(ctx, "POST", base+"/groups", t.AdminToken, nil, false, map[string]any{"metadata": map[string]any{"name": "admins"},
		"spec": map[string]any{"roleIDs": []string{role}, "userIDs": []string{}, "serviceAccountIDs": []string{}}}, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	group := idOf(b)
	b, _, err = t.send(ctx, "POST", base+"/serviceaccounts", t.AdminToken, nil, false, map[string]any{"metadata": map[string]any{"name": "automation"},
		"spec": map[string]any{"groupIDs": []string{group}}}, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	var sa struct {
		Status struct{ AccessToken string }
	}
	if err := json.Unmarshal(b, &sa); err != nil || sa.Status.AccessToken == "" {
		return nil, fmt.Errorf("service account without a token: %.200s", b)
	}
	return &tenant{org: org, token: sa.Status.AccessToken}, nil
}

func idOf(b []byte) string {
	var v struct {
		Metadata struct{ ID string }
	}
	_ = json.Unmarshal(b, &v)
	return v.Metadata.ID
}

// list walks the tenant's users page by page, each worker on its own walk.
type list struct {
	t     *Target
	tn    *tenant
	mu    sync.Mutex
	pages map[int]string
}

func (s *list) Name() string { return "list" }
func (s *list) Setup(ctx context.Context, _ int) error {
	var err error
	if s.tn, err = s.t.newTenant(ctx); err != nil {
		return err
	}
	s.pages = map[int]string{}
	n := s.t.ListSize
	if n <= 0 {
		n = 1000
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				_, _, err := s.t.send(ctx, "POST", "/api/v1/organizations/"+s.tn.org+"/users", s.tn.token, nil, false, map[string]any{
					"spec": map[string]any{"subject": fmt.Sprintf("user%05d@load.example", i), "state": "active", "groupIDs": []string{}}},
					http.StatusCreated)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}
func (s *list) Do(ctx context.Context, w int) error {
	size := s.t.PageSize
	if size <= 0 {
		size = 100
	}
	s.mu.Lock()
	token := s.pages[w]
	s.mu.Unlock()
	q := url.Values{"limit": {fmt.Sprint(size)}}
	if token != "" {
		q.Set("pageToken", token)
	}
	_, h, err := s.t.send(ctx, "GET", "/api/v1/organizations/"+s.tn.org+"/users?"+q.Encode(), s.tn.token, nil, false, nil, http.StatusOK)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pages[w] = h.Get("X-Next-Page-Token") // '' after the last page: start over
	s.mu.Unlock()
	return nil
}
