package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The types of stored credential.
const (
	// CredentialAWSAccessKey is an IAM user's access key: the key ID is
	// shown, the secret access key is write-only.
	CredentialAWSAccessKey = "awsAccessKey"
	// CredentialAWSAssumeRole is a role that the built-in access node's own
	// AWS identity assumes, passing the organization's external ID.
	CredentialAWSAssumeRole = "awsAssumeRole"
)

// CredentialSpec is what a stored credential shows. Exactly one of the
// type's fields is set.
type CredentialSpec struct {
	Type          string         `json:"type"`
	AWSAccessKey  *AWSAccessKey  `json:"awsAccessKey,omitempty"`
	AWSAssumeRole *AWSAssumeRole `json:"awsAssumeRole,omitempty"`
}

// AWSAccessKey is the visible part of an access key.
type AWSAccessKey struct {
	AccessKeyID string `json:"accessKeyID"`
}

// AWSAssumeRole names the role to assume.
type AWSAssumeRole struct {
	RoleARN string `json:"roleARN"`
}

// CredentialInput is a credential write. SecretAccessKey is write-only: nil
// on update keeps the stored secret (allowed only while the access key ID
// stays the same).
type CredentialInput struct {
	Meta            store.Meta
	Spec            CredentialSpec
	SecretAccessKey *string
}

// CredentialStatus is what Gatehouse adds to a stored credential.
type CredentialStatus struct {
	// ExternalID is the organization's external ID, which an awsAssumeRole
	// credential's role trust policy must require (sts:ExternalId).
	ExternalID string `json:"externalID,omitempty"`
	// HasSecret tells whether a secret is stored (never the secret).
	HasSecret bool `json:"hasSecret"`
}

// Credential is a stored credential as the API shows it: never its secret.
type Credential struct {
	Meta   store.Meta
	Spec   CredentialSpec
	Status CredentialStatus
}

var accessKeyIDPattern = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)

const maxSecretAccessKey = 256

func (in *CredentialInput) check(old *store.CloudCredential) error {
	sp := &in.Spec
	switch sp.Type {
	case CredentialAWSAccessKey:
		if sp.AWSAccessKey == nil || sp.AWSAssumeRole != nil {
			return invalid("spec.awsAccessKey (and not spec.awsAssumeRole) is required for type awsAccessKey")
		}
		if !accessKeyIDPattern.MatchString(sp.AWSAccessKey.AccessKeyID) {
			return invalid("spec.awsAccessKey.accessKeyID must be an AWS access key ID (16 to 128 of A-Z 0-9)")
		}
		if in.SecretAccessKey == nil {
			// Keeping the stored secret is only right for the same key.
			var oldSpec CredentialSpec
			if old == nil || old.Type != CredentialAWSAccessKey || json.Unmarshal([]byte(old.Spec), &oldSpec) != nil ||
				oldSpec.AWSAccessKey == nil || oldSpec.AWSAccessKey.AccessKeyID != sp.AWSAccessKey.AccessKeyID {
				return invalid("spec.awsAccessKey.secretAccessKey is required with a new access key ID")
			}
			return nil
		}
		if k := *in.SecretAccessKey; k == "" || len(k) > maxSecretAccessKey || strings.ContainsAny(k, " \t\r\n") {
			return invalid("spec.awsAccessKey.secretAccessKey must be 1 to %d characters without whitespace", maxSecretAccessKey)
		}
	case CredentialAWSAssumeRole:
		if sp.AWSAssumeRole == nil || sp.AWSAccessKey != nil {
			return invalid("spec.awsAssumeRole (and not spec.awsAccessKey) is required for type awsAssumeRole")
		}
		if in.SecretAccessKey != nil {
			return invalid("an awsAssumeRole credential has no secret: its role trusts this Gatehouse's AWS identity and external ID")
		}
		return CheckRoleARN("spec.awsAssumeRole.roleARN", sp.AWSAssumeRole.RoleARN)
	default:
		return invalid("spec.type must be awsAccessKey or awsAssumeRole")
	}
	return nil
}

func credentialAAD(id string) string { return "cloudcredential:" + id }

// seal builds the row for in, sealing a new secret or keeping old's.
func (s *Service) credentialRow(in *CredentialInput, old *store.CloudCredential) (*store.CloudCredential, error) {
	spec, err := json.Marshal(in.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode credential spec: %w", err)
	}
	row := &store.CloudCredential{Meta: in.Meta, Type: in.Spec.Type, Spec: string(spec)}
	switch {
	case in.SecretAccessKey != nil:
		row.Secret = s.Sealer.Seal(*in.SecretAccessKey, credentialAAD(row.ID))
	case in.Spec.Type == CredentialAWSAccessKey && old != nil:
		row.Secret = old.Secret
	}
	return row, nil
}

