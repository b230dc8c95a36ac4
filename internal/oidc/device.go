package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The device authorization grant (RFC 8628, issue 16). A device without a
// browser (a command-line tool, a TV) asks DeviceAuthorizationPath for a
// device code and a user code, shows the user code and DevicePath, and
// polls the token endpoint with the device code. The person opens
// DevicePath on a phone or laptop, types the user code, signs in through
// the ordinary login (local password, upstream providers, single sign-on:
// the same rules, organization confinement included, since the login is an
// ordinary auth request of the device's client), and then sees
// DeviceConfirmPath: the client's name and the scopes it asks for, with
// Approve and Deny (CSRF-checked like the consent page). Only an approval
// there lets the device's next poll have tokens.
//
// Everything lives in the database (table oidc_device_codes), so any
// replica answers any step. The device code is a 32-byte bearer secret kept
// as its SHA-256; the user code is 8 letters of a 20-consonant alphabet
// (RFC 8628 §6.1: no vowels, so no words, and no 0/O or 1/I to confuse),
// about 34 bits, also kept hashed. Guessing one is bounded: a code lives
// DeviceCodeLifetime, each client address may submit deviceGuessRate wrong
// codes, and all of them together deviceGuessCeiling (then the page
// answers 429).
//
// Why not zitadel's device flow: its storage interface knows nothing of
// the polling interval (no slow_down), checks expiry with the wall clock,
// and leaves single use to the storage; its user form is a placeholder. It
// serves as the reference for the wire format; the endpoint itself is
// zitadel's routing (client authentication included) with our
// DeviceAuthorization and DeviceToken.
const (
	// DeviceAuthorizationPath is the device authorization endpoint.
	DeviceAuthorizationPath = "/oauth2/v2/device_authorization"
	// DevicePath is the page where the person enters the user code
	// (verification_uri); ?user_code= fills it in.
	DevicePath = "/oauth2/v2/device"
	// DeviceConfirmPath is the approval page after the login.
	DeviceConfirmPath = "/oauth2/v2/device/confirm"

	// DeviceCodeLifetime is how long a device authorization can be
	// approved and redeemed (RFC 8628 §3.2 expires_in).
	DeviceCodeLifetime = 10 * time.Minute
	// DevicePollInterval is the polling interval a device starts with;
	// each slow_down adds deviceSlowDownStep (RFC 8628 §3.5).
	DevicePollInterval = 5 * time.Second
	deviceSlowDownStep = 5 * time.Second

	// deviceResponseType marks the auth request of a device login: it has
	// no redirect_uri and never gets a code; its last step is the
	// approval page (stepDevice).
	deviceResponseType = "device_code"
	// stepDevice is the approval of a device, the last step of its login.
	stepDevice = "device"

	// userCodeAlphabet and userCodeLength: RFC 8628 §6.1's example,
	// 20^8 ≈ 2.6·10^10 codes, shown as XXXX-XXXX.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
)

// deviceGuessRate bounds the wrong user codes one client address may
// submit: 10 per 10 minutes, a code's whole lifetime, so that an attacker
// needs around 10^9 addresses to find one live code among a thousand.
var deviceGuessRate = ratelimit.Rate{N: 10, Per: 10 * time.Minute}

// deviceGuessCeiling bounds the wrong user codes of all addresses together,
// per process. The per-address bound alone does not hold against many
// addresses: an IPv6 /48 (free from tunnel brokers) is 65,536 keys of /64,
// and past the limiter's DefaultMaxKeys the least recently used key is
// forgotten (its bucket full again), so a rotation of addresses could try
// codes as fast as the server answers. With the ceiling, 1000 wrong codes
// per 10 minutes find one of a thousand live codes with a chance of about
// 4·10^-5 per replica. The price: a flood of wrong codes from many
// addresses makes every address wait (429) until tokens come back, which
// RFC 8628 §5.1 accepts for a code this short.
var deviceGuessCeiling = ratelimit.Rate{N: 1000, Per: 10 * time.Minute}

// deviceGuessLimits counts wrong user codes: per client address
// (deviceGuessRate) and in total (deviceGuessCeiling).
type deviceGuessLimits struct{ perAddr, total *ratelimit.Limiter }

