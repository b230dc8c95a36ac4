package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// A person's sessions over the API (issue 13): the account page lists and
// ends the caller's own, organization administrators those of their users
// that concern their organization, platform administrators every one. Two
// kinds exist:
//
//   - a browser session (table oidc_browser_sessions): the single sign-on
//     login of one browser. Its ID is its sid (sidOf), which ID tokens
//     already carry, never the cookie's hash the server looks it up by.
//     Ending it ends, in the same transaction, every application session
//     a login in it started (same sid), and so their refresh tokens and
//     access tokens (token lineage);
//   - an application session (table oidc_sessions): the refresh token family
//     of one client. Its ID is the family, the gh_fam of its access tokens.
//
// The clients of every ended application session get a back-channel logout
// token, as after a logout.

// The kinds of PersonSession.
const (
	SessionKindBrowser     = "browser"
	SessionKindApplication = "application"
)

// PersonSession is one session of a person as the API shows it.
type PersonSession struct {
	ID   string
	Kind string
	// ClientID and ClientName name the client of an application session
	// (the name "" when the client was deleted since).
	ClientID   string
	ClientName string
	// Scopes are an application session's.
	Scopes    []string
	CreatedAt time.Time
	// LastUsedAt is the last refresh of an application session, the last
	// single sign-on of a browser session; zero when never used since.
	LastUsedAt time.Time
	// ExpiresAt is when the session ends by itself: the browser session's
	// lifetime, the refresh token's expiry (or, without a refresh token,
	// the access token's).
	ExpiresAt time.Time
	// IdP is who vouched for the login.
	IdP store.IdP
	// UserAgent and ClientAddress are the browser's at login, recorded
	// since migration 00023 (browser sessions; for an application session,
	// those of the browser session it was begun in while that lives).
	UserAgent     string
	ClientAddress string
	// BrowserSessionID is, for an application session, the ID of the
	// browser session whose login started it, while that one lives.
	BrowserSessionID string
	// Current marks the session the caller's access token belongs to (its
	// family), and the browser session that family was begun in.
	Current bool
}

// SessionScope is the part of a person's sessions a caller may see and end.
// The zero scope is all of them: the person's own (signed in through a
// platform provider or a password) and a platform administrator's view.
type SessionScope struct {
	// Organization, when set, narrows the scope to the sessions whose login
	// that organization's own identity provider vouched for: the only ones
	// that concern it alone. Sessions vouched by a platform provider or a
	// local password serve the person in every organization (and at
	// platform clients): listing them would show an organization the
	// person's use of others, and ending them would sign the person out of
	// those too.
	Organization string
}

func (sc SessionScope) covers(idp store.IdP) bool {
	return sc.Organization == "" || idp.Org == sc.Organization
}

// live reports whether an application session can still be used: a refresh
// token or an access token of it has not expired.
func live(s *store.OIDCSession, now time.Time) bool {
	return s.RefreshHash != "" && s.RefreshExpiresAt.After(now) || s.AccessExpiresAt.After(now)
}

