package oidc_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// backchannelRP is a relying party's back-channel logout endpoint: it
// verifies each logout token as Back-Channel Logout §2.6 says (go-oidc's
// verifier against Gatehouse's JWKS for issuer, audience, signature and
// expiry; then typ, events, no nonce, sub or sid) and records what it got.
type backchannelRP struct {
	t  *testing.T
	rp *rp
	// hang makes the endpoint wait until the request is cancelled: a dead
	// relying party.
	hang bool
	// status is what it answers (200 when zero).
	status int
	srv    *httptest.Server
	// stop releases a hanging endpoint when the test ends.
	stop chan struct{}

	mu        sync.Mutex
	tokens    []map[string]any // the verified claims
	problems  []string
	cancelled int // requests that ended because Gatehouse gave up
}

func newBackchannelRP(t *testing.T, hang bool, status int) *backchannelRP {
	b := &backchannelRP{t: t, hang: hang, status: status, stop: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	t.Cleanup(func() { close(b.stop) }) // before Close, which waits for handlers
	return b
}

func (b *backchannelRP) uri() string { return b.srv.URL + "/backchannel-logout" }

func (b *backchannelRP) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

func (b *backchannelRP) serve(w http.ResponseWriter, r *http.Request) {
	if b.hang {
		// Read the body: only then does the server notice the client
		// hanging up (and cancel the request's context).
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			b.mu.Lock()
			b.cancelled++
			b.mu.Unlock()
		case <-b.stop:
		}
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		b.problem("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	}
	raw := r.PostFormValue("logout_token")
	claims, err := b.verify(raw)
	if err != nil {
		b.problem("%v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.tokens = append(b.tokens, claims)
	b.mu.Unlock()
	if b.status != 0 {
		w.WriteHeader(b.status)
	}
}

// verify checks a logout token as a relying party must.
func (b *backchannelRP) verify(raw string) (map[string]any, error) {
	if b.rp == nil {
		return nil, fmt.Errorf("a logout token for a client that has no relying party here")
	}
	// Issuer, audience (this client), expiry and signature by a key of the
	// provider's JWKS.
	idt, err := b.rp.verifier.Verify(b.rp.ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("logout token does not verify: %w", err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.PS256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; typ != "logout+jwt" {
		return nil, fmt.Errorf("typ %v, want logout+jwt", typ)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, err
	}
	events, _ := claims["events"].(map[string]any)
	if ev, ok := events["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok || len(ev) != 0 {
		return nil, fmt.Errorf("events %v", claims["events"])
	}
	if _, ok := claims["nonce"]; ok {
		return nil, fmt.Errorf("a logout token with a nonce: %v", claims)
	}
	if claims["sub"] == nil && claims["sid"] == nil {
		return nil, fmt.Errorf("neither sub nor sid: %v", claims)
	}
	for _, c := range []string{"iat", "exp", "jti"} {
		if claims[c] == nil {
			return nil, fmt.Errorf("no %s: %v", c, claims)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat <= 0 || exp-iat > 300 {
		return nil, fmt.Errorf("valid for %v s", exp-iat)
	}
	return claims, nil
}

func (b *backchannelRP) got() ([]map[string]any, []string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any{}, b.tokens...), append([]string{}, b.problems...), b.cancelled
}

// TestBackchannelLogout: the full flow with real relying parties. One
// browser logs in to four clients through single sign-on; a fifth client
// has the same user in another browser. RP-initiated logout of the first
// browser sends exactly one valid logout token, with the ID tokens' sid, to
// each client of that browser session that registered a back-channel URI:
// not to the one without a URI, not to the one logged in elsewhere. A dead
// and a failing relying party delay neither the logout nor the others.
func TestBackchannelLogout(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		const bound = 2 * time.Second
		env := newEnvWith(t, open, testenv.Options{EditOIDC: []func(*oidc.Config){func(c *oidc.Config) {
			c.BackchannelLogoutTimeout = bound
		}}})

		type party struct {
			name string
			bc   *backchannelRP // nil: no back-channel URI
			// elsewhere: logged in from another browser, not in the
			// session that ends.
			elsewhere, sessionRequired bool
			rp                         *rp
			rawIDToken                 string
			idToken                    map[string]any
		}
		parties := []*party{
			{name: "notified", bc: newBackchannelRP(t, false, 0), sessionRequired: true},
			{name: "no-uri"},
			{name: "dead", bc: newBackchannelRP(t, true, 0)},
			{name: "failing", bc: newBackchannelRP(t, false, http.StatusInternalServerError)},
			{name: "other-browser", bc: newBackchannelRP(t, false, 0), elsewhere: true},
			{name: "not-logged-in", bc: newBackchannelRP(t, false, 0)},
		}
		var first *rp
		for _, p := range parties {
			c, sec := newClient(t, env, func(s *client.Spec) {
				s.Name = p.name
				if p.bc != nil {
					s.BackchannelLogoutURI = p.bc.uri()
					s.BackchannelLogoutSessionRequired = p.sessionRequired
				}
			})
			p.rp = newRP(t, env, c, sec)
			if p.bc != nil {
				p.bc.rp = p.rp
			}
			var tok *oauth2.Token
			switch {
			case p.name == "not-logged-in":
				continue
			case first == nil:
				tok = p.rp.signIn()
				first = p.rp
			case p.elsewhere:
				tok = p.rp.signIn() // signIn opens a new browser
			default:
				p.rp.browser = first.browser
				f, resp, result, body := p.rp.authorize()
				if result.Get("code") == "" {
					t.Fatalf("%s: no single sign-on: %d %s", p.name, resp.StatusCode, body)
				}
				tok = p.rp.exchange(f, result.Get("code"))
			}
			p.rawIDToken, _ = tok.Extra("id_token").(string)
			p.idToken = idToken(t, tok)
		}
		sid, _ := parties[0].idToken["sid"].(string)
		if sid == "" {
			t.Fatalf("the ID token has no sid: %v", parties[0].idToken)
		}
		for _, p := range parties[1:4] {
			if p.idToken["sid"] != sid {
				t.Errorf("%s: sid %v in the same browser session, want %s", p.name, p.idToken["sid"], sid)
			}
		}
		if other := parties[4].idToken["sid"]; other == nil || other == sid {
			t.Errorf("another browser's login has sid %v (this one %s)", other, sid)
		}

		// RP-initiated logout by the first client: it does not wait for the
		// dead relying party.
		raw := parties[0].rawIDToken
		start := time.Now()
		lr, _ := first.get(env.URL + oidc.EndSessionPath + "?" + url.Values{"id_token_hint": {raw},
			"post_logout_redirect_uri": {logoutURI}, "state": {"bye"}}.Encode())
		took := time.Since(start)
		if !strings.HasPrefix(lr.Header.Get("Location"), logoutURI+"?state=bye") {
			t.Fatalf("logout: %d %q", lr.StatusCode, lr.Header.Get("Location"))
		}
		if took >= bound {
			t.Errorf("the logout took %s: it waited for the dead relying party (bound %s)", took, bound)
		}
		env.Provider.WaitLogoutNotifications()
		if all := time.Since(start); all > 2*bound+time.Second {
			t.Errorf("the deliveries took %s, beyond their bound %s", all, 2*bound)
		}

		for _, p := range parties {
			if p.bc == nil {
				continue
			}
			tokens, problems, cancelled := p.bc.got()
			for _, pr := range problems {
				t.Errorf("%s: %s", p.name, pr)
			}
			want := 0
			if p.name == "notified" || p.name == "failing" {
				want = 1
			}
			if len(tokens) != want {
				t.Errorf("%s: %d logout tokens, want %d", p.name, len(tokens), want)
			}
			for _, c := range tokens {
				if c["sid"] != sid || c["sub"] != email {
					t.Errorf("%s: sid %v sub %v, want the ID token's %s and %s", p.name, c["sid"], c["sub"], sid, email)
				}
			}
			if p.name == "dead" {
				// The endpoint notices the hang-up a moment after
				// Gatehouse has given up.
				for deadline := time.Now().Add(time.Second); cancelled == 0 && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
					_, _, cancelled = p.bc.got()
				}
			}
			if p.name == "dead" && cancelled != 1 {
				t.Errorf("dead: %d requests given up, want 1", cancelled)
			}
		}
		// Every token has its own jti.
		a, _, _ := parties[0].bc.got()
		b, _, _ := parties[3].bc.got()
		if len(a) == 1 && len(b) == 1 && a[0]["jti"] == b[0]["jti"] {
			t.Errorf("two logout tokens share jti %v", a[0]["jti"])
		}
	})
}
