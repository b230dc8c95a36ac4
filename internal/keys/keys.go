package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The signing algorithms Gatehouse generates keys for.
const (
	ES256 = jose.ES256 // ECDSA P-256 with SHA-256, the default
	ES512 = jose.ES512 // ECDSA P-521 with SHA-512 (the seed's discovery document advertises it)
	RS256 = jose.RS256 // RSASSA-PKCS1-v1_5 with SHA-256, RSA 3072-bit keys
)

// Algorithms lists the supported signing algorithms, default first.
var Algorithms = []jose.SignatureAlgorithm{ES256, ES512, RS256}

// RSABits is the modulus size of generated RS256 keys.
const RSABits = 3072

// Defaults for the optional Manager fields.
const (
	DefaultAlgorithm     = ES256
	DefaultCacheTTL      = 30 * time.Second
	DefaultCheckInterval = time.Minute
)

// ErrNoActiveKey: there is no active signing key; Ensure creates one.
var ErrNoActiveKey = errors.New("no active signing key (keys.Manager.Ensure creates one)")

// OrganizationAlgorithms are the algorithms an organization's workload issuer
// may sign with: the ones both AWS STS and GCP workload identity federation
// accept, default first.
var OrganizationAlgorithms = []jose.SignatureAlgorithm{ES256, RS256}

// CheckOrganizationAlgorithm reports whether name is an algorithm workload
// identity tokens may be signed with.
func CheckOrganizationAlgorithm(name string) error {
	for _, a := range OrganizationAlgorithms {
		if string(a) == name {
			return nil
		}
	}
	return fmt.Errorf("unsupported workload signing algorithm %q: want ES256 or RS256 (what AWS and GCP both accept)", name)
}

// CheckAlgorithm reports whether name is a supported signing algorithm.
func CheckAlgorithm(name string) error {
	for _, a := range Algorithms {
		if string(a) == name {
			return nil
		}
	}
	return fmt.Errorf("unsupported signing algorithm %q: want ES256, ES512 or RS256", name)
}

// Manager generates, stores, rotates and serves signing keys. Set the
// exported fields before first use and do not change them afterwards, except
// Algorithm while no call is in flight (it applies to keys generated from then
// on). A Manager is safe for concurrent use; each replica has one.
//
// The Manager itself serves the platform's keys; Organization returns the
// Manager of one organization's key set (its workload issuer), which shares
// this one's configuration and has its own keys, caches and rotation state.
type Manager struct {
	Store  *store.Store
	Sealer *secret.Sealer // the key-encryption key
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Rand is the source of key IDs (crypto/rand if nil).
	Rand io.Reader
	// Algorithm of newly generated keys: ES256 (default if empty), ES512 or
	// RS256 (RSA 3072).
	Algorithm string
	// TokenLifetime is the longest lifetime of anything signed with these
	// keys: a retired key stays published this long (plus CacheTTL). Required.
	TokenLifetime time.Duration
	// CacheTTL bounds how long SigningKey and PublicJWKS serve from memory
	// (DefaultCacheTTL if zero): see the package documentation.
	CacheTTL time.Duration
	// CheckInterval is how often Run checks whether a rotation is due
	// (DefaultCheckInterval if zero).
	CheckInterval time.Duration
	// Logger receives Run's and JWKSHandler's reports (slog.Default if nil).
	Logger *slog.Logger
	// OrganizationAlgorithm is the algorithm of organization key sets:
	// ES256 (default if empty) or RS256.
	OrganizationAlgorithm string

	// scope is store.PlatformScope for the Manager a caller builds, an
	// organization ID for the ones Organization builds.
	scope string
	// orgs caches the organization Managers of a platform Manager.
	orgs sync.Map // organization ID → *Manager

	activeMu sync.Mutex // one refresh of active at a time
	active   atomic.Pointer[cachedKey]
	jwksMu   sync.Mutex
	jwks     atomic.Pointer[cachedJWKS]
}

type cachedKey struct {
	key   *SigningKey
	until time.Time
}

