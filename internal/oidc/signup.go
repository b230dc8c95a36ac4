package oidc

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// signup is GET /api/v1/signup?token=...: the seed's "complete the user
// signup process". An administrator creates a user in state pending and
// gives them a signup link (gatehouse admin users invite); following it
// activates the user (once) and redirects (302) to the UI (Config.UIURL,
// with organizationID added to its query), or to Gatehouse's own page
// saying so when no UI is configured. A token that is unknown, expired,
// used, or whose user is no longer pending gets 400 and a page that
// explains it, and changes nothing.
func (p *Provider) signup(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	token := r.URL.Query().Get("token")
	if p.cfg.Tenancy == nil || token == "" || len(token) > 256 {
		writeMessage(w, http.StatusBadRequest, m, m.SignupErrorTitle, m.SignupErrorText)
		return
	}
	u, err := p.cfg.Tenancy.CompleteSignup(r.Context(), token)
	if errors.Is(err, tenancy.ErrSignupInvalid) {
		writeMessage(w, http.StatusBadRequest, m, m.SignupErrorTitle, m.SignupErrorText)
		return
	}
	if err != nil {
		p.loginError(w, m, err)
		return
	}
	p.log.Info("signup completed", "organization_id", u.OrganizationID, "user_id", u.ID)
	to := p.cfg.Issuer + SignupDonePath
	if p.cfg.UIURL != "" {
		if ui, err := url.Parse(p.cfg.UIURL); err == nil {
			q := ui.Query()
			q.Set("organizationID", u.OrganizationID)
			ui.RawQuery = q.Encode()
			to = ui.String()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, to, http.StatusFound)
}

// signupDone is where a completed signup lands without a UI.
func (p *Provider) signupDone(w http.ResponseWriter, r *http.Request) {
	m := requestLocale(r, nil)
	writeMessage(w, http.StatusOK, m, m.SignupDoneTitle, m.SignupDoneText)
}
