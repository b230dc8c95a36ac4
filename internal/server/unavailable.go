package server

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
)

// unavailableDescription is the error_description of every 503 caused by
// the database.
const unavailableDescription = "the service is temporarily unavailable (database unreachable); retry later"

// unavailablePage is the HTML answer of a page request that failed because
// the database was unreachable. Static: nothing of the request goes in.
const unavailablePage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Temporarily unavailable · Gatehouse</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}</style></head>
<body><main><h1>Temporarily unavailable</h1><p>Gatehouse cannot reach its database right now. Please try again in a few seconds.</p></main></body>
</html>
`

// watchOutage makes every error answer given while the database was
// unreachable a 503: JSON in the API's error shape
// (temporarily_unavailable, Retry-After), or an HTML page where an HTML page
// was being sent. The store notes the fault on the request's context (see
// store.Outage), however the error travelled: zitadel/oidc, for instance,
// turns a failed code lookup into invalid_grant, which would tell a client
// its code is bad when the database is merely down. Successful answers pass
// unchanged.
func watchOutage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, outage := store.WatchOutage(r.Context())
		browser := strings.Contains(r.Header.Get("Accept"), "text/html")
		next.ServeHTTP(&outageWriter{ResponseWriter: w, outage: outage, browser: browser}, r.WithContext(ctx))
	})
}

// outageWriter replaces an error answer by a 503 when the request met an
// unreachable database.
type outageWriter struct {
	http.ResponseWriter
	outage *store.Outage
	// browser: the request accepts HTML (a browser navigating).
	browser  bool
	replaced bool
}

// headersOfReplacedAnswer are the headers of the original answer that do
// not belong to the 503 that replaces it.
var headersOfReplacedAnswer = []string{"Content-Type", "Content-Length", "Content-Encoding", "Location",
	"Set-Cookie", "WWW-Authenticate", "Allow", "Etag", "Last-Modified", "Retry-After"}

func (w *outageWriter) WriteHeader(code int) {
	if w.replaced {
		return
	}
	if code < http.StatusBadRequest || code == http.StatusServiceUnavailable || !w.outage.Seen() {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	h := w.Header()
	// Browsers get a page: the request accepts HTML, or the answer being
	// replaced was text (zitadel answers some browser-facing errors in
	// text/plain) or HTML.
	html := w.browser || strings.HasPrefix(h.Get("Content-Type"), "text/")
	for _, k := range headersOfReplacedAnswer {
		h.Del(k)
	}
	if html {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Retry-After", apierror.RetryAfterSeconds(apierror.UnavailableRetry))
		w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.ResponseWriter.Write([]byte(unavailablePage))
		return
	}
	apierror.Write(w.ResponseWriter, apierror.Unavailable(unavailableDescription))
}

func (w *outageWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil // the original body of a replaced answer
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *outageWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
