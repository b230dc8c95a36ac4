package oidc

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Operation IDs of the sign-in events in the audit log (platform level,
// organization ""): they are not /api/v1 operations, so their names say
// where they come from.
const (
	OpSignIn       = "oidcSignIn"
	OpSignInFailed = "oidcSignInFailed"
	OpSignOut      = "oidcSignOut"
	// OpAccountLocked: failed password sign-ins locked a local account.
	OpAccountLocked = "oidcAccountLocked"
	// OpDeviceApproved and OpDeviceDenied: a person answered a device's
	// request on the approval page (RFC 8628, device.go).
	OpDeviceApproved = "oidcDeviceApproved"
	OpDeviceDenied   = "oidcDeviceDenied"
)

// Factors of a sign-in event.
const (
	FactorPassword = "password"
	FactorUpstream = "upstream"
	FactorSession  = "session"
)

// The failed sign-ins written to the audit log are bounded, so that a
// password-spraying attack (each address within the per-address login
// limit) cannot fill the database: per client address (failedSignInAuditRate,
// IPv6 by /64, which one host usually holds whole) under a ceiling per
// process (failedSignInAuditCeiling). An address past its own rate takes
// nothing from the ceiling, so a flood from one address leaves the failures
// of the others audited; only a flood from many addresses at once reaches
// the ceiling. Past either bound a failure is logged but not stored. At most
// failedSignInAuditKeys addresses are tracked (least recently used
// forgotten first, which can only be more lenient to that address).
var (
	failedSignInAuditRate    = ratelimit.Rate{N: 30, Per: time.Minute}
	failedSignInAuditCeiling = ratelimit.Rate{N: 1200, Per: time.Minute}
)

const failedSignInAuditKeys = 10_000

// auditKey is the key of a client address in the failed sign-in bound:
// clientip.Key (the address for IPv4, its /64 for IPv6: an attacker with one
// /64 has 2^64 addresses) of the unmapped address. Anything that is not an
// address is its own key.
func auditKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	return clientip.Key(ip.Unmap())
}

// clientAddr is the request's client address: the server's
// (clientip.Middleware: trusted proxies' X-Forwarded-For applied), else the
// peer's.
func clientAddr(ctx context.Context, remoteAddr string) string {
	if a, ok := clientip.FromContext(ctx); ok {
		return a.String()
	}
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}

// signInDetail is what a sign-in event records besides its actor: never a
// password, a token or a cookie.
type signInDetail struct {
	Factor string `json:"factor"`
	// SecondFactor is the second factor of a sign-in that gave one: totp
	// or recovery_code (issue 14).
	SecondFactor     string `json:"secondFactor,omitempty"`
	IdentityProvider string `json:"identityProvider,omitempty"`
	ClientID         string `json:"clientId,omitempty"`
	Reason           string `json:"reason,omitempty"`
	// Email is the address typed in a failed sign-in (see attemptedEmail).
	Email string `json:"email,omitempty"`
	// LockedUntil is when the lock of an OpAccountLocked event ends.
	LockedUntil   *time.Time `json:"lockedUntil,omitempty"`
	ClientAddress string     `json:"clientAddress"`
	UserAgent     string     `json:"userAgent"`
}

func (p *Provider) auditEntry(op, subject string) *audit.Entry {
	return &audit.Entry{NewID: p.newEventID, Now: p.cfg.Now, OperationID: op,
		Actor: audit.Actor{Kind: string(authn.KindUser), ID: subject, Subject: subject}}
}

// newEventID makes an audit event's ID: the tenancy service's (UUIDv7),
// else a UUIDv7 (time-ordered, like every event ID: the log pages by ID).
func (p *Provider) newEventID() string {
	if p.cfg.Tenancy != nil && p.cfg.Tenancy.NewID != nil {
		return p.cfg.Tenancy.NewID()
	}
	return uuid.Must(uuid.NewV7()).String()
}

func detailOf(r *http.Request, d signInDetail) signInDetail {
	d.ClientAddress, d.UserAgent = clientAddr(r.Context(), r.RemoteAddr), truncate(r.UserAgent(), 256)
	return d
}

// auditSignIn puts a successful sign-in's event on ctx: the transaction
// that completes the auth request (and starts the browser session) records
// it, so the sign-in and its event commit together.
func (p *Provider) auditSignIn(ctx context.Context, r *http.Request, req *store.OIDCAuthRequest, a store.Authentication) context.Context {
	return p.auditSignInWith(ctx, r, req, a, "")
}

