#!/usr/bin/env bash
# Runs the README's shell blocks as written against a running Gatehouse, the
# way a new user pastes them (CI runs it after scripts/walkthrough.sh):
#
#   scripts/readme-snippets.sh BASE_URL DATA_DIR BINARY ORDER
#
#   BASE_URL  e.g. http://127.0.0.1:8080 (the README's address is replaced by it)
#   DATA_DIR  the server's --data-dir (the blocks read gatehouse-data/bootstrap-token)
#   BINARY    the gatehouse binary (the blocks call ./gatehouse)
#   ORDER     login-first or walkthrough-first
#
# The Walkthrough is the first block of "## Walkthrough" and its two
# continuations ("## Custom roles and API keys", "## Permission sets and
# account assignments"), run in one shell. Log in is the first block of
# "## Log in" (user, client, PKCE, the authorization address); the browser
# step is done with curl (the login form, then the onboarding form, which must
# appear in either order), and the second block exchanges the code. The
# device sign-in blocks follow Log in, the person's part done with curl. The
# ./gatehouse admin commands reach the server's database through DATA_DIR, or
# through GATEHOUSE_DATABASE_URL and GATEHOUSE_ENCRYPTION_KEY when the caller
# exports them. Each block stops at its first error; so does this script.
# Needs curl, jq and openssl. Run it once per fresh server.
set -euo pipefail

if [ $# -ne 4 ]; then
	sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
BASE="${1%/}"
DATA_DIR=$(realpath "$2")
BINARY=$(realpath "$3")
ORDER=$4
case $ORDER in login-first | walkthrough-first) ;; *)
	echo "readme-snippets: ORDER must be login-first or walkthrough-first" >&2
	exit 2
	;;
esac
README="$(dirname "$(realpath "$0")")/../README.md"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-readme.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
ln -s "$BINARY" "$DIR/gatehouse"
ln -s "$DATA_DIR" "$DIR/gatehouse-data"

