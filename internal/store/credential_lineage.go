package store

import (
	"context"
	"fmt"
	"strings"
)

// Kinds of LineageLink: what a derived credential (a role session, an API
// key minted by a machine credential) depends on.
const (
	// LinkServiceAccount holds while the service account exists with the
	// same token (Hash is a prefix of its token hash: rotating the token
	// changes it).
	LinkServiceAccount = "serviceAccount"
	// LinkAPIKey holds while the API key exists.
	LinkAPIKey = "apiKey"
	// LinkUser holds while the user (ID is the subject) has an active user
	// record in Org; with Org "" (a non-member, e.g. a platform
	// administrator) while they have an active record anywhere or a
	// platform role.
	LinkUser = "user"
	// LinkToken holds while the access token whose jti is ID is not revoked.
	LinkToken = "token"
	// LinkSession holds while the OpenID Connect session (refresh token
	// family) whose ID is ID exists: a user's access token dies with its
	// family (logout, refresh reuse, revocation, deactivation), and so must
	// what was derived from it.
	LinkSession = "session"
	// LinkRole holds while the custom role exists at trust version Version.
	LinkRole = "role"
)

// TokenHashPrefixLen is how much of a service account's token hash a
// LinkServiceAccount keeps: enough to tell rotations apart, and links travel
// inside signed (not encrypted) tokens, where the whole hash has no business.
const TokenHashPrefixLen = 16

// LineageLink is one credential a derived credential depends on; the
// derived credential works only while every link of its lineage holds.
// Links say nothing of expiry: a derived credential never outlives its
// source (its expiry is capped when it is made, and a source's expiry
// changes only with its token), so its own expiry covers its source's.
// It travels in role session tokens (claim gh_lin) and in api_keys.lineage,
// hence the short JSON names.
type LineageLink struct {
	Kind    string `json:"k"`
	Org     string `json:"o,omitempty"`
	ID      string `json:"id"`
	Hash    string `json:"h,omitempty"`
	Version int64  `json:"v,omitempty"`
}

func (l LineageLink) String() string {
	switch l.Kind {
	case LinkServiceAccount:
		return "service account " + l.ID
	case LinkAPIKey:
		return "API key " + l.ID
	case LinkUser:
		return "user " + l.ID
	case LinkToken:
		return "access token " + l.ID
	case LinkRole:
		return "role " + l.ID
	}
	return l.Kind + " " + l.ID
}

// BrokenLink reports the first link of lineage that no longer holds (ok
// true when all hold), in one query whatever the lineage's length: each
// link is an EXISTS on a unique index, read in the same snapshot, so the
// check costs one round trip on every use and holds across replicas.
func (q *Q) BrokenLink(ctx context.Context, lineage []LineageLink) (broken LineageLink, ok bool, err error) {
	if len(lineage) == 0 {
		return LineageLink{}, true, nil
	}
	var cols []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, l := range lineage {
		var c string
		switch l.Kind {
		case LinkServiceAccount:
			c = "EXISTS (SELECT 1 FROM service_accounts WHERE organization_id = " + arg(l.Org) + " AND id = " + arg(l.ID) +
				" AND substr(token_hash, 1, " + fmt.Sprint(TokenHashPrefixLen) + ") = " + arg(l.Hash) + ")"
		case LinkAPIKey:
			c = "EXISTS (SELECT 1 FROM api_keys WHERE organization_id = " + arg(l.Org) + " AND id = " + arg(l.ID) + ")"
		case LinkUser:
			if l.Org != "" {
				c = "EXISTS (SELECT 1 FROM users WHERE organization_id = " + arg(l.Org) + " AND subject = " + arg(l.ID) +
					" AND state = 'active')"
			} else {
				s := arg(l.ID)
				c = "(EXISTS (SELECT 1 FROM users WHERE subject = " + s + " AND state = 'active') OR EXISTS (SELECT 1 FROM platform_role_bindings WHERE principal_type = 'user' AND principal_id = " + s + "))"
			}
		case LinkToken:
			c = "NOT EXISTS (SELECT 1 FROM oidc_revoked_tokens WHERE jti = " + arg(l.ID) + ")"
		case LinkSession:
			c = "EXISTS (SELECT 1 FROM oidc_sessions WHERE id = " + arg(l.ID) + ")"
		case LinkRole:
			c = "EXISTS (SELECT 1 FROM iam_roles WHERE organization_id = " + arg(l.Org) + " AND id = " + arg(l.ID) +
				" AND trust_version = " + arg(l.Version) + ")"
		default:
			// A link of a kind this build does not know cannot be checked:
			// the credential fails closed.
			return l, false, nil
		}
		cols = append(cols, "CASE WHEN "+c+" THEN 1 ELSE 0 END")
	}
	holds := make([]int, len(cols))
	targets := make([]any, len(cols))
	for i := range holds {
		targets[i] = &holds[i]
	}
	if err := q.q.QueryRowContext(ctx, "SELECT "+strings.Join(cols, ", "), args...).Scan(targets...); err != nil {
		return LineageLink{}, false, fmt.Errorf("check credential lineage: %w", classify(err))
	}
	for i, h := range holds {
		if h != 1 {
			return lineage[i], false, nil
		}
	}
	return LineageLink{}, true, nil
}

// DeleteAPIKeysFromRoleSessions deletes the API keys of orgID bound to
// roleID that were minted (directly or through other keys) by a session of
// that role, and returns their IDs: they die with the role instead of
// keeping it alive.
func (q *Q) DeleteAPIKeysFromRoleSessions(ctx context.Context, orgID, roleID string) ([]string, error) {
	ids, err := q.names(ctx, "SELECT id FROM api_keys WHERE organization_id = $1 AND role_id = $2 AND from_role_session ORDER BY id", orgID, roleID)
	if err != nil {
		return nil, fmt.Errorf("API keys minted by sessions of role %s: %w", roleID, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := q.q.ExecContext(ctx, "DELETE FROM api_keys WHERE organization_id = $1 AND role_id = $2 AND from_role_session", orgID, roleID); err != nil {
		return nil, fmt.Errorf("delete API keys minted by sessions of role %s: %w", roleID, classify(err))
	}
	return ids, nil
}
