package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// oidcInput refuses, before the provider (and so before any database query)
// sees it, a request whose parameters are not text: a query or form
// parameter (name or value), or an HTTP Basic client ID or secret, that is
// not valid UTF-8 or holds NUL. PostgreSQL refuses both in text columns
// (SQLSTATE 22021), so a client_id or state like "a%00b" was a 500 there
// and a lookup on SQLite; every OIDC endpoint reads its parameters from
// these places, so one check here covers them all, the same on both
// engines, with the same rule as /api/v1 (tenancy.TextProblem).
//
// It parses the form once (a body capped at MaxFormBytes): the handlers
// downstream, the limiter's and zitadel's, reuse r.Form and r.PostForm.
// Browser endpoints answer with an HTML page, the others in the OAuth2
// error shape; both are 400 invalid_request (413 for a body too large).
func oidcInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := browserEndpoint(r.URL.Path)
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
		}
		if err := r.ParseForm(); err != nil {
			status, msg := http.StatusBadRequest, "the request's parameters could not be read: "+firstLine(err)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("the form could not be read (at most %d bytes)", MaxFormBytes)
			}
			refuseInput(w, r, page, status, msg)
			return
		}
		if msg := inputProblem(r); msg != "" {
			refuseInput(w, r, page, http.StatusBadRequest, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// inputProblem says which parameter of a parsed request is not text, or "".
func inputProblem(r *http.Request) string {
	if what := valuesProblem(r.Form); what != "" {
		return what
	}
	if user, secret, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: both are form-urlencoded inside Basic; check
		// them as sent and as the provider decodes them.
		for _, c := range []struct{ name, value string }{{"client ID", user}, {"client secret", secret}} {
			vs := []string{c.value}
			if u, err := url.QueryUnescape(c.value); err == nil {
				vs = append(vs, u)
			}
			for _, v := range vs {
				if p := tenancy.TextProblem(v); p != "" {
					return fmt.Sprintf("the Basic authorization's %s %s", c.name, p)
				}
			}
		}
	}
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		if p := tenancy.TextProblem(token); p != "" {
			return "the bearer token " + p
		}
	}
	return ""
}

// browserEndpoint: the provider's pages and the redirects a browser
// follows, whose errors are HTML pages; the token, introspection,
// revocation, userinfo, discovery and JWKS endpoints answer in JSON.
func browserEndpoint(path string) bool {
	return !tokenResponsePaths[path] && path != oidc.DiscoveryPath && path != oidc.JWKSPath
}

// refuseInput answers 400 (or 413) in the endpoint's error style.
func refuseInput(w http.ResponseWriter, r *http.Request, page bool, status int, msg string) {
	if page {
		webui.BadRequest(w, r, status, msg)
		return
	}
	apierror.Write(w, &apierror.Error{Status: status, Code: apierror.InvalidRequest, Description: msg})
}
