// Package cloudtest holds in-process stand-ins for the cloud services that
// internal/cloud calls, for tests that cannot reach AWS or GCP: AWS STS and
// Organizations (AWS), the EC2 instance metadata service (IMDS, IMDSv2 only)
// and the ECS/EKS container credentials endpoint (ContainerCredentials),
// which hand out sessions of AWS's roles, GCP STS and IAM Credentials (GCP). Each speaks the real
// wire protocol to the real client SDKs (aws-sdk-go-v2, x/oauth2's
// externalaccount) over TLS, and fails the way the real service fails.
//
// It shares no code with internal/cloud on purpose, so that one mistake
// cannot sit on both sides: web identity tokens are verified with
// coreos/go-oidc against the issuer's real discovery document and JWKS,
// fetched over HTTP on every call (Gatehouse signs with go-jose through
// internal/keys); SigV4 signatures are recomputed with aws-sdk-go-v2's own v4
// signer from the secrets the stand-in issued.
//
// What is modelled is what Gatehouse depends on: IAM OIDC providers (URL,
// client IDs), role trust policies reduced to their usual conditions
// (Federated provider with StringEquals on aud and StringLike on sub,
// sts:TagSession for session tags, AWS principals with sts:ExternalId),
// per-principal allowed actions, one organization with member accounts;
// workload identity pool providers (issuer, allowed audiences, attribute
// mapping and condition in CEL) and service account bindings
// (principal://, principalSet:// by attribute or pool). Faults (throttling,
// server errors) are injected per action, and every call is counted.
package cloudtest
