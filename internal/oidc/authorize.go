package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Errors of OpenID Connect Core §3.1.2.6 and of "OpenID Connect Core Error
// Code unmet_authentication_requirements" that zitadel/oidc has no
// constructor for.
func errConsentRequired() *oidc.Error {
	return &oidc.Error{ErrorType: "consent_required", Description: "prompt=none: the user must consent to this client first"}
}

func errUnmetACR() *oidc.Error {
	return &oidc.Error{ErrorType: "unmet_authentication_requirements",
		Description: "the login cannot satisfy the essential acr values of the request"}
}

// responseModes are the response_mode values discovery lists
// (response_modes_supported) and Authorize accepts: the code comes back in
// the query, as with no response_mode at all.
var responseModes = []string{string(oidc.ResponseModeQuery)}

// checkResponseMode refuses a response_mode discovery does not list
// (zitadel would honour fragment or form_post silently). The refusal goes
// back in the query: the mode asked for is cleared first, since the error
// redirect follows it.
func checkResponseMode(req *oidc.AuthRequest) error {
	if req.ResponseMode == "" || slices.Contains(responseModes, string(req.ResponseMode)) {
		return nil
	}
	mode := req.ResponseMode
	req.ResponseMode = ""
	return oidc.ErrInvalidRequest().WithDescription("response_mode %q is not supported; use query", mode)
}

// checkRequestObject refuses request objects (OpenID Connect Core §6.1,
// §6.2): discovery says request_parameter_supported and
// request_uri_parameter_supported are false, and ignoring one would act on
// the plain parameters instead of the signed ones the client meant.
func checkRequestObject(req *oidc.AuthRequest, form url.Values) error {
	if req.RequestParam != "" {
		return oidc.ErrRequestNotSupported().WithDescription("the request parameter (request objects) is not supported")
	}
	if form.Get("request_uri") != "" {
		return &oidc.Error{ErrorType: "request_uri_not_supported", Description: "the request_uri parameter is not supported"}
	}
	return nil
}

// authParams are the parts of an authorization request that Gatehouse
// decides on itself, parsed and checked.
type authParams struct {
	hintSubject  string
	acrValues    []string
	acrEssential bool
	locale       string
}

// supportedACRs are the acr values Gatehouse can honour: the second
// factor's only when second factors are configured (Config.MFA).
func (p *Provider) supportedACRs() []string {
	if p.cfg.MFA == nil {
		return []string{ACRPassword, ACRFederated}
	}
	return []string{ACRPassword, ACRFederated, ACRMFA}
}

// parseAuthParams checks id_token_hint (one of our ID tokens, for this
// client; an expired one is fine, it only names the user), the acr requested
// through acr_values or as an essential claim of the claims parameter, and
// picks the pages' language.
func (s *server) parseAuthParams(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*authParams, error) {
	d := r.Data
	ap := &authParams{acrValues: d.ACRValues, locale: pickLocale(d.UILocales, r.Header.Get("Accept-Language"))}
	if d.IDTokenHint != "" {
		claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, d.IDTokenHint, s.Provider().IDTokenHintVerifier(ctx))
		if err != nil && !errors.As(err, &op.IDTokenHintExpiredError{}) {
			return nil, oidc.ErrInvalidRequest().WithDescription("id_token_hint is not an ID token of this provider")
		}
		if !slices.Contains(claims.Audience, d.ClientID) {
			return nil, oidc.ErrInvalidRequest().WithDescription("id_token_hint was not issued to this client")
		}
		ap.hintSubject = claims.Subject
	}
	if raw := r.Form.Get("claims"); raw != "" {
		values, essential, err := essentialACR(raw)
		if err != nil {
			return nil, err
		}
		if len(values) > 0 {
			ap.acrValues, ap.acrEssential = values, essential
		}
	}
	if ap.acrEssential && !slices.ContainsFunc(ap.acrValues, func(v string) bool { return slices.Contains(s.p.supportedACRs(), v) }) {
		return nil, errUnmetACR()
	}
	return ap, nil
}

