package tenancy

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Verified domains (issue 12). An organization's spec.domain is only a
// claim: anyone may type any domain. It routes logins by email, and bounds
// what the organization's own identity provider may vouch for, only once
// the organization proved it controls the domain's DNS (a TXT record holding
// the claim's random token) or the platform administrator marked it
// verified. A verified domain belongs to one organization; pending claims of
// several organizations on the same domain do not block each other, so a
// squatter's claim can never keep the real owner from proving its own.

// DomainChallengeLabel is the DNS label under which an organization publishes
// its claim's token: a TXT record at DomainChallengeLabel + "." + domain.
const DomainChallengeLabel = "_gatehouse-challenge"

// Domain verification states, as the organization's status reports them.
const (
	DomainPending  = "pending"
	DomainVerified = "verified"
)

// DefaultDNSTimeout bounds one DNS check when Service.DNSTimeout is unset.
const DefaultDNSTimeout = 5 * time.Second

// TXTResolver looks up the TXT records of a name; *net.Resolver is one.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// NewResolver returns the resolver of domain challenges: the system's
// (net.DefaultResolver) when addr is empty, else one that sends every query
// to the DNS server at addr (host:port), over UDP or TCP as the lookup needs.
func NewResolver(addr string) (TXTResolver, error) {
	if addr == "" {
		return net.DefaultResolver, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("DNS resolver %q is not host:port: %w", addr, err)
	}
	var d net.Dialer
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}, nil
}

// DomainChallengeName is the name of the TXT record that proves domain.
func DomainChallengeName(domain string) string { return DomainChallengeLabel + "." + domain }

// DomainVerification is what an organization's status says of its domain
// claim: the record to publish, and whether it was proven.
type DomainVerification struct {
	State       string // DomainPending | DomainVerified
	RecordName  string
	RecordValue string
	VerifiedAt  time.Time
}

// DomainStatus describes o's domain claim; ok is false when o claims none.
func DomainStatus(o *store.Organization) (v DomainVerification, ok bool) {
	if o.Domain == "" {
		return DomainVerification{}, false
	}
	v = DomainVerification{State: DomainPending, RecordName: DomainChallengeName(o.Domain), RecordValue: o.DomainToken}
	if o.DomainVerified() {
		v.State, v.VerifiedAt = DomainVerified, o.DomainVerifiedAt
	}
	return v, true
}

// publicMailDomains are mail services whose addresses belong to their
// users, not to any organization: none may claim them (or a subdomain).
var publicMailDomains = []string{
	"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.de", "hotmail.fr",
	"live.com", "live.de", "msn.com", "yahoo.com", "yahoo.co.uk", "yahoo.de", "yahoo.fr", "ymail.com",
	"icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "pm.me", "tutanota.com",
	"tuta.io", "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "gmx.com", "web.de", "t-online.de", "freenet.de",
	"posteo.de", "mailbox.org", "mail.com", "zoho.com", "fastmail.com", "hey.com", "mail.ru", "inbox.ru",
	"list.ru", "bk.ru", "yandex.ru", "yandex.com", "ya.ru", "qq.com", "163.com", "126.com", "sina.com",
	"naver.com", "daum.net", "orange.fr", "free.fr", "laposte.net", "libero.it", "virgilio.it",
}

// checkClaimable refuses (400) a domain no organization can own: a public
// mail service, or a public suffix itself (com, co.uk, github.io), under
// which every name belongs to someone else.
func checkClaimable(domain string) error {
	for _, d := range publicMailDomains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return apierror.BadRequest("spec.domain %q is a public mail domain: its addresses belong to their users, not to an organization", domain)
		}
	}
	if suffix, _ := publicsuffix.PublicSuffix(domain); suffix == domain {
		return apierror.BadRequest("spec.domain %q is a public suffix, not a domain an organization can own", domain)
	}
	return nil
}