type publishedKey struct {
	jwk     jose.JSONWebKey
	state   store.SigningKeyState
	expires time.Time
}

type cachedJWKS struct {
	keys  []publishedKey
	until time.Time
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) rand() io.Reader {
	if m.Rand != nil {
		return m.Rand
	}
	return rand.Reader
}

func (m *Manager) cacheTTL() time.Duration {
	if m.CacheTTL > 0 {
		return m.CacheTTL
	}
	return DefaultCacheTTL
}

func (m *Manager) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

func (m *Manager) algorithm() jose.SignatureAlgorithm {
	if m.Algorithm == "" {
		return DefaultAlgorithm
	}
	return jose.SignatureAlgorithm(m.Algorithm)
}

// check validates the configuration before anything is written.
func (m *Manager) check() error {
	switch {
	case m.Store == nil:
		return errors.New("signing keys: no store")
	case m.Sealer == nil:
		return errors.New("signing keys: no key-encryption key")
	case m.TokenLifetime <= 0:
		return fmt.Errorf("signing keys: the maximum token lifetime must be positive, got %v", m.TokenLifetime)
	}
	if m.scope != store.PlatformScope {
		return CheckOrganizationAlgorithm(string(m.algorithm()))
	}
	return CheckAlgorithm(string(m.algorithm()))
}

// Scope is the key set this Manager serves: store.PlatformScope, or an
// organization ID.
func (m *Manager) Scope() string { return m.scope }

// Organization returns the Manager of organization orgID's key set, which
// signs that organization's workload identity tokens and is published at its
// issuer's JWKS. It has the same store, key-encryption key, clock and
// lifetimes as m, the algorithm OrganizationAlgorithm, and the same
// next/active/retired rotation; its keys are created on first use (SigningKey
// or PublicJWKS) and rotated by m.Run. The same *Manager is returned for the
// same orgID, so its caches are shared. Call it on the platform Manager only.
func (m *Manager) Organization(orgID string) *Manager {
	if m.scope != store.PlatformScope {
		panic("keys: Organization called on an organization Manager")
	}
	if orgID == store.PlatformScope {
		panic("keys: Organization needs an organization ID")
	}
	if v, ok := m.orgs.Load(orgID); ok {
		return v.(*Manager)
	}
	alg := m.OrganizationAlgorithm
	if alg == "" {
		alg = string(DefaultAlgorithm)
	}
	child := &Manager{
		Store: m.Store, Sealer: m.Sealer, Now: m.Now, Rand: m.Rand, Algorithm: alg,
		TokenLifetime: m.TokenLifetime, CacheTTL: m.CacheTTL, CheckInterval: m.CheckInterval, Logger: m.Logger,
		scope: orgID,
	}
	v, _ := m.orgs.LoadOrStore(orgID, child)
	return v.(*Manager)
}

// scoped returns the Manager of scope: m itself for the platform.
func (m *Manager) scoped(scope string) *Manager {
	if scope == store.PlatformScope {
		return m
	}
	return m.Organization(scope)
}

// invalidate drops the in-memory copies after this Manager changed the keys.
func (m *Manager) invalidate() {
	m.active.Store(nil)
	m.jwks.Store(nil)
}

// SigningKey is the active key, ready to sign. It satisfies zitadel/oidc's
// op.SigningKey (ID, SignatureAlgorithm, Key).
type SigningKey struct {
	id     string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

// ID is the key ID, the "kid" of the JWS header and of the JWK.
func (k *SigningKey) ID() string { return k.id }

// SignatureAlgorithm is the JOSE algorithm the key signs with.
func (k *SigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }

// Key is the private key (*ecdsa.PrivateKey or *rsa.PrivateKey).
func (k *SigningKey) Key() any { return k.signer }

// Signer is the private key as a crypto.Signer.
func (k *SigningKey) Signer() crypto.Signer { return k.signer }

// PrivateJWK is the private key as a JWK carrying kid, alg and use "sig".
// Never publish it: PublicJWK is the public half.
func (k *SigningKey) PrivateJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.signer, KeyID: k.id, Algorithm: string(k.alg), Use: "sig"}
}

