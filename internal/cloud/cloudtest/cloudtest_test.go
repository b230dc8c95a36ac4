package cloudtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestVerifySigV4: a request signed with the issued secret passes; the same
// request with a wrong secret, a tampered signed header, a tampered body, an
// old date or an unknown key does not. Headers added after signing (as Go's
// transport adds Accept-Encoding) do not matter.
func TestVerifySigV4(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	sign := func(secret string, at time.Time, mutate func(r *http.Request)) *http.Request {
		r := httptest.NewRequest("POST", "https://sts.example.com/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		r.Header.Set("Amz-Sdk-Invocation-Id", "1234")
		r.ContentLength = int64(len(body))
		creds := aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: secret, SessionToken: "token-1"}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hexSHA256(body), "sts", "us-east-1", at); err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(r)
		}
		return r
	}
	lookup := func(id string) (string, string, bool, bool) {
		if id == "ASIAEXAMPLE" {
			return "the-secret", "token-1", true, false
		}
		return "", "", false, false
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		body []byte
		want sigv4Problem
	}{
		{"valid", sign("the-secret", now, nil), body, sigOK},
		{"header added after signing", sign("the-secret", now, func(r *http.Request) { r.Header.Set("Accept-Encoding", "gzip") }), body, sigOK},
		{"wrong secret", sign("other-secret", now, nil), body, sigMismatch},
		{"tampered signed header", sign("the-secret", now, func(r *http.Request) { r.Header.Set("Amz-Sdk-Invocation-Id", "9999") }), body, sigMismatch},
		{"tampered body", sign("the-secret", now, nil), []byte("Action=AssumeRole&Version=2011-06-15"), sigMismatch},
		{"another session token", sign("the-secret", now, func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "token-2") }), body, sigUnknownKey},
		{"signed 20 minutes ago", sign("the-secret", now.Add(-20*time.Minute), nil), body, sigSkew},
		{"no signature", sign("the-secret", now, func(r *http.Request) { r.Header.Del("Authorization") }), body, sigMissing},
		{"unknown key", sign("the-secret", now, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "ASIAEXAMPLE", "ASIAOTHER00", 1))
		}), body, sigUnknownKey},
	} {
		if _, got := verifySigV4(tc.req, tc.body, "sts", now, lookup); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, got := verifySigV4(sign("the-secret", now, nil), body, "organizations", now, lookup); got != sigMismatch {
		t.Errorf("a signature for sts presented to organizations: %v", got)
	}
}

// TestLikeMatch: IAM's StringLike, where * spans any characters including
// ':' and '/'.
func TestLikeMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"org:a:project:p:*", "org:a:project:p:sa:1", true},
		{"org:a:project:p:*", "org:a:project:q:sa:1", false},
		{"org:a:project:*:sa:*", "org:a:project:p/x:sa:1", true},
		{"org:a:project:p:sa:?", "org:a:project:p:sa:1", true},
		{"org:a:project:p:sa:?", "org:a:project:p:sa:12", false},
		{"exact", "exact", true},
	} {
		if got := likeMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("likeMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
