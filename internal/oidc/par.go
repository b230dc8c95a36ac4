package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Pushed authorization requests (RFC 9126, issue 16). A client POSTs the
// parameters of an authorization request to PARPath, authenticated exactly
// as at the token endpoint (server.VerifyClient: its registered method,
// secret or certificate; a public client by client_id), gets back a
// request_uri, and sends the browser to the authorization endpoint with
// client_id and request_uri only. The parameters are checked when pushed
// (the same rules as at the authorization endpoint), stored in the database
// (table oidc_pushed_requests, so any replica redeems them), used once and
// for PARLifetime at most: the browser never carries, and so can neither
// read nor change, what the client asked for.
//
// A client registered with requirePushedAuthorizationRequests gets every
// authorization request that was not pushed refused (RFC 9126 §6), sent
// back to its redirect_uri as invalid_request.
const (
	// PARPath is the pushed authorization request endpoint.
	PARPath = "/oauth2/v2/par"
	// PARLifetime is how long a request_uri can be used (RFC 9126 §2.2
	// suggests between 5 and 600 seconds; it is only the browser's
	// redirect).
	PARLifetime = 90 * time.Second
	// requestURIPrefix starts every request_uri (RFC 9126 §2.2).
	requestURIPrefix = "urn:ietf:params:oauth:request_uri:"
)

// parResponse is the answer of the PAR endpoint (RFC 9126 §2.2).
type parResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
}

// credentialParams are the form fields that authenticate the client: they
// are not part of the stored request.
var credentialParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// pushAuthorization is POST PARPath.
func (s *server) pushAuthorization(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("the form cannot be read"), nil)
		return
	}
	cc := &op.ClientCredentials{ClientID: r.PostForm.Get("client_id"), ClientSecret: r.PostForm.Get("client_secret"),
		ClientAssertion: r.PostForm.Get("client_assertion"), ClientAssertionType: r.PostForm.Get("client_assertion_type")}
	if id, sec, ok := r.BasicAuth(); ok {
		var err1, err2 error
		cc.ClientID, err1 = url.QueryUnescape(id)
		cc.ClientSecret, err2 = url.QueryUnescape(sec)
		if err1 != nil || err2 != nil {
			op.WriteError(w, r, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized), nil)
			return
		}
		if f := r.PostForm.Get("client_id"); f != "" && f != cc.ClientID {
			op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("client_id differs from the authenticated client"), nil)
			return
		}
	}
	if cc.ClientID == "" {
		op.WriteError(w, r, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized), nil)
		return
	}
	oc, err := s.VerifyClient(r.Context(), &op.Request[op.ClientCredentials]{Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, Data: cc})
	if err != nil {
		op.WriteError(w, r, err, nil)
		return
	}
	c, ok := oc.(*opClient)
	if !ok {
		op.WriteError(w, r, oidc.ErrServerError().WithDescription("unexpected client type"), nil)
		return
	}
	params := url.Values{}
	for k, v := range r.PostForm {
		params[k] = v
	}
	for _, k := range credentialParams {
		delete(params, k)
	}
	params.Set("client_id", c.c.ID)
	uri, err := s.p.push(r.Context(), c.c, params)
	if err != nil {
		op.WriteError(w, r, err, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(parResponse{RequestURI: uri, ExpiresIn: int(PARLifetime / time.Second)})
}

// checkPushed applies the authorization endpoint's rules to the pushed
// parameters of client c, so that a mistake is told to the client now
// rather than to the browser later.
func (p *Provider) checkPushed(c *client.Client, params url.Values) error {
	if params.Has("request_uri") {
		return oidc.ErrInvalidRequest().WithDescription("a pushed request cannot carry request_uri")
	}
	req := new(oidc.AuthRequest)
	if err := p.op.Decoder().Decode(req, params); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("the parameters cannot be read")
	}
	if err := checkRequestObject(req, params); err != nil {
		return err
	}
	if req.RedirectURI == "" || !client.ValidRedirectURI(c, req.RedirectURI) {
		return oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is missing or not registered for this client")
	}
	if err := checkResponseMode(req); err != nil {
		return err
	}
	return checkAuthRequest(c, req)
}

// push checks and stores the pushed request of client c and returns its
// request_uri.
func (p *Provider) push(ctx context.Context, c *client.Client, params url.Values) (string, error) {
	if err := p.checkPushed(c, params); err != nil {
		return "", err
	}
	body, err := json.Marshal(params)
	if err != nil {
		return "", fmt.Errorf("encode pushed request: %w", err)
	}
	ref, err := p.tokens.randomString(32)
	if err != nil {
		return "", err
	}
	now := p.cfg.Now()
	err = p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		return q.CreatePushedRequest(ctx, &store.PushedRequest{RequestHash: secret.Hash(ref), ClientID: c.ID, Params: string(body),
			CreatedAt: now, ExpiresAt: now.Add(PARLifetime)})
	})
	if err != nil {
		return "", err
	}
	return requestURIPrefix + ref, nil
}

// pushedKey marks the context of an authorization request whose parameters
// were pushed.
type pushedKey struct{}

// wasPushed reports whether the authorization request of ctx was pushed.
func wasPushed(ctx context.Context) bool { v, _ := ctx.Value(pushedKey{}).(bool); return v }

// expandPushed replaces an authorization request that names a pushed
// request (request_uri with our prefix) by the pushed parameters: claimed
// once, unexpired, and pushed by the client_id the request names (RFC 9126
// §4). Any other request passes unchanged (one with another request_uri
// is refused by checkRequestObject).
func (p *Provider) expandPushed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		uri := r.Form.Get("request_uri")
		if !strings.HasPrefix(uri, requestURIPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		params, err := p.claimPushed(r.Context(), r.Form.Get("client_id"), strings.TrimPrefix(uri, requestURIPrefix))
		if err != nil {
			op.WriteError(w, r, err, nil)
			return
		}
		r2 := r.Clone(context.WithValue(r.Context(), pushedKey{}, true))
		r2.URL.RawQuery = params.Encode()
		r2.Form, r2.PostForm = params, url.Values{}
		next.ServeHTTP(w, r2)
	})
}

// claimPushed redeems pushed request ref for clientID.
func (p *Provider) claimPushed(ctx context.Context, clientID, ref string) (url.Values, error) {
	var pr *store.PushedRequest
	err := p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		var err error
		pr, err = q.ClaimPushedRequest(ctx, secret.Hash(ref), p.cfg.Now())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidRequest().WithDescription("request_uri is unknown, expired or already used")
	}
	if err != nil {
		return nil, err
	}
	if clientID != pr.ClientID {
		return nil, oidc.ErrInvalidRequest().WithDescription("request_uri was pushed by another client")
	}
	var params url.Values
	if err := json.Unmarshal([]byte(pr.Params), &params); err != nil {
		return nil, fmt.Errorf("decode pushed request: %w", err)
	}
	return params, nil
}
