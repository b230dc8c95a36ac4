// Package keys owns Gatehouse's token signing keys: it generates them,
// keeps them in the database sealed with the key-encryption key, rotates them,
// hands the active one to whatever signs tokens, and publishes the public
// halves as the JWKS at /oauth2/v2/jwks.
//
// # Three states
//
// A key is born "next", becomes "active" at a rotation, and "retired" at the
// rotation after that; a retired key is deleted once its ExpiresAt has passed.
// A key set always has exactly one active and one next key (a unique index makes a
// second one impossible), and the JWKS holds the next key, the active key and
// every unexpired retired key:
//
//	          Rotate                 Rotate                 expires_at passed
//	next ───────────────▶ active ───────────────▶ retired ───────────────────▶ deleted
//	(published,            (signs;                (published,                  (at the next
//	 not signing)           published)             not signing)                 rotation)
//
// Why publish the next key before it signs: verifiers (our own replicas, and
// every relying party) cache the JWKS. A key that starts signing the moment it
// is created would produce tokens that a verifier with a cached JWKS rejects
// until its cache expires. A next key sits in the JWKS for a whole rotation
// period before it signs, so every cache has long learned it. Why keep
// retired keys: a token signed just before a rotation is valid for up to the
// longest token lifetime, so the key that signed it must stay published that
// long.
//
// # Timing
//
// Retired keys stay published until
//
//	retired_at + TokenLifetime + CacheTTL
//
// TokenLifetime is the longest lifetime of anything signed (the
// --max-token-lifetime flag). CacheTTL is added because a replica that has not
// yet noticed a rotation keeps signing with the old key for up to CacheTTL
// after it: its tokens must verify for their whole lifetime too. The design
// brief says retired_at + TokenLifetime; this is that plus the one margin it
// needs to be exact.
//
// # One active key across replicas
//
// Every replica reads the active key from the database, and SigningKey caches
// it in memory for CacheTTL (30 s by default), so the signing hot path reads no
// database at all. The trade-off: after a rotation (by another replica or by
// `gatehouse admin rotate-keys`), a replica signs with the previous key for up
// to CacheTTL more. That is harmless, because the previous key stays published
// (see Timing) and the new one was published a rotation period earlier; only
// "which kid is in the header" converges, within CacheTTL. A shorter TTL
// converges faster and reads the database more often (one indexed query per
// TTL per replica, which costs nothing at 30 s); a longer one lengthens the
// window after an emergency rotation. PublicJWKS is cached the same way.
//
// Writers of the key table (Ensure, Rotate, RotateIfDue, DropRetired) run as
// one transaction that first takes a lock (a PostgreSQL advisory lock; SQLite's
// BEGIN IMMEDIATE), reads the current state and then changes it with
// conditional updates (next → active only if it is still next, active →
// retired only if it is still active). So replicas starting together create
// one pair of keys, and replicas whose schedules fire together rotate once:
// RotateIfDue re-checks the age of the active key after taking the lock. The
// unique index on state is the backstop that refuses a second active or next
// key whatever happens.
//
// Key generation (slow for RSA 3072) happens before the transaction, so the
// lock is held for a few statements only; a replica that loses the race
// throws its fresh key away.
//
// # One key set per algorithm
//
// The platform publishes keys of three algorithms side by side: RS256
// (mandatory for an OpenID Connect provider, and all many relying parties
// accept), ES256 and ES512. Each is a key set of its own, with the states
// above and its own rotation (on the same schedule, each on its own age), and
// the JWKS holds them all, each key with its alg and kid. ForAlgorithm
// returns one set's Manager; the platform Manager dispatches (SigningKey is
// the default algorithm's active key, Ensure, Rotate, RotateIfDue and
// DropRetired act on every set). A key is used only with its own algorithm:
// verifiers look a token's kid up and require its alg to be the key's.
//
// Algorithm (--signing-algorithm) is the default: access tokens, logout
// tokens and the ID tokens of clients that chose no algorithm. Changing it
// touches no key: the new default's active key has been published since its
// set was made, so it signs at once. An organization's workload issuer has
// one set whatever its algorithm: a new OrganizationAlgorithm applies to the
// next key generated, so the switch reaches signing two rotations later,
// always through a key that was published first.
//
// # At rest
//
// The private key is stored as PKCS #8, sealed with the key-encryption key
// (internal/secret, AES-256-GCM) with "signingkey:"+kid as additional data, so
// the database alone gives nothing away and a sealed key copied onto another
// row does not open. The public JWK is stored beside it in the clear. Opening a
// key checks that the private key matches the published public key. A wrong
// key-encryption key is reported as such (secret.ErrWrongKey).
//
// # Randomness
//
// Key IDs (kid) are 16 bytes from Manager.Rand, base64url. Key material always
// comes from crypto/rand: since Go 1.26 the standard library generates ECDSA
// and RSA keys from the system's secure source whatever reader it is given, so
// an injected reader could not make keys deterministic anyway, and a weak test
// reader can never weaken a real key.
package keys
