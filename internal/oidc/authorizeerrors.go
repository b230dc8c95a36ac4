package oidc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// authorizeErrors turns the errors the authorization endpoint answers
// itself, instead of redirecting them to the client, into pages: an unknown
// client, a redirect_uri the client did not register, a missing one, a
// request that cannot be read. zitadel writes those as JSON (its
// webServer.authorizeHandler calls op.WriteError), which is what a browser
// following a bad link would show; the endpoint is only ever reached by a
// browser. Redirects (the errors that may go back to a registered
// redirect_uri, and every success) pass through untouched, so nothing here
// can send a browser anywhere: the page is rendered in place, with the
// status zitadel chose and its error code and description as the detail.
func (p *Provider) authorizeErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &errorCatcher{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if !cw.caught {
			return
		}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(cw.body.Bytes(), &e)
		m := texts(paramLocale(r))
		title, text := m.AuthorizeErrorTitle, m.AuthorizeErrorText
		switch {
		case e.Error == "invalid_client":
			title, text = m.UnknownClientTitle, m.UnknownClientText
		case strings.Contains(e.Description, "redirect_uri"):
			title, text = m.BadRedirectTitle, m.BadRedirectText
		case cw.status >= 500:
			title, text = m.ErrorTitle, m.ErrorText
		}
		detail := e.Error
		if e.Description != "" {
			detail += ": " + e.Description
		}
		writePage(w, cw.status, "message", messageView{T: m, Status: statusLine(cw.status), Title: title, Text: text, Detail: detail})
	})
}

// paramLocale is the pages' language for a request that has not been
// parsed as an authorization request: its ui_locales parameter, else the
// browser's Accept-Language.
func paramLocale(r *http.Request) string {
	var tags []language.Tag
	for _, f := range strings.Fields(r.FormValue("ui_locales")) {
		if t, err := language.Parse(f); err == nil {
			tags = append(tags, t)
		}
	}
	return pickLocale(tags, r.Header.Get("Accept-Language"))
}

// errorCatcher passes everything through except an error answer (status
// 400 and up), whose body it keeps for authorizeErrors to replace.
type errorCatcher struct {
	http.ResponseWriter
	status int
	caught bool
	body   bytes.Buffer
}

func (c *errorCatcher) WriteHeader(status int) {
	if status >= 400 && c.status == 0 {
		c.status, c.caught = status, true
		return
	}
	if c.status == 0 {
		c.status = status
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *errorCatcher) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.caught {
		if c.body.Len() < 64<<10 {
			c.body.Write(b)
		}
		return len(b), nil
	}
	return c.ResponseWriter.Write(b)
}