// PublicJWK is the public half, as published in the JWKS.
func (k *SigningKey) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.id, Algorithm: string(k.alg), Use: "sig"}
}

// JOSE is the key for jose.NewSigner; the JWS header it produces carries the
// kid.
func (k *SigningKey) JOSE() jose.SigningKey {
	return jose.SigningKey{Algorithm: k.alg, Key: k.PrivateJWK()}
}

// SigningKey returns the active key. It is served from memory for CacheTTL,
// then re-read from the database (an indexed read of one row; the private key
// is only unsealed again when the active key has changed), so all replicas
// sign with the same key at most CacheTTL after a rotation.
//
// An organization Manager creates its key set on first use (Ensure); the
// platform Manager returns ErrNoActiveKey instead, as serve ensures its keys
// at start.
func (m *Manager) SigningKey(ctx context.Context) (*SigningKey, error) {
	k, err := m.signingKey(ctx)
	if errors.Is(err, ErrNoActiveKey) && m.scope != store.PlatformScope {
		if err := m.Ensure(ctx); err != nil {
			return nil, err
		}
		return m.signingKey(ctx)
	}
	return k, err
}

func (m *Manager) signingKey(ctx context.Context) (*SigningKey, error) {
	if c := m.active.Load(); c != nil && m.now().Before(c.until) {
		return c.key, nil
	}
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	now := m.now()
	prev := m.active.Load()
	if prev != nil && now.Before(prev.until) {
		return prev.key, nil // refreshed while we waited
	}
	if m.Store == nil || m.Sealer == nil {
		return nil, errors.New("signing keys: no store or no key-encryption key")
	}
	row, err := m.Store.Read().SigningKeyInState(ctx, m.scope, store.SigningKeyActive)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoActiveKey
	}
	if err != nil {
		return nil, fmt.Errorf("read active signing key: %w", err)
	}
	var k *SigningKey
	if prev != nil && prev.key.id == row.ID && string(prev.key.alg) == row.Algorithm {
		k = prev.key
	} else if k, err = m.open(row); err != nil {
		return nil, err
	}
	m.active.Store(&cachedKey{key: k, until: now.Add(m.cacheTTL())})
	return k, nil
}

// PublicJWKS returns the keys verifiers must know: the next key (so that they
// learn it before it signs), the active key, and the retired keys whose tokens
// may still be valid. Each carries kid, alg and use "sig", and no private
// material. Like SigningKey, it is served from memory for CacheTTL, but a
// retired key leaves the set as soon as it expires. An organization Manager
// whose key set does not exist yet creates it first, so that a verifier
// learns the keys before anything is signed with them.
func (m *Manager) PublicJWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	now := m.now()
	c := m.jwks.Load()
	if c == nil || !now.Before(c.until) {
		var err error
		if c, err = m.refreshJWKS(ctx); err != nil {
			return jose.JSONWebKeySet{}, err
		}
		if len(c.keys) == 0 && m.scope != store.PlatformScope {
			if err := m.Ensure(ctx); err != nil {
				return jose.JSONWebKeySet{}, err
			}
			if c, err = m.refreshJWKS(ctx); err != nil {
				return jose.JSONWebKeySet{}, err
			}
		}
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(c.keys))}
	for _, p := range c.keys {
		if p.state == store.SigningKeyRetired && !now.Before(p.expires) {
			continue
		}
		set.Keys = append(set.Keys, p.jwk)
	}
	return set, nil
}

