#!/usr/bin/env bash
# Builds the binaries of the operator image: the Dockerfile runs this very script, and so
# does `make docker-build-binaries`, so that CI checks the image's build without a container
# engine. Static (CGO_ENABLED=0), without build paths and symbols. GOOS and GOARCH, when
# set, choose the platform.
#
#   hack/build-image-binaries.sh OUTDIR
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
go build -trimpath -ldflags "-s -w" -o "$out/manager" ./cmd/manager
go build -trimpath -ldflags "-s -w" -o "$out/proxy" ./cmd/proxy
