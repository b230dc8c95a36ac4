package tenancy

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxSubjectLength bounds a user's subject: the longest usable email
// address (RFC 5321's 256-octet path less its angle brackets).
const MaxSubjectLength = 254

// TextProblem says what keeps s from being stored as text, or "" when
// nothing does: PostgreSQL refuses invalid UTF-8 and NUL in text columns
// (SQLSTATE 22021) while SQLite stores them, so both are refused up front,
// the same on both engines.
func TextProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL character"
	}
	return ""
}

// NormalizeSubject checks that s can be a user's subject and returns the
// form to store: a bare email address (no display name, no angle brackets,
// no quoted local part, no control or surrounding space characters), at
// most MaxSubjectLength bytes, lower-cased as logins are (local passwords
// and upstream providers both lower-case the email they sign in), so that
// the record matches the person who signs in. The error says why not.
func NormalizeSubject(s string) (string, error) {
	if p := TextProblem(s); p != "" {
		return "", fmt.Errorf("%s", p)
	}
	if len(s) > MaxSubjectLength {
		return "", fmt.Errorf("%d bytes, at most %d", len(s), MaxSubjectLength)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("contains a control character")
	}
	s = strings.ToLower(s)
	if a, err := mail.ParseAddress(s); err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%q is not a bare email address like jo@example.com", s)
	}
	return s, nil
}
