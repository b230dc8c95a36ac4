#!/usr/bin/env bash
# Load benchmark of a real `gatehouse serve` on this machine, over loopback:
#
#   scripts/load.sh sqlite   [gatehouse-load flags...]
#   scripts/load.sh postgres [gatehouse-load flags...]   # needs GATEHOUSE_TEST_DATABASE_URL
#
# Builds gatehouse and gatehouse-load, starts the server in a temp dir
# (SQLite) or on a fresh database on the PostgreSQL server of
# GATEHOUSE_TEST_DATABASE_URL (dropped afterwards), with the rate limits off
# (one client from one address is exactly what they would stop) and the
# default logging (one JSON line per request, to a file). It reads the
# server's idle RSS, registers a client and CONCURRENCY local users with the
# admin CLI, then runs gatehouse-load twice: every scenario closed loop, and
# userinfo open loop at USERINFO_RATE (2000) requests/s. Extra flags go to
# both runs (e.g. --duration 5s). Environment: CONCURRENCY (16),
# USERINFO_RATE (2000), GOMAXPROCS as usual. Results: docs/PERFORMANCE.md.
set -euo pipefail

ENGINE=${1:-sqlite}
shift || true
CONCURRENCY=${CONCURRENCY:-16}
USERINFO_RATE=${USERINFO_RATE:-2000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-load.XXXXXX")
SERVER_PID=""
DB_NAME=""
cleanup() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [ -n "$DB_NAME" ]; then
		psql "$GATEHOUSE_TEST_DATABASE_URL" -qXc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "building gatehouse and gatehouse-load"
(cd "$ROOT" && go build -o "$WORK/gatehouse" ./cmd/gatehouse && go build -o "$WORK/gatehouse-load" ./cmd/gatehouse-load)

DATA="$WORK/data"
case "$ENGINE" in
sqlite)
	DB_FLAGS=(--data-dir "$DATA")
	;;
postgres)
	: "${GATEHOUSE_TEST_DATABASE_URL:?set GATEHOUSE_TEST_DATABASE_URL to a PostgreSQL server (a database is created on it)}"
	DB_NAME="gatehouse_load_$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	psql "$GATEHOUSE_TEST_DATABASE_URL" -qXc "CREATE DATABASE $DB_NAME" >/dev/null
	DB_URL=$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$GATEHOUSE_TEST_DATABASE_URL" "$DB_NAME")
	DB_FLAGS=(--database-url "$DB_URL")
	KEY_FLAGS=(--encryption-key "$(head -c 32 /dev/urandom | base64)")
	"$WORK/gatehouse" migrate "${DB_FLAGS[@]}" >/dev/null
	;;
*)
	echo "usage: $0 sqlite|postgres [gatehouse-load flags...]" >&2
	exit 2
	;;
esac

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
"$WORK/gatehouse" serve --listen "127.0.0.1:$PORT" "${DB_FLAGS[@]}" ${KEY_FLAGS[@]+"${KEY_FLAGS[@]}"} --data-dir "$DATA" \
	--rate-limit-token off --rate-limit-login off >"$WORK/serve.stdout" 2>"$WORK/serve.log" &
SERVER_PID=$!
for _ in $(seq 1 150); do
	curl -fs -o /dev/null "$URL/readyz" && break
	sleep 0.1
done
curl -fs -o /dev/null "$URL/readyz" || { cat "$WORK/serve.log" >&2; exit 1; }
sleep 2
IDLE_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")
echo "server $URL (pid $SERVER_PID, $ENGINE): idle RSS $((IDLE_KB / 1024)) MiB ($IDLE_KB kB)"

CLIENT=$("$WORK/gatehouse" admin clients create --name load "${DB_FLAGS[@]}" --redirect-uri http://127.0.0.1:9/callback \
	--grant client_credentials --grant authorization_code --grant refresh_token \
	--scope openid --scope email --scope offline_access)
export GATEHOUSE_LOAD_CLIENT_SECRET
GATEHOUSE_LOAD_CLIENT_SECRET=$(jq -r .secret <<<"$CLIENT")
CLIENT_ID=$(jq -r .id <<<"$CLIENT")
export GATEHOUSE_LOAD_PASSWORD="load-password-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
for w in $(seq 0 $((CONCURRENCY - 1))); do
	"$WORK/gatehouse" admin users set-password --email "load$w@load.example" "${DB_FLAGS[@]}" <<<"$GATEHOUSE_LOAD_PASSWORD" >/dev/null
done

COMMON=(--url "$URL" --client-id "$CLIENT_ID" --admin-token-file "$DATA/bootstrap-token" --email 'load%d@load.example'
	--concurrency "$CONCURRENCY" --server-pid "$SERVER_PID")
echo
echo "== closed loop, $CONCURRENCY concurrent requests"
"$WORK/gatehouse-load" "${COMMON[@]}" "$@"
echo
echo "== userinfo, open loop at $USERINFO_RATE/s"
"$WORK/gatehouse-load" "${COMMON[@]}" --scenarios userinfo --rate "$USERINFO_RATE" --concurrency 64 "$@"
echo
echo "server log: $(wc -l <"$WORK/serve.log") lines; VmHWM $(awk '/^VmHWM:/ {print $2, $3}' "/proc/$SERVER_PID/status")"
