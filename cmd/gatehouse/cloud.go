package main

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// newCloud builds cloud credential federation from serve's options, checking
// them before anything is served.
func newCloud(c *config.Serve, st *store.Store, ten *tenancy.Service, km *keys.Manager, log *slog.Logger) (*cloud.Service, error) {
	if c.CloudRequestTimeout <= 0 || c.CloudAttemptTimeout <= 0 {
		return nil, fmt.Errorf("--cloud-request-timeout and --cloud-attempt-timeout must be positive")
	}
	secretKey := c.CloudAWSSecretAccessKey
	if secretKey == "" && c.CloudAWSSecretKeyFile != "" {
		b, err := os.ReadFile(c.CloudAWSSecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read --cloud-aws-secret-access-key-file: %w", err)
		}
		secretKey = strings.TrimSpace(string(b))
	}
	if (c.CloudAWSAccessKeyID == "") != (secretKey == "") {
		return nil, fmt.Errorf("--cloud-aws-access-key-id and its secret (--cloud-aws-secret-access-key or --cloud-aws-secret-access-key-file) go together")
	}
	for flag, v := range map[string]string{"--cloud-aws-sts-endpoint": c.CloudAWSSTSEndpoint, "--cloud-aws-organizations-endpoint": c.CloudAWSOrgsEndpoint} {
		if v == "" {
			continue
		}
		if err := cloud.CheckEndpoint(flag, v); err != nil {
			return nil, err
		}
	}
	var ambient cloud.AmbientSources
	if c.CloudAWSAmbientCreds {
		ambient = cloud.AmbientSourcesFromEnv(os.Getenv)
		if err := ambient.Check(); err != nil {
			return nil, fmt.Errorf("--cloud-aws-ambient-credentials: %w", err)
		}
		// Say which identity tenants' ambientRole connections will use.
		src := ambient.Source()
		if src == "" {
			src = "none (EC2 instance metadata disabled)"
		}
		log.Warn("ambient AWS credentials are enabled: every organization may validate cloud connections with this Gatehouse's own AWS identity",
			"source", src)
	}
	return &cloud.Service{
		Store: st, Sealer: ten.Sealer, Keys: km, Issuer: c.Issuer, Now: time.Now, Rand: rand.Reader, Logger: log,
		NewID:          func() string { return uuid.Must(uuid.NewV7()).String() },
		RequestTimeout: c.CloudRequestTimeout, AttemptTimeout: c.CloudAttemptTimeout,
		AccessNodeDisabled: !c.CloudAccessNodeEnabled, AllowPrivateTenantEndpoints: c.AllowPrivateTenantEndpoints,
		AWS: cloud.AWSPlatform{AccessKeyID: c.CloudAWSAccessKeyID, SecretAccessKey: secretKey, Region: c.CloudAWSRegion,
			STSEndpoint: c.CloudAWSSTSEndpoint, OrganizationsEndpoint: c.CloudAWSOrgsEndpoint,
			AmbientCredentials: c.CloudAWSAmbientCreds, Ambient: ambient},
	}, nil
}
