package oidc

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// The pages a user may meet after authenticating and before the code goes
// back to the client: onboarding (create an organization) and consent.
// Both need the browser that authenticated: the login CSRF cookie must match
// the hash stored on the auth request, on the page and on its form.

// needsOnboarding reports whether a, who just logged in, gets the
// onboarding form: the configured mode allows its login method, and the
// subject belongs to no organization (tenancy.NeedsOnboarding).
func (p *Provider) needsOnboarding(ctx context.Context, a store.Authentication) (bool, error) {
	switch {
	case p.cfg.Tenancy == nil, p.cfg.Onboarding == OnboardingOff:
		return false, nil
	case p.cfg.Onboarding == OnboardingLocal && a.AMR != "pwd":
		return false, nil
	case a.IdP.Confined():
		// An organization's own provider speaks for that organization's
		// people, whom it adds; its logins found no organization.
		return false, nil
	}
	return tenancy.NeedsOnboarding(ctx, p.cfg.Store.Read(), a.Subject)
}

// advance moves request req past step: to the next step's page, or to the
// callback that issues the code.
func (p *Provider) advance(ctx context.Context, req *store.OIDCAuthRequest, step string) (string, error) {
	a := store.Authentication{Subject: req.Subject, AMR: req.AMR, ACR: req.ACR, AuthTime: req.AuthTime, IdP: req.IdP}
	next, err := p.nextStep(ctx, req, a, step)
	if err != nil {
		return "", err
	}
	err = p.cfg.Store.Tx(ctx, func(q *store.Q) error { return q.AdvanceAuthRequest(ctx, req.ID, step, next, p.cfg.Now()) })
	if errors.Is(err, store.ErrNotFound) {
		return "", errNoRequest
	}
	if err != nil {
		return "", err
	}
	return p.stepURL(req.ID, next), nil
}

// --- consent ---

// consentPage is GET ConsentPath?state=ID: the client's name, the scopes it
// asks for, Allow and Deny.
func (p *Provider) consentPage(w http.ResponseWriter, r *http.Request) {
	if req, view, ok := p.clientQuestion(w, r, stepConsent); ok {
		writePage(w, http.StatusOK, "consent", view, origin(req.RedirectURI))
	}
}

// clientQuestion reads the pending request of a page that asks the
// signed-in person about a client (consent, a device's approval): the
// request at step, its client's name and the scopes it asks for, in the
// person's language. It has answered with an error page when ok is false.
func (p *Provider) clientQuestion(w http.ResponseWriter, r *http.Request, step string) (*store.OIDCAuthRequest, consentView, bool) {
	ctx := r.Context()
	cookie := p.csrfCookie(r)
	req, err := p.pendingRequest(ctx, r.URL.Query().Get("state"), step, cookie, cookie)
	m := requestLocale(r, req)
	if err != nil {
		p.loginError(w, m, err)
		return nil, consentView{}, false
	}
	c, err := p.cfg.Clients.Get(ctx, req.ClientID)
	if err != nil {
		p.loginError(w, m, err)
		return nil, consentView{}, false
	}
	view := consentView{T: m, State: req.ID, CSRF: cookie, Client: c.Name, Subject: req.Subject}
	for _, sc := range strings.Fields(req.Scopes) {
		view.Scopes = append(view.Scopes, describeScope(m, sc))
	}
	return req, view, true
}

// describeScope is how the consent page words a scope.
func describeScope(m *messages, scope string) scopeView {
	switch scope {
	case oidc.ScopeOpenID:
		return scopeView{Name: scope, Text: m.ScopeOpenID}
	case oidc.ScopeProfile:
		return scopeView{Name: scope, Text: m.ScopeProfile}
	case oidc.ScopeEmail:
		return scopeView{Name: scope, Text: m.ScopeEmail}
	case oidc.ScopeOfflineAccess:
		return scopeView{Name: scope, Text: m.ScopeOffline}
	}
	return scopeView{Name: scope, Text: m.Scope, Raw: true}
}

// consentSubmit is POST ConsentPath. Allow remembers the scopes for this
// user and client (table oidc_consents) and goes on; Deny sends
// access_denied to the client.
func (p *Provider) consentSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, f, m, ok := p.postedForm(w, r, stepConsent, 16<<10)
	if !ok {
		return
	}
	var next string
	var err error
	switch f.Get("decision") {
	case "allow":
		err = p.cfg.Store.Tx(ctx, func(q *store.Q) error {
			return q.GrantConsent(ctx, req.Subject, req.ClientID, strings.Fields(req.Scopes), p.cfg.Now())
		})
		if err == nil {
			next, err = p.advance(ctx, req, stepConsent)
		}
	case "deny":
		next, err = p.errorRedirect(ctx, req, oidc.ErrAccessDenied().WithDescription("the user denied the request"))
	default:
		writeMessage(w, http.StatusBadRequest, m, m.BadRequestTitle, m.BadRequestText)
		return
	}
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// --- onboarding ---

