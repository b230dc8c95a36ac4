#!/usr/bin/env bash
# image.sh: Gatehouse's container image, without a container daemon.
#
#   scripts/image.sh [OUT_DIR]        (default dist/image)
#
# Cross-compiles static release binaries for linux/amd64 and linux/arm64
# (scripts/build.sh; PLATFORMS="linux/amd64" builds fewer), then
# scripts/image (go-containerregistry) writes
#   OUT_DIR/oci/                               an OCI image layout: one image
#                                              index for both platforms, tagged VERSION
#   OUT_DIR/gatehouse-VERSION-linux-ARCH.tar   per platform, for docker load / podman load
# and prints the index's digest on stdout. Reproducible: every timestamp is
# SOURCE_DATE_EPOCH (default: the commit's time), so building the same
# commit twice gives the same digest. The image: an empty base, the binary
# at /usr/local/bin/gatehouse, Debian's CA certificates, Go's time zone
# database, user 65532:65532, /data a volume and the working directory,
# GATEHOUSE_DATA_DIR=/data, GATEHOUSE_LISTEN=0.0.0.0:8080, port 8080,
# entrypoint `gatehouse serve`, health check `gatehouse healthcheck`.
# See docs/DEPLOY.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

OUT=${1:-dist/image}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
CA_CERTS=${CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$CA_CERTS" ] || { echo "image.sh: no CA bundle at $CA_CERTS (apt-get install ca-certificates)" >&2; exit 1; }

if git rev-parse --git-dir >/dev/null 2>&1; then
	: "${VERSION:=$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
	: "${COMMIT:=$(git rev-parse HEAD)}"
	: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct HEAD)}"
fi
: "${VERSION:=dev}" "${COMMIT:=unknown}" "${SOURCE_DATE_EPOCH:=0}"
export VERSION COMMIT SOURCE_DATE_EPOCH

mkdir -p "$OUT/bin"
args=()
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	scripts/build.sh "$os" "$arch" "$OUT/bin/gatehouse-$os-$arch"
	args+=(--binary "$p=$OUT/bin/gatehouse-$os-$arch")
done
rm -f "$OUT"/gatehouse-*.tar
(cd scripts/image && go run . build --out "$OUT" "${args[@]}" --ca-certs "$CA_CERTS" \
	--zoneinfo "$(go env GOROOT)/lib/time/zoneinfo.zip" --epoch "$SOURCE_DATE_EPOCH" \
	--version "$VERSION" --revision "$COMMIT")
# go-containerregistry writes blobs 0600: make the layout readable by the
# tools (skopeo, crane) another user runs.
chmod -R u=rwX,go=rX "$OUT/oci" "$OUT"/gatehouse-*.tar
