package keys

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
)

// JWKSMaxAge is how long relying parties may cache the JWKS response. Short,
// so that an emergency rotation (or dropping compromised keys) reaches them
// within minutes; long enough that a busy verifier fleet does not fetch it on
// every token. A next key is published a whole rotation period before it
// signs, so ordinary rotations never depend on it.
const JWKSMaxAge = 5 * time.Minute

// JWKSHandler serves m.PublicJWKS as application/json (the seed's
// /oauth2/v2/jwks), cacheable for JWKSMaxAge. A failure is a 500 in the seed's
// error shape, with the cause logged and not sent.
func JWKSHandler(m *Manager) http.Handler {
	cacheControl := "public, max-age=" + strconv.Itoa(int(JWKSMaxAge/time.Second))
	// The encoded set, kept while the set's key IDs stay the same (keys are
	// immutable): encoding the public keys was most of a JWKS request.
	type encoded struct {
		kids string
		body []byte
	}
	var last atomic.Pointer[encoded]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := m.PublicJWKS(r.Context())
		if err != nil {
			m.log().Error("serve JWKS", "error", err)
			apierror.Write(w, apierror.Internal())
			return
		}
		var kids strings.Builder
		for _, k := range set.Keys {
			kids.WriteString(k.KeyID)
			kids.WriteByte(' ')
		}
		var body []byte
		if e := last.Load(); e != nil && e.kids == kids.String() {
			body = e.body
		} else if body, err = json.Marshal(set); err != nil {
			m.log().Error("encode JWKS", "error", err)
			apierror.Write(w, apierror.Internal())
			return
		} else {
			last.Store(&encoded{kids: kids.String(), body: body})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", cacheControl)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}
