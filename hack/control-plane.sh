#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd that envtest and the demo run, from the Go module
# proxy, once. The binaries land in a per-user cache shared by every checkout on this machine
# and are copied into bin/control-plane/ of the checkout.
#
#   hack/control-plane.sh [DEST]     (DEST defaults to ./bin/control-plane)
#
# A cold build takes about ten minutes on two cores; later calls return at once.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.0}
STAGING_VERSION=${STAGING_VERSION:-v0.37.0}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}

dest=${1:-bin/control-plane}
cache=${GATEWAYTENANT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatewaytenant-operator}/control-plane/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}
mkdir -p "$dest" "$cache"

have() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ]; }

# Checkouts on one machine share the cache: one builds, the others wait for it.
exec 9>"$cache.lock"
flock 9
if ! have "$cache"; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT

  echo "control-plane: building kube-apiserver ${KUBE_VERSION} (first run only, about ten minutes)" >&2
  mkdir -p "$work/kube"
  (
    cd "$work/kube"
    go mod init local.build/kube-apiserver >/dev/null 2>&1
    go mod edit -go=1.26
    go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" >/dev/null
    kmod=$(go env GOMODCACHE)/k8s.io/kubernetes@${KUBE_VERSION}/go.mod
    # k8s.io/kubernetes points every staging module at ./staging; use the published ones.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kmod" | while read -r m; do
      go mod edit -replace "$m=$m@${STAGING_VERSION}"
    done
    go mod edit -require "k8s.io/kubernetes@${KUBE_VERSION}"
    go get "k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION}" >/dev/null
    minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
    pkg=k8s.io/component-base/version
    ldflags="-s -w -X $pkg.gitVersion=${KUBE_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor} -X $pkg.gitTreeState=clean"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$cache/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  )

  echo "control-plane: building etcd ${ETCD_VERSION}" >&2
  mkdir -p "$work/etcd"
  (
    cd "$work/etcd"
    go mod init local.build/etcd >/dev/null 2>&1
    go mod edit -go=1.26
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache/etcd.tmp" go.etcd.io/etcd/server/v3
  )
  mv "$cache/kube-apiserver.tmp" "$cache/kube-apiserver"
  mv "$cache/etcd.tmp" "$cache/etcd"
fi

for b in kube-apiserver etcd; do
  if ! cmp -s "$cache/$b" "$dest/$b"; then cp "$cache/$b" "$dest/$b.tmp" && mv "$dest/$b.tmp" "$dest/$b"; fi
done
echo "$dest"