func newDeviceGuessLimits(now func() time.Time) *deviceGuessLimits {
	return &deviceGuessLimits{perAddr: ratelimit.New(deviceGuessRate, 0, now), total: ratelimit.New(deviceGuessCeiling, 1, now)}
}

// blocked reports whether a code from address key may not be looked up,
// and the wait: its own bound or the ceiling is spent.
func (l *deviceGuessLimits) blocked(key string) (bool, time.Duration) {
	if blocked, wait := l.perAddr.Blocked(key); blocked {
		return true, wait
	}
	return l.total.Blocked("")
}

// wrong counts a wrong code from address key against both bounds.
func (l *deviceGuessLimits) wrong(key string) {
	l.perAddr.Allow(key)
	l.total.Allow("")
}

// newUserCode draws a user code from rnd (unbiased: bytes at or above the
// largest multiple of the alphabet's size are drawn again).
func newUserCode(rnd io.Reader) (string, error) {
	n := len(userCodeAlphabet)
	limit := 256 - 256%n
	out := make([]byte, 0, userCodeLength)
	buf := make([]byte, 16)
	for len(out) < userCodeLength {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("user code: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < userCodeLength {
				out = append(out, userCodeAlphabet[int(b)%n])
			}
		}
	}
	return string(out), nil
}

// formatUserCode shows a normalized code as XXXX-XXXX.
func formatUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// normalizeUserCode is what a person typed, as stored: upper case, without
// the dash, spaces or other separators; "" when it cannot be a user code
// (so it is not looked up at all).
func normalizeUserCode(typed string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case r < 128 && strings.IndexByte(userCodeAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != userCodeLength {
		return ""
	}
	return b.String()
}

// DeviceAuthorization answers the device authorization endpoint (RFC 8628
// §3.1-3.2) for a client zitadel has authenticated as at the token
// endpoint: the client must be allowed the device_code grant and the
// scopes it asks for.
func (s *server) DeviceAuthorization(ctx context.Context, r *op.ClientRequest[oidc.DeviceAuthorizationRequest]) (*op.Response, error) {
	oc, ok := r.Client.(*opClient)
	if !ok {
		return nil, oidc.ErrServerError().WithDescription("unexpected client type")
	}
	if !client.AllowsGrant(oc.c, client.GrantDeviceCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use the device authorization grant")
	}
	for _, sc := range r.Data.Scopes {
		if !client.AllowsScope(oc.c, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for this client", sc)
		}
	}
	deviceCode, userCode, err := s.p.startDevice(ctx, oc.c.ID, r.Data.Scopes)
	if err != nil {
		return nil, err
	}
	uri := s.p.cfg.Issuer + DevicePath
	return op.NewResponse(&oidc.DeviceAuthorizationResponse{
		DeviceCode: deviceCode, UserCode: formatUserCode(userCode),
		VerificationURI:         uri,
		VerificationURIComplete: uri + "?user_code=" + url.QueryEscape(formatUserCode(userCode)),
		ExpiresIn:               int(DeviceCodeLifetime / time.Second), Interval: int(DevicePollInterval / time.Second),
	}), nil
}

// startDevice stores a new device authorization of clientID for scopes and
// returns its device and (normalized) user codes. A user code taken by a
// live authorization is drawn again.
func (p *Provider) startDevice(ctx context.Context, clientID string, scopes []string) (string, string, error) {
	for attempt := 0; ; attempt++ {
		deviceCode, err := p.tokens.randomString(32)
		if err != nil {
			return "", "", err
		}
		userCode, err := newUserCode(p.cfg.Rand)
		if err != nil {
			return "", "", err
		}
		now := p.cfg.Now()
		d := &store.DeviceCode{DeviceCodeHash: secret.Hash(deviceCode), UserCodeHash: secret.Hash(userCode), ClientID: clientID,
			Scopes: strings.Join(scopes, " "), State: store.DevicePending, Interval: DevicePollInterval, CreatedAt: now,
			ExpiresAt: now.Add(DeviceCodeLifetime)}
		err = p.cfg.Store.Tx(ctx, func(q *store.Q) error {
			if err := q.PurgeOIDC(ctx, now); err != nil {
				return err
			}
			return q.CreateDeviceCode(ctx, d)
		})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("device authorization: %w", err)
		}
		return deviceCode, userCode, nil
	}
}

