package cloudtest

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// TestIMDS: the stand-in is IMDSv2 only, as an instance with
// HttpTokens=required: no GET without a session token, no token through a
// proxy or without a valid TTL, 404 without an instance profile, and the
// credentials of the attached role are a session STS knows.
func TestIMDS(t *testing.T) {
	t.Parallel()
	a := NewAWS(t, http.DefaultClient, nil)
	const role = "arn:aws:iam::111111111111:role/instance"
	a.AddRole(Role{ARN: role})
	m := NewIMDS(t, a, role)
	none := NewIMDS(t, a, "")
	do := func(base, method, path string, header map[string]string) (int, string) {
		t.Helper()
		r, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ttl := map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "300"}
	_, tok := do(m.URL, "PUT", "/latest/api/token", ttl)
	_, noneTok := do(none.URL, "PUT", "/latest/api/token", ttl)
	withTok := map[string]string{"X-aws-ec2-metadata-token": tok}
	for _, c := range []struct {
		name         string
		base, method string
		path         string
		header       map[string]string
		status       int
	}{
		{"token without a TTL", m.URL, "PUT", "/latest/api/token", nil, http.StatusBadRequest},
		{"token with a TTL too long", m.URL, "PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21601"}, http.StatusBadRequest},
		{"token through a proxy", m.URL, "PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"}, http.StatusForbidden},
		{"IMDSv1 GET", m.URL, "GET", credentialsPath, nil, http.StatusUnauthorized},
		{"unknown token", m.URL, "GET", credentialsPath, map[string]string{"X-aws-ec2-metadata-token": "forged"}, http.StatusUnauthorized},
		{"role list", m.URL, "GET", credentialsPath, withTok, http.StatusOK},
		{"another role's credentials", m.URL, "GET", credentialsPath + "other", withTok, http.StatusNotFound},
		{"no instance profile", none.URL, "GET", credentialsPath, map[string]string{"X-aws-ec2-metadata-token": noneTok}, http.StatusNotFound},
	} {
		if got, body := do(c.base, c.method, c.path, c.header); got != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, got, body, c.status)
		}
	}
	status, body := do(m.URL, "GET", credentialsPath+"instance", withTok)
	var creds struct{ Code, AccessKeyId, SecretAccessKey, Token, Expiration string }
	if err := json.Unmarshal([]byte(body), &creds); status != http.StatusOK || err != nil || creds.Code != "Success" {
		t.Fatalf("credentials: %d %s", status, body)
	}
	if got, ok := a.Session(creds.AccessKeyId); !ok || got != role {
		t.Errorf("the credentials are not a session of %s (%q, %v)", role, got, ok)
	}
}

// TestContainerCredentials: the Authorization header is checked.
func TestContainerCredentials(t *testing.T) {
	t.Parallel()
	a := NewAWS(t, http.DefaultClient, nil)
	const role = "arn:aws:iam::111111111111:role/task"
	a.AddRole(Role{ARN: role})
	c := NewContainerCredentials(t, a, role, "secret-token")
	for auth, want := range map[string]int{"": http.StatusUnauthorized, "wrong": http.StatusUnauthorized, "secret-token": http.StatusOK} {
		r, _ := http.NewRequest("GET", c.URL+"/v1/credentials", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", auth, resp.StatusCode, want)
		}
	}
}
