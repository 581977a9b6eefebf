#!/usr/bin/env bash
# Builds the pinned Helm from its Go module with the machine's Go, into the same cache as the
# control plane (keyed by version, so warm runs never rebuild), and prints the binary's path.
# Why from source: this machine reaches only package registries, and the Go module proxy
# carries Helm's exact sources for a pinned version. Helm's own go.mod fixes every dependency
# (a module requiring only helm.sh/helm/v4 resolves to exactly its versions).
set -euo pipefail

HELM_VERSION="${HERALDLB_HELM_VERSION:-v4.3.2}"
CACHE="${HERALDLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/heraldlb}"
OUT="$CACHE/bin/helm-$HELM_VERSION"

if [[ -x "$OUT/helm" ]]; then
  echo "$OUT/helm"; exit 0
fi
command -v go >/dev/null || { echo "build-helm: Go is required to build Helm" >&2; exit 1; }

export GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0
major="${HELM_VERSION%%.*}"   # v4
work="$CACHE/build/helm-$HELM_VERSION"; mkdir -p "$work" "$OUT.tmp"
start=$(date +%s)
( cd "$work"
  [[ -f go.mod ]] || go mod init heraldlb.local/helmbuild >/dev/null 2>&1
  go get "helm.sh/helm/$major@$HELM_VERSION" >&2
  # The version Helm reports (and checks chart apiVersion/kubeVersion against) comes from
  # ldflags, as in Helm's own Makefile for a tagged build.
  ld="-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION"
  ld="$ld -X helm.sh/helm/$major/internal/version.gitTreeState=clean"
  nice -n 19 go build -trimpath -ldflags "$ld" -o "$OUT.tmp/helm" "helm.sh/helm/$major/cmd/helm" >&2 )

rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
echo "build-helm: built helm $HELM_VERSION in $(( $(date +%s) - start ))s" >&2
echo "$OUT/helm"