// essentialACR reads the id_token acr request of a claims parameter
// (OpenID Connect Core §5.5): its values (value or values) and whether it is
// essential. Other requested claims are voluntary and answered as the
// scopes decide.
func essentialACR(raw string) ([]string, bool, error) {
	if len(raw) > 4096 {
		return nil, false, oidc.ErrInvalidRequest().WithDescription("the claims parameter is too long")
	}
	var c struct {
		IDToken map[string]*struct {
			Essential bool     `json:"essential"`
			Value     string   `json:"value"`
			Values    []string `json:"values"`
		} `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, false, oidc.ErrInvalidRequest().WithDescription("the claims parameter is not valid JSON: %v", err)
	}
	acr := c.IDToken["acr"]
	if acr == nil {
		return nil, false, nil
	}
	values := acr.Values
	if acr.Value != "" {
		values = append([]string{acr.Value}, values...)
	}
	return values, acr.Essential && len(values) > 0, nil
}

// Authorize handles a validated authorization request (zitadel has checked
// the client, redirect_uri, scopes, response type and PKCE method; errors
// returned here are sent to the redirect_uri). With a reusable browser
// session the request completes without the login page (single sign-on):
// the code goes straight back, or the browser goes to the consent or
// onboarding page. prompt=none never shows a page: it answers
// login_required, consent_required or interaction_required instead.
func (s *server) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	p := s.p
	oc, ok := r.Client.(*opClient)
	if !ok {
		return nil, oidc.ErrServerError().WithDescription("unexpected client type")
	}
	if err := checkRequestObject(r.Data, r.Form); err != nil {
		return nil, err
	}
	if err := checkResponseMode(r.Data); err != nil {
		return nil, err
	}
	if err := checkAuthRequest(oc.c, r.Data); err != nil {
		return nil, err
	}
	if oc.c.RequirePushedAuthorizationRequests && !wasPushed(ctx) {
		return nil, oidc.ErrInvalidRequest().WithDescription("this client must push its authorization requests to %s first (RFC 9126)", PARPath)
	}
	ap, err := s.parseAuthParams(ctx, r)
	if err != nil {
		return nil, err
	}
	st := &storage{p: p}
	req, err := st.newAuthRequest(r.Data, ap)
	if err != nil {
		return nil, err
	}
	prompts := r.Data.Prompt
	none := slices.Contains(prompts, oidc.PromptNone)
	bs, reuse, err := p.sessionFor(ctx, r.Header, req)
	if err != nil {
		return nil, err
	}
	if !reuse || slices.Contains(prompts, oidc.PromptSelectAccount) {
		if none {
			return nil, oidc.ErrLoginRequired().WithDescription("prompt=none: no browser session this request can use")
		}
		if err := st.insertAuthRequest(ctx, req); err != nil {
			return nil, err
		}
		return op.NewRedirect(LoginPath + "?state=" + url.QueryEscape(req.ID)), nil
	}
	a := sessionAuthentication(bs)
	if err := p.admitsLogin(ctx, req.ClientID, a); err != nil {
		return nil, err
	}
	// A session without the second factor this request needs (a factor
	// enrolled since, a policy, or acr_values asking for it) steps up: the
	// browser goes to the factor's page, and the session is renewed with it.
	step, err := p.secondFactorStep(ctx, req, a)
	if err != nil {
		return nil, err
	}
	if step != "" && !acrAllowed(req, ACRMFA) {
		return nil, errUnmetACR()
	}
	if step == "" {
		if step, err = p.nextStep(ctx, req, a, ""); err != nil {
			return nil, err
		}
	}
	switch {
	case none && (step == stepMFA || step == stepEnrol):
		return nil, oidc.ErrInteractionRequired().WithDescription("prompt=none: the request needs a second factor")
	case none && step == stepOnboard:
		return nil, oidc.ErrInteractionRequired().WithDescription("prompt=none: the user must first create an organization")
	case none && step == stepConsent:
		return nil, errConsentRequired()
	}
	// Authenticated from the session as the request is stored: one write.
	req.Subject, req.AMR, req.ACR, req.AuthTime, req.SID, req.IdP = a.Subject, a.AMR, a.ACR, a.AuthTime, a.SID, a.IdP
	req.Interaction, req.Done = step, step == ""
	if step != "" {
		// The consent and onboarding pages need this browser's CSRF token.
		csrf, err := p.tokens.randomString(32)
		if err != nil {
			return nil, err
		}
		req.CSRFHash = secret.Hash(csrf)
		if err := st.insertReusing(ctx, req, bs.IDHash); err != nil {
			return nil, err
		}
		redirect := op.NewRedirect(p.stepURL(req.ID, step))
		redirect.Header.Add("Set-Cookie", p.csrfCookieFor(csrf).String())
		return redirect, nil
	}
	// Done: the code is stored with the request, in the same write.
	code, err := p.tokens.randomString(32)
	if err != nil {
		return nil, err
	}
	req.CodeHash, req.CodeExpiresAt = secret.Hash(code), p.cfg.Now().Add(CodeLifetime)
	if err := st.insertReusing(ctx, req, bs.IDHash); err != nil {
		return nil, err
	}
	to, err := op.AuthResponseURL(req.RedirectURI, oidc.ResponseType(req.ResponseType), oidc.ResponseMode(req.ResponseMode),
		&op.CodeResponseType{Code: code, State: req.State}, s.Provider().Encoder())
	if err != nil {
		return nil, err
	}
	return op.NewRedirect(to), nil
}

// nextStep is what a user authenticated as a must still do for request r:
// onboard (create an organization), consent, or nothing (""). after names
// the step just completed, which is not asked again.
func (p *Provider) nextStep(ctx context.Context, r *store.OIDCAuthRequest, a store.Authentication, after string) (string, error) {
	if after == "" {
		need, err := p.needsOnboarding(ctx, a)
		if err != nil || need {
			return stepOnboard, err
		}
	}
	if r.ResponseType == deviceResponseType {
		// A device login ends at its approval page, which shows the
		// client and its scopes every time (consent included).
		if after == stepDevice {
			return "", nil
		}
		return stepDevice, nil
	}
	if after == stepConsent {
		return "", nil
	}
	if slices.Contains(strings.Fields(r.Prompt), oidc.PromptConsent) {
		return stepConsent, nil
	}
	c, err := p.cfg.Clients.Get(ctx, r.ClientID)
	if err != nil {
		return "", err
	}
	if !client.RequiresConsent(c) {
		return "", nil
	}
	granted, err := p.cfg.Store.Read().ConsentedScopes(ctx, a.Subject, r.ClientID)
	if err != nil {
		return "", err
	}
	for _, sc := range strings.Fields(r.Scopes) {
		if !slices.Contains(granted, sc) {
			return stepConsent, nil
		}
	}
	return "", nil
}

// stepURL is where the browser goes for step of request id ("" for the
// callback that issues the code).
func (p *Provider) stepURL(id, step string) string {
	switch step {
	case stepOnboard:
		return p.cfg.Issuer + OnboardPath + "?state=" + url.QueryEscape(id)
	case stepConsent:
		return p.cfg.Issuer + ConsentPath + "?state=" + url.QueryEscape(id)
	case stepDevice:
		return p.cfg.Issuer + DeviceConfirmPath + "?state=" + url.QueryEscape(id)
	case stepMFA:
		return p.cfg.Issuer + MFAPath + "?state=" + url.QueryEscape(id)
	case stepEnrol:
		return p.cfg.Issuer + MFAEnrolPath + "?state=" + url.QueryEscape(id)
	case stepRecoveryCodes:
		return p.cfg.Issuer + MFARecoveryCodesPath + "?state=" + url.QueryEscape(id)
	}
	return p.cfg.Issuer + CallbackPath + "?id=" + url.QueryEscape(id)
}

// authenticated completes the login step of request r as a: a fresh login
// (password or upstream) also starts a browser session, whose cookie goes
// into w's headers. It returns where the browser goes next: the callback,
// the consent or onboarding page, a second factor's page (a password login
// of a person with a factor, or whom a policy or the request's acr_values
// requires one: no session is started until the factor is given), or (an
// essential acr the login did not meet) the client's redirect_uri with
// unmet_authentication_requirements.
func (p *Provider) authenticated(ctx context.Context, w http.ResponseWriter, r *http.Request, req *store.OIDCAuthRequest, a store.Authentication, fresh bool) (string, error) {
	step, err := p.secondFactorStep(ctx, req, a)
	if err != nil {
		return "", err
	}
	if step == "" {
		return p.completeLogin(ctx, w, r, req, a, fresh, "", "")
	}
	if !acrAllowed(req, ACRMFA) {
		return p.errorRedirect(ctx, req, errUnmetACR())
	}
	if err := p.admitsLogin(ctx, req.ClientID, a); err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return p.errorRedirect(ctx, req, oe)
		}
		return "", err
	}
	// The password is proved; the request waits for the factor, with no
	// browser session and no code.
	err = p.cfg.Store.Tx(ctx, func(q *store.Q) error { return q.AuthenticateAuthRequest(ctx, req.ID, a, step, p.cfg.Now()) })
	if errors.Is(err, store.ErrNotFound) {
		return "", errNoRequest
	}
	if err != nil {
		return "", err
	}
	return p.stepURL(req.ID, step), nil
}

// completeLogin finishes the authentication of request r as a (see
// authenticated). from is the second-factor step r waits at ("" for a
// request nobody authenticated yet), and second the factor given there
// (for the audit log).
func (p *Provider) completeLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, req *store.OIDCAuthRequest, a store.Authentication, fresh bool, from, second string) (string, error) {
	if !acrAllowed(req, a.ACR) {
		return p.errorRedirect(ctx, req, errUnmetACR())
	}
	// An organization's client signs in its members only (orgclients.go).
	if err := p.admitsLogin(ctx, req.ClientID, a); err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return p.errorRedirect(ctx, req, oe)
		}
		return "", err
	}
	step, err := p.nextStep(ctx, req, a, "")
	if err != nil {
		return "", err
	}
	var cookie *http.Cookie
	tctx := ctx
	if fresh {
		// A new sign-in: its audit event commits with the session.
		tctx = p.auditSignInWith(ctx, r, req, a, second)
	}
	err = p.cfg.Store.Tx(tctx, func(q *store.Q) error {
		if fresh {
			var err error
			if cookie, a.SID, err = p.startBrowserSession(ctx, q, r.Header, a); err != nil {
				return err
			}
		}
		if from != "" {
			return q.CompleteSecondFactor(ctx, req.ID, from, a, step, p.cfg.Now())
		}
		return q.AuthenticateAuthRequest(ctx, req.ID, a, step, p.cfg.Now())
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", errNoRequest
	}
	if err != nil {
		return "", err
	}
	if cookie != nil {
		http.SetCookie(w, cookie)
	}
	p.touch(ctx, a.Subject) // a sign-in
	return p.stepURL(req.ID, step), nil
}

// errorRedirect ends request r with an error for the client: the auth
// request is deleted and the returned URL is the client's redirect_uri with
// error, error_description and state.
func (p *Provider) errorRedirect(ctx context.Context, r *store.OIDCAuthRequest, e *oidc.Error) (string, error) {
	if r.ResponseType == deviceResponseType {
		// No redirect_uri: the device hears access_denied when it polls.
		return p.deviceRefused(ctx, r)
	}
	if err := p.cfg.Store.Tx(ctx, func(q *store.Q) error { return q.DeleteAuthRequest(ctx, r.ID) }); err != nil {
		return "", err
	}
	redirect, err := op.TryErrorRedirect(ctx, &authRequest{r}, e, p.op.Encoder(), nil)
	if err != nil {
		return "", fmt.Errorf("error redirect: %w", err)
	}
	return redirect.URL, nil
}

// EndSession is RP-initiated logout. With an id_token_hint it ends the
// client's session of the hint's subject (its refresh token and latest
// access token) and the browser session if it is that subject's; the user
// then goes to the registered post_logout_redirect_uri. Without a hint the
// request could come from any page, so the browser session ends only after
// the user confirms on Gatehouse's own page (a CSRF-checked form posting
// back here). The clients whose sessions ended this way (the hint's, and
// every client a login in the ended browser session reached) are told
// through back-channel logout, once the sessions are gone (backchannel.go).
func (s *server) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	p := s.p
	es, err := op.ValidateEndSessionRequest(ctx, r.Data, s.Provider())
	if err != nil {
		return nil, err
	}
	bs, err := p.browserSession(ctx, r.Header)
	if err != nil {
		return nil, err
	}
	confirmed := r.Method == http.MethodPost && bs != nil && validLogoutCSRF(r.Form.Get("logout_csrf"), p.logoutConfirmToken(r.Header))
	endBrowser := bs != nil && (es.UserID == bs.Subject || es.UserID == "" && confirmed)
	var ended []*store.OIDCSession
	if es.UserID != "" {
		// The hint's sid names the browser session, and so the session
		// of a client with sessions per device.
		sid := ""
		if es.IDTokenHintClaims != nil {
			sid = es.IDTokenHintClaims.SessionID
		}
		sess, err := (&storage{p: p}).terminateSession(ctx, es.UserID, es.ClientID, sid)
		if err != nil {
			return nil, err
		}
		if sess != nil {
			ended = append(ended, sess)
		}
	}
	if bs != nil && es.UserID == "" && !confirmed {
		q := url.Values{}
		for k, v := range map[string]string{"client_id": r.Data.ClientID, "post_logout_redirect_uri": r.Data.PostLogoutRedirectURI,
			"state": r.Data.State, "ui_locales": oidc.Locales(r.Data.UILocales).String()} {
			if v != "" {
				q.Set(k, v)
			}
		}
		return op.NewRedirect(p.cfg.Issuer + LogoutConfirmPath + "?" + q.Encode()), nil
	}
	redirect := op.NewRedirect(es.RedirectURI)
	if r.Data.PostLogoutRedirectURI != "" { // validated for es.ClientID
		if c, err := p.cfg.Clients.Get(ctx, es.ClientID); err == nil && c.OrganizationID != "" {
			// An organization's administrators chose this destination: the
			// browser is not sent there from Gatehouse's origin without the
			// person seeing where it goes (logoutContinue).
			q := url.Values{"client_id": {es.ClientID}, "post_logout_redirect_uri": {r.Data.PostLogoutRedirectURI}}
			if r.Data.State != "" {
				q.Set("state", r.Data.State)
			}
			if l := oidc.Locales(r.Data.UILocales).String(); l != "" {
				q.Set("ui_locales", l)
			}
			redirect = op.NewRedirect(p.cfg.Issuer + LogoutContinuePath + "?" + q.Encode())
		}
	}
	if endBrowser {
		// The clients the browser session's logins reached; their own
		// sessions (refresh tokens) are theirs to end on the logout token.
		reached, err := p.cfg.Store.Read().SessionsOfSID(ctx, sidOf(bs.IDHash))
		if err != nil {
			return nil, err
		}
		actx := p.auditSignOut(ctx, r.Header, bs.Subject, es.ClientID)
		if err := p.cfg.Store.Tx(actx, func(q *store.Q) error { return q.DeleteBrowserSession(actx, bs.IDHash) }); err != nil {
			return nil, err
		}
		ended = append(ended, reached...)
		redirect.Header.Add("Set-Cookie", p.newSessionCookie("", -1).String())
	}
	p.notifyLogout(ctx, ended)
	return redirect, nil
}

// logoutContinue is GET LogoutContinuePath, where a logout at an
// organization's client lands instead of its post_logout_redirect_uri: the
// logout is done, and the page shows the destination's host with a link to
// it, which the person follows or not. A tenant thus gets no silent
// redirect from Gatehouse's origin to a host of its choosing (a phishing
// page that would look like Gatehouse's next step). The page changes
// nothing, so a forged link to it does no harm; it names only a URI
// registered for the client (a link with any other shows the signed-out
// message alone), with the state appended as the end session endpoint
// would.
func (p *Provider) logoutContinue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	m := texts(pickLocale(oidc.ParseLocales(strings.Fields(q.Get("ui_locales"))), r.Header.Get("Accept-Language")))
	uri := q.Get("post_logout_redirect_uri")
	c, err := p.cfg.Clients.Get(r.Context(), q.Get("client_id"))
	if err != nil || uri == "" || !client.ValidPostLogoutRedirectURI(c, uri) {
		writeMessage(w, http.StatusOK, m, m.SignedOutTitle, m.SignedOutText)
		return
	}
	dest, err := url.Parse(uri)
	if err != nil {
		writeMessage(w, http.StatusOK, m, m.SignedOutTitle, m.SignedOutText)
		return
	}
	if st := q.Get("state"); st != "" {
		v := dest.Query()
		v.Set("state", st)
		dest.RawQuery = v.Encode()
	}
	writePage(w, http.StatusOK, "leave", leaveView{T: m, Client: c.Name, Host: dest.Host, URL: dest.String()})
}

// logoutConfirmToken is the CSRF token of the logout confirmation page of the
// browser that sent h: derived from its browser session's cookie (32 random
// bytes this Gatehouse issued, checked against the stored session), so that
// no page elsewhere can know it, and no cookie anyone else could set (a
// double-submit cookie can be tossed by another site of the same domain)
// takes part. "" without a session.
func (p *Provider) logoutConfirmToken(h http.Header) string {
	v := p.sessionCookieValue(h)
	if v == "" {
		return ""
	}
	return secret.Hash("logout-confirmation:" + v)
}

func validLogoutCSRF(form, want string) bool {
	return form != "" && want != "" && len(form) == len(want) && secureEqual(form, want)
}

// logoutConfirm is GET LogoutConfirmPath: the page that asks a user whose
// logout came without an id_token_hint whether to sign out. Its parameters
// are checked again when the form posts them back to the end session
// endpoint; the origin of a post_logout_redirect_uri registered for the
// client is allowed as the form's redirect target.
func (p *Provider) logoutConfirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	m := texts(pickLocale(oidc.ParseLocales(strings.Fields(q.Get("ui_locales"))), r.Header.Get("Accept-Language")))
	bs, err := p.browserSession(r.Context(), r.Header)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	if bs == nil {
		writeMessage(w, http.StatusOK, m, m.SignedOutTitle, m.SignedOutText)
		return
	}
	view := logoutView{T: m, Subject: bs.Subject, CSRF: p.logoutConfirmToken(r.Header), ClientID: q.Get("client_id"), State: q.Get("state")}
	var formOrigin string
	if uri := q.Get("post_logout_redirect_uri"); uri != "" && view.ClientID != "" {
		if c, err := p.cfg.Clients.Get(r.Context(), view.ClientID); err == nil && client.ValidPostLogoutRedirectURI(c, uri) {
			view.PostLogoutRedirectURI, formOrigin = uri, origin(uri)
		}
	}
	writePage(w, http.StatusOK, "logout", view, formOrigin)
}