// auditSignInWith is auditSignIn for a sign-in that gave a second factor
// (second: mfa.KindTOTP or mfa.MethodRecovery; "" for none).
func (p *Provider) auditSignInWith(ctx context.Context, r *http.Request, req *store.OIDCAuthRequest, a store.Authentication, second string) context.Context {
	e := p.auditEntry(OpSignIn, a.Subject)
	ctx = audit.Begin(ctx, e, "browserSession", "")
	d := signInDetail{Factor: FactorPassword, SecondFactor: second}
	if req != nil {
		d.ClientID = req.ClientID
	}
	if !slices.Contains(strings.Fields(a.AMR), "pwd") {
		d.Factor, d.IdentityProvider = FactorUpstream, a.IdP.ID
	}
	audit.Describe(ctx, "", "", nil, detailOf(r, d))
	return ctx
}

// auditSignInFailed records a failed sign-in in its own small transaction
// (a failure writes nothing else), within the bounds of failedSignInAuditRate. subject
// is the account when known (an upstream identity), else "", and email the
// address typed on the login page. A failure to record is logged: it must
// not change the answer, which says nothing about the account either way.
func (p *Provider) auditSignInFailed(ctx context.Context, r *http.Request, req *store.OIDCAuthRequest, subject, email, factor, reason string) {
	if addr := clientAddr(r.Context(), r.RemoteAddr); !p.failedAudits.Allow(auditKey(addr)) {
		p.log.Warn("failed sign-in not recorded in the audit log: over the bound", "factor", factor, "reason", reason, "client_address", addr)
		return
	}
	d := signInDetail{Factor: factor, Reason: reason, Email: attemptedEmail(email)}
	if req != nil {
		d.ClientID = req.ClientID
	}
	ctx = audit.Begin(context.WithoutCancel(ctx), p.auditEntry(OpSignInFailed, subject), "signIn", "")
	audit.Describe(ctx, "", "", nil, detailOf(r, d))
	if err := p.cfg.Store.Tx(ctx, func(*store.Q) error { return nil }); err != nil {
		p.log.Error("failed sign-in not recorded in the audit log", "error", err)
	}
}

// auditLockout records that a failed password sign-in locked the account
// (connector.LockError): the owner or an administrator can see in the log
// when and from where. At most one event per account and lockout period,
// and only for accounts that exist. Errors are logged.
func (p *Provider) auditLockout(ctx context.Context, r *http.Request, req *store.OIDCAuthRequest, email string, until time.Time) {
	subject := strings.ToLower(strings.TrimSpace(email))
	until = until.UTC()
	d := signInDetail{Factor: FactorPassword, ClientID: req.ClientID, LockedUntil: &until}
	ctx = audit.Begin(context.WithoutCancel(ctx), p.auditEntry(OpAccountLocked, subject), "localUser", subject)
	audit.Describe(ctx, "", "", nil, detailOf(r, d))
	if err := p.cfg.Store.Tx(ctx, func(*store.Q) error { return nil }); err != nil {
		p.log.Error("lockout not recorded in the audit log", "error", err)
	}
}

// auditSignOut puts the event of a browser session's end by logout on
// ctx (h: the logout request's headers): the transaction that deletes the
// session records it.
func (p *Provider) auditSignOut(ctx context.Context, h http.Header, subject, clientID string) context.Context {
	d := signInDetail{Factor: FactorSession, ClientID: clientID, ClientAddress: clientAddr(ctx, ""), UserAgent: truncate(h.Get("User-Agent"), 256)}
	ctx = audit.Begin(ctx, p.auditEntry(OpSignOut, subject), "browserSession", "")
	audit.Describe(ctx, "", "", nil, d)
	return ctx
}

// attemptedEmail is what a failed sign-in records of the address typed:
// the address when it looks like one (so an administrator can see which
// account is under attack, known or not), nothing otherwise: people type
// passwords into the wrong field, and a password must never be stored.
func attemptedEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || at == len(s)-1 || len(s) > 254 ||
		!strings.Contains(s[at:], ".") || strings.ContainsAny(s, " \t\r\n") || !utf8.ValidString(s) {
		return ""
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
