package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
)

// SessionManager is what the sessions operations (issue 13) need of the
// OpenID Connect provider, which owns browser and application sessions:
// *oidc.Provider.
type SessionManager interface {
	PersonSessions(ctx context.Context, subject string, scope oidc.SessionScope, currentFamily string) ([]*oidc.PersonSession, error)
	EndPersonSession(ctx context.Context, subject string, scope oidc.SessionScope, id string) (*oidc.PersonSession, error)
	EndPersonSessions(ctx context.Context, subject string, scope oidc.SessionScope, auditID string) ([]*oidc.PersonSession, error)
	PersonConsents(ctx context.Context, subject string) ([]*oidc.PersonConsent, error)
	RevokeConsent(ctx context.Context, subject, clientID string) error
}

// errSessionsOff answers when the server runs without an OpenID Connect
// provider: nobody can have sessions then.
var errSessionsOff = apierror.Unavailable("this server runs without its OpenID Connect provider: there are no sessions")

// person is the caller of a self-service sessions operation: a person
// presenting their own OpenID Connect access token, and the part of their
// sessions that token may see (the sessions its organization's own
// provider vouched for, when one did: such a login speaks for that
// organization only). Machine principals (service accounts, API keys, role
// sessions) have no sessions: 403.
func person(r *http.Request) (*authn.Principal, oidc.SessionScope, error) {
	p := principal(r)
	if p == nil || p.Kind != authn.KindUser {
		kind := "this caller"
		if p != nil {
			kind = machineKinds[p.Kind]
		}
		return nil, oidc.SessionScope{}, apierror.ForbiddenError(
			"sessions and consents belong to people signed in with their own access token; %s has none", kind)
	}
	return p, oidc.SessionScope{Organization: p.VouchingOrganization()}, nil
}

// machineKinds name the principals that have no sessions, for the 403.
var machineKinds = map[authn.Kind]string{authn.KindServiceAccount: "a service account", authn.KindAPIKey: "an API key",
	authn.KindAssumedRole: "a role session"}

// family is the refresh token family (the application session) of a user's
// access token, "" for a token without one.
func family(p *authn.Principal) string {
	for _, l := range p.Lineage {
		if l.Kind == store.LinkSession {
			return l.ID
		}
	}
	return ""
}

// sessionError turns "no such session" into the API's 404.
func sessionError(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFoundError("session %q not found", id)
	}
	return err
}

func (h *handlers) ListAccountSessions(w http.ResponseWriter, r *http.Request, params api.ListAccountSessionsParams) {
	p, scope, err := person(r)
	if err == nil && h.s.sessions == nil {
		err = errSessionsOff
	}
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ss, err := h.s.sessions.PersonSessions(r.Context(), p.ID, scope, family(p))
	h.replySessions(w, r, params.Limit, params.PageToken, ss, err)
}

// sessionKey orders sessions as PersonSessions lists them (newest first,
// then by ID) and is their page token: the creation time in milliseconds
// and the ID, so that a page goes on after a session that ended meanwhile.
func sessionKey(s *oidc.PersonSession) string {
	return strconv.FormatInt(s.CreatedAt.UnixMilli(), 10) + ":" + s.ID
}

// after reports whether s comes after the session of page token key in
// PersonSessions' order.
func after(s *oidc.PersonSession, key string) (bool, error) {
	ms, id, ok := strings.Cut(key, ":")
	t, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || id == "" {
		return false, apierror.BadRequest("query parameter \"pageToken\": not a page token from this API")
	}
	c := s.CreatedAt.UnixMilli()
	return c < t || c == t && s.ID > id, nil
}

