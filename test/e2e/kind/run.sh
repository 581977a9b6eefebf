#!/usr/bin/env bash
# One command for users with Docker: a kind cluster (1 control plane + 3 workers), the image
# loaded, the chart installed, a whoami DaemonSet as the backend, a client container on the kind
# network, then the speaker scenarios (test/e2e/kind/speaker.kind.test.ts). Needs docker, kind,
# kubectl and helm on PATH. `KEEP=1` keeps the cluster afterwards. Does not run on this
# project's CI machine (no Docker engine there).
set -euo pipefail
cd "$(dirname "$0")/../../.."
CLUSTER="${HERALDLB_KIND_CLUSTER:-heraldlb-e2e}"
CLIENT="$CLUSTER-client"
for c in docker kind kubectl helm; do command -v "$c" >/dev/null || { echo "kind e2e: $c is required" >&2; exit 1; }; done

cleanup() { [[ "${KEEP:-}" == 1 ]] || { docker rm -f "$CLIENT" >/dev/null 2>&1 || true; kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; }; }
trap cleanup EXIT

npm install --no-audit --no-fund
npm run build
npm run image -- --context-only
ctx="$(node -e 'console.log(require("os").homedir())')/.cache/heraldlb/image/context"
docker build -t localhost/heraldlb:e2e -f image/Dockerfile "$ctx"

kind create cluster --name "$CLUSTER" --config test/e2e/kind/cluster.yaml --wait 120s
kind load docker-image localhost/heraldlb:e2e --name "$CLUSTER"
kubectl --context "kind-$CLUSTER" create namespace heraldlb-system
kubectl --context "kind-$CLUSTER" label namespace heraldlb-system pod-security.kubernetes.io/enforce=privileged
helm --kube-context "kind-$CLUSTER" install heraldlb ./charts/heraldlb -n heraldlb-system --wait --timeout 5m \
  --set image.repository=localhost/heraldlb --set image.tag=e2e --set image.pullPolicy=Never
kubectl --context "kind-$CLUSTER" apply -f test/e2e/kind/whoami.yaml
kubectl --context "kind-$CLUSTER" rollout status ds/heraldlb-whoami --timeout 120s

# The client: a host on the kind network that is not a node, with the lab's tools and probe.
docker run -d --name "$CLIENT" --network kind --cap-add NET_RAW --cap-add NET_ADMIN \
  -v "$PWD/dist/lab:/probe:ro" node:24-bookworm-slim sleep infinity
docker exec "$CLIENT" sh -c 'apt-get update -q >/dev/null && apt-get install -y -q iputils-arping ndisc6 curl iproute2 >/dev/null'

# Pool addresses: the top of the kind network's IPv4 subnet, on-link for the client.
subnet=$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' | tr ' ' '\n' | grep -v : | head -1)
export HERALDLB_KIND_POOL="$(node -e '
const [net, bits] = process.argv[1].split("/"); const n = net.split(".").map(Number);
const base = ((n[0] << 24) | (n[1] << 16) | (n[2] << 8) | n[3]) >>> 0; const top = (base + 2 ** (32 - Number(bits)) - 1) >>> 0;
const ip = (v) => [v >>> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255].join(".");
console.log(`${ip(top - 55)}-${ip(top - 16)}`)' "$subnet")"
echo "== pool $HERALDLB_KIND_POOL"
HERALDLB_KIND_CLUSTER="$CLUSTER" npx vitest run --config test/e2e/kind/vitest.config.ts
