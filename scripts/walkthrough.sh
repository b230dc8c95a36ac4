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
# Then IAM: a custom role reading only env=dev projects, an API key bound to
# it (allowed and refused calls, the simulator's reason), a role the service
# account assumes, the key's revocation and the audit log. Then permission
# sets: a set with the user role assigned to a group on the dev project (its
# member acts there and not on prod), what the user can reach, and the
# assignment's removal.
# Last, the organization's workload issuer (discovery and JWKS), a cloud
# identity of the project, and a workload token for the service account.
# Every request must answer the expected status; anything else exits non-zero.
# Needs curl and jq.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
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

# 10. IAM: a custom role that reads only the projects tagged env=dev.
POLICY=$(jq -nc '{defaultServiceStrategy: "deny", services: {projects: {type: "rules", rules: [
	{action: "allow", expression: "operation in [\"get-project\", \"list-projects\"] && resources.project.tags.env == \"dev\""}]}}}')
DEV_READER=$(call 201 POST "/organizations/$ORG/roles" "$TOKEN" \
	"$(jq -nc --argjson p "$POLICY" '{metadata: {name: "dev-reader"}, spec: {policy: $p}}')" | jq -r .metadata.id)
DEV=$(call 202 POST "/organizations/$ORG/projects" "$TOKEN" \
	'{"metadata":{"name":"web-dev","tags":[{"name":"env","value":"dev"}]},"spec":{"groupIDs":[]}}' | jq -r .metadata.id)
PROD=$(call 202 POST "/organizations/$ORG/projects" "$TOKEN" \
	'{"metadata":{"name":"web-prod","tags":[{"name":"env","value":"prod"}]},"spec":{"groupIDs":[]}}' | jq -r .metadata.id)

# 11. An API key bound to that role; its token is shown this once.
KEY_JSON=$(call 201 POST "/organizations/$ORG/apikeys" "$TOKEN" \
	"$(jq -nc --arg role "$DEV_READER" '{metadata: {name: "ci"}, spec: {roleID: $role}}')")
KEY=$(jq -r .metadata.id <<<"$KEY_JSON")
KEY_TOKEN=$(jq -r '.status.accessToken // empty' <<<"$KEY_JSON")
[ -n "$KEY_TOKEN" ] || { echo "FAIL the API key create response has no status.accessToken" >&2; exit 1; }

# 12. As the API key: the dev project, not the prod one; the list holds only dev.
call 200 GET "/organizations/$ORG/projects/$DEV" "$KEY_TOKEN" >/dev/null
call 403 GET "/organizations/$ORG/projects/$PROD" "$KEY_TOKEN" >/dev/null
LISTED=$(call 200 GET "/organizations/$ORG/projects" "$KEY_TOKEN")
check "the API key lists only the dev project" "$LISTED" --arg p "$DEV" '[.[].metadata.id] == [$p]'

# 13. The simulator says why the prod project is refused, for this real key.
WHY=$(call 200 POST "/organizations/$ORG/policy/evaluate" "$TOKEN" \
	"$(jq -nc --arg key "$KEY" --arg p "$PROD" '{service: "projects", operation: "get-project", project: $p, principal: {type: "apiKey", id: $key}}')")
check "the simulator refuses the prod project" "$WHY" '.allowed == false and .decidedBy == "none" and .policy == "dev-reader"'

# 14. Role assumption: a role that manages groups, which service accounts may assume.
ASSUMABLE=$(call 201 POST "/organizations/$ORG/roles" "$TOKEN" "$(jq -nc '{metadata: {name: "groups-admin"}, spec: {
	policy: {defaultServiceStrategy: "deny", services: {groups: {type: "allow"}}},
	assumeRolePolicy: {defaultServiceStrategy: "deny", services: {roles: {type: "rules", rules: [
		{action: "allow", expression: "principal.type == \"serviceAccount\""}]}}}, maxSessionTTL: 900}}')" | jq -r .metadata.id)
SESSION=$(call 200 POST "/organizations/$ORG/roles/$ASSUMABLE/assume" "$SA_TOKEN" '{"ttl":600}')
check "the session lasts 600 s" "$SESSION" '.expiresIn == 600 and .tokenType == "Bearer"'
SESSION_TOKEN=$(jq -r .accessToken <<<"$SESSION")
call 200 GET "/organizations/$ORG/groups" "$SESSION_TOKEN" >/dev/null
call 403 GET "/organizations/$ORG/projects/$PROJECT" "$SESSION_TOKEN" >/dev/null

# 15. Revoking the API key refuses it at once; the audit log recorded it all.
call 200 DELETE "/organizations/$ORG/apikeys/$KEY" "$TOKEN" >/dev/null
call 401 GET "/organizations/$ORG/projects/$DEV" "$KEY_TOKEN" >/dev/null
EVENTS=$(call 200 GET "/organizations/$ORG/auditevents?resourceType=apikeys" "$TOKEN")
check "the audit log holds the key's creation and revocation" "$EVENTS" '[.[].operationId] == ["createApiKey", "deleteApiKey"]'
check "the audit log holds no secret" "$EVENTS" --arg t "$KEY_TOKEN" 'tostring | contains($t) | not'