// DeviceToken is the device_code grant (RFC 8628 §3.4-3.5): the tokens of
// an approved authorization, once; otherwise authorization_pending,
// slow_down, access_denied, expired_token or invalid_grant.
func (s *server) DeviceToken(ctx context.Context, r *op.ClientRequest[oidc.DeviceAccessTokenRequest]) (*op.Response, error) {
	oc, ok := r.Client.(*opClient)
	if !ok {
		return nil, oidc.ErrServerError().WithDescription("unexpected client type")
	}
	if !client.AllowsGrant(oc.c, client.GrantDeviceCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use the device authorization grant")
	}
	req, err := s.p.redeemDevice(ctx, oc.c.ID, r.Data.DeviceCode)
	if err != nil {
		return nil, err
	}
	resp, err := op.CreateTokenResponse(withIDTokenAlgorithm(ctx, r.Client), &authRequest{req}, r.Client, s.Provider(), true, "", "")
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// pollOutcome is what a poll of a device authorization gets.
type pollOutcome int

const (
	pollPending pollOutcome = iota
	pollSlowDown
	pollDenied
	pollExpired
	pollApproved
	pollUsed
	pollOtherClient
)

// decidePoll is the answer to clientID polling d at now, and the interval
// the device must keep from now on. A pending authorization polled sooner
// than its interval after the previous poll gets slow_down, and its
// interval grows by deviceSlowDownStep (RFC 8628 §3.5): the interval is
// enforced per device code, on every replica, since it is stored.
func decidePoll(d *store.DeviceCode, clientID string, now time.Time) (pollOutcome, time.Duration) {
	switch {
	case d.ClientID != clientID:
		return pollOtherClient, d.Interval
	case d.State == store.DeviceUsed:
		return pollUsed, d.Interval
	case !now.Before(d.ExpiresAt):
		return pollExpired, d.Interval
	case d.State == store.DeviceDenied:
		return pollDenied, d.Interval
	case d.State == store.DeviceApproved:
		return pollApproved, d.Interval
	case !d.LastPollAt.IsZero() && now.Sub(d.LastPollAt) < d.Interval:
		return pollSlowDown, d.Interval + deviceSlowDownStep
	}
	return pollPending, d.Interval
}

// redeemDevice answers one poll of deviceCode by clientID: the auth
// request of the approved login, claimed so that it works once (on any
// replica), or the OAuth2 error the device gets.
func (p *Provider) redeemDevice(ctx context.Context, clientID, deviceCode string) (*store.OIDCAuthRequest, error) {
	now := p.cfg.Now()
	hash := secret.Hash(deviceCode)
	var outcome pollOutcome
	var id string
	var interval time.Duration
	err := p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		d, err := q.GetDeviceCode(ctx, hash)
		if err != nil {
			return err
		}
		outcome, interval = decidePoll(d, clientID, now)
		switch outcome {
		case pollOtherClient, pollUsed, pollExpired:
			return nil
		case pollApproved:
			id, err = q.ClaimDeviceCode(ctx, hash)
			if errors.Is(err, store.ErrNotFound) {
				// Another poll claimed it first.
				outcome, err = pollUsed, nil
			}
			return err
		}
		return q.RecordDevicePoll(ctx, hash, interval, now)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("unknown device code")
	case err != nil:
		return nil, err
	}
	switch outcome {
	case pollOtherClient:
		return nil, oidc.ErrInvalidGrant().WithDescription("the device code was issued to another client")
	case pollUsed:
		return nil, oidc.ErrInvalidGrant().WithDescription("the device code was already used")
	case pollExpired:
		return nil, oidc.ErrExpiredDeviceCode().WithDescription("the device code expired; start again")
	case pollDenied:
		return nil, oidc.ErrAccessDenied().WithDescription("the user denied the request")
	case pollSlowDown:
		return nil, oidc.ErrSlowDown().WithDescription("polling too fast: wait %d seconds between requests from now on", int(interval/time.Second))
	case pollPending:
		return nil, oidc.ErrAuthorizationPending().WithDescription("the user has not approved the device yet")
	}
	req, err := p.cfg.Store.Read().GetAuthRequest(ctx, id, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrExpiredDeviceCode().WithDescription("the approval expired; start again")
	}
	if err != nil {
		return nil, err
	}
	if !req.Done || req.Subject == "" || req.IdP.ID == "" {
		return nil, oidc.ErrInvalidGrant().WithDescription("the device login is not complete")
	}
	// From here on the login is an authorization code request's (in
	// memory only): zitadel issues a refresh token (offline_access) only
	// to response_type=code requests.
	req.ResponseType = string(oidc.ResponseTypeCode)
	return req, nil
}

