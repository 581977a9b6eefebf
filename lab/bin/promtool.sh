#!/usr/bin/env bash
# Builds the pinned promtool (Prometheus's rule checker and rule unit-test runner) from the
# Prometheus Go module, cached beside the control plane, and prints the binary's path. The
# chart's alerting rules are checked and unit-tested with it (test/unit/chart-rules.test.ts).
# Built with `remove_all_sd`: promtool needs no service discovery to check rules, and leaving
# out every cloud SD client halves the build.
set -euo pipefail

# Prometheus's Go module is numbered v0.3XY.Z for the release v3.XY.Z.
PROM_MODULE_VERSION="${HERALDLB_PROMETHEUS_VERSION:-v0.316.0}"
CACHE="${HERALDLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/heraldlb}"
OUT="$CACHE/bin/promtool-$PROM_MODULE_VERSION"

if [[ -x "$OUT/promtool" ]]; then
  echo "$OUT/promtool"; exit 0
fi
command -v go >/dev/null || { echo "promtool: Go is required to build promtool" >&2; exit 1; }

export GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0
release="v3.${PROM_MODULE_VERSION#v0.3}"   # v0.316.0 -> v3.16.0
work="$CACHE/build/promtool-$PROM_MODULE_VERSION"; mkdir -p "$work" "$OUT.tmp"
start=$(date +%s)
( cd "$work"
  [[ -f go.mod ]] || go mod init heraldlb.local/promtoolbuild >/dev/null 2>&1
  go get "github.com/prometheus/prometheus@$PROM_MODULE_VERSION" >&2
  ld="-s -w -X github.com/prometheus/common/version.Version=${release#v}"
  nice -n 19 go build -trimpath -tags remove_all_sd -ldflags "$ld" -o "$OUT.tmp/promtool" \
    github.com/prometheus/prometheus/cmd/promtool >&2 )

rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
echo "promtool: built promtool $release in $(( $(date +%s) - start ))s" >&2
echo "$OUT/promtool"
