// Package keys owns Gatehouse's token signing keys: it generates them,
// keeps them in the database sealed with the key-encryption key, rotates them,
// hands the active one to whatever signs tokens, and publishes the public
// halves as the JWKS at /oauth2/v2/jwks.
//
// # Three states
//
// A key is born "next", becomes "active" at a rotation, and "retired" at the
// rotation after that; a retired key is deleted once its ExpiresAt has passed.
// There is always exactly one active and one next key (a unique index makes a
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
// # Switching algorithms
//
// Changing Algorithm (--signing-algorithm) does not touch existing keys: the
// next Rotate generates its new next key with the new algorithm, and that key
// signs from the rotation after. So tokens switch algorithm two rotations after
// the change (at most two rotation periods with the schedule alone), and no
// key ever signs before it has been published. To switch sooner, run
// `gatehouse admin rotate-keys` once after deploying the change, wait longer
// than relying parties cache the JWKS, and run it again.
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
