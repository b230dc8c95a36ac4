#!/usr/bin/env bash
# End-to-end tests of Gatehouse's OpenID Connect provider, against a real
# `gatehouse serve --onboarding all` on 127.0.0.1 (SQLite in a temp data dir),
# with an independent upstream OpenID provider (panva's oidc-provider,
# upstream/provider.js, its own process) registered as a system OAuth2
# provider:
#
#   browser.test.js        Debian chromium, driven by playwright-core, logs in
#                          through the real login page of a relying party
#                          served by the test (oauth4webapi, code + PKCE):
#                          local password, single sign-on with prompt=none,
#                          the consent page, logout, German pages, and a new
#                          user through the upstream provider who fills in
#                          the onboarding form
#   console.test.js        the web console at /console/ in chromium: a platform
#                          administrator signs in, creates an organization and
#                          in it creates, lists, edits and deletes resources,
#                          sees a policy's compile error and the simulator's
#                          decision; a member sees no admin action; axe-core
#                          on every page; screenshots to e2e/artifacts/
#   mfa.test.js            two-step verification in chromium: an organization
#                          requiring a second factor, the forced TOTP
#                          enrolment (code computed in the test), recovery
#                          codes, a replayed code refused; screenshots
#   openid-client.test.js  panva's openid-client: discovery, code + PKCE with
#                          the login form driven by fetch, refresh rotation,
#                          userinfo, client_credentials, introspection,
#                          revocation, token exchange (when advertised) and
#                          /api/v1 with the access token
#   device-par.test.js     openid-client again (issue 16): the device grant, with
#                          chromium entering the user code on Gatehouse's page,
#                          signing in and approving; a code flow through
#                          pushed authorization requests for a client that
#                          requires them (clients made through /api/v1)
#
# Needs go, node 20+, `npm ci` done in e2e/, and chromium at /usr/bin/chromium
# (or CHROMIUM=path). Run from anywhere: `bash e2e/run.sh`. Screenshots of the
# login page go to e2e/artifacts/. Everything is bounded in time and talks to
# 127.0.0.1 only; the server is always stopped.
#
# E2E_ONLY=tests/browser.test.js runs one file.
set -euo pipefail

E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$E2E")
export PATH="/usr/local/go/bin:$PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-e2e.XXXXXX")
SERVER_PID=""
UPSTREAM_PID=""
stop_pid() {
	local pid=$1
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
}
cleanup() {
	local rc=$?
	stop_pid "$UPSTREAM_PID"
	stop_pid "$SERVER_PID"
	if [ "$rc" -ne 0 ] && [ -f "$WORK/server.stderr" ]; then
		echo "---- last lines of the server log ($WORK/server.stderr)" >&2
		tail -n 40 "$WORK/server.stderr" >&2 || true
	fi
	if [ "$rc" -ne 0 ] && [ -f "$WORK/upstream.log" ]; then
		echo "---- last lines of the upstream provider's log ($WORK/upstream.log)" >&2
		tail -n 20 "$WORK/upstream.log" >&2 || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
	echo "e2e FAILED: $*" >&2
	exit 1
}

[ -d "$E2E/node_modules/openid-client" ] && [ -d "$E2E/node_modules/oidc-provider" ] || die "run 'npm ci' in $E2E first"
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || die "no chromium at $CHROMIUM (apt-get install chromium, or set CHROMIUM)"

echo "building gatehouse"
BIN="$WORK/gatehouse"
(cd "$ROOT" && timeout 300 go build -o "$BIN" ./cmd/gatehouse)

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000)) # below Linux's ephemeral ports
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

PORT=$(free_port) || die "no free port"
RP_PORT=$(free_port) || die "no free port"
[ "$RP_PORT" != "$PORT" ] || RP_PORT=$(free_port)
DATA="$WORK/data"
ADMIN=(timeout 60 "$BIN" admin --data-dir "$DATA")

# Users and clients, with the admin CLI as an operator would (passwords on stdin).
rand() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
BROWSER_EMAIL="browser.user@e2e.example"
OIDC_EMAIL="rp.user@e2e.example"
USER_PASSWORD="e2e-$(rand)"
for email in "$BROWSER_EMAIL" "$OIDC_EMAIL"; do
	printf '%s\n' "$USER_PASSWORD" | timeout 60 "$BIN" admin users set-password --data-dir "$DATA" --email "$email" >/dev/null