// replySessions answers one page of the session list ss (complete, in
// PersonSessions' order): the sessions after the page token, at most limit,
// and X-Next-Page-Token when more remain.
func (h *handlers) replySessions(w http.ResponseWriter, r *http.Request, limit *int, token *string, ss []*oidc.PersonSession, err error) {
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	p, err := page(limit, token)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	if p.After != "" {
		rest := ss[:0:0]
		for _, s := range ss {
			ok, err := after(s, p.After)
			if err != nil {
				h.s.writeError(w, r, err)
				return
			}
			if ok {
				rest = append(rest, s)
			}
		}
		ss = rest
	}
	if p.Limit != store.NoLimit && len(ss) > p.Limit {
		ss = ss[:p.Limit]
	}
	replyList(h, w, r, p, ss, nil, sessionKey, sessionToAPI)
}

func (h *handlers) DeleteAccountSession(w http.ResponseWriter, r *http.Request, sessionID string) {
	p, scope, err := person(r)
	if err == nil && h.s.sessions == nil {
		err = errSessionsOff
	}
	if err == nil {
		_, err = h.s.sessions.EndPersonSession(r.Context(), p.ID, scope, sessionID)
	}
	h.reply(w, r, http.StatusOK, nil, sessionError(err, sessionID))
}

func (h *handlers) ListAccountConsents(w http.ResponseWriter, r *http.Request, params api.ListAccountConsentsParams) {
	caller, err := h.consentCaller(r)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	cs, err := h.s.sessions.PersonConsents(r.Context(), caller.ID)
	if err == nil {
		// By client ID, as PersonConsents lists them: the page token is the
		// last client ID.
		rest := cs[:0:0]
		for _, c := range cs {
			if c.ClientID > p.After {
				rest = append(rest, c)
			}
		}
		cs = rest
		if p.Limit != store.NoLimit && len(cs) > p.Limit {
			cs = cs[:p.Limit]
		}
	}
	replyList(h, w, r, p, cs, err, func(c *oidc.PersonConsent) string { return c.ClientID }, consentToAPI)
}

func (h *handlers) DeleteAccountConsent(w http.ResponseWriter, r *http.Request, clientID string) {
	p, err := h.consentCaller(r)
	if err == nil {
		err = h.s.sessions.RevokeConsent(r.Context(), p.ID, clientID)
	}
	if errors.Is(err, store.ErrNotFound) {
		err = apierror.NotFoundError("no consent to client %q", clientID)
	}
	h.reply(w, r, http.StatusOK, nil, err)
}

// consentCaller is the caller of a consent operation: a person (person),
// signed in through a platform provider or a password. Consent is
// remembered per person and client whoever vouched, so a login an
// organization's own provider vouched for, which speaks for that
// organization only, may neither read nor revoke it.
func (h *handlers) consentCaller(r *http.Request) (*authn.Principal, error) {
	p, scope, err := person(r)
	if err != nil {
		return nil, err
	}
	if scope.Organization != "" {
		return nil, apierror.ForbiddenError("consents are remembered per person across every identity provider; "+
			"a login vouched for by organization %s's own provider manages the sessions it vouched for only", scope.Organization)
	}
	if h.s.sessions == nil {
		return nil, errSessionsOff
	}
	return p, nil
}

// userSubject is the subject of user userID of organization orgID (404 if
// the organization has no such user).
func (h *handlers) userSubject(r *http.Request, orgID, userID string) (string, error) {
	if h.s.sessions == nil {
		return "", errSessionsOff
	}
	u, err := h.s.tenancy.GetUser(r.Context(), orgID, userID)
	if err != nil {
		return "", err
	}
	return u.Subject, nil
}

func (h *handlers) ListUserSessions(w http.ResponseWriter, r *http.Request, organizationID, userID string, params api.ListUserSessionsParams) {
	subject, err := h.userSubject(r, organizationID, userID)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ss, err := h.s.sessions.PersonSessions(r.Context(), subject, oidc.SessionScope{Organization: organizationID}, callerFamily(r, subject))
	h.replySessions(w, r, params.Limit, params.PageToken, ss, err)
}

