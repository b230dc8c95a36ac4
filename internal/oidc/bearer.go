package oidc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// errInvalidToken is userinfo's refusal of an access token that is not
// valid, has expired, was revoked or is not a user's (RFC 6750 §3.1). It
// says no more than that: which of these is not the bearer's business.
func errInvalidToken() *oidc.Error {
	return &oidc.Error{ErrorType: "invalid_token", Description: "the access token is invalid, expired or revoked"}
}

// bearerErrors makes userinfo's 401 answers RFC 6750 §3 ones: a
// WWW-Authenticate: Bearer challenge and an invalid_token JSON body.
// zitadel writes neither: its answer to a request without a token is an
// invalid_request with no challenge. A request without a token gets a
// challenge without an error code (§3.1: it carried no authentication).
func (p *Provider) bearerErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := &bearerWriter{ResponseWriter: w}
		next.ServeHTTP(bw, r)
		if !bw.unauthorized {
			return
		}
		var got struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(bw.buf.Bytes(), &got)
		realm := "realm=" + quote(p.cfg.Issuer)
		desc := got.Description
		if got.Error == "invalid_token" {
			w.Header().Set("WWW-Authenticate", "Bearer "+realm+`, error="invalid_token", error_description=`+quote(desc))
		} else {
			// zitadel's "access token missing".
			w.Header().Set("WWW-Authenticate", "Bearer "+realm)
			desc = "no access token in the request"
		}
		body, _ := json.Marshal(&oidc.Error{ErrorType: "invalid_token", Description: desc})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write(body)
	})
}

// quote is an RFC 7235 quoted-string of s, whose characters are ours and
// printable: backslashes and double quotes are escaped.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// bearerWriter holds back a 401 answer for bearerErrors to rewrite; any
// other answer passes through.
type bearerWriter struct {
	http.ResponseWriter
	unauthorized bool
	wrote        bool
	buf          bytes.Buffer
}

func (w *bearerWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code == http.StatusUnauthorized {
		w.unauthorized = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *bearerWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.unauthorized {
		return w.buf.Write(b)
	}
	return w.ResponseWriter.Write(b)
}
