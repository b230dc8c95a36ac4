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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The signing algorithms Gatehouse generates keys for.
const (
	ES256 = jose.ES256 // ECDSA P-256 with SHA-256, the default
	ES512 = jose.ES512 // ECDSA P-521 with SHA-512 (the seed's discovery document advertises it)
	RS256 = jose.RS256 // RSASSA-PKCS1-v1_5 with SHA-256, RSA 3072-bit keys
)

// Algorithms lists the supported signing algorithms, default first. The
// platform publishes a key set of each (see the package documentation).
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
// Algorithm while no call is in flight. A Manager is safe for concurrent use;
// each replica has one.
//
// The Manager a caller builds serves the platform's keys: one key set per
// algorithm of Algorithms, each with its own next/active/retired rotation,
// published together. ForAlgorithm returns the Manager of one of those sets;
// Organization the Manager of one organization's key set (its workload
// issuer). Both share this one's configuration and have their own keys,
// caches and rotation state.
type Manager struct {
	Store  *store.Store
	Sealer *secret.Sealer // the key-encryption key
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Rand is the source of key IDs (crypto/rand if nil).
	Rand io.Reader
	// Algorithm is the platform's default algorithm: ES256 (default if
	// empty), ES512 or RS256 (RSA 3072). SigningKey returns its active key
	// (access tokens, logout tokens, and the ID tokens of clients that chose
	// no algorithm); every algorithm's keys are published whatever it is.
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
	// NewPrivateKey generates the key material of a new key; nil (what
	// serve uses) generates it from crypto/rand. Tests set it to hand out
	// pre-generated RSA keys, since generating an RSA 3072 key takes most
	// of a second. Whatever it returns must fit the algorithm (open checks
	// it again on every use).
	NewPrivateKey func(alg jose.SignatureAlgorithm) (crypto.Signer, error)

	// scope is store.PlatformScope for the Manager a caller builds, an
	// organization ID for the ones Organization builds.
	scope string
	// lane is the algorithm of one platform key set (ForAlgorithm); "" for
	// the platform Manager itself, which dispatches to its sets, and for
	// organization Managers, whose one set changes algorithm with
	// OrganizationAlgorithm.
	lane jose.SignatureAlgorithm
	// orgs caches the organization Managers of a platform Manager, lanes
	// its per-algorithm Managers.
	orgs  sync.Map // organization ID → *Manager
	lanes sync.Map // algorithm → *Manager

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

// algorithm is the algorithm of the keys this set generates: its lane's for
// a platform set, the configured one otherwise (for the platform Manager
// itself, the default algorithm).
func (m *Manager) algorithm() jose.SignatureAlgorithm {
	if m.lane != "" {
		return m.lane
	}
	if m.Algorithm == "" {
		return DefaultAlgorithm
	}
	return jose.SignatureAlgorithm(m.Algorithm)
}

// isPlatform reports whether m is the platform Manager itself, which owns
// one key set per algorithm and dispatches to them.
func (m *Manager) isPlatform() bool { return m.scope == store.PlatformScope && m.lane == "" }

// storeAlg is the algorithm filter of this set's rows: its lane, or "" (any
// algorithm) for an organization's set.
func (m *Manager) storeAlg() string { return string(m.lane) }

// DefaultAlgorithm is the algorithm of the platform's default key set
// (Algorithm, or ES256).
func (m *Manager) DefaultAlgorithm() jose.SignatureAlgorithm {
	if m.Algorithm == "" {
		return DefaultAlgorithm
	}
	return jose.SignatureAlgorithm(m.Algorithm)
}

// ForAlgorithm returns the Manager of the platform's key set of algorithm
// alg (one of Algorithms): its own next, active and retired keys, rotated on
// their own schedule. The same *Manager is returned for the same alg, so its
// caches are shared. Call it on the platform Manager only.
func (m *Manager) ForAlgorithm(alg string) (*Manager, error) {
	if !m.isPlatform() {
		return nil, errors.New("keys: ForAlgorithm needs the platform Manager")
	}
	if err := CheckAlgorithm(alg); err != nil {
		return nil, err
	}
	if v, ok := m.lanes.Load(alg); ok {
		return v.(*Manager), nil
	}
	child := &Manager{
		Store: m.Store, Sealer: m.Sealer, Now: m.Now, Rand: m.Rand, Algorithm: alg,
		TokenLifetime: m.TokenLifetime, CacheTTL: m.CacheTTL, CheckInterval: m.CheckInterval, Logger: m.Logger,
		NewPrivateKey: m.NewPrivateKey, scope: store.PlatformScope, lane: jose.SignatureAlgorithm(alg),
	}
	v, _ := m.lanes.LoadOrStore(alg, child)
	return v.(*Manager), nil
}

// sets are the Managers of the key sets m stands for: the platform's
// per-algorithm sets (the default algorithm first, then Algorithms' order),
// or m itself.
func (m *Manager) sets() []*Manager {
	if !m.isPlatform() {
		return []*Manager{m}
	}
	def := m.DefaultAlgorithm()
	order := append([]jose.SignatureAlgorithm{def}, Algorithms...)
	out := make([]*Manager, 0, len(Algorithms))
	for i, a := range order {
		if i > 0 && a == def {
			continue
		}
		s, err := m.ForAlgorithm(string(a))
		if err != nil {
			continue // an invalid default: check reports it
		}
		out = append(out, s)
	}
	return out
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
	if err := CheckAlgorithm(string(m.DefaultAlgorithm())); err != nil {
		return err
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
	if !m.isPlatform() {
		panic("keys: Organization called on an organization or algorithm Manager")
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
		NewPrivateKey: m.NewPrivateKey, scope: orgID,
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

// invalidate drops the in-memory copies after this Manager changed the keys
// (the platform Manager's: every algorithm's).
func (m *Manager) invalidate() {
	m.active.Store(nil)
	m.jwks.Store(nil)
	if m.isPlatform() {
		m.lanes.Range(func(_, v any) bool {
			v.(*Manager).invalidate()
			return true
		})
	}
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

// SigningKey returns the active key: on the platform Manager, the default
// algorithm's (SigningKeyFor chooses another). It is served from memory for
// CacheTTL, then re-read from the database (an indexed read of one row; the
// private key is only unsealed again when the active key has changed), so
// all replicas sign with the same key at most CacheTTL after a rotation.
//
// An organization Manager creates its key set on first use (Ensure); the
// platform Manager returns ErrNoActiveKey instead, as serve ensures its keys
// at start.
func (m *Manager) SigningKey(ctx context.Context) (*SigningKey, error) {
	if m.isPlatform() {
		return m.SigningKeyFor(ctx, string(m.DefaultAlgorithm()))
	}
	k, err := m.signingKey(ctx)
	if errors.Is(err, ErrNoActiveKey) && m.scope != store.PlatformScope {
		if err := m.Ensure(ctx); err != nil {
			return nil, err
		}
		return m.signingKey(ctx)
	}
	return k, err
}

// SigningKeyFor returns the platform's active key of algorithm alg (one of
// Algorithms), as SigningKey does for the default algorithm. Call it on the
// platform Manager only.
func (m *Manager) SigningKeyFor(ctx context.Context, alg string) (*SigningKey, error) {
	set, err := m.ForAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	return set.signingKey(ctx)
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
	row, err := m.Store.Read().SigningKeyInState(ctx, m.scope, m.storeAlg(), store.SigningKeyActive)
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
//
// The platform Manager publishes every algorithm's keys together: the
// active keys first (the default algorithm's first), then the next keys,
// then the retired ones. Each key carries its own alg, and a verifier uses
// a key only with that algorithm.
func (m *Manager) PublicJWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	now := m.now()
	var keys []publishedKey
	for _, s := range m.sets() {
		ks, err := s.published(ctx, now)
		if err != nil {
			return jose.JSONWebKeySet{}, err
		}
		keys = append(keys, ks...)
	}
	if m.isPlatform() {
		sort.SliceStable(keys, func(i, j int) bool { return stateRank[keys[i].state] < stateRank[keys[j].state] })
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, p := range keys {
		if p.state == store.SigningKeyRetired && !now.Before(p.expires) {
			continue
		}
		set.Keys = append(set.Keys, p.jwk)
	}
	return set, nil
}

// stateRank orders published keys: active first, then next, then retired.
var stateRank = map[store.SigningKeyState]int{store.SigningKeyActive: 0, store.SigningKeyNext: 1, store.SigningKeyRetired: 2}

// published is the cached key list of one key set, refreshed after
// CacheTTL; an organization's set is created first if it does not exist.
func (m *Manager) published(ctx context.Context, now time.Time) ([]publishedKey, error) {
	c := m.jwks.Load()
	if c != nil && now.Before(c.until) {
		return c.keys, nil
	}
	c, err := m.refreshJWKS(ctx)
	if err != nil {
		return nil, err
	}
	if len(c.keys) == 0 && m.scope != store.PlatformScope {
		if err := m.Ensure(ctx); err != nil {
			return nil, err
		}
		if c, err = m.refreshJWKS(ctx); err != nil {
			return nil, err
		}
	}
	return c.keys, nil
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
	rows, err := m.Store.Read().PublishedSigningKeys(ctx, m.scope, m.storeAlg(), now)
	if err != nil {
		return nil, fmt.Errorf("read published signing keys: %w", err)
	}
	// Active first, then next, then retired keys newest first: verifiers
	// that try keys in order find the common case at once.
	sort.SliceStable(rows, func(i, j int) bool {
		if stateRank[rows[i].State] != stateRank[rows[j].State] {
			return stateRank[rows[i].State] < stateRank[rows[j].State]
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
	if err := CheckAlgorithm(string(alg)); err != nil {
		return nil, err
	}
	if m.NewPrivateKey != nil {
		priv, err = m.NewPrivateKey(alg)
	} else {
		priv, err = NewPrivateKey(alg)
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

// NewPrivateKey generates fresh key material for alg from crypto/rand (Go
// 1.26+ ignores any other reader anyway; Manager.Rand only names keys).
func NewPrivateKey(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ES512:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, RSABits)
	}
	return nil, CheckAlgorithm(string(alg))
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

// newPool generates n keys, side by side: a new RS256 set needs two RSA
// 3072 keys, most of a second each.
func (m *Manager) newPool(now time.Time, n int) (*pool, error) {
	p := &pool{m: m, now: now, keys: make([]*store.SigningKey, n)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { p.keys[i], errs[i] = m.generate(now) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
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

// current reads the active and next keys of one key set (nil when missing).
func current(ctx context.Context, q *store.Q, scope, alg string) (active, next *store.SigningKey, err error) {
	read := func(state store.SigningKeyState) (*store.SigningKey, error) {
		k, err := q.SigningKeyInState(ctx, scope, alg, state)
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
// key-encryption key. It also deletes expired retired keys. On the platform
// Manager it does so for every algorithm's set.
func (m *Manager) Ensure(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	if m.isPlatform() {
		for _, s := range m.sets() {
			if err := s.Ensure(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	active, next, err := current(ctx, m.Store.Read(), m.scope, m.storeAlg())
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
		active, next, err := current(ctx, q, m.scope, m.storeAlg())
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
		_, err = q.DeleteExpiredSigningKeys(ctx, m.scope, m.storeAlg(), now)
		return err
	})
	m.invalidate()
	if err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	return nil
}

// KeyInfo describes one signing key for administrators: no private
// material, not even sealed.
type KeyInfo struct {
	ID          string // the kid
	Scope       string // store.PlatformScope or an organization ID
	Algorithm   string
	State       store.SigningKeyState
	CreatedAt   time.Time
	ActivatedAt time.Time // zero for a next key
	RetiredAt   time.Time // zero unless retired
	ExpiresAt   time.Time // when a retired key leaves the JWKS; zero unless retired
}

// List describes the published keys of every key set, the platform's (each
// algorithm's) and every organization's: next, active and unexpired retired
// keys, platform first, then by scope, algorithm, creation and kid (the
// order of Cursor). Call it on the platform Manager.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	if !m.isPlatform() {
		return nil, errors.New("keys: List needs the platform Manager")
	}
	if m.Store == nil {
		return nil, errors.New("signing keys: no store")
	}
	rows, err := m.Store.Read().ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	now := m.now()
	out := make([]KeyInfo, 0, len(rows))
	for _, r := range rows {
		if r.State == store.SigningKeyRetired && !now.Before(r.ExpiresAt) {
			continue // no longer published; deleted at the next rotation
		}
		out = append(out, KeyInfo{ID: r.ID, Scope: r.Scope, Algorithm: r.Algorithm, State: r.State,
			CreatedAt: r.CreatedAt, ActivatedAt: r.ActivatedAt, RetiredAt: r.RetiredAt, ExpiresAt: r.ExpiresAt})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Scope != b.Scope {
			return a.Scope < b.Scope // the platform's "" first
		}
		if a.Algorithm != b.Algorithm {
			return a.Algorithm < b.Algorithm
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	return out, nil
}

// Cursor is k's place in List's order, for paging: a later page starts
// after it even if k itself has left the list meanwhile.
func (k KeyInfo) Cursor() string {
	return k.Scope + "\x1f" + k.Algorithm + "\x1f" + strconv.FormatInt(k.CreatedAt.UnixMilli(), 10) + "\x1f" + k.ID
}

// After is the part of ks (in List's order) after cursor; ks itself for an
// empty cursor, and an error for a cursor Cursor did not make.
func After(ks []KeyInfo, cursor string) ([]KeyInfo, error) {
	if cursor == "" {
		return ks, nil
	}
	parts := strings.Split(cursor, "\x1f")
	if len(parts) != 4 {
		return nil, errors.New("not a signing key cursor")
	}
	ms, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return nil, errors.New("not a signing key cursor")
	}
	at := KeyInfo{Scope: parts[0], Algorithm: parts[1], CreatedAt: time.UnixMilli(ms), ID: parts[3]}
	i := sort.Search(len(ks), func(i int) bool { return !listedBefore(ks[i], at) })
	return ks[i:], nil
}

// listedBefore is List's order, or equal.
func listedBefore(a, b KeyInfo) bool {
	switch {
	case a.Scope != b.Scope:
		return a.Scope < b.Scope
	case a.Algorithm != b.Algorithm:
		return a.Algorithm < b.Algorithm
	case a.CreatedAt.UnixMilli() != b.CreatedAt.UnixMilli():
		return a.CreatedAt.UnixMilli() < b.CreatedAt.UnixMilli()
	}
	return a.ID <= b.ID
}

// Rotation reports what a rotation of one key set did.
type Rotation struct {
	Scope     string // store.PlatformScope or an organization ID
	Algorithm string // of the key now active
	Retired   string // kid of the key that was active, "" if there was none
	Activated string // kid of the key that is now active
	Next      string // kid of the fresh next key
	Deleted   int64  // expired retired keys deleted
}

// Rotate makes the next key active, retires the active key (published until
// now + TokenLifetime + CacheTTL), generates a fresh next key with the current
// Algorithm, and deletes retired keys past their expiry, in one transaction.
// Concurrent rotations from several replicas take turns; each is a full
// rotation. For the schedule, use RotateIfDue, which rotates once however many
// replicas ask. On the platform Manager it rotates every algorithm's set
// (RotateAlgorithms chooses).
func (m *Manager) Rotate(ctx context.Context) error {
	_, err := m.RotateAlgorithms(ctx)
	return err
}

// RotateAlgorithms rotates now, as Rotate does, the platform's key sets of
// algs (every algorithm when none is given), and reports what each rotation
// did. On an organization Manager it rotates its one set and algs must be
// empty. The sets rotate together in one transaction, which is the
// caller's write: unlike the incidental writes of Ensure, it keeps ctx's
// commit hook, and describes itself to the audit log of the request (each
// set's active and next kid before, the rotations after; key IDs only).
func (m *Manager) RotateAlgorithms(ctx context.Context, algs ...string) ([]Rotation, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	var sets []*Manager
	switch {
	case len(algs) == 0:
		sets = m.sets()
	case !m.isPlatform():
		return nil, errors.New("keys: an organization's key set has one algorithm: rotate it without choosing")
	default:
		for _, a := range algs {
			s, err := m.ForAlgorithm(a)
			if err != nil {
				return nil, err
			}
			if slices.Contains(sets, s) {
				return nil, fmt.Errorf("keys: algorithm %s given twice", a)
			}
			sets = append(sets, s)
		}
	}
	now := m.now()
	pools := make([]*pool, len(sets))
	errs := make([]error, len(sets))
	var wg sync.WaitGroup
	for i, s := range sets {
		if err := s.check(); err != nil {
			return nil, err
		}
		wg.Go(func() { pools[i], errs[i] = s.newPool(now, 1) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []Rotation
	always := func(*store.SigningKey, time.Time) bool { return true }
	err := m.Store.Tx(ctx, func(q *store.Q) error {
		out = nil
		if err := q.LockSigningKeys(ctx); err != nil {
			return err
		}
		var before []Rotation // the keys each set had: active and next
		for i, s := range sets {
			active, next, err := current(ctx, q, s.scope, s.storeAlg())
			if err != nil {
				return err
			}
			b := Rotation{Scope: s.scope, Algorithm: string(s.algorithm())}
			if active != nil {
				b.Activated = active.ID
			}
			if next != nil {
				b.Next = next.ID
			}
			before = append(before, b)
			r, err := s.rotateIn(ctx, q, pools[i], now, always)
			if err != nil {
				return err
			}
			out = append(out, *r)
		}
		audit.Describe(ctx, "signingkeys", "", before, out)
		return nil
	})
	for _, s := range sets {
		s.invalidate()
	}
	if err != nil {
		return nil, fmt.Errorf("rotate signing keys: %w", err)
	}
	return out, nil
}

// RotateActive rotates only if kid is still the active key (re-read under
// the lock), and reports whether it rotated. `gatehouse admin rotate-keys`
// uses it with the key it saw active, so that two operators (or two cron
// jobs) rotating at the same moment rotate once, and both end up with the
// same new active key: the key they meant to retire is retired either way.
// An empty kid means "no key is active yet". It needs one key set: call it
// on an organization Manager or on ForAlgorithm's.
func (m *Manager) RotateActive(ctx context.Context, kid string) (bool, error) {
	if m.isPlatform() {
		return false, errors.New("keys: RotateActive needs one key set (Manager.ForAlgorithm)")
	}
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
// same time exactly one rotates. A period of zero or less never rotates. On
// the platform Manager each algorithm's set is checked on its own age, and
// it reports whether any rotated.
func (m *Manager) RotateIfDue(ctx context.Context, period time.Duration) (bool, error) {
	if err := m.check(); err != nil {
		return false, err
	}
	rotated := false
	for _, s := range m.sets() {
		r, err := s.rotateIfDue(ctx, period)
		if err != nil {
			return rotated, err
		}
		rotated = rotated || r != nil
	}
	return rotated, nil
}

func (m *Manager) rotateIfDue(ctx context.Context, period time.Duration) (*Rotation, error) {
	if period <= 0 {
		return nil, nil
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	// A cheap read first, so that a check that finds nothing to do generates
	// no key and takes no lock.
	active, err := m.Store.Read().SigningKeyInState(ctx, m.scope, m.storeAlg(), store.SigningKeyActive)
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
func (m *Manager) rotate(ctx context.Context, due func(active *store.SigningKey, now time.Time) bool) (*Rotation, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if m.isPlatform() {
		return nil, errors.New("keys: rotate needs one key set")
	}
	now := m.now()
	p, err := m.newPool(now, 1)
	if err != nil {
		return nil, err
	}
	var r *Rotation
	err = m.tx(ctx, func(q *store.Q) error {
		r = nil
		if err := q.LockSigningKeys(ctx); err != nil {
			return err
		}
		r, err = m.rotateIn(ctx, q, p, now, due)
		return err
	})
	m.invalidate()
	if err != nil {
		return nil, fmt.Errorf("rotate signing keys: %w", err)
	}
	return r, nil
}

// rotateIn is one rotation of this key set inside a transaction holding the
// key lock, with fresh keys from p; nil when due says no.
func (m *Manager) rotateIn(ctx context.Context, q *store.Q, p *pool, now time.Time,
	due func(active *store.SigningKey, now time.Time) bool) (*Rotation, error) {
	active, next, err := current(ctx, q, m.scope, m.storeAlg())
	if err != nil {
		return nil, err
	}
	if !due(active, now) {
		return nil, nil // another replica rotated first
	}
	if err := m.opens(active, next); err != nil {
		return nil, err
	}
	rot := &Rotation{Scope: m.scope, Algorithm: string(m.algorithm())}
	if active != nil {
		if err := q.RetireSigningKey(ctx, active.ID, now, now.Add(m.TokenLifetime+m.cacheTTL())); err != nil {
			return nil, err
		}
		rot.Retired = active.ID
	}
	if next != nil {
		if err := q.ActivateSigningKey(ctx, next.ID, now); err != nil {
			return nil, err
		}
		rot.Activated, rot.Algorithm = next.ID, next.Algorithm
	} else {
		// Only when the next key is missing (Ensure never ran, or
		// someone deleted it): activate a fresh key.
		k, err := p.take()
		if err != nil {
			return nil, err
		}
		k.State, k.ActivatedAt = store.SigningKeyActive, now
		if err := q.CreateSigningKey(ctx, k); err != nil {
			return nil, err
		}
		rot.Activated, rot.Algorithm = k.ID, k.Algorithm
	}
	k, err := p.take()
	if err != nil {
		return nil, err
	}
	k.State = store.SigningKeyNext
	if err := q.CreateSigningKey(ctx, k); err != nil {
		return nil, err
	}
	rot.Next = k.ID
	if rot.Deleted, err = q.DeleteExpiredSigningKeys(ctx, m.scope, m.storeAlg(), now); err != nil {
		return nil, err
	}
	return rot, nil
}

// DropRetired deletes every retired key now, expired or not, and reports how
// many it deleted. For a key compromise: rotate twice (replacing both the
// active and the next key, which were exposed together), then drop the
// retired keys so that tokens they signed stop verifying. Other replicas
// stop publishing them within CacheTTL. On the platform Manager it drops the
// retired keys of every algorithm.
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
		n, err = q.DeleteRetiredSigningKeys(ctx, m.scope, m.storeAlg())
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
// on the platform Manager, each algorithm's set and every organization's set
// with an active key, each rotated when its active key is at least period
// old. Errors are
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
		for _, sm := range m.scoped(scope).sets() {
			r, err := sm.rotateIfDue(ctx, period)
			switch {
			case err != nil && ctx.Err() == nil:
				m.log().Error("scheduled signing key rotation failed", "scope", scope, "set", string(sm.lane), "error", err)
			case r != nil:
				m.log().Info("signing keys rotated", "scope", scope, "active", r.Activated, "retired", r.Retired, "next", r.Next,
					"deleted", r.Deleted, "algorithm", r.Algorithm)
			}
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
