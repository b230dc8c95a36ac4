package connector

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Microsoft Entra ID (v2.0 endpoints).
const (
	// MicrosoftAuthority is the host in front of /{tenant}/v2.0.
	MicrosoftAuthority = "https://login.microsoftonline.com"
	// MicrosoftConsumersTenantID is the tenant of personal Microsoft
	// accounts (outlook.com, xbox, ...).
	MicrosoftConsumersTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"
)

var (
	guidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	tenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
)

// parseMicrosoftIssuer reads a microsoft provider's Issuer: empty (the
// multi-tenant "common" endpoint), a tenant (directory ID, verified domain,
// "common", "organizations" or "consumers"), or the issuer URL
// https://login.microsoftonline.com/{tenant}/v2.0, whose host becomes the
// authority (national clouds).
func parseMicrosoftIssuer(issuer string) (authority, tenant string, err error) {
	issuer = strings.TrimSpace(issuer)
	authority, tenant = MicrosoftAuthority, strings.ToLower(issuer)
	if issuer == "" {
		return authority, "common", nil
	}
	if strings.Contains(issuer, "://") {
		u, err := url.Parse(issuer)
		if err != nil || u.Host == "" {
			return "", "", fmt.Errorf("issuer %q is not a URL", issuer)
		}
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(segs) > 2 || (len(segs) == 2 && segs[1] != "v2.0") {
			return "", "", fmt.Errorf("issuer %q: want https://login.microsoftonline.com/{tenant}/v2.0", issuer)
		}
		authority, tenant = u.Scheme+"://"+u.Host, strings.ToLower(segs[0])
	}
	if !tenantRE.MatchString(tenant) {
		return "", "", fmt.Errorf("issuer %q: %q is not a tenant", issuer, tenant)
	}
	return authority, tenant, nil
}

// newMicrosoft builds an Entra ID connector. A tenant given by its ID is a
// plain OpenID Connect issuer. The others have no fixed issuer URL:
//
//   - "common" and "organizations" accept users of any tenant, and their
//     discovery document gives the issuer as the template
//     https://login.microsoftonline.com/{tenantid}/v2.0. The token's iss must
//     then be exactly that template filled with the token's own tid (a GUID);
//     "organizations" also refuses the personal-accounts tenant.
//   - "consumers" and a tenant's domain name publish a fixed issuer that names
//     the tenant's ID, not what was asked for; it is read from discovery,
//     checked to have that shape, and the token's iss and tid must match it.
func newMicrosoft(ctx context.Context, b base, issuer string) (RedirectConnector, error) {
	authority, tenant, err := parseMicrosoftIssuer(issuer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.name(), err)
	}
	if b.o.msAuthority != "" {
		authority = strings.TrimSuffix(b.o.msAuthority, "/")
	}
	if err := b.checkURL("authority", authority); err != nil {
		return nil, err
	}
	discoveryBase := authority + "/" + tenant + "/v2.0"
	tenantIssuer := func(tid string) string { return authority + "/" + tid + "/v2.0" }

	if guidRE.MatchString(tenant) {
		// One tenant by ID: go-oidc checks the issuer, we check tid as well.
		prov, d, err := b.discover(ctx, discoveryBase)
		if err != nil {
			return nil, err
		}
		c, err := b.newOIDCConnector(prov, d, &oidc.Config{})
		if err != nil {
			return nil, err
		}
		c.check = func(_ *oidc.IDToken, claims *idClaims) error {
			if claims.TenantID != tenant {
				return fmt.Errorf("tid %q is not tenant %s", claims.TenantID, tenant)
			}
			return nil
		}
		c.emailVerified = microsoftEmailVerified
		return c, nil
	}

	prov, d, err := b.discover(oidc.InsecureIssuerURLContext(ctx, discoveryBase), discoveryBase)
	if err != nil {
		return nil, err
	}
	multi := tenant == "common" || tenant == "organizations"
	pinned := "" // the one tenant ID accepted, unless multi
	if multi {
		if want := tenantIssuer("{tenantid}"); d.Issuer != want {
			return nil, b.upstreamErr("discovery", fmt.Errorf("issuer %q, want the template %q", d.Issuer, want))
		}
	} else {
		tid, ok := strings.CutPrefix(d.Issuer, authority+"/")
		tid, ok2 := strings.CutSuffix(tid, "/v2.0")
		if !ok || !ok2 || !guidRE.MatchString(tid) {
			return nil, b.upstreamErr("discovery", fmt.Errorf("issuer %q is not %s", d.Issuer, tenantIssuer("{tenant id}")))
		}
		if tenant == "consumers" && tid != MicrosoftConsumersTenantID {
			return nil, b.upstreamErr("discovery", fmt.Errorf("consumers issuer %q does not name tenant %s", d.Issuer, MicrosoftConsumersTenantID))
		}
		pinned = tid
	}
	// The issuer check is ours (below), in place of go-oidc's: SkipIssuerCheck.
	c, err := b.newOIDCConnector(prov, d, &oidc.Config{SkipIssuerCheck: true})
	if err != nil {
		return nil, err
	}
	c.check = func(idt *oidc.IDToken, claims *idClaims) error {
		tid := claims.TenantID
		switch {
		case !guidRE.MatchString(tid):
			return fmt.Errorf("tid %q is not a tenant ID", tid)
		case pinned != "" && tid != pinned:
			return fmt.Errorf("tid %q is not tenant %s", tid, pinned)
		case tenant == "organizations" && tid == MicrosoftConsumersTenantID:
			return errors.New("personal Microsoft accounts cannot log in through the organizations endpoint")
		case idt.Issuer != tenantIssuer(tid):
			return fmt.Errorf("issuer %q is not the issuer of the token's tenant %s (%s)", idt.Issuer, tid, tenantIssuer(tid))
		}
		return nil
	}
	c.emailVerified = microsoftEmailVerified
	return c, nil
}

// microsoftEmailVerified: Entra ID's email claim is whatever the tenant's
// administrator typed; it is verified only when Microsoft says so with
// email_verified or xms_edov (the domain is verified by the tenant that
// owns it). Logins are not refused for it: Identity.EmailVerified tells.
func microsoftEmailVerified(c *idClaims) bool {
	return bool(c.EmailVerified) || bool(c.EmailDomainOwnerVerified)
}