// onboardPage is GET OnboardPath?state=ID: the seed's onboarding form.
func (p *Provider) onboardPage(w http.ResponseWriter, r *http.Request) {
	cookie := p.csrfCookie(r)
	req, err := p.pendingRequest(r.Context(), r.URL.Query().Get("state"), stepOnboard, cookie, cookie)
	m := requestLocale(r, req)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	view := onboardView{T: m, State: req.ID, CSRF: cookie, Subject: req.Subject, GroupName: "administrators",
		Roles: roleChoices(m, []string{authz.RoleAdministrator})}
	writePage(w, http.StatusOK, "onboard", view, origin(req.RedirectURI))
}

// roleChoices are the assignable roles as the form offers them.
func roleChoices(m *messages, checked []string) []roleView {
	text := map[string]string{authz.RoleAdministrator: m.RoleAdministrator, authz.RoleUser: m.RoleUser, authz.RoleReader: m.RoleReader}
	var out []roleView
	for _, r := range authz.AssignableRoles() {
		if text[r.Name] == "" {
			// A role for machines (scim-provisioner: a directory's API
			// key), not for the people of a new organization's group.
			continue
		}
		out = append(out, roleView{Name: r.Name, Text: text[r.Name], Checked: slices.Contains(checked, r.Name)})
	}
	return out
}

// onboardSubmit is POST OnboardPath with the seed's fields (state,
// organization_name, organization_description, group_name,
// group_description, roles: role names or IDs, administrator when none):
// the organization, the group and the user are created in one transaction
// (tenancy.Onboard), then the authorization goes on. A mistake shows the
// form again with the message, and creates nothing.
func (p *Provider) onboardSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, f, m, ok := p.postedForm(w, r, stepOnboard, 64<<10)
	if !ok {
		return
	}
	in := tenancy.OnboardInput{
		Subject:          req.Subject,
		OrganizationName: strings.TrimSpace(f.Get("organization_name")), OrganizationDescription: f.Get("organization_description"),
		GroupName: strings.TrimSpace(f.Get("group_name")), GroupDescription: f.Get("group_description"),
	}
	var names []string
	roleOK := true
	for _, v := range f["roles"] {
		role, ok := authz.RoleByName(v)
		if !ok {
			role, ok = authz.RoleByID(v)
		}
		if !ok || !role.Assignable {
			roleOK = false
			continue
		}
		in.RoleIDs = append(in.RoleIDs, role.ID)
		names = append(names, role.Name)
	}
	again := func(status int, msg string) {
		writePage(w, status, "onboard", onboardView{T: m, State: req.ID, CSRF: f.Get("csrf_token"), Subject: req.Subject,
			Error: msg, OrgName: in.OrganizationName, OrgDescription: in.OrganizationDescription, GroupName: in.GroupName,
			GroupDescription: in.GroupDescription, Roles: roleChoices(m, names)}, origin(req.RedirectURI))
	}
	switch {
	case !tenancy.ValidName(in.OrganizationName):
		again(http.StatusBadRequest, m.ErrOrgName)
		return
	case !tenancy.ValidName(in.GroupName):
		again(http.StatusBadRequest, m.ErrGroupName)
		return
	case len(in.OrganizationDescription) > tenancy.MaxDescriptionLength || len(in.GroupDescription) > tenancy.MaxDescriptionLength,
		tenancy.TextProblem(in.OrganizationDescription) != "" || tenancy.TextProblem(in.GroupDescription) != "":
		again(http.StatusBadRequest, m.ErrDescription)
		return
	case !roleOK:
		again(http.StatusBadRequest, m.ErrRoles)
		return
	}
	org, err := p.cfg.Tenancy.Onboard(ctx, in)
	if e, ok := apierror.As(err); ok {
		msg := m.ErrOrgName
		if e.Status == http.StatusConflict {
			msg = m.ErrOrgTaken
		}
		again(e.Status, msg)
		return
	}
	switch {
	case errors.Is(err, tenancy.ErrOnboarded):
		// Onboarded meanwhile (another tab), or added by an administrator:
		// nothing to create, the login goes on.
	case err != nil:
		p.loginError(w, m, err)
		return
	default:
		p.log.Info("organization created by onboarding", "organization_id", org.ID)
	}
	next, err := p.advance(ctx, req, stepOnboard)
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
