package oidc_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// page posts or gets with the rp's browser without following redirects,
// and returns the status, the Location and the body.
func (r *rp) do(method, u string, v url.Values) (int, string, string) {
	r.t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = r.browser.PostForm(u, v)
	} else {
		resp, err = r.browser.Get(u)
	}
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	loc := resp.Header.Get("Location")
	if loc != "" {
		if next, err := resp.Request.URL.Parse(loc); err == nil {
			loc = next.String()
		}
	}
	return resp.StatusCode, loc, string(body)
}

var (
	factorIDField = regexp.MustCompile(`name="factor_id" value="([^"]*)"`)
	secretField   = regexp.MustCompile(`id="totp-secret">([^<]*)<`)
	codeItem      = regexp.MustCompile(`<li><code>([^<]*)</code></li>`)
)

// passwordStep opens a login in a new browser and posts the password; it
// returns where the login goes next.
func (r *rp) passwordStep(extra ...oauth2.AuthCodeOption) (flow, string) {
	r.t.Helper()
	f, v := r.openLogin(extra...)
	v.Set("email", email)
	v.Set("password", password)
	status, loc, body := r.do(http.MethodPost, r.env.URL+oidc.LoginPath, v)
	if status != http.StatusSeeOther {
		r.t.Fatalf("password: status %d %s", status, body)
	}
	return f, loc
}

