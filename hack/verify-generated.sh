#!/usr/bin/env bash
# Fails when the files controller-gen generates (deepcopy, CRDs, RBAC) differ from what the
# API and RBAC markers say. It regenerates them, compares with what was there, and leaves the
# fresh files in place so that the fix is to commit them.
set -euo pipefail
cd "$(dirname "$0")/.."

generated=(api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml)
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
for f in "${generated[@]}"; do
  mkdir -p "$before/$(dirname "$f")"
  cp -r "$f" "$before/$f"
done

make --no-print-directory -s generate >/dev/null

stale=0
for f in "${generated[@]}"; do
  if ! diff -r "$before/$f" "$f" >/dev/null; then
    echo "stale generated file: $f" >&2
    diff -ru "$before/$f" "$f" | head -n 40 >&2 || true
    stale=1
  fi
done
if [ "$stale" -ne 0 ]; then
  echo "generated files were stale; they are regenerated now: review and commit them" >&2
  exit 1
fi
echo "generated files are up to date"