# 16. Permission sets: the user role on the dev project, assigned to a group
#     without roles (and to the user jo directly).
USER_ROLE=$(call 200 GET "/organizations/$ORG/roles" "$TOKEN" |
	jq -r '.[] | select(.metadata.name == "user") | .metadata.id')
DEVELOPERS=$(call 201 POST "/organizations/$ORG/groups" "$TOKEN" \
	'{"metadata":{"name":"developers"},"spec":{"roleIDs":[],"userIDs":[],"serviceAccountIDs":[]}}' | jq -r .metadata.id)
BUILDER_TOKEN=$(call 201 POST "/organizations/$ORG/serviceaccounts" "$TOKEN" \
	"$(jq -nc --arg g "$DEVELOPERS" '{metadata: {name: "builder"}, spec: {groupIDs: [$g]}}')" | jq -r .status.accessToken)
SET=$(call 201 POST "/organizations/$ORG/permissionsets" "$TOKEN" \
	"$(jq -nc --arg r "$USER_ROLE" '{metadata: {name: "developer"}, spec: {roleIDs: [$r]}}')" | jq -r .metadata.id)
JO=$(jq -r .metadata.id <<<"$USER_JSON")
CREATED=$(call 201 POST "/organizations/$ORG/accountassignments" "$TOKEN" \
	"$(jq -nc --arg g "$DEVELOPERS" --arg jo "$JO" --arg s "$SET" --arg p "$DEV" \
		'{principals: [{type: "group", id: $g}, {type: "user", id: $jo}], permissionSetIDs: [$s], targets: [{type: "project", id: $p}]}')")
check "two assignments, in effect at once" "$CREATED" '[.items[].status.provisioning.state] == ["succeeded", "succeeded"]'
ASSIGNMENT=$(jq -r '.items[0].metadata.id' <<<"$CREATED")

# 17. As the group's service account: the dev project (200), not the prod one (403).
call 200 GET "/organizations/$ORG/projects/$DEV" "$BUILDER_TOKEN" >/dev/null
call 403 GET "/organizations/$ORG/projects/$PROD" "$BUILDER_TOKEN" >/dev/null

# 18. What jo can reach, and the assignments of the dev project by principal name.
REACH=$(call 200 GET "/organizations/$ORG/users/$JO/accountassignments" "$TOKEN")
check "jo reaches the dev project" "$REACH" --arg p "$DEV" '.count == 1 and .items[0].spec.target.id == $p'
PAGE=$(call 200 GET "/organizations/$ORG/accountassignments?targetID=$DEV&sort=principalName:desc&size=1" "$TOKEN")
check "a page of one of two, sorted" "$PAGE" '.count == 2 and (.items | length) == 1 and .sort == ["principalName:desc"]'

# 19. Removing the group's assignment revokes it on the next request.
call 200 DELETE "/organizations/$ORG/accountassignments/$ASSIGNMENT" "$TOKEN" >/dev/null
call 403 GET "/organizations/$ORG/projects/$DEV" "$BUILDER_TOKEN" >/dev/null

# 20. The organization's workload issuer, public: what AWS and GCP read.
ISSUER="$BASE/oidc/organizations/$ORG"
DISCOVERY=$(curl -sS --max-time 15 -f "$ISSUER/.well-known/openid-configuration") || {
	echo "FAIL GET $ISSUER/.well-known/openid-configuration" >&2
	exit 1
}
check "the discovery document names the organization's issuer" "$DISCOVERY" --arg iss "$ISSUER" \
	'.issuer == $iss and .jwks_uri == ($iss + "/jwks")'
JWKS=$(curl -sS --max-time 15 -f "$ISSUER/jwks") || { echo "FAIL GET $ISSUER/jwks" >&2; exit 1; }
check "the JWKS publishes the organization's keys" "$JWKS" '(.keys | length) == 2 and all(.keys[]; .alg == "ES256" and (has("d") | not))'

# 21. A cloud identity of the project (an AWS role to assume), and, as the
# service account, a workload token for it.
IDENTITY=$(call 201 POST "/organizations/$ORG/projects/$PROJECT/cloudidentities" "$TOKEN" \
	'{"metadata":{"name":"deploy"},"spec":{"provider":"aws","aws":{"roleARN":"arn:aws:iam::123456789012:role/deploy"}}}' |
	jq -r .metadata.id)
WORKLOAD=$(call 200 POST "/organizations/$ORG/projects/$PROJECT/cloudidentities/$IDENTITY/token" "$SA_TOKEN" '{}')
check "the workload token is the organization's, about the service account" "$WORKLOAD" --arg iss "$ISSUER" \
	--arg sub "org:$ORG:project:$PROJECT:sa:$(jq -r .metadata.id <<<"$SA")" \
	'.issuer == $iss and .subject == $sub and .audience == "sts.amazonaws.com" and (.token | split(".") | length) == 3'

echo "walkthrough passed: organization $ORG, group $GROUP, project $PROJECT, cloud identity $IDENTITY" >&2