// --- the pages ---

type deviceView struct {
	T                     *messages
	CSRF, UserCode, Error string
	Refused               bool
}

// deviceDetail is what the audit event of an approval or denial records.
type deviceDetail struct {
	ClientID      string `json:"clientId"`
	Scopes        string `json:"scopes"`
	ClientAddress string `json:"clientAddress"`
	UserAgent     string `json:"userAgent"`
}

// devicePage is GET DevicePath: the user code form (filled in from
// ?user_code=, never submitted by itself: the person presses Continue).
// It sets a fresh CSRF cookie that the form carries back.
func (p *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	csrf, err := p.tokens.randomString(32)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	p.setCSRFCookie(w, csrf)
	view := deviceView{T: m, CSRF: csrf, UserCode: r.URL.Query().Get("user_code"), Refused: r.URL.Query().Get("refused") != ""}
	if normalizeUserCode(view.UserCode) == "" {
		view.UserCode = ""
	}
	writePage(w, http.StatusOK, "device", view)
}

// deviceSubmit is POST DevicePath: the user code. A live one starts the
// device's login (an auth request of its client) in this browser: straight
// to the approval page with a reusable browser session, to the login page
// otherwise. A wrong one shows the form again and counts against the
// address (deviceGuessRate).
func (p *Provider) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	m := requestLocale(r, nil)
	if err := r.ParseForm(); err != nil {
		writeMessage(w, http.StatusBadRequest, m, m.BadRequestTitle, m.BadRequestText)
		return
	}
	f := r.PostForm
	csrf := f.Get("csrf_token")
	if csrf == "" || !secureEqual(csrf, p.csrfCookie(r)) {
		p.loginError(w, m, errCSRF)
		return
	}
	key := "device"
	if a, ok := clientip.FromContext(ctx); ok {
		key = clientip.Key(a)
	}
	if blocked, retry := p.deviceGuesses.blocked(key); blocked {
		w.Header().Set("Retry-After", apierror.RetryAfterSeconds(retry))
		writeMessage(w, http.StatusTooManyRequests, m, m.DeviceTooManyTitle, m.DeviceTooManyText)
		return
	}
	typed := f.Get("user_code")
	code := normalizeUserCode(typed)
	now := p.cfg.Now()
	var d *store.DeviceCode
	err := store.ErrNotFound
	if code != "" {
		d, err = p.cfg.Store.Read().PendingDeviceCode(ctx, secret.Hash(code), now)
	}
	if errors.Is(err, store.ErrNotFound) {
		p.deviceGuesses.wrong(key)
		writePage(w, http.StatusBadRequest, "device", deviceView{T: m, CSRF: csrf, UserCode: typed, Error: m.DeviceWrongCode})
		return
	}
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	next, err := p.startDeviceLogin(ctx, r, d, code, csrf, m.Lang)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startDeviceLogin stores the auth request of device authorization d's
// login, bound to d, and returns where the browser goes: the approval page
// (or onboarding) when its browser session may be reused, else the login
// page.
func (p *Provider) startDeviceLogin(ctx context.Context, r *http.Request, d *store.DeviceCode, code, csrf, locale string) (string, error) {
	id, err := p.tokens.randomString(16)
	if err != nil {
		return "", err
	}
	now := p.cfg.Now().UTC()
	req := &store.OIDCAuthRequest{ID: id, ClientID: d.ClientID, Scopes: d.Scopes, ResponseType: deviceResponseType,
		MaxAge: -1, UILocale: locale, CSRFHash: secret.Hash(csrf), CreatedAt: now, ExpiresAt: now.Add(AuthRequestLifetime)}
	bs, reuse, err := p.sessionFor(ctx, r.Header, req)
	if err != nil {
		return "", err
	}
	var reused string
	if reuse {
		a := sessionAuthentication(bs)
		if p.admitsLogin(ctx, req.ClientID, a) == nil {
			step, err := p.nextStep(ctx, req, a, "")
			if err != nil {
				return "", err
			}
			req.Subject, req.AMR, req.ACR, req.AuthTime, req.SID, req.IdP = a.Subject, a.AMR, a.ACR, a.AuthTime, a.SID, a.IdP
			req.Interaction, reused = step, bs.IDHash
		}
	}
	err = p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		if reused != "" {
			if err := q.TouchBrowserSession(ctx, reused, now); err != nil {
				return err
			}
		}
		if err := q.CreateAuthRequest(ctx, req); err != nil {
			return err
		}
		return q.BindDeviceCode(ctx, secret.Hash(code), req.ID, now)
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", errNoRequest
	}
	if err != nil {
		return "", err
	}
	if req.Subject == "" {
		return LoginPath + "?state=" + url.QueryEscape(req.ID), nil
	}
	return p.stepURL(req.ID, req.Interaction), nil
}

