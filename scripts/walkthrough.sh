#!/usr/bin/env bash
# The README's curl walkthrough as a script, run by CI as a smoke test against a
# freshly started Gatehouse:
#
#   scripts/walkthrough.sh BASE_URL TOKEN_FILE [ORGANIZATION_NAME]
#
#   BASE_URL           e.g. http://127.0.0.1:8080
#   TOKEN_FILE         a platform administrator token, e.g. gatehouse-data/bootstrap-token
#   ORGANIZATION_NAME  default "acme"; must not exist yet
#
# As the platform administrator it creates an organization, a group with the
# administrator role, a project using that group, a user and a service account
# in the group. Then, as the service account, it reads the organization's ACL,
# lists the projects, and checks that creating an organization is forbidden.
# Last, the organization's workload issuer (discovery and JWKS), a cloud
# identity of the project, and a workload token for the service account.
# Every request must answer the expected status; anything else exits non-zero.
# Needs curl and jq.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
for tool in curl jq; do
	command -v "$tool" >/dev/null || { echo "walkthrough: $tool is required" >&2; exit 2; }
done

BASE="${1%/}"
API="$BASE/api/v1"
TOKEN=$(tr -d '[:space:]' <"$2")
NAME="${3:-acme}"
[ -n "$TOKEN" ] || { echo "walkthrough: $2 is empty" >&2; exit 2; }

BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