func (h *handlers) DeleteUserSessions(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	subject, err := h.userSubject(r, organizationID, userID)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ss, err := h.s.sessions.EndPersonSessions(r.Context(), subject, oidc.SessionScope{Organization: organizationID}, userID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return sessionsToAPI(ss) }), err)
}

func (h *handlers) DeleteUserSession(w http.ResponseWriter, r *http.Request, organizationID, userID, sessionID string) {
	subject, err := h.userSubject(r, organizationID, userID)
	if err == nil {
		_, err = h.s.sessions.EndPersonSession(r.Context(), subject, oidc.SessionScope{Organization: organizationID}, sessionID)
	}
	h.reply(w, r, http.StatusOK, nil, sessionError(err, sessionID))
}

// subjectOf checks a subject of the platform operations: the stored form
// of an email (lower case), so that a differently cased path finds the
// same person.
func (h *handlers) subjectOf(subject string) (string, error) {
	if h.s.sessions == nil {
		return "", errSessionsOff
	}
	return strings.ToLower(subject), nil
}

func (h *handlers) ListSubjectSessions(w http.ResponseWriter, r *http.Request, subject string, params api.ListSubjectSessionsParams) {
	subject, err := h.subjectOf(subject)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ss, err := h.s.sessions.PersonSessions(r.Context(), subject, oidc.SessionScope{}, callerFamily(r, subject))
	h.replySessions(w, r, params.Limit, params.PageToken, ss, err)
}

func (h *handlers) DeleteSubjectSessions(w http.ResponseWriter, r *http.Request, subject string) {
	subject, err := h.subjectOf(subject)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ss, err := h.s.sessions.EndPersonSessions(r.Context(), subject, oidc.SessionScope{}, subject)
	h.reply(w, r, http.StatusOK, later(err, func() any { return sessionsToAPI(ss) }), err)
}

func (h *handlers) DeleteSubjectSession(w http.ResponseWriter, r *http.Request, subject, sessionID string) {
	subject, err := h.subjectOf(subject)
	if err == nil {
		_, err = h.s.sessions.EndPersonSession(r.Context(), subject, oidc.SessionScope{}, sessionID)
	}
	h.reply(w, r, http.StatusOK, nil, sessionError(err, sessionID))
}

// callerFamily is the caller's own session family when the caller is the
// person whose sessions are listed (an administrator looking at their own
// user), so that the list marks it current as the account page does.
func callerFamily(r *http.Request, subject string) string {
	if p := principal(r); p != nil && p.Kind == authn.KindUser && p.ID == subject {
		return family(p)
	}
	return ""
}

func sessionsToAPI(ss []*oidc.PersonSession) api.Sessions {
	out := make(api.Sessions, 0, len(ss))
	for _, s := range ss {
		out = append(out, sessionToAPI(s))
	}
	return out
}

func sessionToAPI(s *oidc.PersonSession) api.Session {
	a := api.Session{Id: s.ID, Kind: api.SessionKind(s.Kind), CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		Current: s.Current, Provider: api.SessionProvider{Id: s.IdP.ID, OrganizationId: optional(s.IdP.Org), Issuer: optional(s.IdP.Issuer)},
		ClientId: optional(s.ClientID), ClientName: optional(s.ClientName), BrowserSessionId: optional(s.BrowserSessionID),
		UserAgent: optional(s.UserAgent), ClientAddress: optional(s.ClientAddress)}
	if !s.LastUsedAt.IsZero() {
		t := s.LastUsedAt.UTC()
		a.LastUsedAt = &t
	}
	if s.Kind == oidc.SessionKindApplication {
		scopes := s.Scopes
		if scopes == nil {
			scopes = []string{}
		}
		a.Scopes = &scopes
	}
	return a
}

func consentToAPI(c *oidc.PersonConsent) api.Consent {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return api.Consent{ClientId: c.ClientID, ClientName: c.ClientName, Scopes: scopes, GrantedAt: c.GrantedAt.UTC()}
}
