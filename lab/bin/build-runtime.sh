#!/usr/bin/env bash
# Builds what `lab up --runtime` adds to the control plane, into a cache keyed by version:
# kube-controller-manager, kube-scheduler and kubelet from the very Kubernetes module
# build-control-plane.sh pins (same go.mod, so same version of every dependency),
# containerd + its runc shim + ctr, the CNI plugins containerd needs for a Ready node, and
# a pause (sandbox) image of our own. runc itself comes from the distribution (`runc`).
# Prints the output dir on its last line; warm runs print it at once.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
K8S_VERSION="${HERALDLB_K8S_VERSION:-v1.36.3}"
CONTAINERD_VERSION="${HERALDLB_CONTAINERD_VERSION:-v2.4.2}"
CNI_VERSION="${HERALDLB_CNI_VERSION:-v1.10.0}"
PAUSE_VERSION=1 # bump when pause.c or its packaging changes
CACHE="${HERALDLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/heraldlb}"
OUT="$CACHE/bin/runtime-k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION-cni-$CNI_VERSION-pause-$PAUSE_VERSION"
BINS=(kube-controller-manager kube-scheduler kubelet containerd containerd-shim-runc-v2 ctr
  cni/bridge cni/host-local cni/loopback pause.tar)

complete() { for b in "${BINS[@]}"; do [[ -e "$OUT/$b" ]] || return 1; done; }
if complete; then echo "$OUT"; exit 0; fi
for c in go gcc umoci skopeo; do
  command -v "$c" >/dev/null || { echo "build-runtime: \`$c\` is required (apt-get install -y golang gcc umoci skopeo)" >&2; exit 1; }
done

# kube-apiserver's build lays out the Kubernetes module (go.mod with the staging pins).
[[ -f "$CACHE/build/k8s-$K8S_VERSION/go.mod" ]] || bash "$here/build-control-plane.sh" >/dev/null
export GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0
work="$CACHE/build"; mkdir -p "$OUT.tmp/cni"
start=$(date +%s)
lap() { echo "build-runtime: $1 in $(( $(date +%s) - ${2:-$start} ))s" >&2; }

# --- Kubernetes components, same module dir as kube-apiserver.
t=$(date +%s)
( cd "$work/k8s-$K8S_VERSION"
  ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  ld="$ld -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  for c in kube-controller-manager kube-scheduler kubelet; do
    [[ -x "$OUT.tmp/$c" ]] || go build -trimpath -ldflags "$ld" -o "$OUT.tmp/$c" "k8s.io/kubernetes/cmd/$c" >&2
  done )
lap "kube-controller-manager, kube-scheduler, kubelet" "$t"

# --- containerd: no btrfs/devmapper/zfs snapshotters (they need cgo; the lab uses overlayfs).
t=$(date +%s)
c="$work/containerd-$CONTAINERD_VERSION"; mkdir -p "$c"
( cd "$c"
  [[ -f go.mod ]] || go mod init heraldlb.local/containerdbuild >/dev/null 2>&1
  go get "github.com/containerd/containerd/v2@$CONTAINERD_VERSION" >&2
  ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
  for cmd in containerd containerd-shim-runc-v2 ctr; do
    [[ -x "$OUT.tmp/$cmd" ]] || go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ld" \
      -o "$OUT.tmp/$cmd" "github.com/containerd/containerd/v2/cmd/$cmd" >&2
  done )
lap containerd "$t"

# --- CNI plugins: a node is Ready only once its runtime has a network configured.
t=$(date +%s)
n="$work/cni-$CNI_VERSION"; mkdir -p "$n"
( cd "$n"
  [[ -f go.mod ]] || go mod init heraldlb.local/cnibuild >/dev/null 2>&1
  go get "github.com/containernetworking/plugins@$CNI_VERSION" >&2
  for p in main/bridge ipam/host-local main/loopback; do
    go build -trimpath -ldflags "-s -w" -o "$OUT.tmp/cni/${p#*/}" "github.com/containernetworking/plugins/plugins/$p" >&2
  done )
lap "CNI plugins" "$t"

# --- pause: the sandbox image, our own ~20 lines of C, static, one layer.
t=$(date +%s)
p=$(mktemp -d)
trap 'rm -rf "$p"' EXIT
gcc -Os -static -o "$p/pause" "$here/pause.c"
strip "$p/pause"
umoci init --layout "$p/oci" >&2
umoci new --image "$p/oci:lab" >&2
umoci unpack --rootless --image "$p/oci:lab" "$p/bundle" >&2
install -m 0755 "$p/pause" "$p/bundle/rootfs/pause"
umoci repack --image "$p/oci:lab" "$p/bundle" >&2
umoci config --image "$p/oci:lab" --config.entrypoint /pause --config.user 65535:65535 \
  --os linux --architecture amd64 >&2
umoci gc --layout "$p/oci" >&2
rm -f "$OUT.tmp/pause.tar"
skopeo copy --quiet "oci:$p/oci:lab" "docker-archive:$OUT.tmp/pause.tar:heraldlb.local/pause:$PAUSE_VERSION" >&2
lap "pause image" "$t"

rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
lap "runtime"
echo "$OUT"