func (m *Manager) refreshJWKS(ctx context.Context) (*cachedJWKS, error) {
	m.jwksMu.Lock()
	defer m.jwksMu.Unlock()
	now := m.now()
	if c := m.jwks.Load(); c != nil && now.Before(c.until) {
		return c, nil
	}
	if m.Store == nil {
		return nil, errors.New("signing keys: no store")
	}
	rows, err := m.Store.Read().PublishedSigningKeys(ctx, m.scope, now)
	if err != nil {
		return nil, fmt.Errorf("read published signing keys: %w", err)
	}
	// Active first, then next, then retired keys newest first: verifiers
	// that try keys in order find the common case at once.
	rank := map[store.SigningKeyState]int{store.SigningKeyActive: 0, store.SigningKeyNext: 1, store.SigningKeyRetired: 2}
	sort.SliceStable(rows, func(i, j int) bool {
		if rank[rows[i].State] != rank[rows[j].State] {
			return rank[rows[i].State] < rank[rows[j].State]
		}
		return rows[i].CreatedAt.After(rows[j].CreatedAt)
	})
	c := &cachedJWKS{until: now.Add(m.cacheTTL())}
	for _, row := range rows {
		jwk, err := publicJWK(row)
		if err != nil {
			return nil, err
		}
		c.keys = append(c.keys, publishedKey{jwk: jwk, state: row.State, expires: row.ExpiresAt})
	}
	m.jwks.Store(c)
	return c, nil
}

// publicJWK decodes a row's stored public JWK and makes sure it is public and
// labelled with the row's kid and algorithm.
func publicJWK(row *store.SigningKey) (jose.JSONWebKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON([]byte(row.PublicJWK)); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("signing key %s: decode public JWK: %w", row.ID, err)
	}
	if !jwk.IsPublic() {
		return jose.JSONWebKey{}, fmt.Errorf("signing key %s: the stored public JWK is not a public key", row.ID)
	}
	jwk.KeyID, jwk.Algorithm, jwk.Use = row.ID, row.Algorithm, "sig"
	return jwk, nil
}

// generate makes a key of the configured algorithm, sealed and ready to
// insert (the caller sets its state).
func (m *Manager) generate(now time.Time) (*store.SigningKey, error) {
	alg := m.algorithm()
	var (
		priv crypto.Signer
		err  error
	)
	// Key material always comes from crypto/rand (Go 1.26+ ignores any other
	// reader anyway); Manager.Rand only names keys.
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, RSABits)
	default:
		return nil, CheckAlgorithm(string(alg))
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s signing key: %w", alg, err)
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(m.rand(), b); err != nil {
		return nil, fmt.Errorf("generate key ID: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode %s signing key: %w", alg, err)
	}
	pub, err := jose.JSONWebKey{Key: priv.Public(), KeyID: id, Algorithm: string(alg), Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s public key: %w", alg, err)
	}
	return &store.SigningKey{
		ID:               id,
		Scope:            m.scope,
		Algorithm:        string(alg),
		SealedPrivateKey: m.Sealer.Seal(string(der), aad(m.scope, id)),
		PublicJWK:        string(pub),
		CreatedAt:        now,
	}, nil
}

// aad binds a sealed private key to its kid and scope, so that a key copied
// to another row, or from one organization's set to another's, does not
// open. Platform keys keep the form they had before scopes existed.
func aad(scope, id string) string {
	if scope == store.PlatformScope {
		return "signingkey:" + id
	}
	return "signingkey:" + scope + ":" + id
}

