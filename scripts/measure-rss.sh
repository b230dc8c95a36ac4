#!/usr/bin/env bash
# measure-rss.sh: idle memory of a gatehouse binary on SQLite.
#
#   scripts/measure-rss.sh BINARY
#
# Starts `BINARY serve` on 127.0.0.1 (a kernel-chosen port) in an empty
# environment and a fresh data directory, waits for its "gatehouse serving"
# line (at most 60 s), then 5 s, and prints VmRSS, RssAnon (heap and
# runtime) and RssFile (the binary's mapped pages) from /proc/PID/status;
# then the same for a restart on that data directory. Every server started
# is stopped; the data directory is removed.
set -euo pipefail
BIN=$1
D=$(mktemp -d "${TMPDIR:-/tmp}/gh-rss.XXXXXX")
P=""
trap '[ -n "$P" ] && kill "$P" 2>/dev/null; rm -rf "$D"' EXIT
echo "binary: $BIN ($(stat -c %s "$BIN") bytes)"
for run in first restart; do
	env -i PATH=/usr/bin:/bin "$BIN" serve --listen 127.0.0.1:0 --data-dir "$D/data" --log-format text >"$D/out" 2>"$D/err" &
	P=$!
	for _ in $(seq 1 600); do
		grep -q "gatehouse serving" "$D/err" && break
		kill -0 "$P" 2>/dev/null || { cat "$D/err" >&2; exit 1; }
		sleep 0.1
	done
	grep -q "gatehouse serving" "$D/err" || { echo "not serving after 60 s" >&2; exit 1; }
	sleep 5
	echo "$run: $(awk '/^(VmRSS|RssAnon|RssFile):/{printf "%s %s kB  ", $1, $2}' "/proc/$P/status")"
	kill "$P"
	wait "$P" || true
	P=""
done