# block HEADING N: the Nth ```sh block of the README section HEADING, with
# the README's server address replaced by BASE. Fails if there is none.
block() {
	local out
	out=$(awk -v h="$1" -v n="$2" '
		/^##+ / { sec = (substr($0, index($0, " ") + 1) == h); k = 0 }
		sec && /^```sh$/ { k++; if (k == n) { on = 1; next } }
		on && /^```$/ { exit }
		on { print }' "$README")
	[ -n "$out" ] || { echo "FAIL README: no sh block $2 under \"$1\"" >&2; return 1; }
	printf '%s\n' "${out//http:\/\/127.0.0.1:8080/$BASE}"
}

walkthrough() {
	{
		block Walkthrough 1
		block 'Custom roles and API keys' 1
		block 'Permission sets and account assignments' 1
	} >"$DIR/walkthrough.sh"
	(cd "$DIR" && timeout 60 bash walkthrough.sh >"$DIR/walkthrough.out") ||
		{ cat "$DIR/walkthrough.out" >&2; echo "FAIL the README's Walkthrough ($ORDER)" >&2; return 1; }
	grep -qx website "$DIR/walkthrough.out" || { echo "FAIL the Walkthrough's step 8 did not print website" >&2; return 1; }
	echo "ok   README Walkthrough, steps 1-21 ($ORDER)" >&2
}

# form_field FILE NAME: the value of the form's hidden field NAME.
form_field() { grep -o "name=\"$2\" value=\"[^\"]*\"" "$1" | head -n1 | cut -d'"' -f4; }

login() {
	# Block 1 as written; its variables are kept for block 2.
	{ block 'Log in' 1 && echo 'declare -p CLIENT_SECRET VERIFIER >vars'; } >"$DIR/login1.sh"
	(cd "$DIR" && timeout 60 bash login1.sh >"$DIR/login1.out") ||
		{ cat "$DIR/login1.out" >&2; echo "FAIL the README's Log in, first block ($ORDER)" >&2; return 1; }
	grep -qx 'password set for local user ana@example.com' "$DIR/login1.out" ||
		{ echo "FAIL Log in step 1 did not print what the README says" >&2; return 1; }
	local url
	url=$(tail -n1 "$DIR/login1.out")
	[[ $url == "$BASE/oauth2/v2/authorization?"* ]] || { echo "FAIL Log in step 4 printed $url" >&2; return 1; }

	# The browser: the login page, then the onboarding form the README promises.
	local jar="$DIR/cookies" page="$DIR/page.html" location code state csrf
	curl -sS --fail-with-body -c "$jar" -b "$jar" -L -o "$page" "$url"
	state=$(form_field "$page" state) csrf=$(form_field "$page" csrf_token)
	curl -sS --fail-with-body -c "$jar" -b "$jar" -L -o "$page" --data-urlencode "state=$state" \
		--data-urlencode "csrf_token=$csrf" --data-urlencode email=ana@example.com \
		--data-urlencode 'password=correct horse battery staple' "$BASE/oauth2/v2/login"
	grep -q 'name="organization_name"' "$page" ||
		{ echo "FAIL Log in: no onboarding form after signing in as ana@example.com ($ORDER)" >&2; return 1; }
	state=$(form_field "$page" state) csrf=$(form_field "$page" csrf_token)
	location=$(curl -sS --fail-with-body -c "$jar" -b "$jar" -o "$page" -w '%{redirect_url}' \
		--data-urlencode "state=$state" --data-urlencode "csrf_token=$csrf" --data-urlencode organization_name=ana-team \
		--data-urlencode group_name=administrators --data-urlencode roles=administrator "$BASE/oauth2/v2/onboard")
	for _ in 1 2 3 4 5; do
		[[ $location == "$BASE/"* ]] || break
		location=$(curl -sS --fail-with-body -c "$jar" -b "$jar" -o "$page" -w '%{redirect_url}' "$location")
	done
	[[ $location == http://127.0.0.1:9999/callback\?* ]] ||
		{ echo "FAIL Log in: the browser ended at '$location', not the callback ($ORDER)" >&2; return 1; }
	code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$location")

	# Block 2 as written, with the code pasted in.
	{
		echo 'set -euo pipefail; step() { STEP=$1; }; trap '\''echo "log in: step $STEP failed" >&2'\'' ERR; source vars'
		block 'Log in' 2 | sed "s|^CODE=\.\.\. .*|CODE='$code'|"
	} >"$DIR/login2.sh"
	(cd "$DIR" && timeout 30 bash login2.sh >"$DIR/login2.out") ||
		{ cat "$DIR/login2.out" >&2; echo "FAIL the README's Log in, second block ($ORDER)" >&2; return 1; }
	jq -e '.id_token and .refresh_token and .access_token' "$DIR/login2.out" >/dev/null ||
		{ echo "FAIL Log in step 5 did not print the tokens: $(cat "$DIR/login2.out")" >&2; return 1; }
	# ana is the administrator of the organization she just created.
	local access org
	access=$(jq -r .access_token "$DIR/login2.out")
	org=$(curl -sS --fail-with-body "$BASE/api/v1/organizations" -H "Authorization: Bearer $access" |
		jq -er '.[] | select(.metadata.name == "ana-team") | .metadata.id')
	curl -sS --fail-with-body -o /dev/null "$BASE/api/v1/organizations/$org/groups" -H "Authorization: Bearer $access"
	echo "ok   README Log in, steps 1-5 with onboarding into ana-team ($ORDER)" >&2
}

DEVICE_HEADING='Device sign-in (RFC 8628) and pushed authorization requests (RFC 9126)'

# device runs the device sign-in blocks (after login: ana exists and has her
# organization); the person's part (the user code page, the login as ana,
# the approval) is done with curl between them.
device() {
	{ block "$DEVICE_HEADING" 1 && echo 'declare -p DEVICE_CODE INTERVAL >device-vars'; } >"$DIR/device1.sh"
	(cd "$DIR" && timeout 60 bash device1.sh >"$DIR/device1.out") ||
		{ cat "$DIR/device1.out" >&2; echo "FAIL the README's device sign-in, first block ($ORDER)" >&2; return 1; }
	local line uri code jar="$DIR/device-cookies" page="$DIR/device.html" state csrf
	line=$(tail -n1 "$DIR/device1.out")
	uri=$(sed -n 's/^Open \([^ ]*\) and enter \([A-Z-]*\)$/\1/p' <<<"$line")
	code=$(sed -n 's/^Open \([^ ]*\) and enter \([A-Z-]*\)$/\2/p' <<<"$line")
	[[ $uri == "$BASE/oauth2/v2/device" && -n $code ]] || { echo "FAIL device sign-in step 2 printed '$line'" >&2; return 1; }
	curl -sS --fail-with-body -c "$jar" -b "$jar" -o "$page" "$uri"
	csrf=$(form_field "$page" csrf_token)
	curl -sS --fail-with-body -c "$jar" -b "$jar" -L -o "$page" --data-urlencode "csrf_token=$csrf" \
		--data-urlencode "user_code=$code" "$uri"
	state=$(form_field "$page" state) csrf=$(form_field "$page" csrf_token)
	curl -sS --fail-with-body -c "$jar" -b "$jar" -L -o "$page" --data-urlencode "state=$state" \
		--data-urlencode "csrf_token=$csrf" --data-urlencode email=ana@example.com \
		--data-urlencode 'password=correct horse battery staple' "$BASE/oauth2/v2/login"
	grep -q 'Demo CLI' "$page" || { echo "FAIL device sign-in: no approval page naming Demo CLI ($ORDER)" >&2; return 1; }
	state=$(form_field "$page" state) csrf=$(form_field "$page" csrf_token)
	curl -sS --fail-with-body -c "$jar" -b "$jar" -o "$page" --data-urlencode "state=$state" \
		--data-urlencode "csrf_token=$csrf" --data-urlencode decision=approve "$BASE/oauth2/v2/device/confirm"
	grep -q 'Device connected' "$page" || { echo "FAIL device sign-in: the approval did not connect the device ($ORDER)" >&2; return 1; }
	{
		echo 'set -euo pipefail; step() { STEP=$1; }; trap '\''echo "device sign-in: step $STEP failed" >&2'\'' ERR; source device-vars'
		block "$DEVICE_HEADING" 2
	} >"$DIR/device2.sh"
	(cd "$DIR" && timeout 30 bash device2.sh >"$DIR/device2.out") ||
		{ cat "$DIR/device2.out" >&2; echo "FAIL the README's device sign-in, second block ($ORDER)" >&2; return 1; }
	jq -e '.id_token and .refresh_token and .access_token' "$DIR/device2.out" >/dev/null ||
		{ echo "FAIL device sign-in step 3 did not print the tokens: $(cat "$DIR/device2.out")" >&2; return 1; }
	echo "ok   README device sign-in, steps 1-3 ($ORDER)" >&2
}

if [ "$ORDER" = login-first ]; then
	login
	device
	walkthrough
else
	walkthrough
	login
	device
fi
