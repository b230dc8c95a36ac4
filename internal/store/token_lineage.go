package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// TokenLineage is what an access token of the OpenID Connect provider
// descends from: everything whose end must end the token too. The provider
// signs it into the token, so it cannot be forged; the store says whether
// it all still stands.
type TokenLineage struct {
	// JTIs are the token's own jti and those of the tokens it was exchanged
	// from (RFC 8693), root first: revoking any of them revokes it.
	JTIs []string
	// Family is the session (refresh token family) the token was issued in,
	// directly or through exchanges; "" for none. The session row exists
	// exactly while the family lives: logout, revocation of the refresh
	// token, refresh token reuse, a new login at the same client and the
	// person's deactivation all delete it.
	Family string
	// ServiceAccount is the service account whose token the token was
	// exchanged from; "" for none.
	ServiceAccount string
}

// LineageState is what TokenLineageState found.
type LineageState struct {
	// Revoked: one of the JTIs is revoked.
	Revoked bool
	// FamilyLive: the session Family still exists (false when Family is "").
	FamilyLive bool
	// ServiceAccountTokenHash is the current token hash of ServiceAccount,
	// "" if the account is gone (or ServiceAccount is "").
	ServiceAccountTokenHash string
}

// maxLineageJTIs bounds the jtis one check looks up (the provider bounds
// exchange chains far below it).
const maxLineageJTIs = 16

// TokenLineageState reads, in one round trip, whether any of l.JTIs is
// revoked, whether l.Family still exists and the current token hash of
// l.ServiceAccount. It is the per-use check of every access token, so it
// touches primary keys only, and only the tables l needs.
func (q *Q) TokenLineageState(ctx context.Context, l TokenLineage) (*LineageState, error) {
	if len(l.JTIs) == 0 || len(l.JTIs) > maxLineageJTIs {
		return nil, fmt.Errorf("token lineage: %d jtis, want 1 to %d", len(l.JTIs), maxLineageJTIs)
	}
	args := make([]any, 0, len(l.JTIs)+2)
	marks := make([]string, 0, len(l.JTIs))
	for _, j := range l.JTIs {
		args = append(args, j)
		marks = append(marks, "$"+strconv.Itoa(len(args)))
	}
	var (
		st                LineageState
		revoked, familyOK int
	)
	cols := []string{"(SELECT COUNT(*) FROM oidc_revoked_tokens WHERE jti IN (" + strings.Join(marks, ", ") + "))"}
	dest := []any{&revoked}
	if l.Family != "" {
		args = append(args, l.Family)
		cols = append(cols, "(SELECT COUNT(*) FROM oidc_sessions WHERE id = $"+strconv.Itoa(len(args))+")")
		dest = append(dest, &familyOK)
	}
	if l.ServiceAccount != "" {
		args = append(args, l.ServiceAccount)
		cols = append(cols, "COALESCE((SELECT token_hash FROM service_accounts WHERE id = $"+strconv.Itoa(len(args))+"), '')")
		dest = append(dest, &st.ServiceAccountTokenHash)
	}
	if err := q.q.QueryRowContext(ctx, "SELECT "+strings.Join(cols, ", "), args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("token lineage: %w", classify(err))
	}
	st.Revoked = revoked > 0
	st.FamilyLive = familyOK > 0
	return &st, nil
}