func (s *Service) credentialFromStore(ctx context.Context, row *store.CloudCredential) (*Credential, error) {
	var spec CredentialSpec
	if err := json.Unmarshal([]byte(row.Spec), &spec); err != nil {
		return nil, fmt.Errorf("credential %s: decode spec: %w", row.ID, err)
	}
	c := &Credential{Meta: row.Meta, Spec: spec, Status: CredentialStatus{HasSecret: row.Secret != ""}}
	if spec.Type == CredentialAWSAssumeRole {
		ext, err := s.ExternalID(ctx, row.OrganizationID)
		if err != nil {
			return nil, err
		}
		c.Status.ExternalID = ext
	}
	return c, nil
}

// ExternalID returns the organization's external ID, generating it on first
// need: 32 random hex digits with a "gatehouse-" prefix, unique, never chosen
// by a caller (so no tenant can pick another's and have Gatehouse assume a
// role on its behalf: the confused-deputy guard).
func (s *Service) ExternalID(ctx context.Context, orgID string) (string, error) {
	id, err := s.Store.Read().CloudExternalID(ctx, orgID)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	r, err := s.randomHex(16)
	if err != nil {
		return "", err
	}
	// Made on the way to a request's own write (or a read): not that
	// request's audited change.
	err = s.Store.Tx(audit.Unaudited(ctx), func(q *store.Q) error {
		id, err = q.EnsureCloudExternalID(ctx, orgID, "gatehouse-"+r, s.now())
		return err
	})
	return id, err
}

// CreateCredential stores a credential, its secret sealed to the row.
func (s *Service) CreateCredential(ctx context.Context, actor *authn.Principal, orgID string, in CredentialInput) (*Credential, error) {
	if err := in.check(nil); err != nil {
		return nil, err
	}
	s.newMeta(&in.Meta, actor, orgID)
	row, err := s.credentialRow(&in, nil)
	if err != nil {
		return nil, err
	}
	if err := s.Store.Tx(ctx, func(q *store.Q) error {
		audit.Describe(ctx, "credentials", row.ID, nil, row)
		return storeError(q.CreateCloudCredential(ctx, row), "credential", in.Meta.Name)
	}); err != nil {
		return nil, err
	}
	return s.credentialFromStore(ctx, row)
}

// GetCredential reads a stored credential, without its secret.
func (s *Service) GetCredential(ctx context.Context, orgID, id string) (*Credential, error) {
	row, err := s.Store.Read().GetCloudCredential(ctx, orgID, id)
	if err != nil {
		return nil, storeError(err, "credential", id)
	}
	return s.credentialFromStore(ctx, row)
}

// ListCredentials pages through the organization's stored credentials.
func (s *Service) ListCredentials(ctx context.Context, orgID string, page store.Page) ([]*Credential, error) {
	rows, err := s.Store.Read().ListCloudCredentials(ctx, orgID, page)
	if err != nil {
		return nil, err
	}
	out := make([]*Credential, 0, len(rows))
	for _, r := range rows {
		c, err := s.credentialFromStore(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// UpdateCredential replaces a stored credential; without a new secret the
// stored one is kept (same access key ID only).
func (s *Service) UpdateCredential(ctx context.Context, actor *authn.Principal, orgID, id string, in CredentialInput) (*Credential, error) {
	var row *store.CloudCredential
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetCloudCredential(ctx, orgID, id)
		if err != nil {
			return storeError(err, "credential", id)
		}
		if err := in.check(old); err != nil {
			return err
		}
		s.carryMeta(&in.Meta, old.Meta, actor)
		if row, err = s.credentialRow(&in, old); err != nil {
			return err
		}
		audit.Describe(ctx, "credentials", id, old, row)
		return storeError(q.UpdateCloudCredential(ctx, row), "credential", in.Meta.Name)
	})
	if err != nil {
		return nil, err
	}
	return s.credentialFromStore(ctx, row)
}

// DeleteCredential deletes a stored credential, unless a cloud connection
// uses it.
func (s *Service) DeleteCredential(ctx context.Context, orgID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetCloudCredential(ctx, orgID, id)
		if err != nil {
			return storeError(err, "credential", id)
		}
		if err := s.refuseIfUsed(ctx, q, orgID, id, "", "delete"); err != nil {
			return err
		}
		audit.Describe(ctx, "credentials", id, old, nil)
		return storeError(q.DeleteCloudCredential(ctx, orgID, id), "credential", id)
	})
}

// openCredential reads a stored credential with its secret, for the
// validation that uses it. The secret never leaves this package.
func (s *Service) openCredential(ctx context.Context, orgID, id string) (*CredentialSpec, string, error) {
	row, err := s.Store.Read().GetCloudCredential(ctx, orgID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", invalid("credential.credentialID: no such credential in this organization")
	}
	if err != nil {
		return nil, "", err
	}
	var spec CredentialSpec
	if err := json.Unmarshal([]byte(row.Spec), &spec); err != nil {
		return nil, "", fmt.Errorf("credential %s: decode spec: %w", row.ID, err)
	}
	if row.Secret == "" {
		return &spec, "", nil
	}
	secret, err := s.Sealer.Open(row.Secret, credentialAAD(row.ID))
	if err != nil {
		return nil, "", fmt.Errorf("credential %s: open secret: %w", row.ID, err)
	}
	return &spec, secret, nil
}