done
# The console's users: the first platform administrator is made by the
# console test itself, through the setup link the first start prints (as a
# newcomer would); a member whose rights the console test gives in the browser.
CONSOLE_ADMIN_EMAIL="console.admin@e2e.example"
CONSOLE_MEMBER_EMAIL="console.member@e2e.example"
printf '%s\n' "$USER_PASSWORD" | timeout 60 "$BIN" admin users set-password --data-dir "$DATA" --email "$CONSOLE_MEMBER_EMAIL" >/dev/null
# The person of mfa.test.js, whose organization (made by the test) requires a second factor.
MFA_EMAIL="mfa.user@e2e.example"
printf '%s\n' "$USER_PASSWORD" | timeout 60 "$BIN" admin users set-password --data-dir "$DATA" --email "$MFA_EMAIL" >/dev/null
REDIRECT_URI="http://127.0.0.1:$RP_PORT/callback"
timeout 60 "$BIN" admin clients create --data-dir "$DATA" --id e2e-spa --name "e2e public client" \
	--type public --redirect-uri "$REDIRECT_URI" --post-logout-redirect-uri "http://127.0.0.1:$RP_PORT/bye" \
	--grant authorization_code --grant refresh_token \
	--scope openid --scope email --scope profile --scope offline_access >"$WORK/spa.json"
timeout 60 "$BIN" admin clients create --data-dir "$DATA" --id e2e-service --name "e2e confidential client" \
	--type confidential --auth-method client_secret_basic --redirect-uri "$REDIRECT_URI" \
	--grant client_credentials --grant authorization_code --grant refresh_token \
	--grant urn:ietf:params:oauth:grant-type:token-exchange \
	--scope openid --scope email --scope offline_access >"$WORK/service.json"
SERVICE_SECRET=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).secret)' "$WORK/service.json")
[ -n "$SERVICE_SECRET" ] || die "admin clients create printed no secret"
# One confidential client per ID token algorithm (issue 17: RS256 is what
# OpenID Connect Core makes mandatory; ES256 is the default's).
for alg in RS256 ES256; do
	lower=$(printf '%s' "$alg" | tr 'A-Z' 'a-z')
	timeout 60 "$BIN" admin clients create --data-dir "$DATA" --id "e2e-$lower" --name "e2e $alg client" \
		--type confidential --auth-method client_secret_basic --redirect-uri "$REDIRECT_URI" \
		--grant authorization_code --grant refresh_token --id-token-signed-response-alg "$alg" \
		--scope openid --scope email --scope offline_access >"$WORK/$lower.json"
done
RS256_SECRET=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).secret)' "$WORK/rs256.json")
ES256_SECRET=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).secret)' "$WORK/es256.json")
[ -n "$RS256_SECRET" ] && [ -n "$ES256_SECRET" ] || die "admin clients create printed no secret for the RS256 or ES256 client"

# `serve` has no switch for an http:// issuer: loopback issuers are accepted as
# they are. The issuer's port may change between attempts: the clients'
# loopback redirect URIs match on any port (RFC 8252) and nothing else keeps it.
ready=""
for attempt in 1 2 3 4 5; do
	ISSUER="http://127.0.0.1:$PORT"
	echo "starting gatehouse serve --issuer $ISSUER"
	# Platform administrators' second factor is optional here: the console
	# test signs one in with a password alone; mfa.test.js covers the factor.
	"$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --issuer "$ISSUER" --log-format text --onboarding all \
		--object-limits accountassignments=100000 \
		--mfa-platform-administrators optional \
		>"$WORK/server.stdout" 2>"$WORK/server.stderr" </dev/null &
	SERVER_PID=$!
	for _ in $(seq 1 150); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$ISSUER/readyz" || true)" = 200 ]; then
			ready=1
			break
		fi
		sleep 0.2
	done
	[ -z "$ready" ] || break
	kill -0 "$SERVER_PID" 2>/dev/null && die "gatehouse did not become ready at $ISSUER/readyz within 30s"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	grep -q 'address already in use' "$WORK/server.stderr" || die "gatehouse exited during start-up"
	echo "port $PORT was taken meanwhile; trying another (attempt $attempt)"
	PORT=$(free_port) || die "no free port"
	[ "$PORT" != "$RP_PORT" ] || PORT=$(free_port)
done
[ -n "$ready" ] || die "gatehouse found no free port in 5 attempts"
echo "gatehouse ready at $ISSUER (pid $SERVER_PID); relying party port $RP_PORT"
# The setup link of the first start (the first attempt's, if the port was
# taken then, names another port: print a fresh one for this issuer).
SETUP_LINK=$(grep -o 'http://[^ ]*/setup?token=[^ ]*' "$WORK/server.stdout" | grep -F "$ISSUER/" | head -n 1 || true)
if [ -z "$SETUP_LINK" ]; then
	SETUP_LINK=$(timeout 60 "$BIN" admin setup-link --data-dir "$DATA" --issuer "$ISSUER" | grep -o 'http://[^ ]*' | head -n 1)