// open unseals a stored key and checks it against its public JWK.
func (m *Manager) open(row *store.SigningKey) (*SigningKey, error) {
	if row.Scope != m.scope {
		return nil, fmt.Errorf("signing key %s belongs to scope %q, not %q", row.ID, row.Scope, m.scope)
	}
	der, err := m.Sealer.Open(row.SealedPrivateKey, aad(row.Scope, row.ID))
	if err != nil {
		if errors.Is(err, secret.ErrWrongKey) {
			return nil, fmt.Errorf("signing key %s: %w: the keys were stored with another --encryption-key", row.ID, err)
		}
		return nil, fmt.Errorf("signing key %s: %w (wrong encryption key, or the sealed value belongs to another row)", row.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey([]byte(der))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: decode private key: %w", row.ID, err)
	}
	alg := jose.SignatureAlgorithm(row.Algorithm)
	var ok bool
	switch k := parsed.(type) {
	case *ecdsa.PrivateKey:
		ok = (alg == ES256 && k.Curve == elliptic.P256()) || (alg == ES512 && k.Curve == elliptic.P521())
	case *rsa.PrivateKey:
		ok = alg == RS256 && k.N.BitLen() >= 2048
	}
	if !ok {
		return nil, fmt.Errorf("signing key %s: a %T does not fit algorithm %s", row.ID, parsed, row.Algorithm)
	}
	signer := parsed.(crypto.Signer)
	jwk, err := publicJWK(row)
	if err != nil {
		return nil, err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if eq, ok := signer.Public().(equaler); !ok || !eq.Equal(jwk.Key) {
		return nil, fmt.Errorf("signing key %s: the private key does not match the published public key", row.ID)
	}
	return &SigningKey{id: row.ID, alg: alg, signer: signer}, nil
}

// pool hands out keys generated before a transaction, and generates more
// inside it in the rare case the state needs more than was foreseen.
type pool struct {
	m    *Manager
	now  time.Time
	keys []*store.SigningKey
}

func (m *Manager) newPool(now time.Time, n int) (*pool, error) {
	p := &pool{m: m, now: now}
	for range n {
		k, err := m.generate(now)
		if err != nil {
			return nil, err
		}
		p.keys = append(p.keys, k)
	}
	return p, nil
}

func (p *pool) take() (*store.SigningKey, error) {
	if len(p.keys) == 0 {
		return p.m.generate(p.now)
	}
	k := p.keys[0]
	p.keys = p.keys[1:]
	return k, nil
}

// current reads the active and next keys of scope (nil when missing).
func current(ctx context.Context, q *store.Q, scope string) (active, next *store.SigningKey, err error) {
	read := func(state store.SigningKeyState) (*store.SigningKey, error) {
		k, err := q.SigningKeyInState(ctx, scope, state)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return k, err
	}
	if active, err = read(store.SigningKeyActive); err != nil {
		return nil, nil, err
	}
	if next, err = read(store.SigningKeyNext); err != nil {
		return nil, nil, err
	}
	return active, next, nil
}

// opens checks that each existing key (nil ones skipped) opens with this
// Manager's key-encryption key, so that a replica or an admin command given
// the wrong --encryption-key fails before it writes a key nobody else can
// open.
func (m *Manager) opens(rows ...*store.SigningKey) error {
	for _, row := range rows {
		if row == nil {
			continue
		}
		if _, err := m.open(row); err != nil {
			return err
		}
	}
	return nil
}

// Ensure makes sure there is one active and one next key, creating what is
// missing (a missing active key is replaced by promoting the next key if there
// is one, since it is already published). Call it at start: it is safe when
// several replicas start at once, and writes nothing when both keys exist. It
// fails, before writing anything, when the existing keys do not open with the
// key-encryption key. It also deletes expired retired keys.
func (m *Manager) Ensure(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	active, next, err := current(ctx, m.Store.Read(), m.scope)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if err := m.opens(active, next); err != nil {
		return err
	}
	missing := 0
	if active == nil {
		missing++
	}
	if next == nil {
		missing++
	}
	if missing == 0 {
		return nil
	}
	now := m.now()
	p, err := m.newPool(now, missing)
	if err != nil {
		return err
	}
	err = m.tx(ctx, func(q *store.Q) error {
		if err := q.LockSigningKeys(ctx); err != nil {
			return err
		}
		active, next, err := current(ctx, q, m.scope)
		if err != nil {
			return err
		}
		if err := m.opens(active, next); err != nil {
			return err
		}
		if active == nil && next != nil {
			if err := q.ActivateSigningKey(ctx, next.ID, now); err != nil {
				return err
			}
			active, next = next, nil
		}
		if active == nil {
			k, err := p.take()
			if err != nil {
				return err
			}
			k.State, k.ActivatedAt = store.SigningKeyActive, now
			if err := q.CreateSigningKey(ctx, k); err != nil {
				return err
			}
		}
		if next == nil {
			k, err := p.take()
			if err != nil {
				return err
			}
			k.State = store.SigningKeyNext
			if err := q.CreateSigningKey(ctx, k); err != nil {
				return err
			}
		}
		_, err = q.DeleteExpiredSigningKeys(ctx, m.scope, now)
		return err
	})
	m.invalidate()
	if err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	return nil
}

// rotation reports what a rotation did.
type rotation struct {
	retired   string // kid of the key that was active, '' if there was none
	activated string // kid of the key that is now active
	next      string // kid of the fresh next key
	deleted   int64  // expired retired keys deleted
}

// Rotate makes the next key active, retires the active key (published until
// now + TokenLifetime + CacheTTL), generates a fresh next key with the current
// Algorithm, and deletes retired keys past their expiry, in one transaction.
// Concurrent rotations from several replicas take turns; each is a full
// rotation. For the schedule, use RotateIfDue, which rotates once however many
// replicas ask.
func (m *Manager) Rotate(ctx context.Context) error {
	_, err := m.rotate(ctx, func(*store.SigningKey, time.Time) bool { return true })
	return err
}

// RotateActive rotates only if kid is still the active key (re-read under
// the lock), and reports whether it rotated. `gatehouse admin rotate-keys`
// uses it with the key it saw active, so that two operators (or two cron
// jobs) rotating at the same moment rotate once, and both end up with the
// same new active key: the key they meant to retire is retired either way.
// An empty kid means "no key is active yet".
func (m *Manager) RotateActive(ctx context.Context, kid string) (bool, error) {
	r, err := m.rotate(ctx, func(active *store.SigningKey, _ time.Time) bool {
		if active == nil {
			return kid == ""
		}
		return active.ID == kid
	})
	return r != nil, err
}

// RotateIfDue rotates when the active key has been active for at least period
// (or there is none), and reports whether it rotated. The age is checked
// again under the lock, so when several replicas find a rotation due at the
// same time exactly one rotates. A period of zero or less never rotates.
func (m *Manager) RotateIfDue(ctx context.Context, period time.Duration) (bool, error) {
	r, err := m.rotateIfDue(ctx, period)
	return r != nil, err
}

func (m *Manager) rotateIfDue(ctx context.Context, period time.Duration) (*rotation, error) {
	if period <= 0 {
		return nil, nil
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	// A cheap read first, so that a check that finds nothing to do generates
	// no key and takes no lock.
	active, err := m.Store.Read().SigningKeyInState(ctx, m.scope, store.SigningKeyActive)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if active != nil && m.now().Sub(active.ActivatedAt) < period {
		return nil, nil
	}
	return m.rotate(ctx, func(active *store.SigningKey, now time.Time) bool {
		return active == nil || now.Sub(active.ActivatedAt) >= period
	})
}

// rotate runs one rotation if due(active key, now) holds for the active key
// re-read under the lock (another replica may have rotated meanwhile). It
// returns nil when it did not rotate.
func (m *Manager) rotate(ctx context.Context, due func(active *store.SigningKey, now time.Time) bool) (*rotation, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	now := m.now()
	p, err := m.newPool(now, 1)
	if err != nil {
		return nil, err
	}
	var r *rotation
	err = m.tx(ctx, func(q *store.Q) error {
		r = nil
		if err := q.LockSigningKeys(ctx); err != nil {
			return err
		}
		active, next, err := current(ctx, q, m.scope)
		if err != nil {
			return err
		}
		if !due(active, now) {
			return nil // another replica rotated first
		}
		if err := m.opens(active, next); err != nil {
			return err
		}
		rot := &rotation{}
		if active != nil {
			if err := q.RetireSigningKey(ctx, active.ID, now, now.Add(m.TokenLifetime+m.cacheTTL())); err != nil {
				return err
			}
			rot.retired = active.ID
		}
		if next != nil {
			if err := q.ActivateSigningKey(ctx, next.ID, now); err != nil {
				return err
			}
			rot.activated = next.ID
		} else {
			// Only when the next key is missing (Ensure never ran, or
			// someone deleted it): activate a fresh key.
			k, err := p.take()
			if err != nil {
				return err
			}
			k.State, k.ActivatedAt = store.SigningKeyActive, now
			if err := q.CreateSigningKey(ctx, k); err != nil {
				return err
			}
			rot.activated = k.ID
		}
		k, err := p.take()
		if err != nil {
			return err
		}
		k.State = store.SigningKeyNext
		if err := q.CreateSigningKey(ctx, k); err != nil {
			return err
		}
		rot.next = k.ID
		if rot.deleted, err = q.DeleteExpiredSigningKeys(ctx, m.scope, now); err != nil {
			return err
		}
		r = rot
		return nil
	})
	m.invalidate()
	if err != nil {
		return nil, fmt.Errorf("rotate signing keys: %w", err)
	}
	return r, nil
}

// DropRetired deletes every retired key now, expired or not, and reports how
// many it deleted. For a key compromise: rotate twice (replacing both the
// active and the next key, which were exposed together), then drop the
// retired keys so that tokens they signed stop verifying. Other replicas
// stop publishing them within CacheTTL.
func (m *Manager) DropRetired(ctx context.Context) (int64, error) {
	if m.Store == nil {
		return 0, errors.New("signing keys: no store")
	}
	var n int64
	err := m.tx(ctx, func(q *store.Q) error {
		if err := q.LockSigningKeys(ctx); err != nil {
			return err
		}
		var err error
		n, err = q.DeleteRetiredSigningKeys(ctx, m.scope)
		return err
	})
	m.invalidate()
	if err != nil {
		return 0, fmt.Errorf("drop retired signing keys: %w", err)
	}
	return n, nil
}

// Run rotates the keys whenever the active key has been active for period,
// checking once at start and then every CheckInterval, until ctx ends. Called
// on the platform Manager, it rotates every key set: the platform's and each
// organization's (every scope with an active key), each on its own age.
// Several replicas may run it at once: one of them rotates. Errors are logged
// and the check is retried at the next tick. A period of zero or less
// disables the schedule: Run returns at once.
func (m *Manager) Run(ctx context.Context, period time.Duration) {
	if period <= 0 {
		return
	}
	every := m.CheckInterval
	if every <= 0 {
		every = DefaultCheckInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.RotateAllDue(ctx, period)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RotateAllDue runs one check of the schedule: this Manager's key set and,
// on the platform Manager, every organization's set with an active key,
// each rotated when its active key is at least period old. Errors are
// logged, and one scope's failure does not stop the others.
func (m *Manager) RotateAllDue(ctx context.Context, period time.Duration) {
	scopes := []string{m.scope}
	if m.scope == store.PlatformScope && m.Store != nil {
		all, err := m.Store.Read().SigningKeyScopes(ctx)
		if err != nil {
			if ctx.Err() == nil {
				m.log().Error("scheduled signing key rotation: list key sets", "error", err)
			}
		} else {
			for _, s := range all {
				if s != store.PlatformScope {
					scopes = append(scopes, s)
				}
			}
		}
	}
	for _, scope := range scopes {
		sm := m.scoped(scope)
		r, err := sm.rotateIfDue(ctx, period)
		switch {
		case err != nil && ctx.Err() == nil:
			m.log().Error("scheduled signing key rotation failed", "scope", scope, "error", err)
		case r != nil:
			m.log().Info("signing keys rotated", "scope", scope, "active", r.activated, "retired", r.retired, "next", r.next,
				"deleted", r.deleted, "algorithm", string(sm.algorithm()))
		}
	}
}

// tx runs f in a transaction of the key set's own. Keys are made on first use,
// often on the way to a request's audited write (a workload token minted for
// a new cloud connection): that request's audit event must commit with its
// own write, not with the keys, so the request's commit hook is dropped here.
func (m *Manager) tx(ctx context.Context, f func(q *store.Q) error) error {
	return m.Store.Tx(store.WithCommitHook(ctx, nil), f)
}