# call WANT METHOD PATH TOKEN [JSON]: sends the request, logs the status to
# stderr, prints the response body, and fails unless the status is WANT.
call() {
	local want=$1 method=$2 path=$3 token=$4 data=${5-} status
	local args=(-sS --max-time 15 -o "$BODY" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
	if [ -n "$data" ]; then
		args+=(-H 'Content-Type: application/json' --data "$data")
	fi
	if ! status=$(curl "${args[@]}" "$API$path"); then
		echo "FAIL $method $path: curl could not complete the request" >&2
		return 1
	fi
	if [ "$status" != "$want" ]; then
		echo "FAIL $method $path: status $status, want $want; body: $(cat "$BODY")" >&2
		return 1
	fi
	echo "ok   $method $path -> $status" >&2
	cat "$BODY"
}

# check DESCRIPTION JSON JQ-FILTER [jq args...]: fails unless the filter is true.
check() {
	local what=$1 json=$2
	shift 2
	if ! jq -e "$@" >/dev/null <<<"$json"; then
		echo "FAIL $what; got: $json" >&2
		return 1
	fi
	echo "ok   $what" >&2
}

# 1. An organization (202: created at once, returned as provisioned).
ORG=$(call 202 POST /organizations "$TOKEN" \
	"$(jq -nc --arg name "$NAME" '{metadata: {name: $name}, spec: {organizationType: "adhoc"}}')" | jq -r .metadata.id)

# 2. The administrator role's ID (system role IDs are the same in every installation).
ROLE=$(call 200 GET "/organizations/$ORG/roles" "$TOKEN" |
	jq -r '.[] | select(.metadata.name == "administrator") | .metadata.id')
[ -n "$ROLE" ] || { echo "FAIL no administrator role in GET /organizations/$ORG/roles" >&2; exit 1; }

# 3. A group that grants it.
GROUP=$(call 201 POST "/organizations/$ORG/groups" "$TOKEN" \
	"$(jq -nc --arg role "$ROLE" '{metadata: {name: "admins"}, spec: {roleIDs: [$role], userIDs: [], serviceAccountIDs: []}}')" |
	jq -r .metadata.id)

# 4. A project whose members are that group's members.
PROJECT=$(call 202 POST "/organizations/$ORG/projects" "$TOKEN" \
	"$(jq -nc --arg group "$GROUP" '{metadata: {name: "website"}, spec: {groupIDs: [$group]}}')" | jq -r .metadata.id)

# 5. A user, identified by email, in the group.
USER_JSON=$(call 201 POST "/organizations/$ORG/users" "$TOKEN" \
	"$(jq -nc --arg group "$GROUP" --arg email "jo@$NAME.example" '{spec: {subject: $email, state: "active", groupIDs: [$group]}}')")
check "the user is in the group" "$USER_JSON" --arg group "$GROUP" '.spec.groupIDs == [$group]'

# 6. A service account in the group; its token is shown this once.
SA=$(call 201 POST "/organizations/$ORG/serviceaccounts" "$TOKEN" \
	"$(jq -nc --arg group "$GROUP" '{metadata: {name: "deployer"}, spec: {groupIDs: [$group]}}')")
SA_TOKEN=$(jq -r '.status.accessToken // empty' <<<"$SA")
[ -n "$SA_TOKEN" ] || { echo "FAIL the service account create response has no status.accessToken" >&2; exit 1; }

# 7. As the service account: the organization's ACL.
ACL=$(call 200 GET "/organizations/$ORG/acl" "$SA_TOKEN")
check "the ACL is for the organization" "$ACL" --arg org "$ORG" '.organization.id == $org'
check "the ACL lets the service account create projects" "$ACL" \
	'any(.organization.endpoints[]; .name == "identity:projects" and (.operations | index("create")))'
check "the ACL lists the project" "$ACL" --arg p "$PROJECT" 'any(.projects[]; .id == $p)'
check "the ACL grants nothing platform-wide" "$ACL" '(.global // []) == []'

# 8. As the service account: the projects it can see.
PROJECTS=$(call 200 GET "/organizations/$ORG/projects" "$SA_TOKEN")
check "the service account lists the project" "$PROJECTS" --arg p "$PROJECT" '[.[].metadata.id] == [$p]'

# 9. As the service account: creating an organization is forbidden.
DENIED=$(call 403 POST /organizations "$SA_TOKEN" '{"metadata":{"name":"not-allowed"},"spec":{"organizationType":"adhoc"}}')
check "the refusal has the error shape" "$DENIED" '.error == "forbidden" and (.error_description | length > 0)'

# 10. The organization's workload issuer, public: what AWS and GCP read.
ISSUER="$BASE/oidc/organizations/$ORG"
DISCOVERY=$(curl -sS --max-time 15 -f "$ISSUER/.well-known/openid-configuration") || {
	echo "FAIL GET $ISSUER/.well-known/openid-configuration" >&2
	exit 1
}
check "the discovery document names the organization's issuer" "$DISCOVERY" --arg iss "$ISSUER" \
	'.issuer == $iss and .jwks_uri == ($iss + "/jwks")'
JWKS=$(curl -sS --max-time 15 -f "$ISSUER/jwks") || { echo "FAIL GET $ISSUER/jwks" >&2; exit 1; }
check "the JWKS publishes the organization's keys" "$JWKS" '(.keys | length) == 2 and all(.keys[]; .alg == "ES256" and (has("d") | not))'

# 11. A cloud identity of the project (an AWS role to assume), and, as the
# service account, a workload token for it.
IDENTITY=$(call 201 POST "/organizations/$ORG/projects/$PROJECT/cloudidentities" "$TOKEN" \
	'{"metadata":{"name":"deploy"},"spec":{"provider":"aws","aws":{"roleARN":"arn:aws:iam::123456789012:role/deploy"}}}' |
	jq -r .metadata.id)
WORKLOAD=$(call 200 POST "/organizations/$ORG/projects/$PROJECT/cloudidentities/$IDENTITY/token" "$SA_TOKEN" '{}')
check "the workload token is the organization's, about the service account" "$WORKLOAD" --arg iss "$ISSUER" \
	--arg sub "org:$ORG:project:$PROJECT:sa:$(jq -r .metadata.id <<<"$SA")" \
	'.issuer == $iss and .subject == $sub and .audience == "sts.amazonaws.com" and (.token | split(".") | length) == 3'

echo "walkthrough passed: organization $ORG, group $GROUP, project $PROJECT, cloud identity $IDENTITY" >&2
