#!/usr/bin/env bash
# Builds the pinned etcd and kube-apiserver (and a matching kubectl) from Go module
# sources with the machine's Go, into a cache keyed by version, so warm runs never rebuild.
# Why from source: this machine reaches only package registries, and the Go module proxy
# carries the exact upstream sources for a pinned version.
set -euo pipefail

K8S_VERSION="${HERALDLB_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${HERALDLB_ETCD_VERSION:-v3.6.16}"
CACHE="${HERALDLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/heraldlb}"
OUT="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

if [[ -x "$OUT/etcd" && -x "$OUT/kube-apiserver" && -x "$OUT/kubectl" ]]; then
  echo "$OUT"; exit 0
fi
command -v go >/dev/null || { echo "build-control-plane: Go is required to build the control plane" >&2; exit 1; }

# One build at a time: tests, the demo and CI may all ask at once, and two builds sharing
# "$OUT.tmp" and the module work dir destroy each other. The winner's result is reused.
mkdir -p "$CACHE"
exec 9>"$CACHE/build-control-plane.lock"
flock 9
if [[ -x "$OUT/etcd" && -x "$OUT/kube-apiserver" && -x "$OUT/kubectl" ]]; then
  echo "$OUT"; exit 0
fi

export GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0
work="$CACHE/build"; rm -rf "$OUT.tmp"; mkdir -p "$work" "$OUT.tmp"
start=$(date +%s)

# --- etcd: its server module carries package main at its root.
e="$work/etcd-$ETCD_VERSION"; mkdir -p "$e"
( cd "$e"
  [[ -f go.mod ]] || { go mod init heraldlb.local/etcdbuild >/dev/null 2>&1; }
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -trimpath -ldflags "-s -w" -o "$OUT.tmp/etcd" go.etcd.io/etcd/server/v3 >&2 )

# --- kube-apiserver and kubectl: k8s.io/kubernetes replaces its staging modules with
# local paths, which a consumer must restate as versioned requirements (v1.X.Y -> v0.X.Y).
k="$work/k8s-$K8S_VERSION"; mkdir -p "$k"
( cd "$k"
  staging_ver="v0.${K8S_VERSION#v1.}"
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  mods=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u)
  { echo "module heraldlb.local/k8sbuild"; echo; echo "go 1.25"; echo
    echo "require k8s.io/kubernetes $K8S_VERSION"; echo
    for m in $mods; do echo "replace $m => $m $staging_ver"; done; } > go.mod
  echo 'package tools' > tools.go
  go get "k8s.io/kubernetes@$K8S_VERSION" >&2
  ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  ld="$ld -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  go build -trimpath -ldflags "$ld" -o "$OUT.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
  go build -trimpath -ldflags "$ld" -o "$OUT.tmp/kubectl" k8s.io/kubernetes/cmd/kubectl >&2 )

rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$OUT"
