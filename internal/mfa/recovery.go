package mfa

import (
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse/gatehouse/internal/secret"
)

// RecoveryCodeCount is the size of a set of recovery codes.
const RecoveryCodeCount = 10

// recoveryAlphabet is Crockford's base32 in lower case (no i, l, o, u):
// 16 symbols carry 80 bits, enough that the SHA-256 stored of each cannot
// be reversed by search, so a fast hash keeps the lookup indexed.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newRecoveryCodes makes a set of codes, "xxxx-xxxx-xxxx-xxxx" each.
func newRecoveryCodes(r io.Reader) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	buf := make([]byte, 16)
	for i := range codes {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("recovery codes: %w", err)
		}
		var b strings.Builder
		for j, c := range buf {
			if j > 0 && j%4 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[c&31]) // 256 is a multiple of 32: no bias
		}
		codes[i] = b.String()
	}
	return codes, nil
}

// normalizeRecoveryCode is a typed code in the form it was hashed in:
// lower case, without dashes and spaces, Crockford's look-alikes mapped
// (o → 0, i and l → 1). "" when it cannot be a recovery code.
func normalizeRecoveryCode(code string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(code) {
		switch {
		case c == '-' || c == ' ':
			continue
		case c == 'o':
			c = '0'
		case c == 'i' || c == 'l':
			c = '1'
		}
		if !strings.ContainsRune(recoveryAlphabet, c) {
			return ""
		}
		b.WriteRune(c)
	}
	if b.Len() != 16 {
		return ""
	}
	return b.String()
}

// recoveryHash is what the database keeps of a (normalized) code.
func recoveryHash(normalized string) string {
	return secret.Hash("gatehouse-recovery-code:" + normalized)
}