// finish follows loc (Gatehouse's callback) to the code, redeems it and
// returns the verified ID token's amr and acr.
func (r *rp) finish(f flow, loc string) ([]string, string, *oauth2.Token) {
	r.t.Helper()
	final, body := r.get(loc)
	to, err := url.Parse(final.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(to.String(), redirectURI) || to.Query().Get("code") == "" {
		r.t.Fatalf("callback: status %d Location %q body %s", final.StatusCode, final.Header.Get("Location"), body)
	}
	tok, err := r.conf.Exchange(r.ctx, to.Query().Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	idt, err := r.verifier.Verify(r.ctx, tok.Extra("id_token").(string))
	if err != nil || idt.Nonce != f.nonce {
		r.t.Fatalf("ID token: %v", err)
	}
	var claims struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	if err := idt.Claims(&claims); err != nil {
		r.t.Fatal(err)
	}
	return claims.AMR, claims.ACR, tok
}

// postCode posts code to the prompt at loc and returns status, Location
// and body.
func (r *rp) postCode(loc, code string) (int, string, string) {
	r.t.Helper()
	status, _, body := r.do(http.MethodGet, loc, nil)
	if status != http.StatusOK || !strings.Contains(body, `action="/oauth2/v2/mfa"`) {
		r.t.Fatalf("code prompt: status %d %s", status, body)
	}
	v := form(r.t, body)
	v.Set("code", code)
	return r.do(http.MethodPost, r.env.URL+oidc.MFAPath, v)
}

func totpCode(t *testing.T, env *testenv.Env, secret string) string {
	t.Helper()
	c, err := mfa.Code(secret, env.OIDCClock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantMFA(t *testing.T, amr []string, acr string) {
	t.Helper()
	if !slices.Contains(amr, "pwd") || !slices.Contains(amr, "otp") || !slices.Contains(amr, "mfa") || acr != oidc.ACRMFA {
		t.Fatalf("ID token amr %v acr %q, want pwd otp mfa and %s", amr, acr, oidc.ACRMFA)
	}
}

func auditCount(t *testing.T, env *testenv.Env, op, detail string) int {
	t.Helper()
	var n int
	if err := env.Store.DB().QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM audit_events WHERE operation_id = $1 AND after_state LIKE $2", op, "%"+detail+"%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSecondFactorSignIn: an organization requiring a second factor forces
// the enrolment at the next password sign-in (before any session exists),
// shows the recovery codes once, and then asks for a code at each sign-in:
// a code works once (the enrolment's and every later one), a recovery code
// once; ID tokens say pwd otp mfa and the mfa acr; the audit log has the
// factor added, the sign-ins with their factor and the failures.
func TestSecondFactorSignIn(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := newEnv(t, open)
		ten := env.NewTenant("strict", "user")
		addUser(t, env, ten, email, "active")
		env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+ten.OrgID+"/mfapolicy", env.AdminToken, map[string]any{"mode": "required"})
		r, _, _ := webRP(t, env)

		// Discovery says what is supported.
		var disc struct {
			ACRs []string `json:"acr_values_supported"`
		}
		if err := r.provider.Claims(&disc); err != nil || !slices.Contains(disc.ACRs, oidc.ACRMFA) {
			t.Fatalf("acr_values_supported %v (%v)", disc.ACRs, err)
		}

		// Forced enrolment: no session cookie before the factor.
		f, loc := r.passwordStep()
		if !strings.HasPrefix(loc, env.URL+oidc.MFAEnrolPath) {
			t.Fatalf("after the password: %s, want the enrolment", loc)
		}
		u, _ := url.Parse(env.URL)
		for _, c := range r.browser.Jar.Cookies(u) {
			if strings.HasPrefix(c.Name, oidc.SessionCookiePrefix) {
				t.Fatal("a browser session exists before the second factor")
			}
		}
		// The callback refuses the half-done request.
		if final, _ := r.get(env.URL + oidc.CallbackPath + "?id=" + url.QueryEscape(strings.TrimPrefix(loc, env.URL+oidc.MFAEnrolPath+"?state="))); final.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback before the factor: %d", final.StatusCode)
		}
		status, _, body := r.do(http.MethodGet, loc, nil)
		if status != http.StatusOK || !strings.Contains(body, `<svg class="qr"`) {
			t.Fatalf("enrolment page: %d %s", status, body)
		}
		secret := strings.ReplaceAll(secretField.FindStringSubmatch(body)[1], " ", "")
		v := form(t, body)
		v.Set("factor_id", factorIDField.FindStringSubmatch(body)[1])
		v.Set("code", "000000")
		if status, _, body := r.do(http.MethodPost, env.URL+oidc.MFAEnrolPath, v); status != http.StatusUnauthorized || !strings.Contains(body, `id="mfa-error"`) {
			t.Fatalf("wrong first code: %d", status)
		}
		enrolCode := totpCode(t, env, secret)
		v.Set("code", enrolCode)
		status, _, body = r.do(http.MethodPost, env.URL+oidc.MFAEnrolPath, v)
		codes := codeItem.FindAllStringSubmatch(body, -1)
		if status != http.StatusOK || len(codes) != mfa.RecoveryCodeCount {
			t.Fatalf("confirmed enrolment: %d, %d codes", status, len(codes))
		}
		// Shown once: the page's GET does not show them again.
		if _, _, again := r.do(http.MethodGet, env.URL+oidc.MFARecoveryCodesPath+"?state="+url.QueryEscape(v.Get("state")), nil); strings.Contains(again, codes[0][1]) {
			t.Fatal("recovery codes shown twice")
		}
		status, loc, _ = r.do(http.MethodPost, env.URL+oidc.MFARecoveryCodesPath, form(t, body))
		if status != http.StatusSeeOther {
			t.Fatalf("after the codes: %d", status)
		}
		amr, acr, _ := r.finish(f, loc)
		wantMFA(t, amr, acr)

		// Next sign-in: the code prompt. The enrolment's code is spent.
		f, loc = r.passwordStep()
		if !strings.HasPrefix(loc, env.URL+oidc.MFAPath+"?") {
			t.Fatalf("after the password: %s, want the code prompt", loc)
		}
		if status, _, _ := r.postCode(loc, enrolCode); status != http.StatusUnauthorized {
			t.Fatalf("replayed enrolment code: %d", status)
		}
		// The next step's code is within the skew.
		env.OIDCClock.Advance(mfa.Period)
		next := totpCode(t, env, secret)
		status, done, _ := r.postCode(loc, next)
		if status != http.StatusSeeOther {
			t.Fatalf("fresh code: %d", status)
		}
		amr, acr, _ = r.finish(f, done)
		wantMFA(t, amr, acr)

		// Replayed in another browser: refused.
		_, loc = r.passwordStep()
		if status, _, body := r.postCode(loc, next); status != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
			t.Fatalf("replayed code: %d", status)
		}
		// A recovery code, once.
		status, done, _ = r.postCode(loc+"&recovery=1", codes[3][1])
		if status != http.StatusSeeOther {
			t.Fatalf("recovery code: %d", status)
		}
		_, loc = r.passwordStep()
		if status, _, _ := r.postCode(loc, codes[3][1]); status != http.StatusUnauthorized {
			t.Fatalf("recovery code used twice: %d", status)
		}

		for _, c := range []struct {
			op, detail string
			min        int
		}{
			{oidc.OpFactorAdded, `"kind":"totp"`, 1},
			{oidc.OpSignIn, `"secondFactor":"totp"`, 2},
			{oidc.OpSignIn, `"secondFactor":"recovery_code"`, 1},
			{oidc.OpSignInFailed, `"factor":"totp"`, 3},
		} {
			if n := auditCount(t, env, c.op, c.detail); n < c.min {
				t.Errorf("audit %s %s: %d events, want at least %d", c.op, c.detail, n, c.min)
			}
		}
	})
}

