package authn

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/store"
)

// ErrSourceEnded is why a derived credential (a role session, an API key
// minted by a machine credential) is refused: a credential it derives from
// was deleted, rotated, suspended or revoked, or the role's trust changed
// (expiry needs no link: a derived credential never outlives its source).
// It wraps ErrInvalid, so the API answers 401.
var ErrSourceEnded = fmt.Errorf("%w: the credential this one derives from has ended", ErrInvalid)

// CheckLineage checks, in one query on st, that every link of lineage still
// holds; ErrSourceEnded (naming the broken link) when one does not.
// It runs on every use of a derived credential, against the database, so a
// source ended on one replica ends its offspring on all of them at once.
func CheckLineage(ctx context.Context, st *store.Store, lineage []store.LineageLink) error {
	if len(lineage) == 0 {
		return nil
	}
	broken, ok, err := st.Read().BrokenLink(ctx, lineage)
	if err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w (%s)", ErrSourceEnded, broken)
	}
	return nil
}