// newDomainToken draws the challenge of a new claim: 160 random bits,
// lower-case base32, so that no other claim (another organization's, or
// this organization's earlier one) can be satisfied by the same record.
func newDomainToken(r io.Reader) (string, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("domain challenge token: %w", err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// claimDomain sets o's verification fields for its write: a domain equal to
// old's keeps old's challenge and verification; a new domain (or a claim
// from before challenges existed) gets a new token and is pending; no
// domain, nothing. A new claim must be claimable.
func (s *Service) claimDomain(o, old *store.Organization) error {
	o.DomainToken, o.DomainVerifiedAt = "", time.Time{}
	if o.Domain == "" {
		return nil
	}
	if old != nil && old.Domain == o.Domain {
		o.DomainToken, o.DomainVerifiedAt = old.DomainToken, old.DomainVerifiedAt
		if o.DomainToken != "" {
			return nil
		}
	} else if err := checkClaimable(o.Domain); err != nil {
		return err
	}
	t, err := newDomainToken(s.Rand)
	if err != nil {
		return err
	}
	o.DomainToken = t
	return nil
}

// VerifyDomainInput is a request to verify an organization's domain claim.
type VerifyDomainInput struct {
	OrganizationID string
	// MarkVerified skips the DNS check; only a platform administrator
	// (Platform) may ask for it.
	MarkVerified bool
	Platform     bool
}

// VerifyDomain proves organization in.OrganizationID's domain claim: by a
// DNS lookup of its challenge record, or, for the platform administrator
// with MarkVerified, by fiat. A claim already verified is returned as it is.
// Errors: 400 no domain, an unclaimable domain, or a record that is missing
// or holds another value; 403 MarkVerified by anyone else; 409 the domain is
// another organization's (verified), the claim changed meanwhile, or it has
// no challenge yet; 503 the resolver failed or did not answer in time.
func (s *Service) VerifyDomain(ctx context.Context, actor *authn.Principal, in VerifyDomainInput) (*store.Organization, error) {
	o, err := s.Store.Read().GetOrganization(ctx, in.OrganizationID)
	if err != nil {
		return nil, storeError(err, "organization", in.OrganizationID)
	}
	switch {
	case o.Domain == "":
		return nil, apierror.BadRequest("organization %q claims no domain (spec.domain)", o.Name)
	case o.DomainVerified():
		return o, nil
	case in.MarkVerified && !in.Platform:
		return nil, apierror.ForbiddenError("only a platform administrator may mark a domain verified without its DNS record")
	case o.DomainToken == "" && !in.MarkVerified:
		// A claim written by a replica of the previous release during a
		// rolling upgrade: no challenge until the next start issues one
		// (IssueDomainChallenges) or an update of the organization does.
		return nil, apierror.ConflictError("domain %q has no challenge yet: update the organization (PUT, same spec) to issue one", o.Domain)
	}
	if err := checkClaimable(o.Domain); err != nil {
		return nil, err
	}
	if err := s.checkDomainFree(ctx, s.Store.Read(), o); err != nil {
		return nil, err
	}
	if !in.MarkVerified {
		if err := s.lookUpChallenge(ctx, o.Domain, o.DomainToken); err != nil {
			return nil, err
		}
	}
	var out *store.Organization
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		// Serialized with UpdateOrganization: the claim checked by DNS is
		// the one stamped verified.
		if err := q.LockOrganization(ctx, o.ID); err != nil {
			return storeError(err, "organization", o.ID)
		}
		cur, err := q.GetOrganization(ctx, o.ID)
		if err != nil {
			return storeError(err, "organization", o.ID)
		}
		if cur.Domain != o.Domain || cur.DomainToken != o.DomainToken {
			return apierror.ConflictError("the domain claim of organization %q changed while it was being verified", o.Name)
		}
		if cur.DomainVerified() {
			out = cur
			return nil
		}
		if err := s.checkDomainFree(ctx, q, cur); err != nil {
			return err
		}
		before := *cur
		s.carryMeta(&cur.Meta, before.Meta, actor)
		cur.DomainVerifiedAt = s.Now()
		if err := q.UpdateOrganization(ctx, cur); errors.Is(err, store.ErrConflict) {
			// Another organization's verification committed first.
			return domainTaken(cur.Domain)
		} else if err != nil {
			return storeError(err, "organization", cur.ID)
		}
		audit.Describe(ctx, "organizations", cur.ID, &before, cur)
		out = cur
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkDomainFree refuses (409) o's domain when another organization has
// verified it.
func (s *Service) checkDomainFree(ctx context.Context, q *store.Q, o *store.Organization) error {
	owner, err := q.OrganizationByDomain(ctx, o.Domain)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("owner of domain %s: %w", o.Domain, err)
	case owner.ID != o.ID:
		return domainTaken(o.Domain)
	}
	return nil
}

func domainTaken(domain string) error {
	return apierror.ConflictError("domain %q is verified by another organization", domain)
}

func (s *Service) dnsTimeout() time.Duration {
	if s.DNSTimeout > 0 {
		return s.DNSTimeout
	}
	return DefaultDNSTimeout
}

// lookUpChallenge asks the resolver for the TXT records of domain's
// challenge name and succeeds when one of them is token. A missing record
// or name is the caller's to fix (400); a resolver that fails or does not
// answer in time is not (503, try again).
func (s *Service) lookUpChallenge(ctx context.Context, domain, token string) error {
	r := s.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	name := DomainChallengeName(domain)
	lctx, cancel := context.WithTimeout(ctx, s.dnsTimeout())
	defer cancel()
	// Fully qualified: the resolver's search list must not be tried.
	txts, err := r.LookupTXT(lctx, name+".")
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return apierror.BadRequest("no TXT record %s exists: publish one holding %q, then verify again", name, token)
	case err != nil && lctx.Err() != nil:
		return apierror.Unavailable("the DNS lookup of %s did not answer within %s", name, s.dnsTimeout())
	case err != nil:
		return apierror.Unavailable("the DNS lookup of %s failed: %v", name, err)
	}
	for _, t := range txts {
		if strings.TrimSpace(t) == token {
			return nil
		}
	}
	return apierror.BadRequest("no TXT record %s holds this organization's challenge %q (found %d other values)", name, token, len(txts))
}

// IssueDomainChallenges gives every domain claim without a challenge (claims
// made before migration 00017) its random token, so that its organization's
// status shows the record to publish. It runs at every start; replicas
// racing are harmless (a token once set is never replaced here).
func (s *Service) IssueDomainChallenges(ctx context.Context) error {
	ids, err := s.Store.Read().OrganizationsWithoutDomainToken(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	return s.Store.Tx(ctx, func(q *store.Q) error {
		for _, id := range ids {
			t, err := newDomainToken(s.Rand)
			if err != nil {
				return err
			}
			if _, err := q.SetMissingDomainToken(ctx, id, t); err != nil {
				return err
			}
		}
		return nil
	})
}