// TestSecondFactorStepUp: a password session is reused, and stepped up to
// the second factor when acr_values asks for it (a new session carries the
// factor); prompt=none cannot step up; and platform administrators must
// enrol by default.
func TestSecondFactorStepUp(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := newEnv(t, open)
		r, _, _ := webRP(t, env)
		// Optional policy, no factor: the password is enough.
		f, loc := r.passwordStep()
		amr, acr, _ := r.finish(f, loc)
		if !slices.Equal(amr, []string{"pwd"}) || acr != oidc.ACRPassword {
			t.Fatalf("password only: amr %v acr %q", amr, acr)
		}
		// A factor enrolled since (directly: the API is another test's).
		ctx := context.Background()
		e, err := env.Accounts.MFA.StartTOTP(ctx, mfa.Account{Subject: email}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := env.Accounts.MFA.Confirm(ctx, email, e.FactorID, totpCode(t, env, e.Secret)); err != nil {
			t.Fatal(err)
		}
		env.OIDCClock.Advance(mfa.Period)

		// prompt=none cannot show the code prompt.
		nf := flow{state: "st-none", nonce: "n", verifier: oauth2.GenerateVerifier()}
		final, _ := r.get(r.conf.AuthCodeURL(nf.state, gooidc.Nonce(nf.nonce), oauth2.S256ChallengeOption(nf.verifier),
			oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("acr_values", oidc.ACRMFA)))
		if got, _ := url.Parse(final.Header.Get("Location")); got == nil || got.Query().Get("error") != "interaction_required" {
			t.Fatalf("prompt=none step-up: %s", final.Header.Get("Location"))
		}

		// acr_values asks for the factor: the session is reused (no
		// password) and stepped up.
		sf := flow{state: "st-up", nonce: "n-up", verifier: oauth2.GenerateVerifier()}
		resp, body := r.get(r.conf.AuthCodeURL(sf.state, gooidc.Nonce(sf.nonce), oauth2.S256ChallengeOption(sf.verifier),
			oauth2.SetAuthURLParam("acr_values", oidc.ACRMFA)))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/oauth2/v2/mfa"`) {
			t.Fatalf("step-up: status %d, want the code prompt: %s", resp.StatusCode, body)
		}
		prompt := resp.Request.URL.String()
		status, done, _ := r.postCode(prompt, totpCode(t, env, e.Secret))
		if status != http.StatusSeeOther {
			t.Fatalf("step-up code: %d", status)
		}
		amr, acr, _ = r.finish(sf, done)
		wantMFA(t, amr, acr)

		// The stepped-up session now satisfies acr_values without a prompt.
		af := flow{state: "st-again", nonce: "n-again", verifier: oauth2.GenerateVerifier()}
		final, body = r.get(r.conf.AuthCodeURL(af.state, gooidc.Nonce(af.nonce), oauth2.S256ChallengeOption(af.verifier),
			oauth2.SetAuthURLParam("acr_values", oidc.ACRMFA)))
		amr, acr, _ = r.finish(af, final.Request.URL.String())
		wantMFA(t, amr, acr)
	})
}

