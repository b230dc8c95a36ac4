package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

func init() {
	adminCommands["rotate-keys"] = adminCommand{
		usage: `rotate-keys [--algorithm ALG] [--drop-retired] [--organization ID] [flags]
      Rotate the token signing keys now: the next key (published since the
      last rotation) starts signing, the active key is retired but stays
      published until its tokens expire, and a fresh next key is generated.
      The platform has a key set per algorithm (ES256, ES512, RS256): all are
      rotated, and "ALG KID" of each new active key printed, one a line; with
      --algorithm only that one, and only its new active KID is printed.
      Running servers follow within 30 s. Runs racing each other (on any
      hosts) rotate once. After a key compromise run it twice, the second time
      with --drop-retired, which unpublishes every retired key (of every
      algorithm, or of --algorithm) at once. With --organization, the same for
      that organization's workload issuer keys (--workload-signing-algorithm),
      printing the new active KID.`,
		run: rotateKeys,
	}
}

// rotateKeysOptions are serve's options (database, encryption key, signing
// key settings) plus --drop-retired.
type rotateKeysOptions struct {
	config.Serve
	dropRetired  bool
	organization string
	algorithm    string
}

func (o *rotateKeysOptions) Bind(b *config.Binder) {
	o.Serve.Bind(b)
	b.FS.BoolVar(&o.dropRetired, "drop-retired", false,
		"after rotating, delete every retired signing key, so that tokens they signed stop verifying at once (after a key compromise)")
	b.FS.StringVar(&o.organization, "organization", "", "rotate this organization's workload issuer keys instead of the platform's")
	b.FS.StringVar(&o.algorithm, "algorithm", "", "rotate only the platform's keys of this algorithm: ES256, ES512 or RS256")
}

func rotateKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o rotateKeysOptions
	if err := config.Parse("gatehouse admin rotate-keys", &o, args, stderr); err != nil {
		return err
	}
	sealer, err := loadSealer(&o.Serve)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, o.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := newKeyManager(&o.Serve, st, sealer, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	// The key sets to rotate: the organization's one, the chosen
	// algorithm's, or every algorithm's of the platform.
	var sets []*keys.Manager
	switch {
	case o.organization != "" && o.algorithm != "":
		return errors.New("--algorithm is for the platform's keys: an organization's workload keys have one algorithm (--workload-signing-algorithm)")
	case o.organization != "":
		if _, err := st.Read().GetOrganization(ctx, o.organization); err != nil {
			return fmt.Errorf("--organization %s: %w", o.organization, err)
		}
		sets = []*keys.Manager{m.Organization(o.organization)}
	case o.algorithm != "":
		set, err := m.ForAlgorithm(o.algorithm)
		if err != nil {
			return fmt.Errorf("--algorithm: %w", err)
		}
		sets = []*keys.Manager{set}
	default:
		for _, a := range keys.Algorithms {
			set, err := m.ForAlgorithm(string(a))
			if err != nil {
				return err
			}
			sets = append(sets, set)
		}
	}
	// On a database no server has started on yet, this creates the first
	// pairs, which the rotation then moves on by one.
	if err := m.Ensure(ctx); err != nil {
		return err
	}
	for _, set := range sets {
		if err := rotateSet(ctx, st, set, o.dropRetired, len(sets) > 1, stdout, stderr); err != nil {
			return err
		}
	}
	return nil
}

// rotateSet rotates one key set for rotate-keys and prints its new active
// key: "ALG KID" when several sets are rotated, the KID alone otherwise.
func rotateSet(ctx context.Context, st *store.Store, set *keys.Manager, dropRetired, named bool, stdout, stderr io.Writer) error {
	if err := set.Ensure(ctx); err != nil {
		return err
	}
	alg := ""
	if set.Scope() == store.PlatformScope {
		alg = set.Algorithm
	}
	active, err := st.Read().SigningKeyInState(ctx, set.Scope(), alg, store.SigningKeyActive)
	if err != nil {
		return fmt.Errorf("read the active signing key: %w", err)
	}
	// Rotate the key seen active, not whatever is active by the time the
	// lock is ours: two runs racing (two operators, two cron jobs, on any
	// hosts) rotate once and print the same new key.
	rotated, err := set.RotateActive(ctx, active.ID)
	if err != nil {
		return err
	}
	if !rotated {
		fmt.Fprintf(stderr, "signing key %s was retired by a concurrent rotation; not rotating again\n", active.ID)
	}
	if dropRetired {
		n, err := set.DropRetired(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "dropped %d retired %s signing key(s): tokens they signed no longer verify\n", n, active.Algorithm)
	}
	// Reading the new key back also proves it opens with this encryption key.
	k, err := set.SigningKey(ctx)
	if err != nil {
		return err
	}
	if named {
		fmt.Fprintln(stdout, k.SignatureAlgorithm(), k.ID())
	} else {
		fmt.Fprintln(stdout, k.ID())
	}
	return nil
}

// newKeyManager builds the signing key manager from serve's options.
func newKeyManager(c *config.Serve, st *store.Store, sealer *secret.Sealer, log *slog.Logger) (*keys.Manager, error) {
	if err := keys.CheckAlgorithm(c.SigningAlgorithm); err != nil {
		return nil, fmt.Errorf("--signing-algorithm: %w", err)
	}
	if err := keys.CheckOrganizationAlgorithm(c.WorkloadSigningAlgorithm); err != nil {
		return nil, fmt.Errorf("--workload-signing-algorithm: %w", err)
	}
	if c.MaxTokenLifetime <= 0 {
		return nil, fmt.Errorf("--max-token-lifetime must be positive, got %v", c.MaxTokenLifetime)
	}
	if c.KeyRotationPeriod < 0 {
		return nil, fmt.Errorf("--key-rotation-period must not be negative, got %v", c.KeyRotationPeriod)
	}
	if sealer == nil {
		return nil, errors.New("signing keys need the encryption key")
	}
	return &keys.Manager{
		Store: st, Sealer: sealer, Now: time.Now, Rand: rand.Reader, Logger: log,
		Algorithm: c.SigningAlgorithm, TokenLifetime: c.MaxTokenLifetime, OrganizationAlgorithm: c.WorkloadSigningAlgorithm,
	}, nil
}

// startSigningKeys is serve's part: make sure an active and a next key exist
// (safe with several replicas starting together), then run the rotation
// schedule in the background. The returned function stops the schedule and
// waits for it, so that it is done before the store closes.
func startSigningKeys(ctx context.Context, c *config.Serve, st *store.Store, sealer *secret.Sealer, log *slog.Logger) (*keys.Manager, func(), error) {
	m, err := newKeyManager(c, st, sealer, log)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Ensure(ctx); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx, c.KeyRotationPeriod)
	}()
	return m, func() { cancel(); <-done }, nil
}
