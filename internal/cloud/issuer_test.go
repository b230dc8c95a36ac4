package cloud_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// workloadClaims is what a relying party reads from a workload token.
type workloadClaims struct {
	Issuer          string         `json:"iss"`
	Subject         string         `json:"sub"`
	Audience        string         `json:"aud"`
	IssuedAt        int64          `json:"iat"`
	ExpiresAt       int64          `json:"exp"`
	JTI             string         `json:"jti"`
	OrganizationID  string         `json:"organization_id"`
	ProjectID       string         `json:"project_id"`
	PrincipalType   string         `json:"principal_type"`
	PrincipalID     string         `json:"principal_id"`
	CloudIdentityID string         `json:"cloud_identity_id"`
	Context         string         `json:"context"`
	Tags            map[string]any `json:"https://aws.amazon.com/tags"`
}

// TestWorkloadIssuer: each organization's issuer publishes its discovery
// document and keys at the exact URLs AWS and GCP derive from the issuer;
// tokens carry the caller's claims and verify with an independent client
// (go-oidc) against that issuer only.
func TestWorkloadIssuer(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a, b := w.a, w.b
		ctx := oidc.ClientContext(t.Context(), w.e.Client)

		// Discovery and JWKS are public and exact.
		r := w.e.Must(http.StatusOK, "GET", "/oidc/organizations/"+a.admin.OrgID+"/.well-known/openid-configuration", "", nil)
		var doc map[string]any
		r.JSON(t, &doc)
		if doc["issuer"] != a.issuer || doc["jwks_uri"] != a.issuer+"/jwks" || !strings.HasPrefix(a.issuer, "https://") ||
			strings.HasSuffix(a.issuer, "/") || r.Header.Get("Cache-Control") != "public, max-age=300" {
			t.Fatalf("discovery %s (%v)", r.Body, r.Header)
		}
		if algs := doc["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES256" {
			t.Errorf("algorithms %v, want [ES256]", algs)
		}
		for _, p := range []string{"/oidc/organizations/no-such-org/.well-known/openid-configuration", "/oidc/organizations/no-such-org/jwks"} {
			r := w.e.Do("GET", p, "", nil)
			if r.Status != http.StatusNotFound || r.Map(t)["error"] != "not_found" {
				t.Errorf("GET %s: %d %s, want a 404 error", p, r.Status, r.Body)
			}
		}
		kidsOf := func(path string) []string {
			var set jose.JSONWebKeySet
			w.e.Must(http.StatusOK, "GET", path, "", nil).JSON(t, &set)
			var out []string
			for _, k := range set.Keys {
				if !k.IsPublic() {
					t.Errorf("%s publishes private material", path)
				}
				out = append(out, k.KeyID)
			}
			return out
		}
		kidsA, kidsB, kidsPlatform := kidsOf("/oidc/organizations/"+a.admin.OrgID+"/jwks"), kidsOf("/oidc/organizations/"+b.admin.OrgID+"/jwks"), kidsOf("/oauth2/v2/jwks")
		if len(kidsA) != 2 {
			t.Errorf("A's JWKS has %d keys, want its next and active key", len(kidsA))
		}
		for _, k := range kidsA {
			if slices.Contains(kidsB, k) || slices.Contains(kidsPlatform, k) {
				t.Errorf("A's key %s is published by another issuer too", k)
			}
		}

		ci := w.awsIdentity(a, "ci", ciRole, map[string]any{"aws": map[string]any{"sessionTags": true}})
		issue := func(o orgWorld, id, token string, body map[string]any) *testenv.Response {
			return w.e.Do("POST", o.identities()+"/"+id+"/token", token, body)
		}
		r = issue(a, ci, a.member.Token, map[string]any{"context": "deploy/eu-west-1@v2", "lifetime": 600})
		if r.Status != http.StatusOK {
			t.Fatalf("token: %d %s", r.Status, r.Body)
		}
		var issued struct {
			Token, TokenType, Issuer, Subject, Audience string
			Expiration                                  time.Time
		}
		r.JSON(t, &issued)

		// An independent relying party: go-oidc with discovery.
		provider, err := oidc.NewProvider(ctx, a.issuer)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := provider.Verifier(&oidc.Config{ClientID: "sts.amazonaws.com"}).Verify(ctx, issued.Token)
		if err != nil {
			t.Fatalf("go-oidc refuses the token: %v", err)
		}
		var c workloadClaims
		if err := tok.Claims(&c); err != nil {
			t.Fatal(err)
		}
		wantSub := "org:" + a.admin.OrgID + ":project:" + a.project + ":sa:" + a.member.ServiceAccountID
		if c.Issuer != a.issuer || c.Subject != wantSub || c.Audience != "sts.amazonaws.com" || c.OrganizationID != a.admin.OrgID ||
			c.ProjectID != a.project || c.PrincipalType != "serviceAccount" || c.PrincipalID != a.member.ServiceAccountID ||
			c.CloudIdentityID != ci || c.Context != "deploy/eu-west-1@v2" || c.ExpiresAt-c.IssuedAt != 600 || c.JTI == "" {
			t.Errorf("claims %+v; want sub %s", c, wantSub)
		}
		if len(c.Subject) > cloud.MaxSubjectLength {
			t.Errorf("sub is %d bytes; GCP allows %d", len(c.Subject), cloud.MaxSubjectLength)
		}
		if pt, _ := c.Tags["principal_tags"].(map[string]any); pt == nil || pt["project_id"].([]any)[0] != a.project {
			t.Errorf("session tags claim %v", c.Tags)
		}
		if issued.Subject != wantSub || issued.Issuer != a.issuer || time.Until(issued.Expiration) > 10*time.Minute {
			t.Errorf("token response %s", r.Body)
		}
		header := decodeHeader(t, issued.Token)
		if header["typ"] != "JWT" || header["alg"] != "ES256" || !slices.Contains(kidsA, header["kid"].(string)) {
			t.Errorf("header %v", header)
		}

		// B's token does not verify as A's: another issuer, another key.
		bID := w.awsIdentity(b, "ci", ciRole, nil)
		bTok := issue(b, bID, b.member.Token, map[string]any{}).Map(t)["token"].(string)
		if _, err := provider.Verifier(&oidc.Config{ClientID: "sts.amazonaws.com"}).Verify(ctx, bTok); err == nil {
			t.Error("B's token verified against A's issuer")
		}
		keysA := oidc.NewRemoteKeySet(ctx, a.issuer+"/jwks")
		if _, err := keysA.VerifySignature(ctx, bTok); err == nil {
			t.Error("B's token's signature verified with A's keys")
		}

		// Who may: project members and administrators, not readers, not
		// another organization, not another project's members.
		reader := w.e.AddMember(a.admin.OrgID, "auditors", "reader")
		for name, tc := range map[string]struct {
			o      orgWorld
			token  string
			status int
		}{
			"administrator":               {a, a.admin.Token, http.StatusOK},
			"reader":                      {a, reader.Token, http.StatusForbidden},
			"B's administrator":           {a, b.admin.Token, http.StatusForbidden},
			"B's member":                  {a, b.member.Token, http.StatusForbidden},
			"platform administrator":      {a, w.e.AdminToken, http.StatusForbidden},
			"member of another project":   {orgWorld{admin: a.admin, project: w.otherProject(a)}, a.member.Token, http.StatusForbidden},
			"lifetime too long":           {a, a.member.Token, http.StatusBadRequest},
			"context with a space":        {a, a.member.Token, http.StatusBadRequest},
			"context over 256 characters": {a, a.member.Token, http.StatusBadRequest},
		} {
			body := map[string]any{}
			switch name {
			case "lifetime too long":
				body["lifetime"] = 3601
			case "context with a space":
				body["context"] = "two words"
			case "context over 256 characters":
				body["context"] = strings.Repeat("c", 257)
			}
			id := ci
			if tc.o.project != a.project {
				// Well-formed (a malformed ID is a 404 before any
				// authorization), but not one of the caller's.
				id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
			}
			if r := issue(tc.o, id, tc.token, body); r.Status != tc.status {
				t.Errorf("%s: %d %s, want %d", name, r.Status, r.Body, tc.status)
			}
		}

		// A user: the principal is the user's record in the organization,
		// never its email.
		email := "jo@org-a.example"
		u := w.e.Must(http.StatusCreated, "POST", a.base()+"/users", a.admin.Token, map[string]any{"metadata": map[string]any{"name": "jo"},
			"spec": map[string]any{"subject": email, "state": "active", "groupIDs": []string{a.member.GroupID}}}).Map(t)
		userID := u["metadata"].(map[string]any)["id"].(string)
		p := &authn.Principal{Kind: authn.KindUser, ID: email, Subject: email}
		got, err := w.e.Cloud.IssueToken(context.Background(), p, a.admin.OrgID, a.project, ci, cloud.TokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Claims.PrincipalType != "user" || got.Claims.PrincipalID != userID || !strings.HasSuffix(got.Claims.Subject, ":user:"+userID) ||
			len(got.Claims.Subject) > cloud.MaxSubjectLength || got.Claims.ExpiresAt-got.Claims.IssuedAt != int64(cloud.DefaultTokenLifetime.Seconds()) {
			t.Errorf("user token claims %+v", got.Claims)
		}
		w.e.Must(http.StatusOK, "PUT", a.base()+"/users/"+userID, a.admin.Token, map[string]any{"metadata": map[string]any{"name": "jo"},
			"spec": map[string]any{"subject": email, "state": "suspended", "groupIDs": []string{a.member.GroupID}}})
		for name, p := range map[string]*authn.Principal{
			"suspended user":                 p,
			"unknown user":                   {Kind: authn.KindUser, ID: "x@y.example", Subject: "x@y.example"},
			"service account of another org": {Kind: authn.KindServiceAccount, ID: b.member.ServiceAccountID, OrganizationID: b.admin.OrgID},
			"platform service account":       {Kind: authn.KindServiceAccount, ID: "platform", OrganizationID: ""},
		} {
			_, err := w.e.Cloud.IssueToken(context.Background(), p, a.admin.OrgID, a.project, ci, cloud.TokenRequest{})
			if e, ok := apierror.As(err); !ok || e.Status != http.StatusForbidden {
				t.Errorf("%s: %v, want 403", name, err)
			}
		}
	})
}