fi
[ -n "$SETUP_LINK" ] || die "no setup link: the first start printed none and admin setup-link failed"

# The upstream identity provider, a separate process with Gatehouse as its client.
UP_PORT=$(free_port) || die "no free port"
UP_ISSUER="http://127.0.0.1:$UP_PORT"
UP_SECRET="upstream-$(rand)$(rand)"
(cd "$E2E" && exec node upstream/provider.js "$UP_PORT" "$ISSUER" gatehouse "$UP_SECRET") >"$WORK/upstream.log" 2>&1 </dev/null &
UPSTREAM_PID=$!
up=""
for _ in $(seq 1 100); do
	kill -0 "$UPSTREAM_PID" 2>/dev/null || die "the upstream provider exited during start-up"
	if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$UP_ISSUER/.well-known/openid-configuration" || true)" = 200 ]; then
		up=1
		break
	fi
	sleep 0.2
done
[ -n "$up" ] || die "the upstream provider did not answer within 20s"
echo "upstream provider (oidc-provider) ready at $UP_ISSUER (pid $UPSTREAM_PID)"

# As the platform administrator: the upstream as a system provider, and an
# organization for the local users (who would otherwise be asked to onboard).
ADMIN_TOKEN=$(tr -d '[:space:]' <"$DATA/bootstrap-token")
api() {
	local method=$1 path=$2 body=$3 out
	out=$(curl -sS --max-time 10 -X "$method" -H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: application/json" \
		-d "$body" -w '\n%{http_code}' "$ISSUER$path") || die "$method $path failed"
	case "${out##*$'\n'}" in 2*) ;; *) die "$method $path: $out" ;; esac
	printf '%s' "${out%$'\n'*}"
}
api POST /api/v1/oauth2providers '{"metadata":{"name":"e2e-upstream","description":"oidc-provider"},"spec":{"type":"oidc","issuer":"'"$UP_ISSUER"'","clientID":"gatehouse","clientSecret":"'"$UP_SECRET"'"}}' >/dev/null
ORG=$(api POST /api/v1/organizations '{"metadata":{"name":"e2e"},"spec":{"organizationType":"adhoc"}}' |
	node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).metadata.id))')
for email in "$BROWSER_EMAIL" "$OIDC_EMAIL"; do
	api POST "/api/v1/organizations/$ORG/users" '{"spec":{"subject":"'"$email"'","state":"active","groupIDs":[]}}' >/dev/null
done

mkdir -p "$E2E/artifacts"
export GATEHOUSE_ISSUER="$ISSUER"
export E2E_RP_PORT="$RP_PORT"
export E2E_REDIRECT_URI="$REDIRECT_URI"
export E2E_PUBLIC_CLIENT_ID=e2e-spa
export E2E_CONFIDENTIAL_CLIENT_ID=e2e-service
export E2E_CONFIDENTIAL_CLIENT_SECRET="$SERVICE_SECRET"
export E2E_RS256_CLIENT_ID=e2e-rs256
export E2E_RS256_CLIENT_SECRET="$RS256_SECRET"
export E2E_ES256_CLIENT_ID=e2e-es256
export E2E_ES256_CLIENT_SECRET="$ES256_SECRET"
export E2E_BROWSER_EMAIL="$BROWSER_EMAIL"
export E2E_OIDC_EMAIL="$OIDC_EMAIL"
export E2E_PASSWORD="$USER_PASSWORD"
export E2E_UPSTREAM_ISSUER="$UP_ISSUER"
export E2E_UPSTREAM_NAME=e2e-upstream
export E2E_NEWCOMER_EMAIL="founder.$(rand | tr -dc 'a-z0-9' | cut -c1-8)@startup.example"
export E2E_ARTIFACTS="$E2E/artifacts"
export E2E_CONSOLE_ADMIN_EMAIL="$CONSOLE_ADMIN_EMAIL"
export E2E_SETUP_LINK="$SETUP_LINK"
# The bootstrap token, for what a test sets up through the API rather than the page it checks.
export E2E_ADMIN_TOKEN="$ADMIN_TOKEN"
export E2E_CONSOLE_MEMBER_EMAIL="$CONSOLE_MEMBER_EMAIL"
export E2E_MFA_EMAIL="$MFA_EMAIL"

cd "$E2E"
# One file at a time: each file has its own user, but the server is shared.
# The console walk (console.test.js) checks ~50 pages with axe-core, creates,
# edits and deletes every resource and seeds 100,000 assignments: each file
# may take up to 8 minutes (about 4 on an idle machine).
timeout 900 node --test --test-concurrency=1 --test-timeout=480000 ${E2E_ONLY:-tests/}
