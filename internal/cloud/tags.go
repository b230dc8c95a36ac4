package cloud

import (
	"context"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// The kinds of tag filter (the seed's tagContents.tagType, ACCOUNT_TAG and
// ORGANIZATIONAL_UNIT_TAG).
const (
	// TagFilterAccount keeps the accounts that carry one of the tags.
	TagFilterAccount = "accountTag"
	// TagFilterOrganizationalUnit keeps the accounts whose organizational
	// unit, or one above it, carries one of the tags.
	TagFilterOrganizationalUnit = "organizationalUnitTag"
)

// AWS's limits on tags, and ours on a filter.
const (
	maxTagKey     = 128
	maxTagValue   = 256
	maxFilterTags = 50
)

// Tag is an AWS tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TagFilter narrows a connection to some of its AWS organization's
// accounts. Key and value of a tag must both match; any one listed tag
// suffices.
type TagFilter struct {
	Type string `json:"type"`
	Tags []Tag  `json:"tags"`
}

// validate checks f (nil is no filter) without calling AWS.
func (f *TagFilter) validate(field string) error {
	if f == nil {
		return nil
	}
	if f.Type != TagFilterAccount && f.Type != TagFilterOrganizationalUnit {
		return invalid("%s.type must be %s or %s", field, TagFilterAccount, TagFilterOrganizationalUnit)
	}
	if len(f.Tags) == 0 || len(f.Tags) > maxFilterTags {
		return invalid("%s.tags must list 1 to %d tags", field, maxFilterTags)
	}
	for i, t := range f.Tags {
		if t.Key == "" || utf8.RuneCountInString(t.Key) > maxTagKey || utf8.RuneCountInString(t.Value) > maxTagValue {
			return invalid("%s.tags[%d]: a key of 1 to %d characters and a value of at most %d", field, i, maxTagKey, maxTagValue)
		}
	}
	return nil
}

// matches reports whether tags carry one of f's tags.
func (f *TagFilter) matches(tags map[string]string) bool {
	for _, t := range f.Tags {
		if v, ok := tags[t.Key]; ok && v == t.Value {
			return true
		}
	}
	return false
}

// filterAccounts keeps the accounts f selects (all of them when f is nil),
// in their order. It reads each account's tags, or the tags of the
// organizational units above it (each unit's once), with
// ListTagsForResource and ListParents: the management account's credential
// needs those permissions, and a refusal is NOT_ENOUGH_PERMISSIONS like any
// other Organizations call.
func (s *Service) filterAccounts(ctx context.Context, creds aws.CredentialsProvider, policy RetryPolicy, f *TagFilter, accounts []Account) ([]Account, error) {
	if f == nil {
		return accounts, nil
	}
	client := s.organizationsClient(ctx, creds, policy)
	unitTags := map[string]map[string]string{} // organizational unit → its tags, read once
	keep := make([]Account, 0, len(accounts))
	for _, a := range accounts {
		var ok bool
		switch f.Type {
		case TagFilterAccount:
			tags, err := resourceTags(ctx, client, a.AccountID)
			if err != nil {
				return nil, err
			}
			ok = f.matches(tags)
		case TagFilterOrganizationalUnit:
			units, err := unitsAbove(ctx, client, a.AccountID)
			if err != nil {
				return nil, err
			}
			for _, u := range units {
				tags, seen := unitTags[u]
				if !seen {
					if tags, err = resourceTags(ctx, client, u); err != nil {
						return nil, err
					}
					unitTags[u] = tags
				}
				if f.matches(tags) {
					ok = true
					break
				}
			}
		}
		if ok {
			keep = append(keep, a)
		}
	}
	return keep, nil
}

// resourceTags reads the tags of an account, organizational unit or root.
func resourceTags(ctx context.Context, c *organizations.Client, id string) (map[string]string, error) {
	tags := map[string]string{}
	var next *string
	for {
		out, err := c.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String(id), NextToken: next})
		if err != nil {
			return nil, classifyAWS("AWS Organizations ListTagsForResource", err)
		}
		for _, t := range out.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if next = out.NextToken; next == nil || *next == "" {
			return tags, nil
		}
	}
}

// maxDepth bounds the walk up the organization: AWS nests organizational
// units at most five deep under the root.
const maxDepth = 8

// unitsAbove lists the organizational units from the account's parent up to
// (not including) the root.
func unitsAbove(ctx context.Context, c *organizations.Client, accountID string) ([]string, error) {
	var units []string
	child := accountID
	for range maxDepth {
		out, err := c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(child)})
		if err != nil {
			return nil, classifyAWS("AWS Organizations ListParents", err)
		}
		if len(out.Parents) == 0 || out.Parents[0].Type != orgtypes.ParentTypeOrganizationalUnit {
			return units, nil
		}
		child = aws.ToString(out.Parents[0].Id)
		units = append(units, child)
	}
	return units, nil
}