// otherProject creates a project of o that o's member cannot reach.
func (w *world) otherProject(o orgWorld) string {
	w.t.Helper()
	return w.e.Must(http.StatusAccepted, "POST", o.base()+"/projects", o.admin.Token, map[string]any{
		"metadata": map[string]any{"name": "elsewhere"}, "spec": map[string]any{"groupIDs": []string{}}}).Map(w.t)["metadata"].(map[string]any)["id"].(string)
}

func decodeHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestNoSecretInLogsOrReads runs a whole federation flow, failures
// included, and checks that no secret ever reaches the server log, a later
// read, or the database in the clear: stored secret access keys, issued
// access keys, secrets and session tokens, GCP access tokens, workload
// tokens.
func TestNoSecretInLogsOrReads(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		var secrets []string
		keep := func(s ...string) {
			for _, v := range s {
				if len(v) < 12 {
					t.Fatalf("secret %q too short to search for", v)
				}
				secrets = append(secrets, v)
			}
		}
		keep(orgKeySecret)
		key := w.storeAccessKey(a, "management", orgKeyID, orgKeySecret)
		w.e.Must(http.StatusOK, "POST", a.connections()+"/validate", a.admin.Token, stored(key))
		conn := w.e.Must(http.StatusCreated, "POST", a.connections(), a.admin.Token, map[string]any{"metadata": map[string]any{"name": "acme"},
			"spec": stored(key)}).Map(t)["metadata"].(map[string]any)["id"].(string)

		ci := w.awsIdentity(a, "ci", ciRole, nil)
		var awsCreds struct {
			AWS struct{ AccessKeyID, SecretAccessKey, SessionToken string } `json:"aws"`
		}
		w.e.Must(http.StatusOK, "POST", a.identities()+"/"+ci+"/credentials", a.member.Token, map[string]any{}).JSON(t, &awsCreds)
		keep(awsCreds.AWS.AccessKeyID, awsCreds.AWS.SecretAccessKey, awsCreds.AWS.SessionToken)
		gcp := w.gcpIdentity(a, "deployer", map[string]any{"serviceAccountEmail": gcpSA}, nil)
		fed := w.gcpIdentity(a, "federated", nil, nil)
		for _, id := range []string{gcp, fed} {
			var g gcpCredentials
			w.e.Must(http.StatusOK, "POST", a.identities()+"/"+id+"/credentials", a.member.Token, map[string]any{}).JSON(t, &g)
			keep(g.GCP.AccessToken)
		}
		jwt := w.e.Must(http.StatusOK, "POST", a.identities()+"/"+ci+"/token", a.member.Token, map[string]any{}).Map(t)["token"].(string)
		keep(jwt, strings.Split(jwt, ".")[2]) // the whole token and its signature
		// Failures log their causes.
		w.jwksDown.Store(true)
		w.e.Do("POST", a.identities()+"/"+ci+"/credentials", a.member.Token, map[string]any{"retryPolicy": policy(cloud.FixedDelayBackoffStrategy,
			map[string]any{"fixedBackoff": 0, "retryCount": 0})})
		w.jwksDown.Store(false)
		bad := w.storeAccessKey(a, "bad", orgKeyID, "wrong-secret-ABCDEFGHIJKLMNOP")
		keep("wrong-secret-ABCDEFGHIJKLMNOP")
		w.e.Do("POST", a.connections()+"/validate", a.admin.Token, stored(bad))
		w.aws.Fail("DescribeOrganization", 1, cloudtest.AWSServerError)
		w.e.Do("POST", a.connections()+"/validate", a.admin.Token, map[string]any{"credential": map[string]any{"type": "storedCredential", "credentialID": key},
			"retryPolicy": policy(cloud.FixedDelayBackoffStrategy, map[string]any{"fixedBackoff": 0, "retryCount": 0})})

		// Later reads.
		var reads strings.Builder
		for _, p := range []string{a.credentialsPath(), a.credentialsPath() + "/" + key, a.connections(), a.connections() + "/" + conn,
			a.identities(), a.identities() + "/" + ci, a.identities() + "/" + gcp} {
			reads.Write(w.e.Must(http.StatusOK, "GET", p, a.admin.Token, nil).Body)
		}
		// The database, every cloud table and the signing keys as text.
		var dump strings.Builder
		for _, table := range []string{"cloud_credentials", "cloud_identities", "cloud_connections", "cloud_external_ids", "signing_keys"} {
			rows, err := w.e.Store.DB().Query("SELECT * FROM " + table)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for _, v := range vals {
					switch x := v.(type) {
					case string:
						dump.WriteString(x + "\n")
					case []byte:
						dump.Write(x)
						dump.WriteString("\n")
					}
				}
			}
			rows.Close()
		}
		log := w.log.String()
		if !strings.Contains(log, "cloud call failed") || !strings.Contains(log, "issueCloudIdentityCredentials") {
			t.Fatalf("the log misses the flow (the test would prove nothing):\n%s", log)
		}
		for _, s := range secrets {
			for where, text := range map[string]string{"the server log": log, "a later read": reads.String(), "the database": dump.String()} {
				if strings.Contains(text, s) {
					t.Errorf("%s contains the secret %.8s…", where, s)
				}
			}
		}
	})
}