// TestPlatformAdministratorsMustEnrol: the platform administrators' policy
// is required by default; the first password sign-in goes to enrolment.
func TestPlatformAdministratorsMustEnrol(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := newEnvWith(t, open, testenv.Options{MFAPlatformAdministrators: mfa.Required})
		admin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		if err := env.Store.Tx(context.Background(), func(q *store.Q) error {
			return q.BindPlatformRole(context.Background(), store.MemberUser, email, admin.ID)
		}); err != nil {
			t.Fatal(err)
		}
		r, _, _ := webRP(t, env)
		r.browser.Jar, _ = cookiejar.New(nil)
		if _, loc := r.passwordStep(); !strings.HasPrefix(loc, env.URL+oidc.MFAEnrolPath) {
			t.Fatalf("platform administrator after the password: %s", loc)
		}
	})
}

// TestAccountFactorsAPI: the person's own factors over /api/v1 (enrol,
// confirm, list, remove and regenerate with a proof), the administrators'
// resets and the policy, with their refusals; every write audited.
func TestAccountFactorsAPI(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := newEnv(t, open)
		r, _, _ := webRP(t, env)
		f, loc := r.passwordStep()
		_, _, tok := r.finish(f, loc)
		me := tok.AccessToken

		var list struct {
			Policy            string           `json:"policy"`
			Factors           []map[string]any `json:"factors"`
			RecoveryCodesLeft int              `json:"recoveryCodesLeft"`
		}
		env.Must(http.StatusOK, "GET", "/api/v1/account/factors", me, nil).JSON(t, &list)
		if list.Policy != "optional" || len(list.Factors) != 0 {
			t.Fatalf("before: %+v", list)
		}
		var enrol struct {
			Factor     map[string]any `json:"factor"`
			Secret     string         `json:"secret"`
			OtpauthURL string         `json:"otpauthURL"`
			QrCode     struct {
				Size int    `json:"size"`
				Path string `json:"path"`
			} `json:"qrCode"`
		}
		env.Must(http.StatusCreated, "POST", "/api/v1/account/factors/totp", me, map[string]any{"name": "phone"}).JSON(t, &enrol)
		id := enrol.Factor["id"].(string)
		if enrol.Secret == "" || !strings.HasPrefix(enrol.OtpauthURL, "otpauth://totp/") || enrol.QrCode.Size == 0 || enrol.Factor["confirmed"] != false {
			t.Fatalf("enrolment: %+v", enrol)
		}
		for _, c := range []struct {
			name, method, path, token string
			body                      any
			want                      int
		}{
			{"wrong first code", "POST", "/api/v1/account/factors/" + id + "/confirm", me, map[string]any{"code": "000000"}, http.StatusBadRequest},
			{"unknown factor", "POST", "/api/v1/account/factors/nope/confirm", me, map[string]any{"code": "000000"}, http.StatusNotFound},
			{"unknown field", "POST", "/api/v1/account/factors/" + id + "/confirm", me, map[string]any{"code": "1", "x": 1}, http.StatusBadRequest},
			{"recovery codes without a factor", "POST", "/api/v1/account/recoverycodes", me, map[string]any{"password": password}, http.StatusBadRequest},
			{"a machine has no factors", "GET", "/api/v1/account/factors", env.AdminToken, nil, http.StatusForbidden},
			{"bad policy", "PUT", "/api/v1/organizations/" + env.NewTenant("pol", "user").OrgID + "/mfapolicy", env.AdminToken, map[string]any{"mode": "sometimes"}, http.StatusBadRequest},
			{"policy of no organization", "GET", "/api/v1/organizations/nope/mfapolicy", env.AdminToken, nil, http.StatusNotFound},
			{"reset of nobody", "DELETE", "/api/v1/subjects/nobody@acme.example/factors", env.AdminToken, nil, http.StatusNotFound},
			{"a person resets nobody", "DELETE", "/api/v1/subjects/" + email + "/factors", me, nil, http.StatusForbidden},
		} {
			if resp := env.Do(c.method, c.path, c.token, c.body); resp.Status != c.want {
				t.Errorf("%s: %d, want %d", c.name, resp.Status, c.want)
			}
		}
		var confirmed struct {
			Factor        map[string]any `json:"factor"`
			RecoveryCodes []string       `json:"recoveryCodes"`
		}
		env.Must(http.StatusOK, "POST", "/api/v1/account/factors/"+id+"/confirm", me, map[string]any{"code": totpCode(t, env, enrol.Secret)}).JSON(t, &confirmed)
		if confirmed.Factor["confirmed"] != true || len(confirmed.RecoveryCodes) != mfa.RecoveryCodeCount {
			t.Fatalf("confirmed: %+v", confirmed)
		}
		env.Must(http.StatusOK, "GET", "/api/v1/account/factors", me, nil).JSON(t, &list)
		if len(list.Factors) != 1 || list.RecoveryCodesLeft != mfa.RecoveryCodeCount {
			t.Fatalf("after: %+v", list)
		}
		// Proof needed: none, two, a wrong password, a wrong code.
		for _, proof := range []map[string]any{{}, {"password": password, "code": "123456"}, {"password": "wrong password!"}, {"code": "000000"}} {
			if resp := env.Do("POST", "/api/v1/account/recoverycodes", me, proof); resp.Status != http.StatusBadRequest {
				t.Errorf("proof %v: %d", proof, resp.Status)
			}
		}
		var fresh struct {
			Codes []string `json:"codes"`
		}
		env.Must(http.StatusCreated, "POST", "/api/v1/account/recoverycodes", me, map[string]any{"password": password}).JSON(t, &fresh)
		if len(fresh.Codes) != mfa.RecoveryCodeCount || fresh.Codes[0] == confirmed.RecoveryCodes[0] {
			t.Fatalf("regenerated: %v", fresh.Codes)
		}
		// The old set is gone: it proves nothing.
		if resp := env.Do("POST", "/api/v1/account/factors/"+id+"/remove", me, map[string]any{"code": confirmed.RecoveryCodes[0]}); resp.Status != http.StatusBadRequest {
			t.Fatalf("old recovery code as proof: %d", resp.Status)
		}
		env.Must(http.StatusOK, "POST", "/api/v1/account/factors/"+id+"/remove", me, map[string]any{"code": fresh.Codes[0]})
		env.Must(http.StatusOK, "GET", "/api/v1/account/factors", me, nil).JSON(t, &list)
		if len(list.Factors) != 0 || list.RecoveryCodesLeft != 0 {
			t.Fatalf("after removal: %+v", list)
		}

		// Administrators: a platform account's factors are the platform's
		// to reset (404 for the organization), and the platform resets them.
		ten := env.NewTenant("acme", "user")
		addUser(t, env, ten, email, "active")
		e2, _ := env.Accounts.MFA.StartTOTP(context.Background(), mfa.Account{Subject: email}, "")
		env.OIDCClock.Advance(mfa.Period)
		if _, _, err := env.Accounts.MFA.Confirm(context.Background(), email, e2.FactorID, totpCode(t, env, e2.Secret)); err != nil {
			t.Fatal(err)
		}
		env.Must(http.StatusNotFound, "DELETE", "/api/v1/organizations/"+ten.OrgID+"/users/"+userID(t, env, ten, email)+"/factors", env.AdminToken, nil)
		env.Must(http.StatusOK, "DELETE", "/api/v1/subjects/"+email+"/factors", env.AdminToken, nil)
		if has, _ := env.Accounts.MFA.HasFactor(context.Background(), email); has {
			t.Fatal("factor after the platform's reset")
		}
		var pol map[string]any
		env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+ten.OrgID+"/mfapolicy", env.AdminToken, map[string]any{"mode": "off"}).JSON(t, &pol)
		if pol["mode"] != "off" || pol["updatedAt"] == nil {
			t.Fatalf("policy: %v", pol)
		}
		// Off: no enrolment for its members.
		env.Must(http.StatusForbidden, "POST", "/api/v1/account/factors/totp", me, map[string]any{})

		for _, op := range []string{"startAccountTotpEnrolment", "confirmAccountFactor", "regenerateAccountRecoveryCodes", "removeAccountFactor",
			"resetSubjectFactors", "setOrganizationMfaPolicy"} {
			var n int
			if err := env.Store.DB().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM audit_events WHERE operation_id = $1", op).Scan(&n); err != nil || n == 0 {
				t.Errorf("no audit event of %s (%v)", op, err)
			}
		}
	})
}