// deviceConfirmPage is GET DeviceConfirmPath?state=ID: who is signed in,
// the client's name and the scopes it asks for, a warning against codes
// from someone else, Approve and Deny.
func (p *Provider) deviceConfirmPage(w http.ResponseWriter, r *http.Request) {
	if _, view, ok := p.clientQuestion(w, r, stepDevice); ok {
		writePage(w, http.StatusOK, "device-confirm", view)
	}
}

// deviceConfirmSubmit is POST DeviceConfirmPath: approve (the login is
// done, the device's next poll gets the tokens) or deny (the device gets
// access_denied), in one transaction with the auth request.
func (p *Provider) deviceConfirmSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, f, m, ok := p.postedForm(w, r, stepDevice, 16<<10)
	if !ok {
		return
	}
	now := p.cfg.Now()
	var title, text string
	var err error
	// The answer is audited in its own transaction: who let which client
	// in (or not), from where.
	audited := func(op string) context.Context {
		actx := audit.Begin(ctx, p.auditEntry(op, req.Subject), "deviceAuthorization", "")
		audit.Describe(actx, "", "", nil, deviceDetail{ClientID: req.ClientID, Scopes: req.Scopes,
			ClientAddress: clientAddr(ctx, r.RemoteAddr), UserAgent: truncate(r.UserAgent(), 256)})
		return actx
	}
	switch f.Get("decision") {
	case "approve":
		title, text = m.DeviceApprovedTitle, m.DeviceApprovedText
		err = p.cfg.Store.Tx(audited(OpDeviceApproved), func(q *store.Q) error {
			if err := q.DecideDeviceCode(ctx, req.ID, store.DeviceApproved, now); err != nil {
				return err
			}
			return q.AdvanceAuthRequest(ctx, req.ID, stepDevice, "", now)
		})
	case "deny":
		title, text = m.DeviceDeniedTitle, m.DeviceDeniedText
		err = p.cfg.Store.Tx(audited(OpDeviceDenied), func(q *store.Q) error {
			if err := q.DecideDeviceCode(ctx, req.ID, store.DeviceDenied, now); err != nil {
				return err
			}
			return q.DeleteAuthRequest(ctx, req.ID)
		})
	default:
		writeMessage(w, http.StatusBadRequest, m, m.BadRequestTitle, m.BadRequestText)
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		err = errNoRequest
	}
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	writeMessage(w, http.StatusOK, m, title, text)
}

// deviceRefused ends a device login that may not complete (an
// organization's client and a person who is not its member, an unmet
// essential acr): the device gets access_denied, the browser the user code
// page saying so.
func (p *Provider) deviceRefused(ctx context.Context, r *store.OIDCAuthRequest) (string, error) {
	now := p.cfg.Now()
	err := p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.DecideDeviceCode(ctx, r.ID, store.DeviceDenied, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return q.DeleteAuthRequest(ctx, r.ID)
	})
	if err != nil {
		return "", err
	}
	return p.cfg.Issuer + DevicePath + "?refused=1", nil
}
