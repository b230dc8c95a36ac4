#!/usr/bin/env bash
# build.sh: a release build of gatehouse.
#
#   scripts/build.sh [GOOS [GOARCH [OUTPUT]]]   (default: this machine's; OUTPUT
#                                               default dist/gatehouse-GOOS-GOARCH)
#
# Static (CGO_ENABLED=0: the SQLite driver is pure Go), -trimpath (no build
# machine paths in the binary, so two machines build the same bytes),
# stripped (-s -w: no symbol table or DWARF; panics still print function
# names and lines from .gopclntab), and stamped with the version, commit and
# commit date (internal/buildinfo). VERSION defaults to `git describe`, the
# commit and date to HEAD's; set VERSION, COMMIT, BUILD_DATE to override
# (SOURCE_DATE_EPOCH, when set, gives the date). -buildvcs=false: the stamp
# comes from these flags, so a dirty work tree does not change the bytes
# beyond the "-dirty" that VERSION says.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GOOS=${1:-$(go env GOOS)}
GOARCH=${2:-$(go env GOARCH)}
OUT=${3:-dist/gatehouse-$GOOS-$GOARCH}

if git rev-parse --git-dir >/dev/null 2>&1; then
	: "${VERSION:=$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
	: "${COMMIT:=$(git rev-parse HEAD)}"
	: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct HEAD)}"
fi
: "${VERSION:=dev}" "${COMMIT:=unknown}"
if [ -z "${BUILD_DATE:-}" ] && [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
fi
: "${BUILD_DATE:=unknown}"

pkg=github.com/gatehouse/gatehouse/internal/buildinfo
mkdir -p "$(dirname "$OUT")"
CGO_ENABLED=0 GOOS=$GOOS GOARCH=$GOARCH go build -trimpath -buildvcs=false \
	-ldflags "-s -w -buildid= -X $pkg.version=$VERSION -X $pkg.commit=$COMMIT -X $pkg.date=$BUILD_DATE" \
	-o "$OUT" ./cmd/gatehouse
echo "$OUT ($GOOS/$GOARCH, $VERSION, $(stat -c %s "$OUT") bytes)" >&2
