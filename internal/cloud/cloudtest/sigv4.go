package cloudtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigv4Problem is why a signed request was refused.
type sigv4Problem int

const (
	sigOK sigv4Problem = iota
	sigMissing
	sigUnknownKey
	sigExpiredToken
	sigMismatch
	sigSkew
)

// maxSkew is how far a request's X-Amz-Date may be from the service's clock.
const maxSkew = 15 * time.Minute

// parsedAuth is an Authorization header of AWS Signature Version 4.
type parsedAuth struct {
	AccessKeyID   string
	Date          string
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

func parseAuthorization(h string) (*parsedAuth, bool) {
	const scheme = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, scheme) {
		return nil, false
	}
	a := &parsedAuth{}
	for _, part := range strings.Split(strings.TrimPrefix(h, scheme), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, false
		}
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return nil, false
			}
			a.AccessKeyID, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			a.Signature = v
		}
	}
	return a, a.AccessKeyID != "" && a.Signature != "" && len(a.SignedHeaders) > 0
}

// verifySigV4 checks r's signature the way AWS does: it recomputes it, with
// aws-sdk-go-v2's own v4 signer, over exactly the headers the client signed,
// from the secret (and session token) the stand-in issued for the access key,
// and compares. lookup returns the secret and session token of a key, or
// ok=false for an unknown key, expired=true for an expired session.
func verifySigV4(r *http.Request, body []byte, service string, now time.Time,
	lookup func(accessKeyID string) (secret, sessionToken string, ok, expired bool)) (accessKeyID string, problem sigv4Problem) {
	auth, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return "", sigMissing
	}
	secret, token, known, expired := lookup(auth.AccessKeyID)
	switch {
	case !known:
		return auth.AccessKeyID, sigUnknownKey
	case expired:
		return auth.AccessKeyID, sigExpiredToken
	case token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Amz-Security-Token")), []byte(token)) != 1:
		return auth.AccessKeyID, sigUnknownKey
	case auth.Service != service:
		return auth.AccessKeyID, sigMismatch
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || signedAt.Format("20060102") != auth.Date {
		return auth.AccessKeyID, sigMismatch
	}
	if d := now.Sub(signedAt); d > maxSkew || d < -maxSkew {
		return auth.AccessKeyID, sigSkew
	}

	// Rebuild the request as the client signed it: same method, path,
	// query, host and signed headers (the transport adds others after
	// signing, such as Accept-Encoding, which must not count).
	u := *r.URL
	u.Scheme, u.Host = "https", r.Host
	re, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return auth.AccessKeyID, sigMismatch
	}
	re.Host = r.Host
	re.ContentLength = 0
	for _, h := range auth.SignedHeaders {
		switch h {
		case "host", "x-amz-date", "x-amz-security-token":
			// The signer sets these itself.
		case "content-length":
			re.ContentLength = int64(len(body))
		default:
			re.Header[textproto.CanonicalMIMEHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: auth.AccessKeyID, SecretAccessKey: secret, SessionToken: token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, re, hex.EncodeToString(sum[:]), auth.Service, auth.Region, signedAt); err != nil {
		return auth.AccessKeyID, sigMismatch
	}
	want, ok := parseAuthorization(re.Header.Get("Authorization"))
	if !ok || strings.Join(want.SignedHeaders, ";") != strings.Join(auth.SignedHeaders, ";") ||
		subtle.ConstantTimeCompare([]byte(want.Signature), []byte(auth.Signature)) != 1 {
		return auth.AccessKeyID, sigMismatch
	}
	return auth.AccessKeyID, sigOK
}
