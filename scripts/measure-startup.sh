#!/usr/bin/env bash
# measure-startup.sh: cold start, warm restart and resident memory of the
# gatehouse binary on SQLite.
#
#   scripts/measure-startup.sh [RUNS]      (default 10; run from anywhere)
#
# Builds ./cmd/gatehouse (or uses $GATEHOUSE_BIN), then
#   - cold start: RUNS times, a fresh data directory each time (migrations,
#     encryption key and bootstrap included), time from exec to the first
#     GET /readyz answering 200;
#   - warm restart: RUNS times on the data directory of the last cold start;
#   - RSS: VmRSS of the last warm instance right after it is ready, after 2 s
#     idle, and after 300 API requests, plus VmHWM (peak).
# Times include up to one readiness poll (curl, ~2-4 ms). Everything listens
# on 127.0.0.1 with a kernel-chosen port; each wait is bounded; every server
# started is stopped on exit, and the temporary directory removed.
set -euo pipefail

RUNS=${1:-10}
READY_TIMEOUT_MS=10000
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gh-startup.XXXXXX")
PIDS=()

cleanup() {
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

BIN=${GATEHOUSE_BIN:-}
if [ -z "$BIN" ]; then
	BIN="$WORK/gatehouse"
	(cd "$ROOT" && go build -o "$BIN" ./cmd/gatehouse)
fi
echo "binary: $BIN ($(( $(stat -c %s "$BIN") / 1024 / 1024 )) MiB)"

# start DATA_DIR: starts a server, sets PID and ADDR, prints nothing.
start() {
	local dir=$1 log="$1.log"
	mkdir -p "$dir"
	: >"$log"
	# A clean environment: no GATEHOUSE_* variable can redirect the server
	# to another database or address.
	env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$BIN" serve --listen 127.0.0.1:0 --data-dir "$dir" \
		--log-format json >"$dir.out" 2>"$log" &
	PID=$!
	PIDS+=("$PID")
}

# wait_ready T0: waits for the listen address in the log, then for /readyz
# 200; sets ADDR and ELAPSED (ms since T0).
wait_ready() {
	local t0=$1 deadline=$(( $1 + READY_TIMEOUT_MS )) log="$2.log"
	ADDR=""
	while [ -z "$ADDR" ]; do
		ADDR=$(grep -o '"listen":"127\.0\.0\.1:[0-9]*"' "$log" 2>/dev/null | head -1 | cut -d'"' -f4 || true)
		if [ -z "$ADDR" ]; then
			kill -0 "$PID" 2>/dev/null || { echo "server exited:"; cat "$log"; exit 1; }
			[ "$(now_ms)" -lt "$deadline" ] || { echo "no listen address after ${READY_TIMEOUT_MS} ms"; exit 1; }
			sleep 0.001
		fi
	done
	until curl -sf -o /dev/null --max-time 1 "http://$ADDR/readyz"; do
		[ "$(now_ms)" -lt "$deadline" ] || { echo "/readyz not 200 after ${READY_TIMEOUT_MS} ms"; exit 1; }
		sleep 0.001
	done
	ELAPSED=$(( $(now_ms) - t0 ))
}

stop() {
	kill -TERM "$PID" 2>/dev/null || true
	local i
	for i in $(seq 1 100); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
}

rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# stats NAME VALUES...: min / median / max.
stats() {
	local name=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v name="$name" '
		{ v[NR] = $1 }
		END {
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%-14s n=%d  min %d ms  median %g ms  max %d ms\n", name, NR, v[1], med, v[NR]
		}'
}

cold=()
for i in $(seq 1 "$RUNS"); do
	dir="$WORK/data-$i"
	t0=$(now_ms)
	start "$dir"
	wait_ready "$t0" "$dir"
	cold+=("$ELAPSED")
	stop
done
echo "cold runs (ms): ${cold[*]}"
stats "cold start" "${cold[@]}"

dir="$WORK/data-$RUNS"
TOKEN=$(tr -d '\n' <"$dir/bootstrap-token")
warm=()
for i in $(seq 1 "$RUNS"); do
	t0=$(now_ms)
	start "$dir"
	wait_ready "$t0" "$dir"
	warm+=("$ELAPSED")
	[ "$i" -lt "$RUNS" ] && stop
done
echo "warm runs (ms): ${warm[*]}"
stats "warm restart" "${warm[@]}"

# Memory of the last warm instance, which is still running.
rss_ready=$(rss_kb "$PID" VmRSS)
sleep 2
rss_idle=$(rss_kb "$PID" VmRSS)
base="http://$ADDR/api/v1"
auth=(-H "Authorization: Bearer $TOKEN")
codes=$(
	{
		for i in $(seq 1 20); do
			curl -s -o /dev/null -w '%{http_code}\n' "${auth[@]}" -H 'Content-Type: application/json' \
				-d "{\"metadata\":{\"name\":\"org-$i\"},\"spec\":{\"organizationType\":\"adhoc\"}}" "$base/organizations"
		done
		# One curl, one keep-alive connection, 280 requests.
		args=()
		for i in $(seq 1 70); do
			for u in "$base/organizations" "$base/acl" "http://$ADDR/readyz" "http://$ADDR/metrics"; do
				args+=(-o /dev/null "$u")
			done
		done
		curl -s -w '%{http_code}\n' "${auth[@]}" "${args[@]}"
	} | sort | uniq -c | tr '\n' ' '
)
rss_busy=$(rss_kb "$PID" VmRSS)
sleep 1
rss_after=$(rss_kb "$PID" VmRSS)
hwm=$(rss_kb "$PID" VmHWM)
echo "requests: 300 (20 POST /organizations, 70 each of GET /organizations, /acl, /readyz, /metrics); status counts: $codes"
mib() { awk -v k="$1" 'BEGIN { printf "%d KiB (%.1f MiB)", k, k / 1024 }'; }
echo "RSS           ready $(mib "$rss_ready"), idle after 2 s $(mib "$rss_idle")"
echo "RSS           after 300 requests $(mib "$rss_busy"), 1 s later $(mib "$rss_after"), peak (VmHWM) $(mib "$hwm")"
stop