// PersonSessions lists subject's live sessions in scope, newest first;
// currentFamily is the family of the caller's access token ("" if none),
// whose session is marked Current.
func (p *Provider) PersonSessions(ctx context.Context, subject string, scope SessionScope, currentFamily string) ([]*PersonSession, error) {
	q := p.cfg.Store.Read()
	now := p.cfg.Now()
	browsers, err := q.BrowserSessionsOfSubject(ctx, subject, now)
	if err != nil {
		return nil, err
	}
	apps, err := q.SessionsOfSubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	bySID := map[string]*store.BrowserSession{}
	for _, b := range browsers {
		bySID[sidOf(b.IDHash)] = b
	}
	currentSID := ""
	var out []*PersonSession
	names := map[string]string{}
	for _, s := range apps {
		if !scope.covers(s.IdP) || !live(s, now) {
			continue
		}
		name, ok := names[s.ClientID]
		if !ok {
			c, err := p.cfg.Clients.Get(ctx, s.ClientID)
			switch {
			case err == nil:
				name = c.Name
			case !errors.Is(err, store.ErrNotFound) && !isNotFound(err):
				return nil, fmt.Errorf("client of session: %w", err)
			}
			names[s.ClientID] = name
		}
		ps := &PersonSession{ID: s.ID, Kind: SessionKindApplication, ClientID: s.ClientID, ClientName: name,
			Scopes: splitScopes(s.Scopes), CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt, ExpiresAt: s.AccessExpiresAt,
			IdP: s.IdP, Current: currentFamily != "" && s.ID == currentFamily}
		if s.RefreshHash != "" && s.RefreshExpiresAt.After(ps.ExpiresAt) {
			ps.ExpiresAt = s.RefreshExpiresAt
		}
		if b := bySID[s.SID]; b != nil && s.SID != "" {
			ps.BrowserSessionID, ps.UserAgent, ps.ClientAddress = s.SID, b.UserAgent, b.ClientAddress
		}
		if ps.Current {
			currentSID = s.SID
		}
		out = append(out, ps)
	}
	for sid, b := range bySID {
		if !scope.covers(b.IdP) {
			continue
		}
		out = append(out, &PersonSession{ID: sid, Kind: SessionKindBrowser, CreatedAt: b.CreatedAt, LastUsedAt: b.LastUsedAt,
			ExpiresAt: b.ExpiresAt, IdP: b.IdP, UserAgent: b.UserAgent, ClientAddress: b.ClientAddress,
			Current: currentSID != "" && sid == currentSID})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// EndPersonSession ends subject's session id (either kind) if scope covers
// it, in one transaction that the audit log records (the context's audit
// entry), and tells the clients of the ended application sessions through
// back-channel logout. A session that does not exist, is another person's
// or is outside scope is store.ErrNotFound: the caller learns nothing of
// sessions it may not see.
func (p *Provider) EndPersonSession(ctx context.Context, subject string, scope SessionScope, id string) (*PersonSession, error) {
	now := p.cfg.Now()
	var (
		gone  *PersonSession
		ended []*store.OIDCSession
	)
	err := p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		gone, ended = nil, nil
		s, err := q.SessionByID(ctx, subject, id)
		switch {
		case err == nil && scope.covers(s.IdP) && live(s, now):
			if err := q.RevokeSession(ctx, s.ID, now); err != nil {
				return err
			}
			gone = &PersonSession{ID: s.ID, Kind: SessionKindApplication, ClientID: s.ClientID, CreatedAt: s.CreatedAt, IdP: s.IdP}
			ended = []*store.OIDCSession{s}
		case err == nil || errors.Is(err, store.ErrNotFound):
			browsers, err := q.BrowserSessionsOfSubject(ctx, subject, now)
			if err != nil {
				return err
			}
			for _, b := range browsers {
				if sidOf(b.IDHash) != id || !scope.covers(b.IdP) {
					continue
				}
				if ended, err = p.endBrowserSession(ctx, q, b, now); err != nil {
					return err
				}
				gone = &PersonSession{ID: id, Kind: SessionKindBrowser, CreatedAt: b.CreatedAt, IdP: b.IdP,
					UserAgent: b.UserAgent, ClientAddress: b.ClientAddress}
				break
			}
			if gone == nil {
				return fmt.Errorf("session %s: %w", id, store.ErrNotFound)
			}
		default:
			return err
		}
		audit.Describe(ctx, "sessions", id, auditSession(subject, gone, ended), nil)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.notifyLogout(audit.Unaudited(ctx), ended)
	return gone, nil
}

// EndPersonSessions ends every session of subject in scope (sign out
// everywhere) in one transaction, audited as resource auditID (the user or
// the subject the request named), and returns them; back-channel logout as
// EndPersonSession.
func (p *Provider) EndPersonSessions(ctx context.Context, subject string, scope SessionScope, auditID string) ([]*PersonSession, error) {
	now := p.cfg.Now()
	var (
		gone  []*PersonSession
		ended []*store.OIDCSession
	)
	err := p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		gone, ended = nil, nil
		browsers, err := q.BrowserSessionsOfSubject(ctx, subject, now)
		if err != nil {
			return err
		}
		for _, b := range browsers {
			if !scope.covers(b.IdP) {
				continue
			}
			e, err := p.endBrowserSession(ctx, q, b, now)
			if err != nil {
				return err
			}
			ended = append(ended, e...)
			gone = append(gone, &PersonSession{ID: sidOf(b.IDHash), Kind: SessionKindBrowser, CreatedAt: b.CreatedAt, IdP: b.IdP,
				UserAgent: b.UserAgent, ClientAddress: b.ClientAddress})
		}
		apps, err := q.SessionsOfSubject(ctx, subject)
		if err != nil {
			return err
		}
		for _, s := range apps {
			if !scope.covers(s.IdP) {
				continue
			}
			if err := q.RevokeSession(ctx, s.ID, now); err != nil {
				return err
			}
			ended = append(ended, s)
		}
		for _, s := range ended {
			gone = append(gone, &PersonSession{ID: s.ID, Kind: SessionKindApplication, ClientID: s.ClientID, CreatedAt: s.CreatedAt, IdP: s.IdP})
		}
		audit.Describe(ctx, "sessions", auditID, map[string]any{"subject": subject, "organization": scope.Organization,
			"ended": len(gone), "sessions": auditSessions(gone)}, nil)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.notifyLogout(audit.Unaudited(ctx), ended)
	return gone, nil
}

// endBrowserSession deletes browser session b and the application sessions
// its logins started, within q; it returns the latter.
func (p *Provider) endBrowserSession(ctx context.Context, q *store.Q, b *store.BrowserSession, now time.Time) ([]*store.OIDCSession, error) {
	if err := q.DeleteBrowserSession(ctx, b.IDHash); err != nil {
		return nil, err
	}
	return q.EndSessionsOfBrowser(ctx, b.Subject, sidOf(b.IDHash), now)
}

// PersonConsent is an application a person allowed, and what.
type PersonConsent struct {
	ClientID   string
	ClientName string
	Scopes     []string
	GrantedAt  time.Time
}

// PersonConsents lists the consents subject gave, by client ID.
func (p *Provider) PersonConsents(ctx context.Context, subject string) ([]*PersonConsent, error) {
	cs, err := p.cfg.Store.Read().ConsentsOfSubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	out := make([]*PersonConsent, 0, len(cs))
	for _, c := range cs {
		pc := &PersonConsent{ClientID: c.ClientID, Scopes: c.Scopes, GrantedAt: c.GrantedAt}
		// The consent's foreign key deletes it with its client; one
		// deleted since the read is skipped.
		cl, err := p.cfg.Clients.Get(ctx, c.ClientID)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("client of consent: %w", err)
		}
		pc.ClientName = cl.Name
		out = append(out, pc)
	}
	return out, nil
}

// RevokeConsent forgets what subject allowed client clientID and ends the
// person's sessions at that client (every device: their refresh and access
// tokens), in one audited transaction; the client hears through
// back-channel logout. store.ErrNotFound when there was no consent.
func (p *Provider) RevokeConsent(ctx context.Context, subject, clientID string) error {
	now := p.cfg.Now()
	var ended []*store.OIDCSession
	err := p.cfg.Store.Tx(ctx, func(q *store.Q) error {
		scopes, err := q.ConsentedScopes(ctx, subject, clientID)
		if err != nil {
			return err
		}
		if err := q.DeleteConsent(ctx, subject, clientID); err != nil {
			return err
		}
		if ended, err = q.EndSessionsOfClient(ctx, subject, clientID, now); err != nil {
			return err
		}
		audit.Describe(ctx, "consents", clientID, map[string]any{"subject": subject, "clientId": clientID, "scopes": scopes,
			"sessionsEnded": len(ended)}, nil)
		return nil
	})
	if err != nil {
		return err
	}
	p.notifyLogout(audit.Unaudited(ctx), ended)
	return nil
}

// auditSession is what the audit log keeps of an ended session: never a
// token or a cookie hash.
func auditSession(subject string, s *PersonSession, ended []*store.OIDCSession) map[string]any {
	m := map[string]any{"subject": subject, "id": s.ID, "kind": s.Kind, "provider": s.IdP.ID, "providerOrganization": s.IdP.Org}
	if s.ClientID != "" {
		m["clientId"] = s.ClientID
	}
	if s.Kind == SessionKindBrowser {
		var apps []string
		for _, e := range ended {
			apps = append(apps, e.ID+" ("+e.ClientID+")")
		}
		m["applicationSessionsEnded"] = apps
	}
	return m
}

func auditSessions(ss []*PersonSession) []map[string]any {
	out := make([]map[string]any, 0, len(ss))
	for _, s := range ss {
		m := map[string]any{"id": s.ID, "kind": s.Kind}
		if s.ClientID != "" {
			m["clientId"] = s.ClientID
		}
		out = append(out, m)
	}
	return out
}

// isNotFound recognizes the client registry's answer for a missing client
// (an API 404, which no longer wraps store.ErrNotFound).
func isNotFound(err error) bool {
	e, ok := apierror.As(err)
	return ok && e.Status == http.StatusNotFound
}

// splitScopes is a space-separated scope list as a slice, never nil.
func splitScopes(s string) []string {
	out := strings.Fields(s)
	if out == nil {
		out = []string{}
	}
	return out
}
